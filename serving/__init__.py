"""Ray Serve applications and the launcher that `make run` uses."""
