"""Sync reconciliation against the accounting system's own contents."""

from __future__ import annotations

import pandas as pd

from sync_pipeline.connectors.xero import XeroClient
from sync_pipeline.domain import ids
from sync_pipeline.domain.periods import Period
from sync_pipeline.domain.reconciliation import reconcile_documents


def reconcile_sync(drafts: pd.DataFrame, *, entity: str, period: Period, xero: XeroClient,
                   tolerance_minor: int = 0) -> pd.DataFrame:
    """Drafts of the partition vs every invoice the accounting system holds under the partition's reference prefix."""
    target = xero.invoices_with_reference_prefix(ids.reference_prefix(entity, period.key))
    return reconcile_documents(entity, period.key, drafts, target, tolerance_minor=tolerance_minor)
