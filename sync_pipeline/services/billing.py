"""Billing: raw entries → classified entries → billables → invoice draft lines (DuckDB SQL models)."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.domain.billing import LineRules, finalize_draft_lines
from sync_pipeline.domain.money import MINOR_UNITS
from sync_pipeline.domain.periods import Period
from sync_pipeline.store.sql import SqlModels


def _con(**relations: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, df in relations.items():
        con.register(name, df)
    return con


def currencies_needed(raw: pd.DataFrame, entity: EntityConfig) -> set[str]:
    """Currencies a partition converts between: the entity's base and every known client currency."""
    found = {c for c in raw["client_currency"].dropna().unique() if c in MINOR_UNITS} if len(raw) else set()
    return found | {entity.base_currency}


def clean_time_entries(raw: pd.DataFrame, entity: EntityConfig, period: Period, today: date,
                       models: SqlModels | None = None) -> pd.DataFrame:
    models = models or SqlModels()
    con = _con(raw_time_entries=raw)
    out = models.run(con, ["clean_time_entries"], sources=["raw_time_entries"], params={
        "entity": entity.key, "period": period.key, "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(), "today": today.isoformat(),
        "require_approval": entity.require_approval, "currencies": sorted(MINOR_UNITS),
    })
    return out["clean_time_entries"].to_pandas()


def billables(clean: pd.DataFrame, entity: EntityConfig, period: Period,
              models: SqlModels | None = None) -> pd.DataFrame:
    from sync_pipeline.domain import ids

    models = models or SqlModels()
    df = models.run(_con(clean_time_entries=clean), ["billables"], {}, sources=["clean_time_entries"])["billables"].to_pandas()
    df.insert(3, "invoice_key", [ids.invoice_key(entity.key, c, period.key) for c in df["client_id"]])
    return df


def invoice_draft_lines(billable: pd.DataFrame, entity: EntityConfig, period: Period,
                        models: SqlModels | None = None) -> pd.DataFrame:
    models = models or SqlModels()
    lines = models.run(_con(billables=billable), ["invoice_draft_lines"], {},
                       sources=["billables"])["invoice_draft_lines"].to_pandas()
    rules = LineRules(account_code=entity.sales_account_code, tax_type=entity.tax_type)
    return finalize_draft_lines(lines, entity.key, period.key, rules)
