"""The posting assets in Dagster: the invoice plan as a reviewable dry run, its guard blocking posted_invoices, the
approved override, and a late change showing up in the plan as an adjustment before anything is written."""

from decimal import Decimal

from dagster import AssetKey, AssetSelection

from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.harvest import now_iso
from sync_pipeline.store.controls import PostingControls

PK = partition_key(demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
TENANT, ACCOUNT = demo_data.XERO_TENANT_ID, demo_data.HARVEST_ACCOUNT_ID
NODE = "accounting_pullback"  # the multi-asset behind accounting_invoices, raw_payments, raw_credit_notes


def live(sandboxes, coll="Invoices"):
    return sorted(d["Reference"] for d in sandboxes.xero.all(coll, TENANT) if d["Status"] not in ("VOIDED", "DELETED"))


def meta(res, asset: str, node: str | None = None) -> dict:
    [m] = [m for m in res.asset_materializations_for_node(node or asset) if m.asset_key.path[-1] == asset]
    return {k: v.value for k, v in m.metadata.items()}


def checks(res) -> dict[str, bool]:
    return {e.check_name: e.passed for e in res.get_asset_check_evaluations()}


def test_plan_is_a_dry_run_its_guard_blocks_posting_and_an_approved_override_posts(sandboxes, resources, instance):
    defs = build_defs(resources)
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def("sync_job")
    posting_path = list(AssetSelection.groups("extract", "billing", "posting").resolve(graph))
    store = resources["opstore"].get()
    PostingControls(store).set_limits(demo_data.DEMO_ENTITY, actor="finance lead", max_invoices=1)

    res = job.execute_in_process(instance=instance, partition_key=PK, raise_on_error=False,
                                 asset_selection=posting_path, tags={"triggered_by": "nightly"})
    plan = meta(res, "invoice_plan")
    assert plan["actions"] == {"create": 2} and plan["documents_to_write"] == 2
    assert plan["totals_per_currency"] == {
        "GBP": {"invoiced": "817.50", "credited": "0.00", "net_change": "817.50", "gross": "817.50"},
        "EUR": {"invoiced": "583.25", "credited": "0.00", "net_change": "583.25", "gross": "583.25"}}
    assert plan["limits"] == {"max_invoices": 1, "max_total_minor": {}}
    assert "SP-acme-uk-2026-10-C1-R1" in plan["writes"]  # the preview a person reviews
    # the blocking check failed, so posted_invoices never ran: nothing reached the accounting system
    assert checks(res)["plan_within_limits"] is False
    assert not res.is_node_success("posted_invoices") and res.asset_materializations_for_node("posted_invoices") == []
    assert live(sandboxes) == []

    # someone reviewed the plan and approves it despite the limit
    res = job.execute_in_process(
        instance=instance, partition_key=PK, asset_selection=[AssetKey("posted_invoices"), AssetKey("posted_lines")],
        tags={"triggered_by": "olivia"},
        run_config={"ops": {"posted_invoices": {"config": {"approved_by": "finance lead", "override_guard": True}}}})
    assert res.success
    posted = meta(res, "posted_invoices")
    assert posted["outcomes"] == {"created": 2} and posted["plan_drift"] == "none"
    assert (posted["triggered_by"], posted["approved_by"]) == ("olivia", "finance lead")
    assert live(sandboxes) == ["SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C2-R1"]
    assert "guard_overridden" in [a["action"] for a in store.audit_entries(demo_data.DEMO_ENTITY)]
    links = resources["warehouse"].get().read("posted_lines", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    # every entry names its document, who triggered the posting and who approved it
    assert sorted(set(links["entry_id"])) == ["1001", "1002", "1003", "1004", "1005", "1006"]
    assert set(links["triggered_by"]) == {"olivia"} and links["document_number"].str.startswith("INV-").all()
    assert all(str(a).endswith("posting: finance lead") for a in links["document_approved_by"])

    # a late change: entry 1003 (Acme Website / Design @120, 1.25 h) is cut to 0.75 h after the invoice went out
    h = sandboxes.harvest
    doc = h.store.get("time_entries", ACCOUNT, "1003")
    doc["hours"] = doc["rounded_hours"] = Decimal("0.75")
    doc["updated_at"] = now_iso()
    h.store.put("time_entries", ACCOUNT, "1003", doc)
    PostingControls(store).set_limits(demo_data.DEMO_ENTITY, actor="finance lead", clear=True)
    plan_only = [k for k in posting_path if k.path[0] not in ("posted_invoices", "posted_lines", "source_entries_marked")]
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=plan_only)
    assert res.success
    plan = meta(res, "invoice_plan")
    assert plan["actions"] == {"adjust": 1, "unchanged": 1}
    assert plan["totals_per_currency"] == {
        "GBP": {"invoiced": "90.00", "credited": "150.00", "net_change": "-60.00", "gross": "240.00"}}
    assert live(sandboxes, "CreditNotes") == [] and len(live(sandboxes)) == 2  # a dry run writes nothing
    df = resources["warehouse"].get().read("invoice_plan", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    writes = df[df["op"].notna()]
    assert sorted(zip(writes["op"], writes["reference"], writes["amount_minor"], writes["source_entry_ids"],
                      strict=True)) == [
        ("create_credit_note", "SP-acme-uk-2026-10-C1-R1-CN1", 15000, "1003"),
        ("create_invoice", "SP-acme-uk-2026-10-C1-R2", 9000, "1003")]
    # and posting it writes exactly that: the credit note against R1, then the rebill linked to it
    res = job.execute_in_process(instance=instance, partition_key=PK,
                                 asset_selection=[AssetKey("posted_invoices"), AssetKey("posted_lines")])
    assert res.success and checks(res) == {"posted_subtotals_match_drafts": True, "every_entry_billed_once": True}
    assert live(sandboxes, "CreditNotes") == ["SP-acme-uk-2026-10-C1-R1-CN1"]
    assert live(sandboxes) == ["SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C1-R2", "SP-acme-uk-2026-10-C2-R1"]


def test_entries_invoiced_in_the_project_system_are_not_billed_again_and_our_own_marks_change_nothing(
        sandboxes, resources, instance):
    """Nothing billed twice from either side: entries on a Harvest invoice (or marked billed by another tool) are
    left out of billing; the entries we marked ourselves keep being billed by our documents."""
    h = sandboxes.harvest
    on_harvest_invoice = h.store.get("time_entries", ACCOUNT, "1004")  # Acme Support / Meetings, 67.50 GBP
    on_harvest_invoice.update(is_billed=True, invoice={"id": 777, "number": "H-0042"}, updated_at=now_iso())
    h.store.put("time_entries", ACCOUNT, "1004", on_harvest_invoice)
    other_tool = h.store.get("time_entries", ACCOUNT, "1006")  # Globex Design, 143.25 EUR
    other_tool.update(is_billed=True, external_reference={"service": "quickbooks", "group_id": "QB-991"},
                      updated_at=now_iso())
    h.store.put("time_entries", ACCOUNT, "1006", other_tool)
    defs = build_defs(resources)
    job = defs.resolve_job_def("sync_job")
    posting_path = list(AssetSelection.groups("extract", "billing", "posting").resolve(defs.resolve_asset_graph()))
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=posting_path)
    assert res.success
    wh = resources["warehouse"].get()
    clean = wh.read("clean_time_entries", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD).set_index("entry_id")
    assert clean.loc["1004", ["disposition", "reason"]].tolist() == [
        "non_billable", "already invoiced in the project system: Harvest invoice H-0042"]
    assert clean.loc["1006", "reason"] == "already invoiced in the project system: marked billed in Harvest " \
                                          "(quickbooks QB-991)"
    invoices = {d["Reference"]: d["SubTotal"] for d in sandboxes.xero.all("Invoices", TENANT)}
    assert invoices == {"SP-acme-uk-2026-10-C1-R1": Decimal("750.00"), "SP-acme-uk-2026-10-C2-R1": Decimal("440.00")}
    for eid in ("1001", "1002", "1003", "1005"):  # marked by us, naming our document
        doc = h.store.get("time_entries", ACCOUNT, eid)
        assert doc["is_billed"] and doc["external_reference"]["group_id"].startswith("SP-acme-uk-2026-10-C"), eid
    assert h.store.get("time_entries", ACCOUNT, "1004")["invoice"]["number"] == "H-0042"  # theirs, untouched
    # the next sync extracts our own marks: they are not "billed elsewhere", so the plan stays unchanged
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=posting_path)
    assert res.success
    assert meta(res, "invoice_plan")["actions"] == {"unchanged": 2}
    assert meta(res, "posted_invoices")["outcomes"] == {"already_posted": 2}


