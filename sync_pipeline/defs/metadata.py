"""Helpers that turn frames into the metadata a person checks in the Dagster UI."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from dagster import MetadataValue

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
