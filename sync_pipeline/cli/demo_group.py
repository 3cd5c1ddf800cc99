"""``sync-pipeline demo`` without ``--entity``/``--period``: the whole product on the demo group.

Three entities (``sandbox.demo_group``) are synced for every period with data, through Dagster on the project's
instance (four eyes on acme-uk's October plan; auto-approval policies, proposed and approved by two admins, for
the rest); October's bank statements (CSV, camt.053, MT940: ``sandbox.demo_bank``) are matched by
``cash_reconciliation_job``; then two documents are changed in the accounting system by hand, as happens, and
reconciled again, so the workbench shows sync exceptions beside the cash ones.
"""

from __future__ import annotations

import os
from typing import Any

from sync_pipeline.cli import core

#: (entity, period) in the order they are synced
PARTITIONS = [("acme-uk", "2026-09"), ("acme-uk", "2026-10"),
              *[(e, p) for e in ("acme-de", "acme-us") for p in ("2026-08", "2026-09", "2026-10")]]
CASH_PERIOD = "2026-10"
#: changed in the accounting system by hand after the sync (an unpaid invoice is voided: Xero voids no paid one)
BY_HAND = (("acme-us", "2026-09", "recode"), ("acme-de", "2026-10", "void"))
POLICIES = {"acme-uk": {"GBP": 200_000}, "acme-de": {"EUR": 2_000_000}, "acme-us": {"USD": 2_000_000}}
ADMINS = ("demo-admin", "demo-controller")


def configure(data_dir) -> dict[str, str]:
    """Point this process at the demo's configuration (written under ``data_dir``/demo)."""
    from sync_pipeline.defs import settings
    from sync_pipeline.sandbox import demo_group

    statements = data_dir / "statements"
    env = demo_group.compose_configs(settings.PROJECT_ROOT, data_dir / "demo", statements)
    env["SYNC_PIPELINE_STATEMENTS_DIR"] = str(statements)
    os.environ.update(env)
    return env


def policies() -> None:
    """Auto-approval for plans within the demo's limits: proposed by one admin, approved by another."""
    from sync_pipeline.cli._identity import identities
    from sync_pipeline.store.approvals import PlanApprovals

    ids = identities()
    for name in ADMINS:
        if ids.get(name) is None:
            ids.add(name, ["admin"], by="sync-pipeline demo")
    approvals = PlanApprovals(ids.store)
    for entity, limits in POLICIES.items():
        if approvals.active_policy(entity) is None:
            p = approvals.propose_policy(entity, max_documents=10, max_total_minor=limits, by=ADMINS[0],
                                         comment="sync-pipeline demo")
            approvals.approve_policy(entity, p.version, by=ADMINS[1])


def admin_token(path) -> str:
    """An API token of ``demo-admin`` (7 days), in a file only its owner reads: how the README's commands (add a
    workbench user, serve the workbench) are signed in after the demo. Never printed."""
    from sync_pipeline.cli._identity import identities

    token = identities().issue_token(ADMINS[0], by="sync-pipeline demo", days=7, note="sync-pipeline demo")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(token + "\n", encoding="utf-8")
    return str(path)


def run_job(job_name: str, entity: str, period: str, **kw: Any) -> Any:
    from sync_pipeline.cli._identity import identities
    from sync_pipeline.defs.definitions import defs
    from sync_pipeline.defs.partitions import partition_key
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.store.identity import TICKET_TAG

    instance = core._dagster_instance()
    if not instance.has_dynamic_partition("entity", entity):
        instance.add_dynamic_partitions("entity", [entity])
    tags = {"triggered_by": core.DEMO_TRIGGER, TICKET_TAG: identities().run_ticket(core.DEMO_TRIGGER)}
    return core.traced(instance, defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, partition_key=partition_key(entity, Period.parse(period)), tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}, raise_on_error=False, **kw))


def _qbo_realms() -> dict[str, str]:
    """Entity → QuickBooks company, for the demo entities whose mapping says ``target: qbo``."""
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.defs import settings

    return {e.key: e.qbo.realm_id for e in load_mapping(settings.mapping_path()).entities
            if e.target == "qbo" and e.qbo is not None}


