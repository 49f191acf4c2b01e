"""Multi-host tests: namespace hosts reached over real ssh (see README.md)."""
