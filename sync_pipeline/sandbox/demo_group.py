"""The demo group: acme-uk (``demo_data``, GBP, UK VAT) and two more entities with three months of time each, so
that the backfill dialog, the cash assets and the workbench have something real to show.

| entity | currency | tax | clients |
|---|---|---|---|
| acme-uk (demo_data) | GBP (and EUR for Globex) | GB: 20 % VAT | Acme Corp, Globex GmbH |
| acme-de | EUR | EU-B2B: reverse charge; GB-IC: out of scope | Van Dijk Logistics, Rossi Tessile, Acme UK Ltd (IC) |
| acme-us | USD | US: no sales tax on services (0 %) | Initech LLC, Umbrella Health Inc |

Their mapping is ``docs/demo/mapping.yaml`` (one block per entity: moving one to another accounting system is one
line, ``target:``); their time is approved, dated 2026-08 to 2026-10. The bank statements that pay the invoices are
written by ``demo_statements`` after posting, from what the accounting system holds.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sync_pipeline.sandbox import demo_data

PERIODS = ("2026-08", "2026-09", "2026-10")

#: entity -> (Harvest account, Xero tenant, organisation name, base currency, time zone)
ENTITIES: dict[str, tuple[str, str, str, str, str]] = {
    "acme-de": ("100002", "7b0e4c1d-2f7a-4b8e-9c31-5d6a0f2e8b14", "Acme Deutschland GmbH", "EUR", "Europe/Berlin"),
    "acme-us": ("100003", "c4a9e2f0-8d13-4e6b-a7f5-1b2c3d4e5f60", "Acme Holdings Inc", "USD", "America/New_York"),
}

CLIENTS: dict[str, list[dict[str, Any]]] = {
    "acme-de": [
        {"id": 401, "name": "Van Dijk Logistics B.V.", "currency": "EUR", "is_active": True},
        {"id": 402, "name": "Rossi Tessile S.p.A.", "currency": "EUR", "is_active": True},
        {"id": 403, "name": "Acme UK Ltd", "currency": "EUR", "is_active": True},
    ],
    "acme-us": [
        {"id": 501, "name": "Initech LLC", "currency": "USD", "is_active": True},
        {"id": 502, "name": "Umbrella Health Inc", "currency": "USD", "is_active": True},
    ],
}
PROJECTS: dict[str, list[dict[str, Any]]] = {
    "acme-de": [
        {"id": 4101, "client": 401, "name": "Routing Platform", "code": "VDL-ROUTE", "is_billable": True},
        {"id": 4201, "client": 402, "name": "Shop Relaunch", "code": "RST-SHOP", "is_billable": True},
        {"id": 4301, "client": 403, "name": "Group IT Services", "code": "ACM-GIT", "is_billable": True},
    ],
    "acme-us": [
        {"id": 5101, "client": 501, "name": "Billing Migration", "code": "INI-BILL", "is_billable": True},
        {"id": 5201, "client": 502, "name": "Patient Portal", "code": "UMB-PORTAL", "is_billable": True},
    ],
}
TASKS = [{"id": 1, "name": "Development", "billable_by_default": True},
         {"id": 2, "name": "Consulting", "billable_by_default": True}]
USERS: dict[str, list[dict[str, Any]]] = {
    "acme-de": [{"id": 41, "first_name": "Jonas", "last_name": "Becker"},
                {"id": 42, "first_name": "Lena", "last_name": "Hoffmann"},
                {"id": 43, "first_name": "Miriam", "last_name": "Wolf"}],
    "acme-us": [{"id": 51, "first_name": "Maya", "last_name": "Patel"},
                {"id": 52, "first_name": "Ethan", "last_name": "Brooks"}],
}
#: per entity: (user, project, task, hours, rate) worked in each month; the month's n-th weekday is the date
WORK: dict[str, list[tuple[int, int, int, str, str]]] = {
    "acme-de": [(41, 4101, 1, "6.0", "110"), (42, 4101, 2, "3.5", "130"), (43, 4201, 1, "5.0", "95"),
                (42, 4201, 2, "2.0", "130"), (41, 4301, 1, "4.0", "85")],
    "acme-us": [(51, 5101, 1, "7.5", "150"), (52, 5101, 2, "2.0", "180"), (51, 5201, 1, "6.0", "150"),
                (52, 5201, 1, "3.25", "140")],
}
APPROVERS = {"acme-de": 43, "acme-us": 52}


def _ref(items: list[dict[str, Any]], key: int) -> dict[str, Any]:
    return next(i for i in items if i["id"] == key)


def _workday(period: str, n: int) -> str:
    d = date.fromisoformat(f"{period}-01")
    seen = 0
    while True:
        if d.weekday() < 5:
            seen += 1
            if seen == n:
                return d.isoformat()
        d += timedelta(days=1)


def time_entries(entity: str) -> list[dict[str, Any]]:
    """The entity's approved time entries of PERIODS (ids: entity number, month, line)."""
    tz = ENTITIES[entity][4]
    approver = _ref(USERS[entity], APPROVERS[entity])
    base = int(ENTITIES[entity][0]) % 100 * 100_000
    out = []
    for m, period in enumerate(PERIODS, start=1):
        for n, (uid, pid, tid, hours, rate) in enumerate(WORK[entity], start=1):
            user, project, task = _ref(USERS[entity], uid), _ref(PROJECTS[entity], pid), _ref(TASKS, tid)
            client = _ref(CLIENTS[entity], project["client"])
            spent = _workday(period, 3 * n + m)
            ts = f"{spent}T18:00:00Z"
            out.append({
                "id": base + m * 100 + n, "spent_date": spent, "hours": Decimal(hours), "rounded_hours": Decimal(hours),
                "notes": f"{project['name']}: {task['name'].lower()}", "is_locked": True,
                "locked_reason": "Item Approved and Locked for this Time Period", "is_closed": True,
                "is_billed": False, "is_running": False, "billable": True, "budgeted": False,
                "billable_rate": Decimal(rate), "cost_rate": Decimal("55"), "created_at": ts, "updated_at": ts,
                "user": {"id": uid, "name": f"{user['first_name']} {user['last_name']}"},
                "client": {"id": client["id"], "name": client["name"], "currency": client["currency"]},
                "project": {"id": pid, "name": project["name"], "code": project["code"]},
                "task": {"id": tid, "name": task["name"]}, "invoice": None, "external_reference": None,
                "x_started_at": demo_data._started_at(spent, tz), "x_timezone": tz,
                "approval_status": "approved",
                "x_approved_by": {"id": approver["id"], "name": f"{approver['first_name']} {approver['last_name']}"},
                "x_approved_at": f"{spent}T17:30:00Z",
            })
    return out


