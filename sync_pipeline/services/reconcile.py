"""Sync reconciliation against the accounting system's own contents.

Xero's invoices are read strictly first (``connectors.xero.records``): an invoice that does not read is never
compared at a guessed amount, and never left out either (it would show as "missing", with the advice to post it
again: billing twice). It becomes a breaching ``mismatch`` row naming the document, the field and the problem.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.connectors.xero import XeroClient
from sync_pipeline.connectors.xero.records import read_documents
from sync_pipeline.domain import ids
from sync_pipeline.domain.periods import Period
from sync_pipeline.domain.reconciliation import reconcile_documents


def unreadable_detail(r: Rejected) -> str:
    """What a finance user reads about an invoice that does not read strictly, and what to do."""
    problems = "; ".join(f"{p.field} = {p.value}: {p.problem}" for p in r.problems)
    return (f"Xero invoice {r.record} does not read ({problems}); it is neither matched nor missing: correct it "
            f"in Xero (or report the API's answer), then reconcile again. It is in Xero already: never repost it")


def reconcile_target(drafts: pd.DataFrame, *, entity: str, period: Period, target: list[Any],
                     tolerance_minor: int = 0) -> pd.DataFrame:
    """Drafts of the partition vs the accounting system's invoices ``target``, read strictly: those that read are
    compared as they came (lines and contact numbers included); each that does not is a breaching row keyed by
    its reference (or, when that does not read either, by its id or position)."""
    _, rejected = read_documents("Invoices", target)
    bad_positions = {r.position for r in rejected}
    readable = [doc for n, doc in enumerate(target, start=1) if n not in bad_positions]
    unreadable: dict[str, str] = {}
    for r in rejected:
        raw = target[r.position - 1] if r.position else None
        ref = raw.get("Reference") if isinstance(raw, dict) else None
        key = ref if isinstance(ref, str) and ref else f"{r.source} {r.record}"
        unreadable[key] = "; ".join(filter(None, [unreadable.get(key), unreadable_detail(r)]))
    return reconcile_documents(entity, period.key, drafts, readable, tolerance_minor=tolerance_minor,
                               unreadable=unreadable)


def reconcile_sync(drafts: pd.DataFrame, *, entity: str, period: Period, xero: XeroClient,
                   tolerance_minor: int = 0) -> pd.DataFrame:
    """Drafts of the partition vs every invoice the accounting system holds under the partition's reference prefix."""
    target = xero.invoices_with_reference_prefix(ids.reference_prefix(entity, period.key))
    return reconcile_target(drafts, entity=entity, period=period, target=target, tolerance_minor=tolerance_minor)
