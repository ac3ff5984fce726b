"""The `dichte` command line."""
