"""State survives a restart: stop both sandboxes, start them again on the same files, see the same data;
idempotency records, tokens and webhook subscriptions survive too."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx

from sync_pipeline.contracts.codec import dumps
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.run import start_sandboxes

TENANT = demo_data.XERO_TENANT_ID


def test_restart_keeps_data_idempotency_and_tokens(tmp_path: Path) -> None:
    state = tmp_path / "state"
    sb = start_sandboxes(state)
    try:
        h = {"Authorization": f"Bearer {sb.harvest.token}", "Harvest-Account-Id": demo_data.HARVEST_ACCOUNT_ID}
        assert httpx.patch(f"{sb.harvest_server.url}/v2/time_entries/1001", json={"notes": "edited before restart"},
                           headers=h).status_code == 200
        xurl = sb.xero_server.url
        token = httpx.post(f"{xurl}/connect/token", data={"grant_type": "client_credentials"},
                           auth=(sb.xero.client_id, sb.xero.client_secret)).json()["access_token"]
        xh = {"Authorization": f"Bearer {token}", "Xero-Tenant-Id": TENANT, "Content-Type": "application/json"}
        cid = httpx.put(f"{xurl}/api.xro/2.0/Contacts", content=dumps({"Contacts": [{"Name": "Restart Ltd"}]}),
                        headers=xh).json()["Contacts"][0]["ContactID"]
        body = dumps({"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": cid}, "Reference": "RESTART-1",
                                    "Status": "AUTHORISED", "LineItems": [{"Description": "x", "Quantity": 1,
                                                                            "UnitAmount": Decimal("10"),
                                                                            "AccountCode": "200"}]}]})
        first = httpx.put(f"{xurl}/api.xro/2.0/Invoices", content=body, headers={**xh, "Idempotency-Key": "k-1"})
        assert first.status_code == 200
        sb.xero.webhooks.subscribe("http://127.0.0.1:9/nowhere", "key", verify=False)
    finally:
        sb.stop()

    again = start_sandboxes(state)
    try:
        got = httpx.get(f"{again.harvest_server.url}/v2/time_entries/1001", headers=h).json()
        assert got["notes"] == "edited before restart"
        assert httpx.get(f"{again.harvest_server.url}/v2/time_entries", headers=h).json()["total_entries"] == 10
        xurl = again.xero_server.url
        # the token issued before the restart still works; the idempotency record replays; a new body is refused
        replay = httpx.put(f"{xurl}/api.xro/2.0/Invoices", content=body, headers={**xh, "Idempotency-Key": "k-1"})
        assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["Invoices"][0]["InvoiceID"] == first.json()["Invoices"][0]["InvoiceID"]
        other = httpx.put(f"{xurl}/api.xro/2.0/Invoices", content=body.replace(b"RESTART-1", b"RESTART-2"),
                          headers={**xh, "Idempotency-Key": "k-1"})
        assert other.status_code == 400
        invoices = httpx.get(f"{xurl}/api.xro/2.0/Invoices", headers=xh).json()["Invoices"]
        assert [i["Reference"] for i in invoices] == ["RESTART-1"]
        assert [s.url for s in again.xero.webhooks.subscriptions()] == ["http://127.0.0.1:9/nowhere"]
        # seeding again on restart leaves the state alone (no second demo load)
        assert len(again.xero.all("Accounts", TENANT)) == len(sb.xero.all("Accounts", TENANT))
    finally:
        again.stop()
