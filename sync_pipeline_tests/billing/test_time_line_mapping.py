"""What the mapping puts on *time* lines, computed by hand: the item code (the task's, else the project's), the
project's tracking category / option, and the tax code and rate of the client's jurisdiction; each carried to the
invoice Xero holds (sandbox). Also: duplicate projects are scored proposals, never merged by billing.
"""

from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D

import pytest

from sync_pipeline.connectors.xero import XeroClient
from sync_pipeline.domain.billing import invoice_headers
from sync_pipeline.domain.periods import Period
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services import billing
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.billing.helpers import bill, entity, entry, raw_frame
from sync_pipeline_tests.identity import post_with_approval
from sync_pipeline_tests.posting.conftest import as_target, make_store

TODAY = date(2026, 11, 15)


@pytest.fixture
def xero(sandboxes) -> Iterator[XeroClient]:
    c = XeroClient(sandboxes.xero_server.url, sandboxes.xero.client_id, sandboxes.xero.client_secret,
                   demo_data.XERO_TENANT_ID, max_attempts=4)
    c.http._backoff = lambda state: 0.05
    yield c
    c.close()


@pytest.fixture
def store(tmp_path) -> Iterator[OperationalStore]:
    yield from make_store("sqlite", tmp_path)


def _posted(b, ent, period, xero, store) -> dict[str, dict]:
    """Post the drafts; Xero's invoices by client id (each document read back from the sandbox)."""
    posted = post_with_approval(b.drafts, entity=ent, period=period, target=as_target(xero), store=store, triggered_by="test",
                           today=TODAY)
    assert set(posted["outcome"]) == {"created"}
    out = {}
    for inv in invoice_headers(b.drafts):
        [doc] = list(xero.list_all("Invoices", where=f'Reference=="{inv["reference"]}"'))
        out[inv["client_id"]] = doc
    return out


def _minor(x) -> int:
    return int(D(str(x)) * 100)


ITEMS_ENTITY = dict(
    xero_tenant_id=demo_data.XERO_TENANT_ID, clients=[{"source_id": "1", "name": "Acme Corp"}],
    projects=[{"source_id": "11", "item_code": "CONSULT", "tracking_category": "Region", "tracking_option": "EMEA"},
              {"source_id": "12", "item_code": "DEV"},
              {"source_id": "13"}],
    tasks=[{"source_id": "2", "item_code": "TRAIN"}],
)
# one hour at 100 on each (project, task): five lines of 100.00
ITEMS_ROWS = [entry(1, project="11", task="1"), entry(2, project="11", task="2"), entry(3, project="12", task="1"),
              entry(4, project="12", task="2"), entry(5, project="13", task="1")]
# (project, task) → item code (task 2's wins over the project's), tracking (the project's, on every task)
ITEMS_EXPECTED = [("11", "1", "CONSULT", "Region", "EMEA"), ("11", "2", "TRAIN", "Region", "EMEA"),
                  ("12", "1", "DEV", None, None), ("12", "2", "TRAIN", None, None), ("13", "1", None, None, None)]


def _none(v):
    return None if v is None or v != v else v


def test_time_lines_carry_the_tasks_item_code_else_the_projects_and_the_projects_tracking():
    b = bill(ITEMS_ROWS, entity(**ITEMS_ENTITY))
    d = b.drafts.sort_values("line_no")
    assert set(d["kind"]) == {"time"}
    got = [(r.project_id, r.task_id, _none(r.item_code), _none(r.tracking_category), _none(r.tracking_option))
           for r in d.itertuples()]
    assert got == ITEMS_EXPECTED
    assert b.lines("1") == [(D("1.0000"), D("100.0000"), D("100.00"))] * 5
    # the invoice header's lines carry them too (what posting reads)
    [inv] = invoice_headers(b.drafts)
    assert [(_none(li["item_code"]), _none(li["tracking_category"]), _none(li["tracking_option"]))
            for li in inv["lines"]] == [e[2:] for e in ITEMS_EXPECTED]


def test_item_code_and_tracking_of_time_lines_reach_xero(sandboxes, xero, store):
    # as in Xero, the organisation has the items and the tracking option the mapping names (DEV: the demo's)
    tenant = demo_data.XERO_TENANT_ID
    list(sandboxes.xero.bulk_create("Items", tenant, [{"Code": "CONSULT"}, {"Code": "TRAIN"}]))
    sandboxes.xero.add_tracking(tenant, "Region", ["EMEA"])
    ent = entity(**ITEMS_ENTITY)
    b = bill(ITEMS_ROWS, ent)
    doc = _posted(b, ent, Period(2026, 10), xero, store)["1"]
    got = [(li["Description"].split(" (")[0], li.get("ItemCode"),
            [(t["Name"], t["Option"]) for t in li.get("Tracking") or []]) for li in doc["LineItems"]]
    assert got == [("Project 11 — Task 1", "CONSULT", [("Region", "EMEA")]),
                   ("Project 11 — Task 2", "TRAIN", [("Region", "EMEA")]),
                   ("Project 12 — Task 1", "DEV", []),
                   ("Project 12 — Task 2", "TRAIN", []),
                   ("Project 13 — Task 1", None, [])]
    # 5 x 100.00 at 20 %: 500.00 + 100.00
    assert (_minor(doc["SubTotal"]), _minor(doc["TotalTax"]), _minor(doc["Total"])) == (50000, 10000, 60000)
    # Xero's copy (item code and tracking included) matches the drafts: a second run writes nothing
    again = post_with_approval(b.drafts, entity=ent, period=Period(2026, 10), target=as_target(xero), store=store,
                          triggered_by="test", today=TODAY)
    assert set(again["outcome"]) == {"already_posted"}


