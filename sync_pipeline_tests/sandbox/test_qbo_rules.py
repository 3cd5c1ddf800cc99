"""QBO sandbox rules beyond create/read: nested unknown properties, deposited payments, Preferences updates
(custom transaction numbers, multicurrency), injected faults in QBO's own shape, and the demo companies."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import httpx

from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.server import SandboxServer
from sync_pipeline_tests.sandbox.conftest import QBO_REALM, QboApi, qbo_sandbox

_TAGS = itertools.count()


def _setup(api: QboApi) -> tuple[str, str]:
    tag = next(_TAGS)
    income = api.query("select * from Account where Name = 'Services'")["Account"][0]["Id"]
    item = api.ok("POST", "item", {"Name": f"Rule Item {tag}", "IncomeAccountRef": {"value": income}})["Item"]["Id"]
    cust = api.ok("POST", "customer", {"DisplayName": f"Rule Co {tag}"})["Customer"]["Id"]
    return item, cust


def test_unknown_nested_property_is_2010(qbo: QboApi) -> None:
    item, cust = _setup(qbo)
    line = {"Amount": 10, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, "Amount": 10}}
    err = qbo.fault("POST", "invoice", {"CustomerRef": {"value": cust}, "Line": [line]})
    assert (err["code"], err["element"]) == ("2010", "Amount")
    assert "com.intuit.schema.finance.v3.SalesItemLineDetail" in err["Detail"]


def test_a_deposited_payment_cannot_change(qbo: QboApi) -> None:
    item, cust = _setup(qbo)
    inv = qbo.ok("POST", "invoice", {"CustomerRef": {"value": cust}, "Line": [
        {"Amount": 40, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": item}}}]})
    pay = qbo.ok("POST", "payment", {"CustomerRef": {"value": cust}, "TotalAmt": 40, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": inv["Invoice"]["Id"], "TxnType": "Invoice"}]}]})["Payment"]
    bank = qbo.query("select * from Account where Name = 'Checking'")["Account"][0]["Id"]
    dep = qbo.ok("POST", "deposit", {"DepositToAccountRef": {"value": bank}, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": pay["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}]})["Deposit"]
    err = qbo.fault("POST", "payment", {"Id": pay["Id"], "SyncToken": pay["SyncToken"]},
                    params={"operation": "delete"})
    assert (err["code"], err["Message"]) == ("6540", "Deposited Transaction cannot be changed")
    qbo.ok("POST", "deposit", {"Id": dep["Id"], "SyncToken": dep["SyncToken"]}, params={"operation": "delete"})
    qbo.ok("POST", "payment", {"Id": pay["Id"], "SyncToken": pay["SyncToken"]}, params={"operation": "delete"})
    assert qbo.ok("GET", f"invoice/{inv['Invoice']['Id']}")["Invoice"]["Balance"] == Decimal("40.00")


def test_preferences_custom_numbers_and_multicurrency(tmp_path: Path) -> None:
    sb = qbo_sandbox(tmp_path / "q.sqlite3")
    sb.add_company(QBO_REALM, "Prefs Co")
    with SandboxServer(sb) as server:
        api = QboApi(sb, server.url)
        item, cust = _setup(api)
        line = {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": item}}}
        prefs = api.ok("GET", "preferences")["Preferences"]
        assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is False
        got = api.ok("POST", "preferences", {"SyncToken": prefs["SyncToken"], "sparse": True,
                                             "SalesFormsPrefs": {"CustomTxnNumbers": True}})["Preferences"]
        assert got["SalesFormsPrefs"]["CustomTxnNumbers"] is True and got["SyncToken"] != prefs["SyncToken"]
        assert "DocNumber" not in api.ok("POST", "invoice", {"CustomerRef": {"value": cust}, "Line": [line]})[
            "Invoice"]
        assert api.ok("POST", "invoice", {"CustomerRef": {"value": cust}, "Line": [line],
                                          "DocNumber": "AUTO_GENERATE"})["Invoice"]["DocNumber"] == "1001"
        assert api.fault("POST", "preferences", {"SyncToken": prefs["SyncToken"], "sparse": True})["code"] == "5010"
        on = api.ok("POST", "preferences", {"SyncToken": got["SyncToken"], "sparse": True,
                                            "CurrencyPrefs": {"MultiCurrencyEnabled": True}})["Preferences"]
        assert on["CurrencyPrefs"]["MultiCurrencyEnabled"] is True
        off = api.fault("POST", "preferences", {"SyncToken": on["SyncToken"], "sparse": True,
                                                "CurrencyPrefs": {"MultiCurrencyEnabled": False}})
        assert off["code"] == "6000"
        inv = api.ok("POST", "invoice", {"CustomerRef": {"value": cust}, "Line": [line]})["Invoice"]
        assert (inv["ExchangeRate"], inv["HomeTotalAmt"]) == (1, Decimal("5.00"))
        api.close()


def test_injected_faults_answer_in_qbos_shape(qbo: QboApi) -> None:
    qbo.sb.faults.add("500", path="/preferences", times=1)
    qbo.sb.faults.add("429", path="/preferences", times=1)
    first = qbo.call("GET", "preferences")
    assert first.status_code == 500 and first.json()["Fault"]["type"] == "SystemFault"
    assert first.json()["Fault"]["Error"][0]["code"] == "10000"
    second = qbo.call("GET", "preferences")
    assert second.status_code == 429 and second.json()["Fault"]["Error"][0]["code"] == "3001"
    assert qbo.call("GET", "preferences").status_code == 200


def test_demo_companies(tmp_path: Path) -> None:
    sb = qbo_sandbox(tmp_path / "q.sqlite3")
    demo_data.seed_qbo(sb)
    demo_data.seed_qbo(sb)  # twice: nothing more
    us, uk = sb.company(demo_data.QBO_REALM_US), sb.company(demo_data.QBO_REALM_UK)
    assert (us.country, us.home_currency, us.multicurrency) == ("US", "USD", False)
    assert (uk.country, uk.home_currency, uk.multicurrency) == ("GB", "GBP", True)
    assert sorted(i["Sku"] for i in sb.all("Item", demo_data.QBO_REALM_US)) == sorted(demo_data.XERO_ITEMS)
    with SandboxServer(sb) as server:
        sb.base_url = server.url
        doc = httpx.get(f"{server.url}/.well-known/openid_configuration").json()
        assert doc["issuer"].startswith(server.url)
