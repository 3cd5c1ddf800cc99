"""Approvals end to end: a manager approves in the project system; who and when travel to the posted lines.

Sandbox Harvest → connector → ``raw_time_entries`` (contract v2) → clean → billables → drafts → posting
→ the sandbox Xero invoice and our posted-lines store.
"""

from datetime import UTC, datetime
from decimal import Decimal

import httpx

from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data
from sync_pipeline.store.posted_lines import PostedLines
from sync_pipeline.store.protection import protector

E, P = demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD


def _approve(sandboxes, entry_ids: list[int], approver_id: int) -> dict:
    r = httpx.post(f"{sandboxes.harvest_server.url}/v2/x_sandbox/approvals",
                   headers={"Authorization": f"Bearer {sandboxes.harvest.token}",
                            "Harvest-Account-Id": demo_data.HARVEST_ACCOUNT_ID},
                   json={"time_entry_ids": entry_ids, "approver_id": approver_id})
    r.raise_for_status()
    return r.json()


def test_approver_and_approval_date_travel_from_harvest_to_the_posted_lines(sandboxes, resources, instance, standing_approval):
    # 1008 (Bob, Acme Website / Development @100, 2.0 h) was submitted but not approved: Alice approves it now
    before = datetime.now(UTC).replace(microsecond=0)
    assert _approve(sandboxes, [1008], approver_id=1) == {"approved": {"time_entries": [1008], "expenses": []}}
    doc = sandboxes.harvest.store.get("time_entries", demo_data.HARVEST_ACCOUNT_ID, "1008")
    assert doc["approval_status"] == "approved" and doc["x_approved_by"] == {"id": 1, "name": "Alice Archer"}

    job = build_defs(resources).resolve_job_def("sync_job")
    result = job.execute_in_process(instance=instance, partition_key=partition_key(E, P))
    assert result.success
    assert all(ev.passed for ev in result.get_asset_check_evaluations())

    wh = resources["warehouse"].get()
    # people are pseudonyms in the warehouse and the ledger; who they are is kept apart, encrypted
    p = protector(resources["opstore"].get())
    carol, alice = p.pseudonym_of("harvest", "3"), p.pseudonym_of("harvest", "1")
    assert (p.identity(carol)["name"], p.identity(alice)["name"]) == ("Carol Chen", "Alice Archer")
    both = ",".join(sorted([alice, carol]))
    raw = wh.read("raw_time_entries", E, P).set_index("entry_id")
    # the connector carries the start instant, the zone and the approval of every entry
    assert raw.loc["1001", ["started_at", "timezone", "approval_status", "approved_by", "approved_at"]].tolist() == [
        "2026-10-05T09:00:00+01:00", "Europe/London", "approved", carol, "2026-10-05T17:30:00Z"]
    assert raw.loc["1008", "approved_by"] == alice
    approved_1008 = raw.loc["1008", "approved_at"]
    assert datetime.fromisoformat(approved_1008.replace("Z", "+00:00")) >= before

    drafts = wh.read("invoice_drafts", E, P)
    acme = drafts[drafts["client_id"] == "1"].sort_values("line_no")
    # Acme Website / Development @100 now bills 1002 (3.0 h, Carol) + 1008 (2.0 h, Alice) = 5.0 h = 500.00;
    # its approval date is the later of the two (Alice's, just now)
    dev100 = acme.iloc[0]
    assert (dev100["source_entry_ids"], Decimal(dev100["quantity"]), int(dev100["line_amount_minor"])) == (
        "1002,1008", Decimal("5.0000"), 50000)
    assert (dev100["approved_by"], dev100["approved_at"]) == (both, approved_1008)
    # the other Acme lines: Carol approved them on the day they were worked
    assert [(r.source_entry_ids, r.approved_by, r.approved_at) for r in acme.iloc[1:].itertuples()] == [
        ("1001", carol, "2026-10-05T17:30:00Z"),
        ("1003", carol, "2026-10-07T17:30:00Z"),
        ("1004", carol, "2026-10-08T17:30:00Z")]

    # the posted invoice: Xero holds the amounts, our posted-lines store holds who approved each line and when
    live = [d for d in sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID) if d["Status"] != "VOIDED"]
    gbp = next(d for d in live if d["Reference"] == "SP-acme-uk-2026-10-C1-R1")
    # 500.00 + 300.00 + 150.00 + 67.50 = 1017.50; VAT 100.00 + 60.00 + 30.00 + 13.50 = 203.50
    assert [li["LineAmount"] for li in gbp["LineItems"]] == [Decimal("500.00"), Decimal("300.00"),
                                                             Decimal("150.00"), Decimal("67.50")]
    assert (gbp["SubTotal"], gbp["TotalTax"], gbp["Total"]) == (Decimal("1017.50"), Decimal("203.50"),
                                                                Decimal("1221.00"))
    posted = [r for r in PostedLines(resources["opstore"].get()).for_partition(E, P)
              if r["reference"] == "SP-acme-uk-2026-10-C1-R1"]
    assert [(r["source_entry_ids"], r["approved_by"], r["approved_at"]) for r in posted] == [
        ("1002,1008", both, approved_1008),
        ("1001", carol, "2026-10-05T17:30:00Z"),
        ("1003", carol, "2026-10-07T17:30:00Z"),
        ("1004", carol, "2026-10-08T17:30:00Z")]
    # every posted line's description is the one on the Xero invoice, so the approvals are tied to its lines
    assert [r["description"] for r in posted] == [li["Description"] for li in gbp["LineItems"]]


def test_approving_as_someone_outside_the_account_is_refused(sandboxes):
    r = httpx.post(f"{sandboxes.harvest_server.url}/v2/x_sandbox/approvals",
                   headers={"Authorization": f"Bearer {sandboxes.harvest.token}",
                            "Harvest-Account-Id": demo_data.HARVEST_ACCOUNT_ID},
                   json={"time_entry_ids": [1008], "approver_id": 99})
    assert r.status_code == 422 and "no such user 99" in r.json()["message"]
