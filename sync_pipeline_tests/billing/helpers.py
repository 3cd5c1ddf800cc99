"""Small builders for hand-written billing datasets: raw rows, an entity mapping, one call that bills them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow

from sync_pipeline.contracts.mapping import EntityConfig, Mapping
from sync_pipeline.contracts.warehouse import (
    Billable,
    CleanExpense,
    CleanTimeEntry,
    ExpenseBillable,
    FxRateRow,
    InvoiceDraftLine,
    RawExpense,
    RawTimeEntry,
)
from sync_pipeline.domain.billing import ConservationResult, check_conservation, invoice_headers
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import billing
from sync_pipeline.services import fx as fx_service
from sync_pipeline.store.warehouse import Warehouse, arrow_schema

OCT = Period(2026, 10)
AFTER_OCT = date(2026, 11, 15)
RAW_COLUMNS = list(RawTimeEntry.to_schema().columns)


def entry(entry_id: int | str, *, date: str = "2026-10-05", hours: str | None = "1.0", rate: str | None = "100",
          client: str | None = "1", client_name: str = "Acme Corp", currency: str | None = "GBP",
          project: str | None = "11", task: str | None = "1", user: str | None = "1", billable: bool = True,
          approved: bool = True, **extra: Any) -> dict[str, Any]:
    row = {
        "source": "harvest", "entry_id": str(entry_id), "spent_date": date, "user_id": user,
        "user_name": f"User {user}", "client_id": client, "client_name": client_name, "client_currency": currency,
        "project_id": project, "project_name": f"Project {project}", "project_code": None, "task_id": task,
        "task_name": f"Task {task}", "hours": Decimal(hours) if hours is not None else None, "billable": billable,
        "billable_rate": Decimal(rate) if rate is not None else None, "is_closed": approved, "notes": None,
        "updated_at": f"{date}T18:00:00Z", "extracted_at": "2026-11-01T00:00:00Z",
    }
    row.update(extra)
    return row


def expense(expense_id: str, *, date: str = "2026-10-06", cost: str | None = "10.00", category: str = "Travel",
            client: str | None = "1", client_name: str = "Acme Corp", currency: str | None = "GBP",
            project: str | None = "11", user: str | None = "1", billable: bool = True, approved: bool = True,
            markup: str | None = None, **extra: Any) -> dict[str, Any]:
    """A raw expense row (``raw_expenses`` contract); ``markup`` is the project system's own markup percent."""
    row = {
        "source": "harvest", "expense_id": str(expense_id), "spent_date": date, "user_id": user,
        "user_name": f"User {user}", "client_id": client, "client_name": client_name, "client_currency": currency,
        "project_id": project, "project_name": f"Project {project}", "category": category, "units": None,
        "total_cost": Decimal(cost) if cost is not None else None,
        "markup_percent": Decimal(markup) if markup is not None else None, "billable": billable,
        "is_closed": approved, "is_billed": False, "approval_status": "approved" if approved else "submitted",
        "approved_by": "Mia Manager (9)" if approved else None,
        "approved_at": f"{date}T17:00:00Z" if approved else None, "receipt_url": None, "billed_elsewhere": None, "notes": None,
        "updated_at": f"{date}T18:00:00Z", "extracted_at": "2026-11-01T00:00:00Z",
    }
    row.update(extra)
    return row


def raw_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    extra = [c for r in rows for c in r if c not in RAW_COLUMNS]
    cols = RAW_COLUMNS + sorted(set(extra))
    df = pd.DataFrame(rows, columns=cols)
    base = RawTimeEntry.validate(df[RAW_COLUMNS], lazy=True)
    for c in sorted(set(extra)):
        base[c] = df[c].astype(object)
    return base


def entity(**overrides: Any) -> EntityConfig:
    doc = {"key": "acme-uk", "name": "Acme UK Ltd", "timezone": "Europe/London", "base_currency": "GBP",
           "harvest_account_id": "1", "xero_tenant_id": "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41", "require_approval": True}
    doc.update(overrides)
    return Mapping.model_validate({"version": 2, "entities": [doc]}).entities[0]


def ecb(rows: list[tuple[str, str, str]], retrieved_at: str = "2026-11-02T09:00:00+00:00") -> pd.DataFrame:
    """Hand-written ECB reference rates: (quote currency, rate date, rate per EUR)."""
    df = pd.DataFrame([{"base_currency": "EUR", "quote_currency": q, "rate_date": d, "rate": Decimal(r),
                        "source": "ecb-test", "retrieved_at": retrieved_at, "kind": "reference", "client_id": None}
                       for q, d, r in rows], columns=fx_service.FX_COLUMNS)
    return df


