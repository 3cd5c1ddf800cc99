"""The finance assets through Dagster: bills read from the Xero sandbox, classified, allocated, checked; then
an accountant's re-allocation run with config makes a new version and the first stays reproducible."""

from decimal import Decimal

import yaml
from dagster import RunConfig

from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.finance.assets import AllocationRunConfig, PoolOverrideConfig
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.defs.resources import FinanceConfigResource
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services import finance as finance_svc
from sync_pipeline.store.finance_versions import AllocationVersions
from sync_pipeline_tests.services.finance_fixtures import CONFIG, ENTITY, PERIOD, clean_entries


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


def test_finance_job_then_reallocation(sandboxes, resources, instance, tmp_path):
    cfg = {**CONFIG,
           "shared_costs": [{"entity": ENTITY, "period": PERIOD, "id": "MGMT-10", "date": "2026-10-31",
                             "description": "Management fee", "account_code": "477", "amount": "200.01",
                             "currency": "GBP", "contact_name": "Acme US Inc"}]}
    path = tmp_path / "finance.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    resources = {**resources, "finance_config": FinanceConfigResource(path=str(path))}
    _seed(resources, sandboxes)
    wh = resources["warehouse"].get()
    wh.write("clean_time_entries", ENTITY, PERIOD, clean_entries())
    defs = build_defs(resources)
    key = partition_key(ENTITY, PERIOD)

    result = defs.resolve_job_def("finance_job").execute_in_process(instance=instance, partition_key=key)
    assert result.success
    checks = {ev.check_name: ev.passed for ev in result.get_asset_check_evaluations()}
    assert checks == {"allocations_sum_to_pool": True, "cost_lines_conserved": True}

    lines = wh.read("finance_cost_lines", ENTITY, PERIOD).set_index("description")
    # B-3 is a draft and B-4 is September: neither is a cost of October
    assert sorted(lines.index) == ["Devices for p11", "IT support", "Laptop", "Management fee", "October rent",
                                   "Printer ink"]
    assert lines["disposition"].to_dict() == {"October rent": "shared", "Laptop": "capex", "IT support": "shared",
                                              "Devices for p11": "direct", "Management fee": "shared",
                                              "Printer ink": "shared"}
    # 24.00 including 20 % VAT: net 20.00, tax 4.00
    assert (int(lines.loc["Printer ink", "amount_minor"]), int(lines.loc["Printer ink", "tax_minor"])) == (2000, 400)
    assert lines.loc["Printer ink", "source"] == "xero_spend"
    assert int(lines.loc["Devices for p11", "amount_minor"]) == 4550
    assert lines.loc["Devices for p11", "project_ref"] == "11"

    alloc = wh.read("cost_allocations", ENTITY, PERIOD)
    by = {(r.description, r.project_id): int(r.allocated_minor) for r in alloc.itertuples()}
    # same figures as the hand-worked service test: headcount 2/1/1, hours 8/1/3, fixed key 50/25/25
    assert by[("October rent", "11")] == 50000 and by[("IT support", "11")] == 6667
    assert by[("Management fee", "11")] == 10001
    assert wh.read("capex_register", ENTITY, PERIOD)["charge_minor"].astype(int).sum() == 120000
    first_version = alloc["allocation_version"].iloc[0]

    run_config = RunConfig(ops={"cost_allocations": AllocationRunConfig(
        pools=[PoolOverrideConfig(key="rent", driver="hours")], note="rent by hours for the Q4 review")})
    again = defs.resolve_job_def("reallocation_job").execute_in_process(instance=instance, partition_key=key,
                                                                        run_config=run_config)
    assert again.success
    assert all(ev.passed for ev in again.get_asset_check_evaluations())
    current = wh.read("cost_allocations", ENTITY, PERIOD)
    second_version = current["allocation_version"].iloc[0]
    assert second_version != first_version
    by2 = {(r.description, r.project_id): int(r.allocated_minor) for r in current.itertuples()}
    assert (by2[("October rent", "11")], by2[("October rent", "12")], by2[("October rent", "21")]) == (66667, 8333, 25000)

    versions = AllocationVersions(wh.root)
    assert {m["version"] for m in versions.manifests(ENTITY, PERIOD)} == {first_version, second_version}
    assert finance_svc.reproduce_allocation(versions, ENTITY, PERIOD, first_version).identical
    [mat] = [e.materialization for e in again.get_asset_materialization_events()]
    assert mat.metadata["allocation_version"].value == second_version
    assert mat.metadata["versions_stored"].value == 2
