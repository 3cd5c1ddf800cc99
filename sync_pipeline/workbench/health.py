"""The billing-health page's figures: the KPIs kept by the ``kpis`` assets, and the open exceptions.

Everything is read from what the pipeline stored (warehouse ``billing_kpis_*`` and ``sync_reconciliation``
partitions, the matching log); nothing is recomputed here, so the page shows what Dagster materialized.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from sync_pipeline.domain.display import money_text
from sync_pipeline.domain.kpis import TEAMS
from sync_pipeline.services import kpis as kpi_service
from sync_pipeline.store import matching_log as ml
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline.workbench.charts import line_chart, stacked_bars

# name → (title, how the value reads, what good looks like)
KPIS: dict[str, tuple[str, str, str]] = {
    "touchless_billing": ("Billable time invoiced without a manual step", "share", "higher is better"),
    "billing_corrections": ("Billing corrections per invoice issued", "per invoice", "lower is better"),
    "close_to_invoice": ("Days from period close to invoice posted (median)", "days", "lower is better"),
    "days_sales_outstanding": ("Days sales outstanding", "days", "lower is better"),
    "sync_exceptions": ("Open sync exceptions", "count", "lower is better"),
}


@dataclass(frozen=True)
class HealthSource:
    """Where the page reads: the warehouse, and the entities to show (the mapping's)."""

    warehouse: Warehouse
    entities: Callable[[], list[str]]


def value_text(kpi: str, value: str | None) -> str:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return "—"
    v = Decimal(str(value))
    unit = KPIS[kpi][1]
    if unit == "share":
        return f"{(v * 100).quantize(Decimal('0.1'))} %"
    if unit == "days":
        return f"{v} days"
    if unit == "count":
        return f"{int(v)}"
    return f"{v.normalize():f} {unit}"


def _chart_value(kpi: str, value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    v = Decimal(str(value))
    return v * 100 if KPIS[kpi][1] == "share" else v


def sync_exception_rows(wh: Warehouse, entities: list[str], limit: int = 200) -> list[dict[str, Any]]:
    """Documents that differ between us and the accounting system, newest period first."""
    rows: list[dict[str, Any]] = []
    for e in entities:
        for period in sorted(wh.periods("sync_reconciliation", e), reverse=True):
            df = wh.read("sync_reconciliation", e, period)
            bad = df[(df["level"] == "document") & (df["status"] != "match")]
            rows += [{"entity": e, "period": period, "document": r.key, "status": r.status,
                      "ours": money_text(int(r.source_minor), r.currency),
                      "accounting": money_text(int(r.target_minor), r.currency),
                      "difference": money_text(int(r.diff_minor), r.currency), "detail": r.detail or ""}
                     for r in bad.itertuples()]
    rows.sort(key=lambda r: (r["period"], r["entity"], r["document"]), reverse=True)
    return rows[:limit]


def cash_exception_counts(log: ml.MatchingLog, entities: list[str]) -> list[dict[str, Any]]:
    """Open cash-matching exceptions per entity: how many, and the money they hold per currency."""
    out = []
    for e in entities:
        open_rows = log.decisions(entity=e, statuses=[ml.OPEN], limit=100_000)
        per_ccy: dict[str, int] = {}
        for d in open_rows:
            per_ccy[d["line_currency"]] = per_ccy.get(d["line_currency"], 0) + int(d["line_amount_minor"])
        out.append({"entity": e, "open": len(open_rows),
                    "amount": " · ".join(money_text(v, c) for c, v in sorted(per_ccy.items())) or "—"})
    return out


def page(source: HealthSource, log: ml.MatchingLog, entity: str | None = None) -> dict[str, Any]:
    """The page's context: one chart per KPI across periods (a line per entity), the latest values, exceptions
    per team, and the open sync and cash exceptions."""
    known = source.entities()
    entities = [entity] if entity in known else known
    hist = kpi_service.history(source.warehouse, entities)
    periods = sorted(hist["period"].unique()) if len(hist) else []
    charts: list[dict[str, Any]] = []
    for name, (title, unit, good) in KPIS.items():
        rows = hist[hist["kpi"] == name]
        series = {e: {p: _chart_value(name, v) for p, v in zip(g["period"], g["value"], strict=True)}
                  for e, g in rows.groupby("entity")}
        shown_unit = "%" if unit == "share" else unit
        charts.append({"name": name, "title": title, "good": good,
                       "svg": line_chart(f"chart-{name}", f"{title} ({shown_unit}) per billing period", periods,
                                         series, shown_unit)})
    latest = _latest(hist)
    teams = {e: {t: int(json.loads(parts).get(f"team {t}", 0)) for t in TEAMS}
             for e, parts in latest.get("sync_exceptions", {}).get("parts", {}).items()}
    team_chart = stacked_bars("chart-exceptions-per-team", "Open sync exceptions per team, latest period of each "
                              "entity", sorted(teams), teams, TEAMS)
    table = [{"entity": e, "period": latest.get("touchless_billing", {}).get("period", {}).get(e, ""),
              **{k: value_text(k, latest.get(k, {}).get("value", {}).get(e)) for k in KPIS}} for e in entities]
    return {"charts": charts, "team_chart": team_chart, "latest": table, "kpis": KPIS, "entities": known,
            "entity": entity if entity in known else "", "periods": periods, "teams": TEAMS, "team_counts": teams,
            "sync_rows": sync_exception_rows(source.warehouse, entities),
            "cash_counts": cash_exception_counts(log, entities)}


def _latest(hist: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    """kpi → column → entity → that entity's value in its latest period."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if hist.empty:
        return out
    last = hist.sort_values("period").groupby(["kpi", "entity"]).tail(1)
    for r in last.itertuples():
        for col in ("value", "parts", "period"):
            out.setdefault(r.kpi, {}).setdefault(col, {})[r.entity] = getattr(r, col)
    return out
