"""Sync reconciliation: what the accounting system holds vs what the source says was billable."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sync_pipeline.domain.money import to_minor


def reconcile_documents(entity: str, period: str, drafts: pd.DataFrame,
                        target_invoices: list[dict[str, Any]]) -> pd.DataFrame:
    """Compare drafted invoices (by reference) to the target's live invoices (by reference).

    Returns one row per document and one per currency with source and target subtotals in
    minor units and a status of match / missing / extra / mismatch.
    """
    source: dict[str, tuple[str, int]] = {}
    if len(drafts):
        for ref, grp in drafts.groupby("reference"):
            source[str(ref)] = (str(grp["currency"].iloc[0]), int(grp["line_amount_minor"].sum()))
    target: dict[str, tuple[str, int]] = {}
    for inv in target_invoices:
        if inv.get("Status") in ("VOIDED", "DELETED"):
            continue
        ccy = inv["CurrencyCode"]
        ref = inv.get("Reference") or f"(no reference) {inv.get('InvoiceNumber')}"
        prev = target.get(ref, (ccy, 0))[1]
        target[ref] = (ccy, prev + to_minor(inv["SubTotal"], ccy))
    rows = []
    for ref in sorted(set(source) | set(target)):
        s_ccy, s_amt = source.get(ref, (None, 0))
        t_ccy, t_amt = target.get(ref, (None, 0))
        if ref not in target:
            status = "missing"
        elif ref not in source:
            status = "extra"
        else:
            status = "match" if (s_ccy == t_ccy and s_amt == t_amt) else "mismatch"
        rows.append({"entity": entity, "period": period, "level": "document", "key": ref,
                     "currency": s_ccy or t_ccy, "source_minor": s_amt, "target_minor": t_amt,
                     "diff_minor": t_amt - s_amt, "status": status})
    docs = pd.DataFrame(rows, columns=["entity", "period", "level", "key", "currency", "source_minor",
                                       "target_minor", "diff_minor", "status"])
    per_ccy = []
    for ccy, grp in docs.groupby("currency") if len(docs) else []:
        s, t = int(grp["source_minor"].sum()), int(grp["target_minor"].sum())
        per_ccy.append({"entity": entity, "period": period, "level": "currency", "key": str(ccy),
                        "currency": str(ccy), "source_minor": s, "target_minor": t, "diff_minor": t - s,
                        "status": "match" if s == t and (grp["status"] == "match").all() else "mismatch"})
    return pd.concat([docs, pd.DataFrame(per_ccy, columns=docs.columns)], ignore_index=True)