def _qbo_invoices(sb, realm: str) -> list[dict]:
    """A QuickBooks company's invoices in the terms the demo's statements are written from."""
    from decimal import Decimal

    from sync_pipeline.connectors.qbo.payloads import untagged

    home = sb.qbo.company(realm).home_currency
    return [{"InvoiceNumber": d.get("DocNumber"), "Total": d["TotalAmt"], "AmountDue": d["Balance"],
             "Status": "AUTHORISED" if Decimal(str(d["Balance"])) > 0 else "PAID",
             "CurrencyCode": (d.get("CurrencyRef") or {}).get("value") or home,
             "Contact": {"Name": untagged(str((d.get("CustomerRef") or {}).get("name") or ""))}}
            for d in sb.qbo.all("Invoice", realm)]


def statements(sb, statements_dir) -> list[str]:
    from sync_pipeline.sandbox import demo_bank, demo_data, demo_group

    tenants = {"acme-uk": (demo_data.XERO_TENANT_ID, "GBP"),
               **{e: (t[1], t[3]) for e, t in demo_group.ENTITIES.items()}}
    realms = _qbo_realms()
    out = []
    for entity, (tenant, ccy) in tenants.items():
        invoices = _qbo_invoices(sb, realms[entity]) if entity in realms else sb.xero.all("Invoices", tenant)
        p, n = demo_bank.write_statement(entity, invoices, statements_dir / entity, ccy)
        out.append(f"{entity}: {p.name} ({n} lines, {demo_bank.FORMATS[entity]})")
    return out


def _recode_in_qbo(sb, realm: str, prefix: str) -> str | None:
    """The last invoice of the period gets its first line's item swapped for one selling into account 260."""
    from sync_pipeline.connectors.qbo.payloads import reference_of

    docs = sorted((d for d in sb.qbo.store.query("Invoice", realm, "_deleted = 0")
                   if (reference_of(d) or "").startswith(prefix)), key=lambda d: int(d["Id"]))
    if not docs:
        return None
    try:
        item = sb.qbo.query_one(realm, "select * from Item where Name = 'Services (260)'")
    except (KeyError, StopIteration):
        income = sb.qbo.query_one(realm, "select * from Account where Name = 'Sales of Product Income'")
        item = sb.qbo.create("Item", realm, {"Name": "Services (260)", "Type": "Service",
                                             "IncomeAccountRef": {"value": income["Id"]}})
    d = docs[-1]
    line = next(li for li in d["Line"] if li.get("DetailType") == "SalesItemLineDetail")
    line["SalesItemLineDetail"]["ItemRef"] = {"value": item["Id"], "name": item["Name"]}
    sb.qbo.store.put("Invoice", realm, d["Id"], d)
    return f"{d['DocNumber']}: first line recoded to account 260 in QuickBooks"


def change_by_hand(sb) -> list[str]:
    """Two changes made in the accounting system behind the sync's back: a line recoded to another revenue account
    (acme-us 2026-09), an unpaid invoice voided (acme-de 2026-10). Returns what was changed."""
    from sync_pipeline.domain import ids
    from sync_pipeline.sandbox import demo_group

    done = []
    realms = _qbo_realms()
    for entity, period, change in BY_HAND:
        tenant = demo_group.ENTITIES[entity][1]
        prefix = ids.reference_prefix(entity, period)
        if entity in realms and change == "recode":
            what = _recode_in_qbo(sb, realms[entity], prefix)
            done += [f"{entity} {what}"] if what else []
            continue
        docs = sorted((d for d in sb.xero.store.query("Invoices", tenant)
                       if str(d.get("Reference") or "").startswith(prefix) and d.get("Status") == "AUTHORISED"
                       and (change != "void" or not d.get("Payments"))),  # Xero voids no paid invoice
                      key=lambda d: str(d.get("InvoiceNumber")))
        if not docs:
            continue
        d = docs[-1]
        if change == "recode":
            d["LineItems"][0]["AccountCode"] = "260"
            what = f"{entity} {d['InvoiceNumber']}: first line recoded to account 260 in the accounting system"
        else:
            d["Status"] = "VOIDED"
            what = f"{entity} {d['InvoiceNumber']}: voided in the accounting system"
        sb.xero.store.put("Invoices", tenant, d["InvoiceID"], d)
        done.append(what)
    return done


def _money(minor: int, ccy: str) -> str:
    from sync_pipeline.domain.money import from_minor

    return f"{ccy} {from_minor(int(minor), ccy):,}"


