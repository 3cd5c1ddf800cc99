"""Helpers that turn frames into the metadata a person checks in the Dagster UI."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from dagster import MetadataValue

from sync_pipeline.domain.display import decimal_money_text, money_text, named, totals_text
from sync_pipeline.domain.money import from_minor


def preview(df: pd.DataFrame, rows: int = 10) -> MetadataValue:
    if df.empty:
        return MetadataValue.md("_(no rows)_")
    head = df.head(rows)
    header = "| " + " | ".join(str(c) for c in head.columns) + " |"
    sep = "| " + " | ".join("---" for _ in head.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in head.itertuples(index=False)]
    return MetadataValue.md("\n".join([header, sep, *body]))


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return ""
    return str(v).replace("|", "\\|")


def totals_minor(df: pd.DataFrame, amount_col: str, currency_col: str = "currency") -> dict[str, str]:
    """Totals per currency, as exact decimal strings."""
    out: dict[str, str] = {}
    if df.empty:
        return out
    for ccy, grp in df.dropna(subset=[amount_col]).groupby(currency_col):
        out[str(ccy)] = str(from_minor(int(grp[amount_col].sum()), str(ccy)))
    return out


def totals_decimal(df: pd.DataFrame, amount_col: str, currency_col: str = "currency") -> dict[str, str]:
    out: dict[str, str] = {}
    if df.empty:
        return out
    for ccy, grp in df.groupby(currency_col):
        out[str(ccy)] = str(sum((Decimal(v) for v in grp[amount_col]), Decimal(0)))
    return out


def counts(df: pd.DataFrame, col: str) -> dict[str, Any]:
    return {str(k): int(v) for k, v in df[col].value_counts().items()} if len(df) else {}


# -- what a finance user reads: money with its currency, net / tax / gross labelled, names beside ids ----------

def money_total(df: pd.DataFrame, amount_col: str, currency_col: str = "currency") -> str:
    """Minor-unit totals per currency as one line: ``EUR 583.25 · GBP 817.50`` (``none`` without rows)."""
    if df.empty:
        return "none"
    clean = df.dropna(subset=[amount_col, currency_col])
    return totals_text({str(c): int(g[amount_col].sum()) for c, g in clean.groupby(currency_col)})


def money_total_exact(df: pd.DataFrame, amount_col: str, currency_col: str = "currency") -> str:
    """Exact (unrounded) decimal totals per currency, shown at the currency's minor unit (half up)."""
    if df.empty:
        return "none"
    parts = [decimal_money_text(sum((Decimal(str(v)) for v in g[amount_col]), Decimal(0)), str(c))
             for c, g in sorted(df.groupby(currency_col), key=lambda kv: str(kv[0]))]
    return " · ".join(parts) or "none"


def minor_totals_text(totals: dict[str, int]) -> str:
    """A ``{currency: minor units}`` dict as one line: ``EUR 583.25 · GBP 817.50``."""
    return totals_text({str(k): int(v) for k, v in totals.items()})


def table(df: pd.DataFrame, columns: dict[str, str], *, money: tuple[str, ...] = (), exact: tuple[str, ...] = (),
          currency_col: str = "currency") -> pd.DataFrame:
    """The columns a person reads, in order and under their labels (``columns``: source column → label).

    Columns in ``money`` hold integer minor units, those in ``exact`` decimal major units; both are shown with
    the row's currency (``GBP 817.50``), so the table needs no separate currency column.
    """
    if df.empty:  # an empty frame may lack the columns altogether
        return pd.DataFrame(columns=list(columns.values()))
    out = pd.DataFrame(index=df.index)
    ccys = df[currency_col] if currency_col in df.columns else pd.Series([None] * len(df), index=df.index)
    for col, label in columns.items():
        if col in money:
            out[label] = [money_text(None if _missing(v) else int(v), None if _missing(c) else str(c))
                          for v, c in zip(df[col], ccys, strict=True)]
        elif col in exact:
            out[label] = [decimal_money_text(None if _missing(v) else str(v), None if _missing(c) else str(c))
                          for v, c in zip(df[col], ccys, strict=True)]
        else:
            out[label] = df[col]
    return out


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def names_of(df: pd.DataFrame, id_col: str, name_col: str) -> dict[str, str]:
    """``id → name`` from a frame (the first name seen per id)."""
    if df.empty or id_col not in df.columns or name_col not in df.columns:
        return {}
    pairs = df[[id_col, name_col]].dropna().drop_duplicates(id_col)
    return {str(i): str(n) for i, n in zip(pairs[id_col], pairs[name_col], strict=True)}


