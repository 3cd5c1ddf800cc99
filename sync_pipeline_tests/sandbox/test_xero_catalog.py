"""Items and tracking categories: lines may only name what the organisation has."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sync_pipeline.contracts.codec import loads
from sync_pipeline_tests.sandbox.conftest import XeroApi


def _invoice(**line: Any) -> dict[str, Any]:
    return {"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Acme"}, "Date": "2026-10-31",
                          "LineItems": [{"Description": "Work", "Quantity": 1, "UnitAmount": Decimal(10),
                                         "AccountCode": "200", "TaxType": "OUTPUT2", **line}]}]}


def _messages(r) -> list[str]:
    assert r.status_code == 400, r.text
    return [m["Message"] for e in loads(r.content)["Elements"] for m in e["ValidationErrors"]]


def test_an_unknown_item_code_is_refused_and_a_created_item_is_taken(api: XeroApi) -> None:
    assert _messages(api.call("PUT", "Invoices", _invoice(ItemCode="DEV"))) == ["Line 1: Item code 'DEV' is not valid."]
    item = api.ok("PUT", "Items", {"Items": [{"Code": "DEV", "Name": "Development"}]})["Items"][0]
    assert api.ok("GET", f"Items/{item['ItemID']}")["Items"][0]["Code"] == "DEV"
    assert _messages(api.call("PUT", "Items", {"Items": [{"Code": "DEV"}]})) == ["Item code 'DEV' already exists."]
    inv = api.ok("PUT", "Invoices", _invoice(ItemCode="DEV"))["Invoices"][0]
    assert inv["LineItems"][0]["ItemCode"] == "DEV"


def test_tracking_must_name_an_active_category_and_option(api: XeroApi) -> None:
    assert _messages(api.call("PUT", "Invoices", _invoice(Tracking=[{"Name": "Project", "Option": "ACM-WEB"}]))) == [
        "Line 1: the tracking category 'Project' does not exist or is not active."]
    cat = api.ok("PUT", "TrackingCategories", {"Name": "Project"})["TrackingCategories"][0]
    api.ok("PUT", f"TrackingCategories/{cat['TrackingCategoryID']}/Options", {"Name": "ACM-WEB"})
    assert _messages(api.call("PUT", "Invoices", _invoice(Tracking=[{"Name": "Project", "Option": "GLX"}]))) == [
        "Line 1: the tracking option 'GLX' does not exist or is not active in 'Project'."]
    inv = api.ok("PUT", "Invoices", _invoice(Tracking=[{"Name": "Project", "Option": "ACM-WEB"}]))["Invoices"][0]
    tracked = inv["LineItems"][0]["Tracking"][0]
    assert (tracked["Name"], tracked["Option"], tracked["TrackingCategoryID"]) == (
        "Project", "ACM-WEB", cat["TrackingCategoryID"])
    listed = api.ok("GET", "TrackingCategories")["TrackingCategories"]
    assert [(c["Name"], [o["Name"] for o in c["Options"]]) for c in listed] == [("Project", ["ACM-WEB"])]
    api.ok("PUT", "TrackingCategories", {"Name": "Region"})
    assert _messages(api.call("PUT", "TrackingCategories", {"Name": "Team"})) == [
        "You can only have 2 active tracking categories."]


def test_add_tracking_creates_a_category_or_adds_the_options_it_lacks(api: XeroApi) -> None:
    made = api.sb.add_tracking(api.tenant, "Project", ["A"])
    again = api.sb.add_tracking(api.tenant, "project", ["A", "B"])
    assert again["TrackingCategoryID"] == made["TrackingCategoryID"]
    assert [o["Name"] for o in again["Options"]] == ["A", "B"]
    assert [o["Name"] for o in api.ok("GET", "TrackingCategories")["TrackingCategories"][0]["Options"]] == ["A", "B"]
