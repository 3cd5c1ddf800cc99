"""Small hand-written finance datasets shared by the finance tests. Every figure is worked out in the tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from sync_pipeline.contracts.finance import parse_finance_config
from sync_pipeline.contracts.finance_tables import SharedCostLine

ENTITY = "acme-uk"
PERIOD = "2026-10"

CONFIG: dict[str, Any] = {
    "version": 1,
    "reporting_currency": "EUR",
    "depreciation_codes": [{"code": "SL36", "months": 36}],
    "accounts": [
        {"code": "469", "name": "Rent", "expense_class": "opex"},
        {"code": "429", "name": "IT services", "expense_class": "opex"},
        {"code": "463", "name": "Cloud hosting", "expense_class": "opex"},
        {"code": "477", "name": "Management fees", "expense_class": "opex"},
        {"code": "404", "name": "Bank fees", "expense_class": "opex"},
        {"code": "420", "name": "Training", "expense_class": "opex"},
        {"code": "720", "name": "Computer equipment", "expense_class": "capex",
         "capitalization_code": "FA-IT", "depreciation_code": "SL36"},
    ],
    "cost_pools": [
        {"key": "rent", "name": "Office rent", "driver": "headcount", "accounts": ["469"],
         "methodology": "Rent follows the people who work on a project."},
        {"key": "it", "name": "IT services", "driver": "hours", "accounts": ["429"],
         "methodology": "IT support scales with the hours worked."},
        {"key": "cloud", "name": "Cloud hosting", "driver": "usage", "usage_metric": "gb_hours",
         "accounts": ["463"], "methodology": "Hosting is metered per project in GB-hours."},
        {"key": "mgmt", "name": "Management", "driver": "fixed_key", "accounts": ["477"],
         "methodology": "Management time split by the agreed key 50/25/25.",
         "fixed_key": [{"entity": ENTITY, "project_id": "11", "weight": 50},
                       {"entity": ENTITY, "project_id": "12", "weight": 25},
                       {"entity": ENTITY, "project_id": "21", "weight": 25}]},
        {"key": "training", "name": "Training", "driver": "usage", "usage_metric": "seats",
         "accounts": ["420"], "methodology": "Training seats booked per project."},
    ],
    "usage": [
        {"entity": ENTITY, "period": PERIOD, "project_id": "11", "metric": "gb_hours", "quantity": "30"},
        {"entity": ENTITY, "period": PERIOD, "project_id": "21", "metric": "gb_hours", "quantity": "70"},
    ],
    "intercompany": [{"entity": ENTITY, "counterparty": "acme-us", "contact_name": "Acme US Inc"}],
}


def config(**changes: Any):
    return parse_finance_config({**CONFIG, **changes})


def clean_entries() -> pd.DataFrame:
    """Hours: p11 = 6 + 2 = 8 (people u1, u2), p12 = 1 (u1, held), p21 = 3 (u3, non-billable);
    e5 is quarantined and never counts."""
    rows = [
        ("e1", "11", "1", "u1", "6", "billable"),
        ("e2", "11", "1", "u2", "2", "billable"),
        ("e3", "12", "1", "u1", "1", "held"),
        ("e4", "21", "2", "u3", "3", "non_billable"),
        ("e5", "21", "2", "u2", "4", "quarantined"),
    ]
    return pd.DataFrame([{
        "entity": ENTITY, "period": PERIOD, "entry_id": e, "spent_date": "2026-10-05", "client_id": c,
        "client_name": {"1": "Acme Corp", "2": "Globex GmbH"}[c], "project_id": p,
        "project_name": f"Project {p}", "task_id": "1", "task_name": "Dev", "user_id": u, "user_name": u,
        "currency": "GBP", "hours": Decimal(h), "rate": Decimal("100"), "disposition": d,
        "reason": None if d == "billable" else "x",
    } for e, p, c, u, h, d in rows])


def line(line_id: str, account: str | None, amount_minor: int | None, *, currency: str = "GBP",
         project_ref: str | None = None, contact: str = "Landlord Ltd", date: str = "2026-10-01",
         description: str = "") -> dict[str, Any]:
    return {
        "entity": ENTITY, "period": PERIOD, "line_id": line_id, "source": "xero_bill",
        "document_id": f"doc-{line_id}", "document_number": f"BILL-{line_id}", "document_reference": None,
        "line_item_id": f"li-{line_id}", "line_no": 1, "date": date, "contact_id": None, "contact_name": contact,
        "description": description or line_id, "account_code": account, "tracking": None,
        "project_ref": project_ref, "currency": currency, "amount_minor": amount_minor, "tax_minor": 0,
        "status": "AUTHORISED", "extracted_at": "2026-11-02T09:00:00+00:00",
    }


def shared_lines() -> pd.DataFrame:
    rows = [
        line("L01", "469", 100000, description="October rent"),          # 1,000.00 → rent (headcount)
        line("L02", "429", 10000, description="IT support"),              # 100.00 → it (hours)
        line("L03", "463", 3333, description="Cloud hosting"),            # 33.33 → cloud (usage)
        line("L04", "477", 20001, contact="Acme US Inc", description="Group management fee"),  # 200.01 → mgmt
        line("L05", "469", -1000, description="Rent refund"),             # -10.00 → rent
        line("L06", "720", 120000, description="Laptops"),                # 1,200.00 capex FA-IT / SL36
        line("L07", "429", 4550, project_ref="11", description="Test devices for project 11"),  # direct
        line("L08", "404", 1234, description="Bank fees"),                # opex, no pool
        line("L09", "999", 500, description="Unclassified account"),      # quarantined
        line("L10", "420", 5000, description="Training course"),          # training pool: no seats → unallocated
    ]
    return SharedCostLine.validate(pd.DataFrame(rows))
