"""What every part of the project shares: the data contracts and the sample data."""
