"""The finance assets through Dagster on the demo entity: the sync job, bills and a card payment read from the
Xero sandbox, the group's rates, classification, allocation, profitability, consolidation and every check;
then an accountant's re-allocation run with config makes a new version and the first stays reproducible."""

from decimal import Decimal

from dagster import RunConfig

from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.finance.assets import AllocationRunConfig, PoolOverrideConfig
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services import finance as finance_svc
from sync_pipeline.store.finance_versions import AllocationVersions


def _bill(contact_id, number, lines, status="AUTHORISED", date="2026-10-12"):
    return {"Type": "ACCPAY", "Contact": {"ContactID": contact_id}, "Date": date, "DueDate": "2026-11-12",
            "InvoiceNumber": number, "Reference": number, "CurrencyCode": "GBP", "Status": status,
            "LineAmountTypes": "Exclusive", "LineItems": lines}


def _li(desc, amount, account, tracking=None):
    li = {"Description": desc, "Quantity": Decimal("1"), "UnitAmount": Decimal(amount), "AccountCode": account,
          "TaxType": "INPUT2"}
    if tracking:
        li["Tracking"] = [{"Name": "Project", "Option": tracking}]
    return li


def _seed(resources, sandboxes):
    # the tenant's chart needs a rent and a computer-equipment (fixed asset) account (the sandbox's default
    # UK chart has both; add them only where it does not)
    have = {a["Code"] for a in sandboxes.xero.all("Accounts", demo_data.XERO_TENANT_ID)}
    made = list(sandboxes.xero.bulk_create("Accounts", demo_data.XERO_TENANT_ID, [a for a in [
        {"Code": "469", "Name": "Rent", "Type": "OVERHEADS", "TaxType": "INPUT2"},
        {"Code": "720", "Name": "Computer Equipment", "Type": "FIXED", "TaxType": "INPUT2"}] if a["Code"] not in have]))
    assert not any(m.get("HasErrors") for m in made), made
    # as in Xero, a line can only be tracked to an option the organisation has: project 11's
    sandboxes.xero.add_tracking(demo_data.XERO_TENANT_ID, "Project", ["11"])
    client = resources["xero"].client(demo_data.XERO_TENANT_ID)
    try:
        contact = client.create_contacts([{"Name": "Landlord Ltd", "ContactNumber": "SUP-1"}], "c-sup-1")[0]
        cid = contact["ContactID"]
        made = client.create_invoices([
            _bill(cid, "B-1", [_li("October rent", "1000.00", "469"), _li("Laptop", "1200.00", "720")]),
            _bill(cid, "B-2", [_li("IT support", "100.00", "429"), _li("Devices for p11", "45.50", "429", "11")]),
            _bill(cid, "B-3", [_li("Draft, not a cost yet", "999.00", "469")], status="DRAFT"),
            _bill(cid, "B-4", [_li("September rent", "1000.00", "469")], date="2026-09-30"),
        ], "bills-1")
        assert not any(m.get("HasErrors") for m in made), made
        # a card payment straight from the bank account: a SPEND bank transaction, tax-inclusive
        spent = client.create("BankTransactions", [{
            "Type": "SPEND", "Contact": {"ContactID": cid}, "BankAccount": {"Code": "090"}, "Date": "2026-10-20",
            "Reference": "CARD-77", "CurrencyCode": "GBP", "Status": "AUTHORISED", "LineAmountTypes": "Inclusive",
            "LineItems": [{"Description": "Printer ink", "Quantity": Decimal("1"), "UnitAmount": Decimal("24.00"),
                           "AccountCode": "429", "TaxType": "INPUT2"}]}], "spend-1")
        assert not any(m.get("HasErrors") for m in spent), spent
    finally:
        client.close()


