"""Dagster wiring: assets, checks, jobs, resources. Thin: the work happens in services/ and domain/."""