def partition_line(entity: str, period: str) -> str:
    from sync_pipeline.defs import settings
    from sync_pipeline.store.warehouse import Warehouse

    wh = Warehouse(settings.warehouse_root())
    posted = wh.read("posted_invoices", entity, period)
    posted = posted[posted["document_kind"] == "invoice"]
    parts = []
    for ccy, g in posted.groupby("currency"):
        net, tax, gross = (int(g[c].fillna(0).sum()) for c in ("subtotal_minor", "total_tax_minor", "total_minor"))
        parts.append(f"net {_money(net, ccy)} + tax {_money(tax, ccy)} = gross {_money(gross, ccy)}")
    return f"  {entity} {period}: {len(posted)} invoice(s); " + ("; ".join(parts) or "nothing to bill")


def cash_line(entity: str) -> str:
    from sync_pipeline.cli._identity import identities
    from sync_pipeline.store.matching_log import MatchingLog

    counts = MatchingLog(identities().store).counts(entity)
    return f"  {entity} {CASH_PERIOD}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def run(sb) -> tuple[bool, list[str]]:
    """The whole demo on running sandboxes ``sb``; whether everything ran, and the summary lines."""
    from sync_pipeline.cli._identity import identities
    from sync_pipeline.defs import settings
    from sync_pipeline.sandbox import demo_group
    from sync_pipeline.services import sync_exceptions
    from sync_pipeline.store.sync_resolutions import SyncResolutions
    from sync_pipeline.store.warehouse import Warehouse

    demo_group.seed_harvest(sb.harvest)
    demo_group.seed_xero(sb.xero)
    core.demo_identities()
    policies()
    ok, out = True, ["billed (per currency: net before tax, tax, gross as invoiced):"]
    four_eyes: list[str] = []
    for entity, period in PARTITIONS:
        result, approved = core.demo_sync(entity, period)
        four_eyes += approved
        ok = ok and result.success
        out.append(partition_line(entity, period) if result.success else f"  {entity} {period}: FAILED")
    out += [f"four eyes: {a}" for a in four_eyes] or ["four eyes: nothing new to approve"]
    out.append("bank statements (October):")
    out += [f"  {s}" for s in statements(sb, settings.data_dir() / "statements")]
    out.append("cash matching (matching log, per status):")
    for entity in ("acme-uk", *demo_group.ENTITIES):
        r = run_job("cash_reconciliation_job", entity, CASH_PERIOD)
        ok = ok and r.success
        out.append(cash_line(entity) if r.success else f"  {entity} {CASH_PERIOD}: FAILED")
    changed = change_by_hand(sb)
    for entity, period, _ in BY_HAND:
        run_job("sync_job", entity, period, asset_selection=[_key("sync_reconciliation")])
    out.append("changed in the accounting system by hand, then reconciled again:")
    out += [f"  {c}" for c in changed]
    ok = health(out) and ok
    rows = sync_exceptions.exceptions(Warehouse(settings.warehouse_root()), SyncResolutions(identities().store))
    token = admin_token(settings.data_dir() / "demo" / "admin.token")
    out.append(f"admin token for the README's commands: {token} (export SYNC_PIPELINE_TOKEN=$(cat {token}))")
    out.append(f"sync exceptions open: {len(rows)} ("
               + "; ".join(f"{r['entity']} {r['period']} {r['document']} {r['status']}" for r in rows) + ")")
    return ok, out


def health(out: list[str]) -> bool:
    """Pull the accounting system's side back and measure the billing-health KPIs of every partition (the
    workbench's Billing health page and the kpi_* assets' plots); one summary line per entity."""
    from sync_pipeline.defs import settings
    from sync_pipeline.services import kpis
    from sync_pipeline.store.warehouse import Warehouse
    from sync_pipeline.workbench.health import value_text

    ok = True
    for entity, period in PARTITIONS:
        ok = run_job("accounting_pullback_job", entity, period).success and ok
        ok = run_job("billing_health_job", entity, period).success and ok
    hist = kpis.history(Warehouse(settings.warehouse_root()), sorted({e for e, _ in PARTITIONS}))
    out.append("billing health (latest period; all periods on the workbench's Billing health page):")
    for entity, g in hist.sort_values("period").groupby("entity"):
        last = g.groupby("kpi").tail(1).set_index("kpi")
        v = {k: value_text(k, last["value"].get(k)) for k in last.index}
        out.append(f"  {entity} {g['period'].max()}: touchless {v.get('touchless_billing', '—')}, corrections "
                   f"{v.get('billing_corrections', '—')}, DSO {v.get('days_sales_outstanding', '—')}, "
                   f"sync exceptions {v.get('sync_exceptions', '—')}")
    return ok


def _key(name: str):
    from dagster import AssetKey

    return AssetKey(name)