def _alloc(wh, description):
    df = wh.read("cost_allocations", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    return {r.project_id: int(r.allocated_minor) for r in df.itertuples() if r.description == description}


def test_sync_finance_reallocation_and_consolidation_on_the_demo(sandboxes, resources, instance, standing_approval):
    _seed(resources, sandboxes)
    defs = build_defs(resources)
    e, p = demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD
    key, period_key = partition_key(e, p), f"{p}-01"
    assert defs.resolve_job_def("sync_job").execute_in_process(instance=instance, partition_key=key).success
    assert defs.resolve_job_def("finance_fx_job").execute_in_process(instance=instance,
                                                                     partition_key=period_key).success
    fin = defs.resolve_job_def("finance_job").execute_in_process(instance=instance, partition_key=key)
    assert fin.success
    cons = defs.resolve_job_def("consolidation_job").execute_in_process(instance=instance, partition_key=period_key)
    assert cons.success
    checks = {ev.check_name: ev.passed for r in (fin, cons) for ev in r.get_asset_check_evaluations()}
    assert checks == {"cost_lines_conserved": True, "allocations_sum_to_pool": True, "eliminations_net_to_zero": True,
                      "consolidated_equals_translated_entities": True}

    wh = resources["warehouse"].get()
    lines = wh.read("finance_cost_lines", e, p).set_index("description")
    # B-3 is a draft and B-4 is September: neither is a cost of October; the configured costs are
    assert lines["disposition"].to_dict() == {
        "October rent": "shared", "Laptop": "capex", "IT support": "shared", "Devices for p11": "direct",
        "Printer ink": "shared", "Office rent October": "shared", "Cloud hosting October": "shared",
        "Group management fee": "shared"}
    # 24.00 including 20 % VAT: net 20.00, tax 4.00
    assert (int(lines.loc["Printer ink", "amount_minor"]), int(lines.loc["Printer ink", "tax_minor"])) == (2000, 400)
    assert lines.loc["Printer ink", "source"] == "xero_spend" and lines.loc["Devices for p11", "project_ref"] == "11"
    assert wh.read("capex_register", e, p)["charge_minor"].astype(int).sum() == 120000

    # rent by headcount: p11 Alice+Bob, p12 Carol, p21 Bob+Alice, p31 Carol → 2:1:2:1
    assert _alloc(wh, "Office rent October") == {"11": 80000, "12": 40000, "21": 80000, "31": 40000}
    # 100000 × 2/6 = 33333.33…, × 1/6 = 16666.67…: floors 33333, 16666, 33333, 16666 (99998); the two units
    # go to the largest remainders (.67 on p12 and p31)
    assert _alloc(wh, "October rent") == {"11": 33333, "12": 16667, "21": 33333, "31": 16667}
    # IT by hours 8.75 / 0.75 / 5.5 / 1 (16 h worked): 5468.75, 468.75, 3437.5, 625 → units to p11, p12
    assert _alloc(wh, "IT support") == {"11": 5469, "12": 469, "21": 3437, "31": 625}
    # cloud 311.47 by usage 1250 : 3740.5 GB-hours → 78.01…, 233.45… → the unit to p11
    assert _alloc(wh, "Cloud hosting October") == {"11": 7802, "21": 23345}

    prof = wh.read("project_profitability", e, p).set_index(["project_id", "currency"])
    # invoiced (end-to-end test): Acme Website 750.00 GBP, Acme Support 67.50 GBP, Globex 583.25 EUR
    assert int(prof.loc[("11", "GBP"), "revenue_minor"]) == 75000
    assert int(prof.loc[("12", "GBP"), "revenue_minor"]) == 6750
    assert int(prof.loc[("21", "EUR"), "revenue_minor"]) == 58325
    eur = prof.loc[("21", "EUR")]
    assert int(eur.revenue_reporting_minor) == 58325 and eur.rate == 1  # EUR is the reporting currency
    # direct labour at the demo cost rate of 50.00 GBP/h on every worked hour (held and non-billable included)
    labour = wh.read("project_direct_costs", e, p)
    labour = labour[labour["cost_type"] == "labour"].set_index("project_id")["amount_minor"].astype(int).to_dict()
    assert labour == {"11": 43750, "12": 3750, "21": 27500, "31": 5000}

    consolidated = wh.read("consolidated_results", "_group", p).set_index(["statement", "account"])
    translated = wh.read("consolidation_translated", "_group", p)
    assert int(consolidated.loc[("pnl", "revenue"), "consolidated_minor"]) == int(
        translated[translated["account"] == "revenue"]["amount_reporting_minor"].sum())

    # the accountant re-runs October with rent by hours
    first_version = wh.read("cost_allocations", e, p)["allocation_version"].iloc[0]
    run_config = RunConfig(ops={"cost_allocations": AllocationRunConfig(
        pools=[PoolOverrideConfig(key="rent", driver="hours")], note="rent by hours for the Q4 review")})
    again = defs.resolve_job_def("reallocation_job").execute_in_process(instance=instance, partition_key=key,
                                                                        run_config=run_config)
    assert again.success and all(ev.passed for ev in again.get_asset_check_evaluations())
    second_version = wh.read("cost_allocations", e, p)["allocation_version"].iloc[0]
    assert second_version != first_version
    # 2,400.00 × 8.75 / 16, 0.75 / 16, 5.5 / 16, 1 / 16
    assert _alloc(wh, "Office rent October") == {"11": 131250, "12": 11250, "21": 82500, "31": 15000}
    versions = AllocationVersions(wh.root)
    assert {m["version"] for m in versions.manifests(e, p)} == {first_version, second_version}
    assert finance_svc.reproduce_allocation(versions, e, p, first_version).identical
    mat = [ev.materialization for ev in again.get_asset_materialization_events()
           if ev.materialization.asset_key.path == ["cost_allocations"]][0]
    assert mat.metadata["allocation_version"].value == second_version
    assert mat.metadata["versions_stored"].value == 2
