"""What this machine offers (free memory per device), read once here for every room that allocates."""