@dataclass
class Billed:
    clean: pd.DataFrame
    billables: pd.DataFrame
    drafts: pd.DataFrame
    conservation: ConservationResult
    clean_expenses: pd.DataFrame | None = None
    expense_billables: pd.DataFrame | None = None

    def expense_disposition(self, expense_id: str) -> tuple[str, str | None]:
        assert self.clean_expenses is not None
        r = self.clean_expenses[self.clean_expenses["expense_id"] == str(expense_id)].iloc[0]
        return r["disposition"], (r["reason"] if isinstance(r["reason"], str) else None)

    def disposition(self, entry_id: str) -> tuple[str, str | None]:
        r = self.clean[self.clean["entry_id"] == str(entry_id)].iloc[0]
        return r["disposition"], (r["reason"] if isinstance(r["reason"], str) else None)

    def invoices(self) -> dict[str, dict[str, Any]]:
        return {inv["client_id"]: inv for inv in invoice_headers(self.drafts)}

    def lines(self, client_id: str) -> list[tuple[Decimal, Decimal, Decimal]]:
        inv = self.invoices()[client_id]
        return [(li["quantity"], li["unit_amount"], li["line_amount"]) for li in inv["lines"]]


def bill(rows: list[dict[str, Any]], ent: EntityConfig, period: Period = OCT, today: date = AFTER_OCT,
         rates: pd.DataFrame | None = None, expenses: list[dict[str, Any]] | None = None,
         day_decisions: pyarrow.Table | None = None) -> Billed:
    """The billing steps on frames (time, and expenses when given), each output validated by its contract; the
    conservation law must hold, and the assets' own file-to-file path must give the same frames
    (:func:`assert_assets_agree`)."""
    raw = raw_frame(rows)
    clean = CleanTimeEntry.validate(billing.clean_time_entries(raw, ent, period, today, day_decisions=day_decisions),
                                    lazy=True)
    bills = Billable.validate(billing.billables(clean, ent, period, today), lazy=True)
    clean_exp = exp_bills = raw_exp = None
    if expenses is not None:
        raw_exp = RawExpense.validate(pd.DataFrame(expenses, columns=list(RawExpense.to_schema().columns)), lazy=True)
        clean_exp = CleanExpense.validate(billing.clean_expenses(raw_exp, ent, period, today), lazy=True)
        exp_bills = ExpenseBillable.validate(billing.expense_billables(clean_exp, ent, period), lazy=True)
    if rates is not None:
        rates = FxRateRow.validate(fx_service.merge_keep_existing(rates, billing.contract_rates_frame(ent)), lazy=True)
    drafts = InvoiceDraftLine.validate(billing.invoice_draft_lines(bills, ent, period, rates=rates, today=today,
                                                                   expense_billables=exp_bills), lazy=True)
    result = check_conservation(len(raw), clean, bills, drafts,
                                raw_expense_count=len(raw_exp) if raw_exp is not None else None,
                                clean_expenses=clean_exp, expense_billables=exp_bills)
    assert result.passed, result.problems
    assert_assets_agree(raw, ent, period, today, rates, exp_bills, clean, bills, drafts, day_decisions)
    return Billed(clean, bills, drafts, result, clean_exp, exp_bills)


def _nulls_as_none(df: pd.DataFrame) -> pd.DataFrame:
    """Values compared as Python objects, every missing value as None (pandas.NA, NaN and None are one thing)."""
    out = df.astype(object)
    return out.where(out.notna(), None)


def assert_assets_agree(raw: pd.DataFrame, ent: EntityConfig, period: Period, today: date,
                        rates: pd.DataFrame | None, exp_bills: pd.DataFrame | None, clean: pd.DataFrame,
                        bills: pd.DataFrame, drafts: pd.DataFrame, day_decisions: pyarrow.Table | None = None) -> None:
    """The Dagster assets bill a stored partition file to file in DuckDB (``billing.*_partition``), never
    loading the entries into pandas: on every hand-computed dataset they must produce exactly the frames
    above (clean entries and billables row for row once sorted by id, draft lines as they are)."""
    schema = arrow_schema(RawTimeEntry)
    for c in raw.columns:
        if c not in schema.names:
            schema = schema.append(pyarrow.field(c, pyarrow.string()))
    with tempfile.TemporaryDirectory() as root:
        wh = Warehouse(root)
        e, p = ent.key, period.key
        wh.write_arrow("raw_time_entries", e, p, pyarrow.Table.from_pandas(raw[schema.names], schema=schema,
                                                                           preserve_index=False))
        wh.write("fx_rates", e, p, rates if rates is not None else pd.DataFrame(columns=fx_service.FX_COLUMNS),
                 FxRateRow)
        if exp_bills is not None:
            wh.write("expense_billables", e, p, exp_bills, ExpenseBillable)
        billing.clean_time_entries_partition(wh, ent, period, today, day_decisions=day_decisions)
        billing.billables_partition(wh, ent, period, today)
        stored_drafts = billing.invoice_drafts_partition(wh, ent, period, today)
        for asset, expected in (("clean_time_entries", clean), ("billables", bills)):
            got = wh.read(asset, e, p).sort_values("entry_id", kind="stable").reset_index(drop=True)
            pd.testing.assert_frame_equal(_nulls_as_none(got), _nulls_as_none(expected.reset_index(drop=True)),
                                          obj=asset)
        pd.testing.assert_frame_equal(InvoiceDraftLine.validate(stored_drafts, lazy=True), drafts, obj="invoice_drafts")
