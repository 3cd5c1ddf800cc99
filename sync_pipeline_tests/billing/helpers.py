"""Small builders for hand-written billing datasets: raw rows, an entity mapping, one call that bills them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd

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
           "harvest_account_id": "1", "xero_tenant_id": "t", "require_approval": True}
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
         rates: pd.DataFrame | None = None, expenses: list[dict[str, Any]] | None = None) -> Billed:
    """The billing steps as the assets run them (time, and expenses when given), each output validated by its
    contract; the conservation law must hold."""
    raw = raw_frame(rows)
    clean = CleanTimeEntry.validate(billing.clean_time_entries(raw, ent, period, today), lazy=True)
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
    return Billed(clean, bills, drafts, result, clean_exp, exp_bills)