def seed_harvest(sandbox) -> int:
    """The two entities' accounts in the Harvest sandbox (once)."""
    n = 0
    for entity, (acc, _, name, _, tz) in ENTITIES.items():
        if sandbox.store.kv_get("accounts", acc):
            continue
        sandbox.add_account(acc, name)
        sandbox.upsert_many("clients", acc, [dict(c) for c in CLIENTS[entity]])
        sandbox.upsert_many("projects", acc, [
            {**{k: v for k, v in p.items() if k != "client"},
             "client": {"id": p["client"], "name": _ref(CLIENTS[entity], p["client"])["name"],
                        "currency": _ref(CLIENTS[entity], p["client"])["currency"]}} for p in PROJECTS[entity]])
        sandbox.upsert_many("tasks", acc, [dict(t) for t in TASKS])
        sandbox.upsert_many("users", acc, [{**u, "timezone": tz} for u in USERS[entity]])
        n += sandbox.upsert_many("time_entries", acc, time_entries(entity))
    return n


def seed_xero(sandbox) -> None:
    for _, tenant, name, ccy, _ in ENTITIES.values():
        sandbox.add_tenant(tenant, name, ccy)


def compose_configs(root, out_dir, statements_dir) -> dict[str, str]:
    """The demo's mapping (docs/mapping.example.yaml + docs/demo/entities.yaml), reconciliation configuration
    (docs/reconciliation.example.yaml + the two entities' bank accounts, statements under ``statements_dir``) and
    finance configuration (docs/finance.example.yaml + the intercompany pair acme-de → acme-uk), written to
    ``out_dir``; returns the environment that points the project at them."""
    from pathlib import Path

    import yaml

    root, out = Path(root), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mapping = yaml.safe_load((root / "docs" / "mapping.example.yaml").read_text(encoding="utf-8"))
    extra = yaml.safe_load((root / "docs" / "demo" / "entities.yaml").read_text(encoding="utf-8"))
    mapping["entities"] = [e for e in mapping["entities"] if e["key"] not in ENTITIES] + extra
    recon = yaml.safe_load((root / "docs" / "reconciliation.example.yaml").read_text(encoding="utf-8"))
    recon["statements_dir"] = str(statements_dir)
    for entity, (_, _, _, ccy, _) in ENTITIES.items():
        recon.setdefault("entities", {})[entity] = {"bank_account": "090", "bank_currency": ccy}
    finance = yaml.safe_load((root / "docs" / "finance.example.yaml").read_text(encoding="utf-8"))
    pair = {"entity": "acme-de", "counterparty": "acme-uk", "contact_name": "Acme UK Ltd"}  # the intercompany pair
    finance["intercompany"] = [*(finance.get("intercompany") or []), pair]
    header = "# written by `sync-pipeline demo`; edit the files it is made from (docs/demo/entities.yaml)\n"
    (out / "mapping.yaml").write_text(header + yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True),
                                      encoding="utf-8")
    (out / "reconciliation.yaml").write_text(header + yaml.safe_dump(recon, sort_keys=False), encoding="utf-8")
    (out / "finance.yaml").write_text(header + yaml.safe_dump(finance, sort_keys=False, allow_unicode=True),
                                      encoding="utf-8")
    return {"SYNC_PIPELINE_MAPPING": str(out / "mapping.yaml"), "SYNC_PIPELINE_FINANCE": str(out / "finance.yaml"),
            "SYNC_PIPELINE_RECONCILIATION": str(out / "reconciliation.yaml")}
