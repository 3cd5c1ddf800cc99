"""The group demo's QuickBooks entity (acme-us): its statements are written from what QuickBooks holds, and its
hand-made change (a line recoded to account 260) happens in QuickBooks."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from sync_pipeline.cli import demo_group
from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.defs import settings
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox import demo_group as group
from sync_pipeline.sandbox.qbo import QboSandbox

REALM = demo_data.QBO_REALM_US


def _company(tmp_path):
    sb = QboSandbox(str(tmp_path / "qbo.sqlite3"))
    demo_data.seed_qbo(sb)
    services = sb.query_one(REALM, "select * from Account where Name = 'Services'")
    item = sb.create("Item", REALM, {"Name": "Services (200)", "Type": "Service",
                                     "IncomeAccountRef": {"value": services["Id"]}})
    cust = sb.create("Customer", REALM, {"DisplayName": "Initech LLC [HARVEST-501]"})
    for n in (1, 2):
        sb.create("Invoice", REALM, {
            "CustomerRef": {"value": cust["Id"]}, "TxnDate": "2026-09-30",
            "PrivateNote": f"sync-pipeline ref: SP-acme-us-2026-09-C501-R{n}",
            "Line": [{"Amount": Decimal("100.00"), "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "TaxCodeRef": {"value": "NON"}}}]})
    return sb


def test_acme_us_posts_to_quickbooks_in_the_demo_mapping(tmp_path):
    env = group.compose_configs(settings.PROJECT_ROOT, tmp_path, tmp_path / "statements")
    us = load_mapping(env["SYNC_PIPELINE_MAPPING"]).entity("acme-us")
    assert us.target == "qbo" and us.qbo is not None and us.qbo.realm_id == REALM and us.qbo.tax_model == "us"


def test_statements_and_the_change_by_hand_use_quickbooks(tmp_path):
    sb = SimpleNamespace(qbo=_company(tmp_path))
    rows = demo_group._qbo_invoices(sb, REALM)
    assert [(r["Status"], r["CurrencyCode"], r["Contact"]["Name"], r["AmountDue"]) for r in rows] == [
        ("AUTHORISED", "USD", "Initech LLC", Decimal("100.00"))] * 2
    what = demo_group._recode_in_qbo(sb, REALM, "SP-acme-us-2026-09-")
    assert what and what.endswith("first line recoded to account 260 in QuickBooks")
    last = max(sb.qbo.all("Invoice", REALM), key=lambda d: int(d["Id"]))
    item_id = last["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"]
    item = sb.qbo.query_one(REALM, f"select * from Item where Id = '{item_id}'")
    income = sb.qbo.query_one(REALM, f"select * from Account where Id = '{item['IncomeAccountRef']['value']}'")
    assert income["Name"] == "Sales of Product Income"