def test_kill_switch_stops_posting_while_extraction_billing_and_the_plan_go_on(sandboxes, resources, instance):
    store = resources["opstore"].get()
    PostingControls(store).pause(demo_data.DEMO_ENTITY, reason="auditors in", actor="olivia")
    defs = build_defs(resources)
    job = defs.resolve_job_def("sync_job")
    posting_path = list(AssetSelection.groups("extract", "billing", "posting").resolve(defs.resolve_asset_graph()))
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=posting_path,
                                 raise_on_error=False)
    for asset in ("raw_time_entries", "clean_time_entries", "invoice_drafts", "invoice_plan", "posted_invoices"):
        assert res.is_node_success(asset), asset
    assert meta(res, "invoice_plan")["posting_enabled"] is False and meta(res, "invoice_plan")["held_back"] == 2
    assert meta(res, "posted_invoices")["outcomes"] == {"held": 2}
    assert live(sandboxes) == []  # nothing written, not even a contact
    assert [c for c in sandboxes.xero.all("Contacts", TENANT) if str(c.get("ContactNumber")).startswith("HARVEST-")] == []
    PostingControls(store).resume(demo_data.DEMO_ENTITY, actor="olivia")
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=posting_path)
    assert meta(res, "posted_invoices")["outcomes"] == {"created": 2} and len(live(sandboxes)) == 2


