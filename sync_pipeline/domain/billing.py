"""Billing rules that turn aggregated lines into invoice-ready lines, and the conservation law.

Pure functions over pandas frames: no I/O. Rounding happens here, once per line,
with the mode named, so a line's amount is always round(quantity x unit amount).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from sync_pipeline.domain import ids
from sync_pipeline.domain.money import from_minor, to_minor


@dataclass(frozen=True)
class LineRules:
    account_code: str
    tax_type: str
    rounding_mode: str = "half_up"
    grouping: str = "client"
    revision: int = 1


def finalize_draft_lines(lines: pd.DataFrame, entity: str, period: str, rules: LineRules) -> pd.DataFrame:
    """Add keys, references, descriptions, line numbers and rounded amounts to aggregated lines."""
    if lines.empty:
        return pd.DataFrame(columns=[
            "entity", "period", "invoice_key", "reference", "client_id", "client_name", "currency", "line_no",
            "description", "quantity", "unit_amount", "line_amount_minor", "source_value", "account_code",
            "tax_type", "entry_count", "source_entry_ids"])
    out = lines.copy()
    out["invoice_key"] = [ids.invoice_key(entity, c, period, rules.grouping, rules.revision) for c in out["client_id"]]
    out["reference"] = [ids.invoice_reference(entity, c, period, rules.revision) for c in out["client_id"]]
    out["description"] = [f"{p} — {t}" for p, t in zip(out["project_name"], out["task_name"], strict=True)]
    out["line_amount_minor"] = [
        to_minor(Decimal(q) * Decimal(u), ccy, rules.rounding_mode)
        for q, u, ccy in zip(out["quantity"], out["unit_amount"], out["currency"], strict=True)
    ]
    out = out.sort_values(["invoice_key", "project_id", "task_id", "unit_amount"], kind="stable")
    out["line_no"] = out.groupby("invoice_key").cumcount() + 1
    out["account_code"] = rules.account_code
    out["tax_type"] = rules.tax_type
    return out.reset_index(drop=True)


def invoice_headers(lines: pd.DataFrame) -> list[dict[str, Any]]:
    """Group finalized lines into invoices (one dict per invoice, lines in order)."""
    invoices: list[dict[str, Any]] = []
    for key, grp in lines.groupby("invoice_key", sort=True):
        first = grp.iloc[0]
        ccy = first["currency"]
        invoices.append({
            "invoice_key": key,
            "reference": first["reference"],
            "client_id": first["client_id"],
            "client_name": first["client_name"],
            "currency": ccy,
            "subtotal_minor": int(grp["line_amount_minor"].sum()),
            "lines": [
                {
                    "line_no": int(r.line_no),
                    "description": r.description,
                    "quantity": Decimal(r.quantity),
                    "unit_amount": Decimal(r.unit_amount),
                    "line_amount": from_minor(int(r.line_amount_minor), ccy),
                    "account_code": r.account_code,
                    "tax_type": r.tax_type,
                    "source_entry_ids": r.source_entry_ids,
                }
                for r in grp.sort_values("line_no").itertuples()
            ],
        })
    return invoices


@dataclass(frozen=True)
class ConservationResult:
    passed: bool
    counts: dict[str, int]
    per_currency: dict[str, dict[str, str]]
    problems: list[str]


def check_conservation(raw_count: int, clean: pd.DataFrame, billables: pd.DataFrame,
                       drafts: pd.DataFrame) -> ConservationResult:
    """Every source entry in exactly one disposition; the money adds up to the cent per currency.

    source value (Σ hours x rate of billable entries) = drafted (Σ rounded line amounts)
    + rounding remainder, and the remainder of each line is below half a minor unit.
    """
    problems: list[str] = []
    counts = {str(k): int(v) for k, v in clean["disposition"].value_counts().items()} if len(clean) else {}
    if len(clean) != raw_count:
        problems.append(f"{raw_count} raw entries but {len(clean)} classified entries")
    if clean["entry_id"].duplicated().any():
        problems.append("an entry is classified more than once")
    n_billable = counts.get("billable", 0)
    if len(billables) != n_billable:
        problems.append(f"{n_billable} billable entries but {len(billables)} billable rows")
    drafted_ids = sorted(i for s in drafts["source_entry_ids"] for i in str(s).split(",") if i) if len(drafts) else []
    if len(drafted_ids) != len(set(drafted_ids)):
        problems.append("an entry appears on more than one invoice line")
    if set(drafted_ids) != set(billables["entry_id"]):
        missing = set(billables["entry_id"]) - set(drafted_ids)
        extra = set(drafted_ids) - set(billables["entry_id"])
        problems.append(f"billable entries not on a line: {sorted(missing)[:10]}; lines citing non-billable "
                        f"entries: {sorted(extra)[:10]}")
    per_currency: dict[str, dict[str, str]] = {}
    for ccy in sorted(set(billables["currency"]) | set(drafts["currency"] if len(drafts) else [])):
        source = sum((Decimal(v) for v in billables.loc[billables["currency"] == ccy, "value"]), Decimal(0))
        dl = drafts[drafts["currency"] == ccy] if len(drafts) else drafts
        drafted = sum((from_minor(int(m), ccy) for m in dl["line_amount_minor"]), Decimal(0))
        remainder = source - drafted
        half_unit = from_minor(1, ccy) / 2
        if abs(remainder) > half_unit * max(1, len(dl)):
            problems.append(f"{ccy}: source {source} vs drafted {drafted}: remainder {remainder} exceeds rounding")
        line_source = sum((Decimal(v) for v in dl["source_value"]), Decimal(0)) if len(dl) else Decimal(0)
        if line_source != source:
            problems.append(f"{ccy}: lines carry {line_source} of source value but entries total {source}")
        per_currency[ccy] = {"source": str(source), "drafted": str(drafted), "rounding_remainder": str(remainder)}
    return ConservationResult(not problems, counts, per_currency, problems)
