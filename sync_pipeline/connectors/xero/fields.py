"""Xero's field names, from its official spec (``contracts/xero``): what must never appear outside this package
(``sync_pipeline_tests/services/test_provider_neutral.py`` holds the services to it)."""

from __future__ import annotations

from functools import cache

from sync_pipeline.contracts import xero_spec


@cache
def provider_fields() -> frozenset[str]:
    """Every property name of every schema in the spec (``InvoiceID``, ``LineItems``, ``AmountDue`` …)."""
    names: set[str] = set()
    for schema in xero_spec.spec()["components"]["schemas"].values():
        names.update(p for p in (schema.get("properties") or {}) if p[:1].isupper())
    return frozenset(names)
