"""Sync reconciliation against the accounting system's own contents.

The target's invoices are read strictly first (``AccountingTarget.documents``): an invoice that does not read is
never compared at a guessed amount, and never left out either (it would show as "missing", with the advice to post
it again: billing twice). It becomes a breaching ``mismatch`` row naming the document, the field and the problem.
"""

from __future__ import annotations

import pandas as pd

from sync_pipeline.connectors.accounting import AccountingTarget, Listing
from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.domain import ids
from sync_pipeline.domain.periods import Period
from sync_pipeline.domain.reconciliation import reconcile_documents


def unreadable_detail(r: Rejected, system: str = "the accounting system") -> str:
    """What a finance user reads about an invoice that does not read strictly, and what to do."""
    problems = "; ".join(f"{p.field} = {p.value}: {p.problem}" for p in r.problems)
    return (f"{system} invoice {r.record} does not read ({problems}); it is neither matched nor missing: correct "
            f"it in {system} (or report the API's answer), then reconcile again. It is in {system} already: never "
            f"repost it")


def reconcile_target(drafts: pd.DataFrame, *, entity: str, period: Period, target: Listing,
                     tolerance_minor: int = 0, system: str = "the accounting system") -> pd.DataFrame:
    """Drafts of the partition vs the accounting system's invoices ``target``, read strictly: those that read are
    compared as they came (lines and contact numbers included); each that does not is a breaching row keyed by
    its reference (or, when that does not read either, by its id or position)."""
    unreadable: dict[str, str] = {}
    for r in target.rejected:
        key = target.references.get(r.record) or f"{r.source} {r.record}"
        unreadable[key] = "; ".join(filter(None, [unreadable.get(key), unreadable_detail(r, system)]))
    return reconcile_documents(entity, period.key, drafts, target.documents, tolerance_minor=tolerance_minor,
                               unreadable=unreadable)


def reconcile_sync(drafts: pd.DataFrame, *, entity: str, period: Period, target: AccountingTarget,
                   tolerance_minor: int = 0) -> pd.DataFrame:
    """Drafts of the partition vs every invoice the accounting system holds under the partition's reference prefix."""
    listing = target.documents("invoice", reference_prefix=ids.reference_prefix(entity, period.key))
    return reconcile_target(drafts, entity=entity, period=period, target=listing, tolerance_minor=tolerance_minor,
                            system=target.name)
