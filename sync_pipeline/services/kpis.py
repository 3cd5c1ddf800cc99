"""Billing-health KPIs of one entity × period from what the pipeline stored (formulas: docs/kpis.md).

Reads the warehouse partitions (time entries, posted documents and lines, the accounting system's documents
and payments pulled back, the sync reconciliation) and the operational store (sync ledger, person-day
decisions, dead letters, identities), turns them into the records ``domain.kpis`` measures, and keeps each
KPI as one row of the warehouse table ``billing_kpis`` so the billing-health page can draw its history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd

from sync_pipeline.domain import kpis
from sync_pipeline.domain.periods import Period
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline.store.hours_reviews import HoursReviews
from sync_pipeline.store.identity import Identities
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse

TABLE = "billing_kpis"
COLUMNS = ["entity", "period", "kpi", "value", "unit", "parts", "computed_at"]
AUTOMATED = ("schedule:", "sensor:")  # runs launched by a named schedule or sensor need no person


class Partition:
    """The stored frames of one entity × period, empty when a frame was not produced."""

    def __init__(self, wh: Warehouse, store: OperationalStore, entity: str, period: Period) -> None:
        self.wh, self.store, self.entity, self.period = wh, store, entity, period

    def frame(self, asset: str) -> pd.DataFrame:
        if self.wh.exists(asset, self.entity, self.period.key):
            return self.wh.read(asset, self.entity, self.period.key)
        return pd.DataFrame()


def _manual_poster(store: OperationalStore) -> Callable[[str | None], bool]:
    """Whether a document's ``triggered_by`` is a person (or a person's click in the Dagster UI)."""
    ids = Identities(store)
    seen: dict[str, bool] = {}

    def manual(who: str | None) -> bool:
        name = str(who or "")
        if name not in seen:
            actor = ids.get(name) if name else None
            seen[name] = bool(name) and not name.startswith(AUTOMATED) and (
                name == "dagster-ui" or actor is None or actor.kind == "person")
        return seen[name]
    return manual


def touchless_billing(p: Partition) -> kpis.Kpi:
    clean = p.frame("clean_time_entries")
    if clean.empty:
        return kpis.touchless_billing([])
    timed = clean[clean["disposition"].isin(["billable", "held"])]
    links = p.frame("posted_lines")
    billed: set[str] = set()
    corrected: set[str] = set()
    by_person: set[str] = set()
    if len(links):
        live = links[links["live"] & (links["role"] == "billed")]
        billed = set(live["entry_id"].astype(str))
        corrected = set(links[links["role"] == "credited"]["entry_id"].astype(str))
        manual = _manual_poster(p.store)
        by_person = {str(e) for e, who in zip(live["entry_id"], live["triggered_by"], strict=True) if manual(who)}
    released = {(d.user_id, d.day) for d in HoursReviews(p.store).latest(p.entity, p.period.start, p.period.end)
                if d.decision == "release"}
    entries = []
    for r in timed.itertuples():
        eid = str(r.entry_id)
        step = ("corrected" if eid in corrected else "released" if (str(r.user_id), str(r.spent_date)) in released
                else "posted_by_person" if eid in by_person else None)
        entries.append(kpis.BillableTime(eid, Decimal(str(r.hours)), eid in billed, step))
    return kpis.touchless_billing(entries)


def billing_corrections(p: Partition) -> kpis.Kpi:
    posted = p.frame("posted_invoices")
    return kpis.billing_corrections(
        kpis.Document(str(r.document_kind), None if pd.isna(r.revision) else int(r.revision),
                      None if pd.isna(r.status) else str(r.status))
        for r in posted.itertuples() if r.outcome not in ("failed", "held", "pending"))


def period_closed_at(period: Period, timezone: str) -> datetime:
    """The instant a billing period closes: midnight after its last day in the entity's time zone."""
    return datetime.combine(period.next().start, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def close_to_invoice(p: Partition, timezone: str) -> kpis.Kpi:
    rows = [r for r in p.store.ledger_for(p.entity, p.period.key)
            if (r.get("kind") or "invoice") == "invoice" and int(r.get("revision") or 1) == 1
            and r.get("status") == "posted" and r.get("target_id")]
    posted = [datetime.fromisoformat(str(r["created_at"])) for r in rows]
    return kpis.close_to_invoice(period_closed_at(p.period, timezone),
                                 [t if t.tzinfo else t.replace(tzinfo=UTC) for t in posted])


def days_sales_outstanding(p: Partition, as_of: date) -> kpis.Kpi:
    docs = p.frame("accounting_invoices")
    if docs.empty:
        return kpis.days_sales_outstanding([], as_of)
    pays = p.frame("raw_payments")
    by_doc: dict[str, list[tuple[date, int]]] = {}
    if len(pays):
        for r in pays[pays["status"] != "DELETED"].itertuples():
            if r.document_kind == "invoice" and isinstance(r.date, str) and r.date:
                by_doc.setdefault(str(r.document_id), []).append((date.fromisoformat(r.date[:10]), int(r.amount_minor)))
    live = docs[(docs["document_kind"] == "invoice") & ~docs["status"].isin(["VOIDED", "DELETED", "DRAFT"])]
    return kpis.days_sales_outstanding(
        [kpis.Receivable(date.fromisoformat(str(r.date)[:10]), int(r.total_minor), tuple(by_doc.get(str(r.document_id), ())))
         for r in live.itertuples() if isinstance(r.date, str) and r.date], as_of)


def sync_exception_counts(p: Partition) -> dict[str, int]:
    clean, expenses = p.frame("clean_time_entries"), p.frame("clean_expenses")
    rec, posted, quarantine = p.frame("sync_reconciliation"), p.frame("posted_invoices"), p.frame("accounting_quarantine")

    def n(df: pd.DataFrame, col: str, *values: str) -> int:
        return int(df[col].isin(values).sum()) if len(df) and col in df.columns else 0

    docs = rec[rec["level"] == "document"] if len(rec) else rec
    return {
        "quarantined_entries": n(clean, "disposition", "quarantined"),
        "held_entries": n(clean, "disposition", "held"),
        "quarantined_expenses": n(expenses, "disposition", "quarantined"),
        "posting_failures": len(DeadLetters(p.store).open_for(p.entity, p.period.key)),
        "held_documents": n(posted, "outcome", "held"),
        "reconciliation_differences": n(docs, "status", "missing", "extra", "mismatch"),
        "unreadable_documents": len(quarantine),
    }


def sync_exceptions(p: Partition) -> kpis.Kpi:
    return kpis.sync_exceptions(sync_exception_counts(p))


def kpi_row(entity: str, period: Period, k: kpis.Kpi, now: datetime | None = None) -> pd.DataFrame:
    """One KPI as the row kept in ``billing_kpis`` (value and parts as exact strings, never floats)."""
    import json

    return pd.DataFrame([{
        "entity": entity, "period": period.key, "kpi": k.name, "value": None if k.value is None else str(k.value),
        "unit": k.unit, "parts": json.dumps({a: str(b) for a, b in k.parts.items()}, sort_keys=True),
        "computed_at": (now or datetime.now(UTC)).isoformat(timespec="seconds")}], columns=COLUMNS)


def store_kpi(wh: Warehouse, entity: str, period: Period, k: kpis.Kpi) -> None:
    wh.write(f"{TABLE}_{k.name}", entity, period.key, kpi_row(entity, period, k))


def history(wh: Warehouse, entities: list[str]) -> pd.DataFrame:
    """Every stored KPI row of the given entities (all periods), oldest period first."""
    frames = [wh.read(f"{TABLE}_{name}", e, period)
              for name in kpis.KPI_NAMES for e in entities for period in wh.periods(f"{TABLE}_{name}", e)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(["kpi", "entity", "period"]).reset_index(drop=True)
