"""The posting assets in Dagster: the invoice plan as a reviewable dry run, its guard blocking posted_invoices, the
approved override, and a late change showing up in the plan as an adjustment before anything is written."""

from datetime import UTC, datetime
from decimal import Decimal

from dagster import AssetKey, AssetSelection

from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.harvest import now_iso
from sync_pipeline.store.approvals import PlanApprovals
from sync_pipeline.store.controls import PostingControls
from sync_pipeline.store.identity import Identities
from sync_pipeline_tests.identity import approve_awaiting, run_tags

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
    olivia = run_tags(store, "olivia", "operator")

    res = job.execute_in_process(instance=instance, partition_key=PK, raise_on_error=False,
                                 asset_selection=posting_path, tags=olivia)
    plan = meta(res, "invoice_plan")
    assert plan["actions"] == {"create": 2} and plan["documents_to_write"] == 2
    assert plan["totals_net_of_tax"].splitlines()[2:] == [  # a table a finance user reads: currency shown
        "| EUR | EUR 583.25 | EUR 0.00 | EUR 583.25 | EUR 583.25 |",
        "| GBP | GBP 817.50 | GBP 0.00 | GBP 817.50 | GBP 817.50 |"]
    assert plan["limits"] == {"max_invoices": 1, "max_total_minor": {}}
    assert "SP-acme-uk-2026-10-C1-R1" in plan["writes"]  # the preview a person reviews
    # the blocking check failed, so posted_invoices never ran: nothing reached the accounting system
    assert checks(res)["plan_within_limits"] is False
    assert not res.is_node_success("posted_invoices") and res.asset_materializations_for_node("posted_invoices") == []
    assert live(sandboxes) == []

    # posting it anyway stops: the plan awaits approval (a typed-in approver counts for nothing)
    post_only = [AssetKey("posted_invoices"), AssetKey("posted_lines")]
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=post_only,
                                 tags={**olivia, "approved_by": "finance lead"}, raise_on_error=False)
    [failure] = [e for e in res.all_events if e.is_step_failure]
    assert "awaiting approval" in failure.event_specific_data.error.message and live(sandboxes) == []
    [stored] = PlanApprovals(store).plans(demo_data.DEMO_ENTITY, "2026-10")
    assert (stored.status, stored.created_by) == ("awaiting_approval", "olivia")
    # carol reviewed the plan and approves it despite the limit
    PlanApprovals(store).decide(demo_data.DEMO_ENTITY, "2026-10", stored.plan_hash, by="carol", approve=True,
                                comment="two clients this month: the limit of 1 is out of date")
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=post_only,
                                 tags=run_tags(store, "olivia"))
    assert res.success
    posted = meta(res, "posted_invoices")
    assert posted["outcomes"] == {"created": 2} and posted["plan_drift"] == "none"
    assert (posted["triggered_by"], posted["approved_by"], posted["plan_hash"]) == ("olivia", "carol",
                                                                                      stored.plan_hash)
    assert live(sandboxes) == ["SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C2-R1"]
    assert ("carol", "guard_overridden") in [(a["actor"], a["action"])
                                             for a in store.audit_entries(demo_data.DEMO_ENTITY)]
    links = resources["warehouse"].get().read("posted_lines", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    # every entry names its document, who triggered the posting and who approved it, when
    assert sorted(set(links["entry_id"])) == ["1001", "1002", "1003", "1004", "1005", "1006"]
    assert set(links["triggered_by"]) == {"olivia"} and links["document_number"].str.startswith("INV-").all()
    assert all(f"posting: carol at {posted['approved_at']} (plan {stored.plan_hash[:12]})" in str(a)
               for a in links["document_approved_by"])

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
    assert plan["totals_net_of_tax"].splitlines()[2:] == [
        "| GBP | GBP 90.00 | GBP 150.00 | GBP -60.00 | GBP 240.00 |"]
    assert live(sandboxes, "CreditNotes") == [] and len(live(sandboxes)) == 2  # a dry run writes nothing
    df = resources["warehouse"].get().read("invoice_plan", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    writes = df[df["op"].notna()]
    assert sorted(zip(writes["op"], writes["reference"], writes["amount_minor"], writes["source_entry_ids"],
                      strict=True)) == [
        ("create_credit_note", "SP-acme-uk-2026-10-C1-R1-CN1", 15000, "1003"),
        ("create_invoice", "SP-acme-uk-2026-10-C1-R2", 9000, "1003")]
    # and posting it, once approved, writes exactly that: the credit note against R1, then the rebill linked to it
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=post_only,
                                 tags=run_tags(store, "olivia"), raise_on_error=False)
    assert not res.success and live(sandboxes, "CreditNotes") == []  # a changed plan: awaiting approval again
    [adjustment] = approve_awaiting(store, demo_data.DEMO_ENTITY, "2026-10", approver="carol")
    assert [d["op"] for d in adjustment.content["documents"]] == ["create_credit_note", "create_invoice"]
    res = job.execute_in_process(instance=instance, partition_key=PK, asset_selection=post_only,
                                 tags=run_tags(store, "olivia"))
    assert res.success and checks(res) == {"posted_subtotals_match_drafts": True, "every_entry_billed_once": True}
    assert live(sandboxes, "CreditNotes") == ["SP-acme-uk-2026-10-C1-R1-CN1"]
    assert live(sandboxes) == ["SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C1-R2", "SP-acme-uk-2026-10-C2-R1"]


def test_entries_invoiced_in_the_project_system_are_not_billed_again_and_our_own_marks_change_nothing(
        sandboxes, resources, instance, standing_approval):
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


def test_kill_switch_stops_posting_while_extraction_billing_and_the_plan_go_on(sandboxes, resources, instance, standing_approval):
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


def test_pullback_job_brings_payments_and_statuses_into_the_warehouse_incrementally(sandboxes, resources, instance,
                                                                                    standing_approval):
    from sync_pipeline.connectors.xero import payment_payload

    defs = build_defs(resources)
    sync = defs.resolve_job_def("sync_job")
    posting_path = list(AssetSelection.groups("extract", "billing", "posting").resolve(defs.resolve_asset_graph()))
    assert sync.execute_in_process(instance=instance, partition_key=PK, asset_selection=posting_path).success
    pull = defs.resolve_job_def("accounting_pullback_job")
    first = pull.execute_in_process(instance=instance, partition_key=PK)
    assert first.success and meta(first, "accounting_invoices", NODE)["changed_since_last_pull"]["invoices"] == 2
    gbp = next(d for d in sandboxes.xero.all("Invoices", TENANT) if d["Reference"] == "SP-acme-uk-2026-10-C1-R1")
    xero = resources["xero"].client(TENANT)
    xero.create_payments([payment_payload(account_code="090", date="2026-11-10", amount=Decimal("500.00"),
                                          invoice_id=gbp["InvoiceID"])], idempotency_key="part-pay")
    xero.close()
    res = pull.execute_in_process(instance=instance, partition_key=PK)
    assert res.success
    assert meta(res, "accounting_invoices", NODE)["changed_since_last_pull"] == {"invoices": 1, "credit_notes": 0,
                                                                          "payments": 1}
    assert meta(res, "raw_payments", NODE)["partial"] == 1
    wh = resources["warehouse"].get()
    docs = wh.read("accounting_invoices", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD).set_index("reference")
    assert docs.loc["SP-acme-uk-2026-10-C1-R1", ["status", "amount_paid_minor", "amount_due_minor"]].tolist() == [
        "AUTHORISED", 50000, int(gbp["Total"] * 100) - 50000]
    assert len(docs) == 2  # the unchanged EUR invoice is kept from the previous pull
    again = pull.execute_in_process(instance=instance, partition_key=PK)
    assert meta(again, "accounting_invoices", NODE)["changed_since_last_pull"] == {"invoices": 0, "credit_notes": 0,
                                                                            "payments": 0}


def _run_request(job, instance, request, tags: dict) -> object:
    """Execute a schedule's or sensor's run request as the daemon would: its partition, its tags and the tag
    Dagster adds naming the schedule or sensor."""
    return job.execute_in_process(instance=instance, partition_key=str(request.partition_key),
                                  tags={**request.tags, **tags}, raise_on_error=False)


def _says_awaiting_approval(res) -> str:
    [failure] = [e for e in res.all_events if e.is_step_failure]
    assert failure.step_key == "posted_invoices"
    return failure.event_specific_data.error.message


def test_a_schedule_or_sensor_run_without_approval_posts_nothing_and_says_why(sandboxes, resources, instance,
                                                                              tmp_path):
    from dagster import build_schedule_context, build_sensor_context, instance_for_test

    from sync_pipeline.defs.automation.schedules import previous_period_monthly_close
    from sync_pipeline.defs.automation.sensors import harvest_changefeed
    from sync_pipeline.services.changefeed import EntityCursor, FeedCursor

    defs = build_defs(resources)
    job = defs.resolve_job_def("sync_job")
    store = resources["opstore"].get()
    # the monthly close on 2 Nov 2026 requests October
    with instance_for_test() as scheduler:
        scheduler.add_dynamic_partitions("entity", [demo_data.DEMO_ENTITY])
        [req] = previous_period_monthly_close(build_schedule_context(
            instance=scheduler, scheduled_execution_time=datetime(2026, 11, 2, 6, tzinfo=UTC),
            resources={"mapping": resources["mapping"]}))
    assert str(req.partition_key) == PK
    res = _run_request(job, instance, req, {"dagster/schedule_name": "previous_period_monthly_close",
                                            "triggered_by": "carol"})  # a typed-in name proves nothing
    message = _says_awaiting_approval(res)
    assert "awaiting approval: plan " in message and "writes 2 document(s)" in message
    assert "An approver other than schedule:previous_period_monthly_close" in message
    assert live(sandboxes) == [] and res.asset_materializations_for_node("posted_invoices") == []
    [stored] = PlanApprovals(store).plans(demo_data.DEMO_ENTITY, "2026-10")
    assert stored.created_by == "schedule:previous_period_monthly_close"  # a named automation, registered
    assert Identities(store).get("schedule:previous_period_monthly_close").roles == {"automation"}

    # a timesheet changes; the change feed requests its partition: a new plan, and still nothing posted
    doc = sandboxes.harvest.store.get("time_entries", ACCOUNT, "1003")
    doc["hours"] = doc["rounded_hours"] = Decimal("0.75")
    doc["updated_at"] = now_iso()
    sandboxes.harvest.store.put("time_entries", ACCOUNT, "1003", doc)
    cursor = FeedCursor({demo_data.DEMO_ENTITY: EntityCursor(high_water="2026-09-01T00:00:00Z")}).to_json()
    feed = {k: resources[k] for k in ("harvest", "redmine", "mapping", "warehouse")}  # what the sensor uses
    result = harvest_changefeed(build_sensor_context(instance=instance, cursor=cursor, resources=feed))
    [req] = [r for r in result.run_requests if str(r.partition_key) == PK]
    res = _run_request(job, instance, req, {"dagster/sensor_name": "harvest_changefeed"})
    assert "An approver other than sensor:harvest_changefeed" in _says_awaiting_approval(res)
    assert live(sandboxes) == []
    # the same plan, still awaiting: carol approves it, and the next scheduled run posts it, once
    plans = PlanApprovals(store).plans(demo_data.DEMO_ENTITY, "2026-10")
    assert [(p.status, p.created_by) for p in plans] == [("superseded", "schedule:previous_period_monthly_close"),
                                                         ("awaiting_approval", "sensor:harvest_changefeed")]
    PlanApprovals(store).decide(demo_data.DEMO_ENTITY, "2026-10", plans[1].plan_hash, by="carol", approve=True,
                                comment="month-end close reviewed")
    res = _run_request(job, instance, req, {"dagster/sensor_name": "harvest_changefeed"})
    assert res.success and meta(res, "posted_invoices")["outcomes"] == {"created": 2}
    assert meta(res, "posted_invoices")["triggered_by"] == "sensor:harvest_changefeed"
    assert len(live(sandboxes)) == 2
