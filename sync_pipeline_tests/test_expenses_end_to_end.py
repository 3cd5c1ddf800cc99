"""Expenses end to end: Harvest expenses → raw → clean → marked up → expense lines on the posted Xero invoices.

The demo partition (see test_end_to_end.py for its time lines) plus four expenses seeded into the sandbox
Harvest; the demo mapping (docs/mapping.example.yaml) marks expenses up by 10 % unless the expense carries the
project system's own markup, and books them to account 260. Totals computed by hand.
"""

from decimal import Decimal

from sync_pipeline.cli.trace import render_entry
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.trace import trace

E, P = demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD
ACME = {"id": 1, "name": "Acme Corp", "currency": "GBP"}
GLOBEX = {"id": 2, "name": "Globex GmbH", "currency": "EUR"}


def _expense(eid, project, client, cost, *, approved=True, markup=None, category="Travel"):
    doc = {"id": eid, "spent_date": "2026-10-12", "notes": category, "total_cost": Decimal(cost), "units": None,
           "billable": True, "is_closed": approved, "is_locked": approved, "is_billed": False,
           "approval_status": "approved" if approved else "submitted",
           "created_at": "2026-10-12T18:00:00Z", "updated_at": "2026-10-12T18:00:00Z",
           "user": {"id": 1, "name": "Alice Archer"}, "project": {"id": project, "name": "p", "code": None},
           "client": client, "expense_category": {"id": 1, "name": category}, "receipt": None, "invoice": None}
    if approved:
        doc |= {"x_approved_by": {"id": 3, "name": "Carol Chen"}, "x_approved_at": "2026-10-13T09:00:00Z"}
    if markup is not None:
        doc["x_markup_percent"] = Decimal(markup)
    return doc


def test_expenses_are_marked_up_taxed_and_posted_on_the_same_invoices(sandboxes, resources, instance, standing_approval):
    sandboxes.harvest.upsert_many("expenses", demo_data.HARVEST_ACCOUNT_ID, [
        _expense(9001, 11, ACME, "45.50"),  # mapping markup 10 %: 50.05
        _expense(9002, 11, ACME, "-5.00"),  # a refund: -5.50 on its own line
        _expense(9003, 21, GLOBEX, "19.99", markup="5", category="Software"),  # the source's 5 %: 20.9895 → 20.99
        _expense(9004, 11, ACME, "80.00", approved=False),  # held: awaiting approval
    ])
    job = build_defs(resources).resolve_job_def("sync_job")
    result = job.execute_in_process(instance=instance, partition_key=partition_key(E, P))
    assert result.success
    checks = {ev.check_name: ev for ev in result.get_asset_check_evaluations()}
    assert all(ev.passed for ev in checks.values())
    per_ccy = checks["conservation"].metadata["per_currency"].data
    assert (per_ccy["GBP"]["expense_source_billable"], per_ccy["GBP"]["expense_held"]) == ("40.500000", "80.000000")

    wh = resources["warehouse"].get()
    clean = wh.read("clean_expenses", E, P).set_index("expense_id")
    assert clean.loc["9004", ["disposition", "reason"]].tolist() == [
        "held", "awaiting approval (submitted in the project system)"]

    live = {d["Reference"]: d for d in sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID)
            if d["Status"] not in ("VOIDED", "DELETED")}
    # Acme Corp: the four time lines (817.50, VAT 163.50) then Website expenses: Travel 50.05 (VAT 10.01) and
    # Website expense refunds: Travel -5.50 (VAT -1.10): subtotal 862.05, VAT 172.41, total 1034.46
    gbp = live["SP-acme-uk-2026-10-C1-R1"]
    assert [(li["LineAmount"], li["AccountCode"], li.get("TaxAmount")) for li in gbp["LineItems"][4:]] == [
        (Decimal("50.05"), "260", Decimal("10.01")), (Decimal("-5.50"), "260", Decimal("-1.10"))]
    assert gbp["LineItems"][4]["Description"].startswith("Acme Website — expenses: Travel (incl. 10 % markup)")
    assert (gbp["SubTotal"], gbp["TotalTax"], gbp["Total"]) == (Decimal("862.05"), Decimal("172.41"),
                                                                Decimal("1034.46"))
    # Globex GmbH, EUR: 583.25 + 20.99 = 604.24; VAT 116.65 + 4.20 (4.198) = 120.85; total 725.09
    eur = live["SP-acme-uk-2026-10-C2-R1"]
    assert (eur["SubTotal"], eur["TotalTax"], eur["Total"]) == (Decimal("604.24"), Decimal("120.85"),
                                                                Decimal("725.09"))
    # the project system hears which expenses are billed; the held one is untouched
    billed = {e: sandboxes.harvest.store.get("expenses", demo_data.HARVEST_ACCOUNT_ID, e)["is_billed"]
              for e in ("9001", "9002", "9003", "9004")}
    assert billed == {"9001": True, "9002": True, "9003": True, "9004": False}

    # our own is_billed marks are not "billed elsewhere": a second run changes nothing in Xero
    again = job.execute_in_process(instance=instance, partition_key=partition_key(E, P))
    assert again.success
    assert set(wh.read("posted_invoices", E, P)["outcome"]) == {"already_posted"}
    assert len(sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID)) == 2
    assert wh.read("clean_expenses", E, P).set_index("expense_id").loc["9001", "disposition"] == "billable"

    # an expense traces like a time entry: who spent what, who approved it, the marked-up line, the invoice
    store = resources["opstore"].get()
    t = trace(store, wh, "expense:9001")
    [e] = t.entries
    assert (e["kind"], e["entry_id"], e["person"], e["date"], e["approved_by"]) == (
        "expense", "expense:9001", "Alice Archer (1)", "2026-10-12", "Carol Chen (3)")
    assert (e["category"], e["cost"], e["client"]) == ("Travel", "45.5", "Acme Corp")
    b = e["billable"]
    assert (b["cost"], b["markup_percent"], b["markup_source"], b["value"], b["currency"]) == (
        "45.5", "10", "entity", "50.05", "GBP")
    [inv] = t.invoices
    assert inv["reference"] == "SP-acme-uk-2026-10-C1-R1"
    assert [(li["entries"], li["amount"]) for li in inv["lines"]] == [(["expense:9001"], "50.05")]
    # from the invoice, its expense lines show as expenses, not as entries missing from the warehouse
    t = trace(store, wh, "SP-acme-uk-2026-10-C1-R1")
    kinds = {x["entry_id"]: x.get("kind") for x in t.entries}
    assert kinds["expense:9001"] == kinds["expense:9002"] == "expense"
    assert not any(x.get("missing") for x in t.entries)
    held = trace(store, wh, "expense:9004", entity=E).entries[0]  # held for approval: says why
    assert held["billable"] is None and held["disposition"] == "held" and "awaiting approval" in held["reason"]
    text = "\n".join(render_entry(x) for x in trace(store, wh, "expense:9001").entries)
    assert "Expense expense:9001" in text and "not in the warehouse" not in text
