"""The demo dataset: one entity, one billing period, small enough to check by hand.

The end-to-end test computes the expected invoices from this data by hand; change
it only together with that test.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

DEMO_ENTITY = "acme-uk"
DEMO_PERIOD = "2026-10"
HARVEST_ACCOUNT_ID = "100001"
XERO_TENANT_ID = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"

CLIENTS = [
    {"id": 1, "name": "Acme Corp", "currency": "GBP", "is_active": True},
    {"id": 2, "name": "Globex GmbH", "currency": "EUR", "is_active": True},
    {"id": 3, "name": "Acme UK Internal", "currency": "GBP", "is_active": True},
]
PROJECTS = [
    {"id": 11, "client": 1, "name": "Acme Website", "code": "ACM-WEB", "is_billable": True},
    {"id": 12, "client": 1, "name": "Acme Support", "code": "ACM-SUP", "is_billable": True},
    {"id": 21, "client": 2, "name": "Globex Data Platform", "code": "GLX-DATA", "is_billable": True},
    {"id": 31, "client": 3, "name": "Internal Operations", "code": None, "is_billable": False},
]
TASKS = [
    {"id": 1, "name": "Development", "billable_by_default": True},
    {"id": 2, "name": "Design", "billable_by_default": True},
    {"id": 3, "name": "Meetings", "billable_by_default": True},
]
USERS = [
    {"id": 1, "first_name": "Alice", "last_name": "Archer", "email": "alice.archer@acme-uk.example",
     "timezone": "Europe/London"},
    {"id": 2, "first_name": "Bob", "last_name": "Baker", "email": "bob.baker@acme-uk.example",
     "timezone": "Europe/London"},
    {"id": 3, "first_name": "Carol", "last_name": "Chen", "email": "carol.chen@acme-uk.example",
     "timezone": "Europe/London"},
]

# (id, user, project, task, spent_date, hours, billable, rate, approved, notes)
TIME_ENTRIES: list[tuple[int, int, int, int, str, str, bool, str | None, bool, str]] = [
    (1001, 1, 11, 1, "2026-10-05", "2.5", True, "120", True, "Checkout flow"),
    (1002, 2, 11, 1, "2026-10-06", "3.0", True, "100", True, "API integration"),
    (1003, 1, 11, 2, "2026-10-07", "1.25", True, "120", True, "Landing page mock-ups"),
    (1004, 3, 12, 3, "2026-10-08", "0.75", True, "90", True, "Weekly support call"),
    (1005, 2, 21, 1, "2026-10-09", "4.0", True, "110", True, "Ingestion job"),
    (1006, 1, 21, 2, "2026-10-20", "1.5", True, "95.50", True, "Dashboard design"),
    (1007, 3, 31, 3, "2026-10-13", "1.0", False, None, True, "All-hands"),
    (1008, 2, 11, 1, "2026-10-14", "2.0", True, "100", False, "Not yet approved"),
    (1009, 1, 11, 1, "2026-10-15", "-1.0", True, "120", True, "Negative by mistake"),
    (1010, 2, 11, 1, "2026-09-30", "5.0", True, "100", True, "Previous period"),
]


def _ref(items: list[dict[str, Any]], key: int) -> dict[str, Any]:
    return next(i for i in items if i["id"] == key)


APPROVER = 3  # Carol Chen approves the team's time (the sandbox's x_approved_by; Harvest does not expose it)


def _started_at(spent: str, tz: str) -> str:
    """09:00 on the user's local day, with its UTC offset (the sandbox's ``x_started_at``)."""
    local = datetime.fromisoformat(f"{spent}T09:00:00").replace(tzinfo=ZoneInfo(tz))
    return local.isoformat()


def time_entry_doc(row: tuple) -> dict[str, Any]:
    eid, uid, pid, tid, spent, hours, billable, rate, approved, notes = row
    user, project, task = _ref(USERS, uid), _ref(PROJECTS, pid), _ref(TASKS, tid)
    client = _ref(CLIENTS, project["client"])
    ts = f"{spent}T18:00:00Z"
    approver = _ref(USERS, APPROVER)
    approval: dict[str, Any] = {"approval_status": "approved",
                                "x_approved_by": {"id": APPROVER,
                                                  "name": f"{approver['first_name']} {approver['last_name']}"},
                                "x_approved_at": f"{spent}T17:30:00Z"} if approved else {"approval_status": "submitted"}
    return {
        "id": eid,
        "spent_date": spent,
        "hours": Decimal(hours),
        "rounded_hours": Decimal(hours),
        "notes": notes,
        "is_locked": approved,
        "locked_reason": "Item Approved and Locked for this Time Period" if approved else None,
        "is_closed": approved,
        "is_billed": False,
        "is_running": False,
        "billable": billable,
        "budgeted": False,
        "billable_rate": Decimal(rate) if rate is not None else None,
        "cost_rate": Decimal("50"),
        "created_at": ts,
        "updated_at": ts,
        "user": {"id": uid, "name": f"{user['first_name']} {user['last_name']}"},
        "client": {"id": client["id"], "name": client["name"], "currency": client["currency"]},
        "project": {"id": pid, "name": project["name"], "code": project["code"]},
        "task": {"id": tid, "name": task["name"]},
        "invoice": None,
        "external_reference": None,
        "x_started_at": _started_at(spent, user["timezone"]),
        "x_timezone": user["timezone"],
        **approval,
    }


def seed_harvest(sandbox) -> int:
    """Load the demo dataset into a HarvestSandbox once; later calls leave its state alone."""
    acc = HARVEST_ACCOUNT_ID
    if sandbox.store.kv_get("accounts", acc):
        return 0
    sandbox.add_account(acc, "Acme UK Ltd")
    sandbox.upsert_many("clients", acc, [dict(c) for c in CLIENTS])
    sandbox.upsert_many("projects", acc, [
        {**{k: v for k, v in p.items() if k != "client"},
         "client": {"id": p["client"], "name": _ref(CLIENTS, p["client"])["name"],
                    "currency": _ref(CLIENTS, p["client"])["currency"]}}
        for p in PROJECTS
    ])
    sandbox.upsert_many("tasks", acc, [dict(t) for t in TASKS])
    sandbox.upsert_many("users", acc, [dict(u) for u in USERS])
    return sandbox.upsert_many("time_entries", acc, [time_entry_doc(r) for r in TIME_ENTRIES])


# The items and tracking options the demo mapping (docs/mapping.example.yaml) puts on invoice lines
XERO_ITEMS = {"WEB": "Website work", "SUP": "Support", "DATA": "Data platform work", "DEV": "Development",
              "DES": "Design"}
XERO_TRACKING = {"Project": ("ACM-WEB", "ACM-SUP", "GLX-DATA")}


def seed_xero(sandbox) -> None:
    sandbox.add_tenant(XERO_TENANT_ID, "Acme UK Ltd", "GBP")
    seed_xero_catalog(sandbox, XERO_TENANT_ID)


def seed_xero_catalog(sandbox, tenant: str) -> None:
    """Give a Xero tenant the items and tracking options the demo mapping names (once)."""
    if sandbox.store.count("Items", tenant) == 0:
        list(sandbox.bulk_create("Items", tenant, [{"Code": c, "Name": n} for c, n in XERO_ITEMS.items()]))
    for category, options in XERO_TRACKING.items():
        sandbox.add_tracking(tenant, category, options)


# QuickBooks Online: one company per realm, each with the demo items (Name, and the mapping's code as Sku)
QBO_REALM_US = "9130357992233431"  # a US company: sales tax (TAX/NON lines), USD only
QBO_REALM_UK = "9130357992233432"  # a non-US company: VAT codes on every line, GBP home, multicurrency on


def seed_qbo(sandbox) -> None:
    """Create the demo QBO companies and their items (once; later calls leave their state alone)."""
    for realm, name, country, multicurrency in ((QBO_REALM_US, "Acme US Inc", "US", False),
                                                (QBO_REALM_UK, "Acme UK Ltd", "GB", True)):
        if sandbox.company(realm) is not None:
            continue
        sandbox.add_company(realm, name, country=country, multicurrency=multicurrency)
        income = sandbox.query_one(realm, "select * from Account where Name = 'Services'")
        for code, item_name in XERO_ITEMS.items():
            sandbox.create("Item", realm, {"Name": item_name, "Sku": code, "Type": "Service",
                                           "IncomeAccountRef": {"value": income["Id"]}})
