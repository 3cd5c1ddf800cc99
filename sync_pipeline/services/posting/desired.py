"""The desired state of a partition: what billing drafted, as invoice groups whose lines carry their entries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from sync_pipeline.domain import ids
from sync_pipeline.domain.invoice_plan import Group, Line


def _approver(row: dict[str, Any]) -> str | None:
    for col in ("approved_by", "approver", "approver_name"):
        v = row.get(col)
        if v is not None and v == v and str(v):
            return str(v)
    return None


def _minor_or_none(v: Any) -> int | None:
    return None if v is None or v != v or v is pd.NA else int(v)


def _text(v: Any) -> str | None:
    return None if v is None or v != v or v is pd.NA or str(v) == "" else str(v)


def draft_line(r: dict[str, Any]) -> Line:
    """One ``invoice_drafts`` row as a plan line (its description names the line, so a person finds it)."""
    entries = tuple(e for e in str(r["source_entry_ids"]).split(",") if e)
    lk = ids.line_key(entries)
    category, option = _text(r.get("tracking_category")), _text(r.get("tracking_option"))
    return Line(f"{r['description']} ({ids.line_reference(lk)})", Decimal(r["quantity"]),
                Decimal(r["unit_amount"]), int(r["line_amount_minor"]), str(r["account_code"]),
                str(r["tax_type"]), entries, lk, _approver(r), _text(r.get("item_code")),
                ((category, option),) if category and option else (), _text(r.get("approved_at")),
                _minor_or_none(r.get("tax_amount_minor")))


def desired_groups(drafts: pd.DataFrame) -> dict[str, Group]:
    """Draft lines → invoice groups (keyed by the reference of revision 1), lines carrying their entries."""
    groups: dict[str, Group] = {}
    if drafts is None or not len(drafts):
        return groups
    for r in drafts.sort_values(["reference", "line_no"], kind="stable").to_dict("records"):
        ref = str(r["reference"])
        g = groups.get(ref)
        if g is None:
            g = groups[ref] = Group(str(r["invoice_key"]), ref, str(r["client_id"]), str(r["client_name"]),
                                    str(r["currency"]), [], _text(r.get("line_amount_types")) or "Exclusive")
        g.lines.append(draft_line(r))
    return groups
