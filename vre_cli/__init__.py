"""The `vre` command line."""
