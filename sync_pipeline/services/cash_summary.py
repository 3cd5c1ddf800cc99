"""What a person checks after a cash run: counts, totals per currency, and the invariants settlement relies on."""

from __future__ import annotations

from typing import Any

import pandas as pd


def settled_totals(frame: pd.DataFrame) -> dict[str, int]:
    """Total of bank lines settled automatically, per currency (minor units)."""
    if frame.empty:
        return {}
    auto = frame[frame["outcome"] == "auto_settled"].drop_duplicates("line_id")
    return {str(k): int(v) for k, v in auto.groupby("line_currency")["line_amount_minor"].sum().items()}


def invariant_failures(frame: pd.DataFrame, due_before: dict[str, int] | None = None) -> pd.DataFrame:
    """Automatic settlements that would be wrong to post.

    - a line settled twice;
    - a line whose parts and write-off do not add up to its amount;
    - an invoice receiving more than was due (when ``due_before`` is given).
    """
    cols = ["line_id", "invoice_id", "problem"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    auto = frame[frame["outcome"] == "auto_settled"]
    bad: list[dict[str, Any]] = []
    per_line = auto.groupby("line_id").agg(share=("line_share_minor", "sum"), amount=("line_amount_minor", "first"),
                                          writeoff=("writeoff_minor", "first"), kinds=("amount_kind", "first"))
    for line_id, r in per_line.iterrows():
        if int(r["share"]) + int(r["writeoff"]) != int(r["amount"]):
            bad.append({"line_id": line_id, "invoice_id": None,
                        "problem": f"parts {int(r['share'])} + write-off {int(r['writeoff'])} != line amount "
                                   f"{int(r['amount'])}"})
    dup = auto.groupby(["line_id", "invoice_id"]).size()
    for (line_id, inv), n in dup[dup > 1].items():
        bad.append({"line_id": line_id, "invoice_id": inv, "problem": f"the same pair is settled {n} times"})
    if due_before is not None:
        applied = auto.groupby("invoice_id")["applied_minor"].sum()
        for inv, total in applied.items():
            if int(total) > int(due_before.get(inv, 0)):
                bad.append({"line_id": None, "invoice_id": inv,
                            "problem": f"applies {int(total)} to an invoice with {int(due_before.get(inv, 0))} due"})
    return pd.DataFrame(bad, columns=cols)