def test_pullback_job_brings_payments_and_statuses_into_the_warehouse_incrementally(sandboxes, resources, instance):
    from sync_pipeline.connectors.xero import payment_payload

    defs = build_defs(resources)
    sync = defs.resolve_job_def("sync_job")
    posting_path = list(AssetSelection.groups("extract", "billing", "posting").resolve(defs.resolve_asset_graph()))
    assert sync.execute_in_process(instance=instance, partition_key=PK, asset_selection=posting_path).success
    pull = defs.resolve_job_def("accounting_pullback_job")
    first = pull.execute_in_process(instance=instance, partition_key=PK)
    assert first.success and meta(first, "accounting_invoices", NODE)["changed_since_last_pull"]["Invoices"] == 2
    gbp = next(d for d in sandboxes.xero.all("Invoices", TENANT) if d["Reference"] == "SP-acme-uk-2026-10-C1-R1")
    xero = resources["xero"].client(TENANT)
    xero.create_payments([payment_payload(account_code="090", date="2026-11-10", amount=Decimal("500.00"),
                                          invoice_id=gbp["InvoiceID"])], idempotency_key="part-pay")
    xero.close()
    res = pull.execute_in_process(instance=instance, partition_key=PK)
    assert res.success
    assert meta(res, "accounting_invoices", NODE)["changed_since_last_pull"] == {"Invoices": 1, "CreditNotes": 0,
                                                                          "Payments": 1}
    assert meta(res, "raw_payments", NODE)["partial"] == 1
    wh = resources["warehouse"].get()
    docs = wh.read("accounting_invoices", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD).set_index("reference")
    assert docs.loc["SP-acme-uk-2026-10-C1-R1", ["status", "amount_paid_minor", "amount_due_minor"]].tolist() == [
        "AUTHORISED", 50000, int(gbp["Total"] * 100) - 50000]
    assert len(docs) == 2  # the unchanged EUR invoice is kept from the previous pull
    again = pull.execute_in_process(instance=instance, partition_key=PK)
    assert meta(again, "accounting_invoices", NODE)["changed_since_last_pull"] == {"Invoices": 0, "CreditNotes": 0,
                                                                            "Payments": 0}