JURIS_ENTITY = dict(
    xero_tenant_id=demo_data.XERO_TENANT_ID,
    tax={"default_jurisdiction": "UK", "codes": {"UK": {"tax_type": "OUTPUT2", "rate_percent": "20"},
                                                  "RR": {"tax_type": "RROUTPUT", "rate_percent": "5"},
                                                  "EU": {"tax_type": "ECZROUTPUTSERVICES", "rate_percent": "0"}}},
    clients=[{"source_id": "1", "name": "Acme Corp"},  # no jurisdiction: the default (UK)
             {"source_id": "2", "name": "Reduced Rate Ltd", "jurisdiction": "RR"},
             {"source_id": "3", "name": "Europa GmbH", "jurisdiction": "EU"}],
)
JURIS_ROWS = [entry(1, client="1", client_name="Acme Corp", hours="1.25", rate="90.10"),
              entry(2, client="2", client_name="Reduced Rate Ltd", hours="1.25", rate="90.10"),
              entry(3, client="2", client_name="Reduced Rate Ltd", task="2", hours="0.5", rate="77.77"),
              entry(4, client="3", client_name="Europa GmbH", hours="2", rate="100")]


def test_a_client_in_another_jurisdiction_bills_time_at_its_tax_code_and_rate():
    b = bill(JURIS_ROWS, entity(**{**JURIS_ENTITY, "tax_type": "NONE", "tax_rate_percent": "0"}))
    d = b.drafts.sort_values(["client_id", "line_no"])
    assert [(r.client_id, r.tax_type, r.tax_rate_percent, r.line_amount_minor, r.tax_amount_minor)
            for r in d.itertuples()] == [
        # 1.25 h x 90.10 = 112.625 → 112.63; UK 20 %: 22.526 → 22.53
        ("1", "OUTPUT2", D("20"), 11263, 2253),
        # RR 5 %: 112.63 x 5 % = 5.6315 → 5.63; 0.5 h x 77.77 = 38.885 → 38.89, x 5 % = 1.9445 → 1.94
        ("2", "RROUTPUT", D("5"), 11263, 563),
        ("2", "RROUTPUT", D("5"), 3889, 194),
        # EU 0 %: 2 h x 100 = 200.00, no tax
        ("3", "ECZROUTPUTSERVICES", D("0"), 20000, 0)]
    heads = {h["client_id"]: (h["subtotal_minor"], h["total_tax_minor"], h["total_minor"])
             for h in invoice_headers(b.drafts)}
    # client 2: tax rounded per line 5.63 + 1.94 = 7.57 (151.52 x 5 % = 7.576 would round to 7.58 once)
    assert heads == {"1": (11263, 2253, 13516), "2": (15152, 757, 15909), "3": (20000, 0, 20000)}


def test_a_client_in_another_jurisdiction_is_taxed_so_in_xero(sandboxes, xero, store):
    ent = entity(**JURIS_ENTITY)
    b = bill(JURIS_ROWS, ent)
    docs = _posted(b, ent, Period(2026, 10), xero, store)
    assert {c: [(li["TaxType"], _minor(li["TaxAmount"])) for li in doc["LineItems"]] for c, doc in docs.items()} == {
        "1": [("OUTPUT2", 2253)], "2": [("RROUTPUT", 563), ("RROUTPUT", 194)], "3": [("ECZROUTPUTSERVICES", 0)]}
    assert {c: (_minor(doc["SubTotal"]), _minor(doc["TotalTax"]), _minor(doc["Total"])) for c, doc in docs.items()} == {
        "1": (11263, 2253, 13516), "2": (15152, 757, 15909), "3": (20000, 0, 20000)}


def test_duplicate_projects_become_scored_proposals_not_merges():
    rows = [entry(1, project="11", project_name="Website Redesign"),
            entry(2, project="12", project_name="Redesign - Website", task="2"),
            entry(3, project="14", project_name="Website Redesign 2"),
            entry(4, project="13", project_name="Mobile App")]
    ent = entity(clients=[{"source_id": "1", "name": "Acme Corp"}])
    props = billing.merge_proposals(raw_frame(rows), ent)
    # standardized "website redesign" / "redesign website": token_sort_ratio sorts the words → 100;
    # "2 redesign website" (18 chars) vs "redesign website" (16): 1 - 2 / 34 = 94.12; "mobile app": nothing
    assert list(props[["kind", "keep_id", "duplicate_id", "score"]].itertuples(index=False, name=None)) == [
        ("project", "11", "12", 100.0), ("project", "11", "14", 94.12), ("project", "12", "14", 94.12)]
    assert list(props["how_to_accept"]) == ["merge project 12 into 11 in the project system",
                                            "merge project 14 into 11 in the project system",
                                            "merge project 14 into 12 in the project system"]
    assert set(props["standardized"]) == {"website redesign", "redesign website"}
    # not applied: every project keeps its own line, under its own name (4 x 1 h x 100)
    b = bill(rows, ent)
    d = b.drafts.sort_values("line_no")
    assert list(zip(d["project_id"], d["project_name"], d["line_amount_minor"], strict=True)) == [
        ("11", "Website Redesign", 10000), ("12", "Redesign - Website", 10000), ("13", "Mobile App", 10000),
        ("14", "Website Redesign 2", 10000)]
    # and the proposals stand: projects have no aliases in the mapping, so nothing marks them accepted
    assert len(billing.merge_proposals(raw_frame(rows), ent)) == 3
