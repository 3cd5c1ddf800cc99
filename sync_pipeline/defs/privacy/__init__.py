"""Data protection: the retention purge job and its schedule."""
