"""Synthetic data for the sandboxes: deterministic by seed, streamed in chunks, from a handful of records to
millions.

- ``projects``: the project-system side (clients, projects, tasks, users, assignments with rates, expenses,
  time entries) with the realistic mess a billing pipeline meets; loads the Harvest sandbox and writes
  ``raw_time_entries`` Parquet.
- ``cash``: the accounting side (payments, bank lines) for reconciliation.
"""
