"""Data-quality checks: the stored partitions of posting-facing assets satisfy their contracts."""
