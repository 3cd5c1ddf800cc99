"""Use cases that combine connectors and stores (extract, bill, post, reconcile), free of Dagster.

Dagster assets in ``sync_pipeline.defs`` are thin wrappers around these functions.
"""
