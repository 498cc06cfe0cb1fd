"""Subcommands of `vre`, one module each (see vre_cli/main.py)."""