PLAN_TOTAL_LABELS = {"invoiced": "new invoices (net)", "credited": "credit notes (net)",
                     "net_change": "net change", "gross": "size of all writes (what the limits count)"}


def plan_totals_text(totals: dict[str, dict[str, Any]]) -> MetadataValue:
    """A plan's totals per currency (``{ccy: {invoiced: '817.50' | invoiced_minor: 81750, ...}}``) as a table.

    All amounts are net of tax; "size of all writes" adds every change at its size, as the posting limits do.
    """
    rows = []
    for ccy, t in sorted(totals.items()):
        row = {"currency": ccy}
        for key, label in PLAN_TOTAL_LABELS.items():
            if f"{key}_minor" in t:
                row[label] = money_text(int(t[f"{key}_minor"]), ccy)
            elif key in t:
                row[label] = decimal_money_text(str(t[key]), ccy)
        rows.append(row)
    return preview(pd.DataFrame(rows))


def sync_exceptions_table(docs: pd.DataFrame, rows: int = 10) -> MetadataValue:
    """Documents that differ: ours vs the accounting system's (net), the difference, status and what differs."""
    return preview(table(docs, {"key": "document", "source_minor": "ours (net)", "target_minor": "accounting (net)",
                                "diff_minor": "difference", "status": "status", "detail": "what differs"},
                         money=("source_minor", "target_minor", "diff_minor")), rows=rows)


def dimension_table(dims: pd.DataFrame, names: dict[str, dict[str, str]], rows: int = 30) -> MetadataValue:
    """Totals per client, project, tax code, account and currency in five narrow columns, status last but visible:
    what (``client: Acme Ltd (client 1)``), documents ours/accounting, ours, accounting, status."""
    if dims.empty:
        return preview(dims)
    what = [f"{lvl}: {named(names.get(lvl, {}).get(str(k)), k, lvl) if lvl in names else k}"
            for lvl, k in zip(dims["level"], dims["key"], strict=True)]
    docs = [f"{int(s)} / {int(t)}" for s, t in zip(dims["source_count"], dims["target_count"], strict=True)]
    frame = dims.assign(what=what, docs=docs)
    return preview(table(frame, {"what": "what", "docs": "docs ours / acc.", "source_minor": "ours (net)",
                                 "target_minor": "accounting (net)", "status": "status"},
                         money=("source_minor", "target_minor")), rows=rows)


def source_rows_table(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The first raw rows of a source in the columns a person checks (the full rows are in the warehouse):
    ``kind`` ``time`` (hours) or ``expense`` (cost, in the client's currency)."""
    if df.empty:
        return table(df, {})
    clients = [named(n, i, "client") for n, i in zip(df["client_name"], df["client_id"], strict=True)]
    projects = [named(n, i, "project") for n, i in zip(df["project_name"], df["project_id"], strict=True)]
    rows = df.assign(client=clients, project=projects)
    if kind == "time":
        return table(rows, {"entry_id": "entry", "spent_date": "date", "user_name": "person", "client": "client",
                            "project": "project", "hours": "hours", "billable": "billable",
                            "approval_status": "approval"})
    return table(rows.assign(currency=rows["client_currency"]), {
        "expense_id": "expense", "spent_date": "date", "user_name": "person", "client": "client",
        "project": "project", "total_cost": "cost", "billable": "billable"}, exact=("total_cost",))
