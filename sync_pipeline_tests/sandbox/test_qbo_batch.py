"""QBO sandbox batch (≤ 30 items, per-item Fault, requestid) and change data capture (30 days, deletions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync_pipeline_tests.sandbox.conftest import QboApi


def test_batch_items_answer_one_by_one(qbo: QboApi) -> None:
    got = qbo.ok("POST", "batch", {"BatchItemRequest": [
        {"bId": "1", "operation": "create", "Customer": {"DisplayName": "Batch One"}},
        {"bId": "2", "operation": "create", "Customer": {"DisplayName": "Batch One"}},
        {"bId": "3", "Query": "select * from Customer where DisplayName = 'Batch One'"},
        {"bId": "4", "operation": "create", "Customer": {"DisplayName": "Batch Two", "Bogus": 1}},
    ]})
    res = {r["bId"]: r for r in got["BatchItemResponse"]}
    assert [r["bId"] for r in got["BatchItemResponse"]] == ["1", "2", "3", "4"]
    assert res["1"]["Customer"]["DisplayName"] == "Batch One"
    assert res["2"]["Fault"]["type"] == "ValidationFault" and res["2"]["Fault"]["Error"][0]["code"] == "6240"
    assert res["3"]["QueryResponse"] == {}  # items do not see what earlier items of the batch created
    assert res["4"]["Fault"]["Error"][0]["code"] == "2010"
    assert qbo.query("select count(*) from Customer where DisplayName = 'Batch Two'") == {"totalCount": 0}
    assert qbo.query("select * from Customer where DisplayName = 'Batch One'")["Customer"][0]["Id"] == \
        res["1"]["Customer"]["Id"]


def test_batch_item_cannot_use_what_the_same_batch_created(qbo: QboApi) -> None:
    line = {"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}
    got = qbo.ok("POST", "batch", {"BatchItemRequest": [
        {"bId": "c", "operation": "create", "Customer": {"DisplayName": "Same Batch Co"}},
    ]})
    cid = got["BatchItemResponse"][0]["Customer"]["Id"]
    nxt = str(int(cid) + 1)
    got = qbo.ok("POST", "batch", {"BatchItemRequest": [
        {"bId": "c2", "operation": "create", "Customer": {"DisplayName": "Same Batch Co 2"}},
        {"bId": "i2", "operation": "create", "Invoice": {"CustomerRef": {"value": nxt}, "Line": [line]}},
        {"bId": "i1", "operation": "create", "Invoice": {"CustomerRef": {"value": cid}, "Line": [line]}},
    ]})
    res = {r["bId"]: r for r in got["BatchItemResponse"]}
    assert res["c2"]["Customer"]["Id"] == nxt
    assert res["i2"]["Fault"]["Error"][0]["code"] == "2500"
    assert res["i1"]["Invoice"]["CustomerRef"]["value"] == cid


def test_batch_limits_and_requestid(qbo: QboApi) -> None:
    items = [{"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"Bulk {n}"}} for n in range(31)]
    err = qbo.fault("POST", "batch", {"BatchItemRequest": items})
    assert err["code"] == "6000" and "maximum is 30" in err["Detail"]
    ok = qbo.ok("POST", "batch", {"BatchItemRequest": items[:30]}, params={"requestid": "batch-1"})
    assert len(ok["BatchItemResponse"]) == 30 and all("Customer" in r for r in ok["BatchItemResponse"])
    assert qbo.ok("POST", "batch", {"BatchItemRequest": items[:30]}, params={"requestid": "batch-1"}) == ok
    long_bid = [{"bId": "b" * 11, "operation": "create", "Customer": {"DisplayName": "Long bId"}}]
    assert qbo.fault("POST", "batch", {"BatchItemRequest": long_bid}, params={"requestid": "batch-2"})[
        "element"] == "bId"


def test_change_data_capture(qbo: QboApi) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    made = qbo.ok("POST", "customer", {"DisplayName": "CDC Co"})["Customer"]
    income = qbo.query("select * from Account where Name = 'Services'")["Account"][0]["Id"]
    item = qbo.ok("POST", "item", {"Name": "CDC Item", "IncomeAccountRef": {"value": income}})["Item"]
    inv = qbo.ok("POST", "invoice", {"CustomerRef": {"value": made["Id"]}, "Line": [
        {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}}}
    ]})["Invoice"]
    qbo.ok("POST", "invoice", {"Id": inv["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    got = qbo.ok("GET", "cdc", params={"entities": "Customer,Invoice", "changedSince": since})
    blocks = got["CDCResponse"][0]["QueryResponse"]
    customers, invoices = blocks[0]["Customer"], blocks[1]["Invoice"]
    assert made["Id"] in [c["Id"] for c in customers]
    (gone,) = [i for i in invoices if i["Id"] == inv["Id"]]
    assert gone == {"domain": "QBO", "status": "Deleted", "Id": inv["Id"],
                    "MetaData": {"LastUpdatedTime": gone["MetaData"]["LastUpdatedTime"]}}
    assert blocks[1]["totalCount"] == len(invoices) and blocks[1]["startPosition"] == 1
    old = (datetime.now(UTC) - timedelta(days=31)).date().isoformat()
    assert qbo.fault("GET", "cdc", params={"entities": "Customer", "changedSince": old})["element"] == "changedSince"
    assert qbo.fault("GET", "cdc", params={"entities": "TaxCode", "changedSince": since})["element"] == "entities"
