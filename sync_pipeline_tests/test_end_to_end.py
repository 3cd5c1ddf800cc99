"""End to end: every asset of one partition against the sandbox, totals checked by hand."""

from decimal import Decimal

from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data


def _run(resources, instance):
    job = build_defs(resources).resolve_job_def("sync_job")
    return job.execute_in_process(instance=instance,
                                  partition_key=partition_key(demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD))


def _live_invoices(sandboxes):
    docs = sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID)
    return {d["Reference"]: d for d in docs if d["Status"] not in ("VOIDED", "DELETED")}


def test_full_sync_posts_hand_computed_invoices_once(sandboxes, resources, instance, standing_approval):
    result = _run(resources, instance)
    assert result.success
    for ev in result.get_asset_check_evaluations():
        assert ev.passed, ev.check_name

    invoices = _live_invoices(sandboxes)
    assert sorted(invoices) == ["SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C2-R1"]

    # Acme Corp, GBP. Approved billable entries of October 2026 (1008 is unapproved → held,
    # 1009 has negative hours → quarantined, 1010 is September, 1007 is non-billable):
    #   Acme Website / Development @100: 3.0 h  = 300.00   (lines ordered by project, task, rate)
    #   Acme Website / Development @120: 2.5 h  = 300.00
    #   Acme Website / Design      @120: 1.25 h = 150.00
    #   Acme Support / Meetings    @90 : 0.75 h =  67.50
    #   subtotal 817.50, VAT 20 % per line: 60.00 + 60.00 + 30.00 + 13.50 = 163.50, total 981.00
    gbp = invoices["SP-acme-uk-2026-10-C1-R1"]
    assert gbp["CurrencyCode"] == "GBP"
    assert gbp["Status"] == "AUTHORISED"
    assert [(li["Quantity"], li["UnitAmount"], li["LineAmount"]) for li in gbp["LineItems"]] == [
        (Decimal("3.0"), Decimal("100"), Decimal("300.00")),
        (Decimal("2.5"), Decimal("120"), Decimal("300.00")),
        (Decimal("1.25"), Decimal("120"), Decimal("150.00")),
        (Decimal("0.75"), Decimal("90"), Decimal("67.50")),
    ]
    assert (gbp["SubTotal"], gbp["TotalTax"], gbp["Total"]) == (Decimal("817.50"), Decimal("163.50"),
                                                                Decimal("981.00"))

    # Globex GmbH, EUR:
    #   Globex Data Platform / Development @110  : 4.0 h = 440.00
    #   Globex Data Platform / Design      @95.50: 1.5 h = 143.25
    #   subtotal 583.25, VAT 88.00 + 28.65 = 116.65, total 699.90
    eur = invoices["SP-acme-uk-2026-10-C2-R1"]
    assert eur["CurrencyCode"] == "EUR"
    assert (eur["SubTotal"], eur["TotalTax"], eur["Total"]) == (Decimal("583.25"), Decimal("116.65"),
                                                                Decimal("699.90"))

    # the contacts carry the source client's identity
    contacts = {c["ContactNumber"]: c["Name"] for c in sandboxes.xero.all("Contacts", demo_data.XERO_TENANT_ID)}
    assert contacts == {"HARVEST-1": "Acme Corp", "HARVEST-2": "Globex GmbH"}


def test_second_run_posts_nothing_twice(sandboxes, resources, instance, standing_approval):
    assert _run(resources, instance).success
    first = _live_invoices(sandboxes)
    result = _run(resources, instance)
    assert result.success
    again = sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID)
    assert len(again) == 2
    assert {d["InvoiceID"] for d in again} == {d["InvoiceID"] for d in first.values()}
    posted = resources["warehouse"].get().read("posted_invoices", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    assert set(posted["outcome"]) == {"already_posted"}


def test_crash_after_post_before_ledger_is_recovered_by_lookup(sandboxes, resources, instance, tmp_path, standing_approval):
    """The invoice reached Xero but the ledger never heard: the next run finds it by reference."""
    assert _run(resources, instance).success
    # lose the operational store entirely, as if the ledger write never happened
    resources["opstore"] = type(resources["opstore"])(url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    assert _run(resources, instance).success
    assert len(sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID)) == 2
    posted = resources["warehouse"].get().read("posted_invoices", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    assert set(posted["outcome"]) == {"found_in_target"}


def test_reconciliation_flags_a_tampered_invoice(sandboxes, resources, instance, standing_approval):
    assert _run(resources, instance).success
    rec = resources["warehouse"].get().read("sync_reconciliation", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    assert set(rec["status"]) == {"match"}
    # someone voids the EUR invoice in the accounting system
    inv = _live_invoices(sandboxes)["SP-acme-uk-2026-10-C2-R1"]
    inv["Status"] = "VOIDED"
    sandboxes.xero.store.put("Invoices", demo_data.XERO_TENANT_ID, inv["InvoiceID"], inv)
    job = build_defs(resources).resolve_job_def("sync_job")
    res = job.execute_in_process(
        instance=instance, partition_key=partition_key(demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD),
        asset_selection=[__import__("dagster").AssetKey("sync_reconciliation")], raise_on_error=False)
    rec = resources["warehouse"].get().read("sync_reconciliation", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    missing = rec[(rec["level"] == "document") & (rec["status"] == "missing")]
    assert list(missing["key"]) == ["SP-acme-uk-2026-10-C2-R1"]
    checks = {e.check_name: e.passed for e in res.get_asset_check_evaluations()}
    assert checks.get("sync_totals_match") is False
