"""``trace`` from a time entry, an invoice and a bank line, on the demo partition posted, paid and matched for real:
the sync job posts acme-uk 2026-10 to the Xero sandbox, a bank statement pays the GBP invoice, the cash job
matches and settles it, the pullback brings the payment back."""

from __future__ import annotations

import json

import pytest
from dagster import MultiPartitionKey

from sync_pipeline.cli import main
from sync_pipeline.connectors.bank_statements import write_csv
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.domain.tracing import TRACE_TAG
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.trace import TraceNotFound, trace
from sync_pipeline_tests.identity import sign_in

ENTITY, PERIOD = demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def paid(sandboxes, resources, instance, standing_approval, tmp_path):
    """The demo partition posted; the GBP invoice (981.00) paid in full by one bank line, matched and settled."""
    defs = build_defs(resources)
    key = partition_key(ENTITY, PERIOD)
    # launched as the change-feed sensor launches it: with a trace id on the run's tags
    sync = defs.resolve_job_def("sync_job").execute_in_process(instance=instance, partition_key=key,
                                                               tags={TRACE_TAG: TRACE_ID})
    assert sync.success
    wh = resources["warehouse"].get()
    [gbp] = [i for i in sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID) if i["CurrencyCode"] == "GBP"]
    day = gbp["DateString"][:10]
    write_csv([{"date": day, "amount": "981.00", "currency": "GBP", "payer": "Acme Corp",
                "description": f"{gbp['InvoiceNumber']} thank you", "bank_reference": "TRACE-0001"}],
              tmp_path / "statements" / ENTITY / "bank.csv")
    cash = defs.resolve_job_def("cash_reconciliation_job").execute_in_process(
        instance=instance, partition_key=MultiPartitionKey({"entity": ENTITY, "period": f"{day[:7]}-01"}))
    assert cash.success
    assert defs.resolve_job_def("accounting_pullback_job").execute_in_process(instance=instance,
                                                                             partition_key=key).success
    return {"store": resources["opstore"].get(), "wh": wh, "number": gbp["InvoiceNumber"], "id": gbp["InvoiceID"],
            "day": day, "cash_run": cash.run_id, "sync_run": sync.run_id, "instance": instance}


def _check_gbp_invoice(inv, number):
    assert (inv["number"], inv["reference"], inv["currency"]) == (number, "SP-acme-uk-2026-10-C1-R1", "GBP")
    assert (inv["net"], inv["tax"], inv["gross"], inv["paid"], inv["due"]) == ("817.50", "163.50", "981.00",
                                                                              "981.00", "0.00")
    assert inv["four_eyes_approver"] == "policy acme-uk v1 (approved by pytest-admin-2)"
    assert inv["status"] == "posted" and inv["run_id"]
    [pay] = inv["payments"]
    assert (pay["amount"], pay["currency"]) == ("981.00", "GBP")


def _check_bank_line(b, paid):
    assert (b["line_id"], b["amount"], b["currency"], b["date"]) == ("090:TRACE-0001", "981.00", "GBP", paid["day"])
    assert b["status"] == "settled" and b["outcome"] == "auto_settled"
    assert b["decided_by"] == f"dagster run {paid['cash_run']}"
    assert (b["run_id"], b["trace_id"]) == (paid["cash_run"], paid["cash_run"].replace("-", ""))  # its run's trace
    [a] = b["allocations"]
    assert (a["invoice_id"], a["applied"]) == (paid["id"], "981.00") and a["payment_id"]
    assert [h["action"] for h in b["history"]][0] == "decided" and b["history"][-1]["action"] == "settled"


def test_trace_from_each_starting_point_follows_the_same_chain(paid, resources, monkeypatch, capsys, tmp_path):
    store, wh = paid["store"], paid["wh"]

    # from a time entry: Alice's 2.5 h of development at 120 GBP, approved by Carol, on line 2 of INV-…
    t = trace(store, wh, "1001")
    assert t.start == {"kind": "entry", "ref": "1001"}
    [e] = t.entries
    assert (e["person"], e["hours"], e["date"], e["approved_by"]) == ("Alice Archer (1)", "2.5", "2026-10-05",
                                                                       "Carol Chen (3)")
    b = e["billable"]
    assert (b["hours"], b["rate"], b["value"], b["currency"]) == ("2.5", "120", "300.00", "GBP")
    [inv] = t.invoices
    _check_gbp_invoice(inv, paid["number"])
    assert [(li["entries"], li["quantity"], li["unit_amount"], li["amount"]) for li in inv["lines"]] == [
        (["1001"], "2.5000", "120.0000", "300.00")]
    [bl] = t.bank_lines
    _check_bank_line(bl, paid)
    assert t.run_ids == [inv["run_id"], paid["cash_run"]]
    assert inv["trace_id"] == TRACE_ID  # the sensor's trace id, on the ledger
    assert t.trace_ids == [TRACE_ID, bl["trace_id"]]  # and the cash run's, on its matching decision

    # from the invoice number: all four entries of the invoice, the same payment and bank line
    t = trace(store, wh, paid["number"])
    assert t.start["kind"] == "invoice"
    assert sorted(e["entry_id"] for e in t.entries) == ["1001", "1002", "1003", "1004"]
    [inv] = t.invoices
    _check_gbp_invoice(inv, paid["number"])
    assert [li["amount"] for li in inv["lines"]] == ["300.00", "300.00", "150.00", "67.50"]
    _check_bank_line(t.bank_lines[0], paid)

    # from the bank's reference: back to the invoice and its entries
    t = trace(store, wh, "TRACE-0001")
    assert t.start["kind"] == "bank_line"
    _check_bank_line(t.bank_lines[0], paid)
    assert [i["number"] for i in t.invoices] == [paid["number"]]
    assert sorted(e["entry_id"] for e in t.entries) == ["1001", "1002", "1003", "1004"]

    # an entry held for approval reached no invoice: the trail says why
    t = trace(store, wh, "1008", entity=ENTITY)
    [e] = t.entries
    assert (e["person"], e["approval_status"], e["billable"]) == ("Bob Baker (2)", "submitted", None)
    assert e["disposition"] != "billable" and not t.invoices and not t.bank_lines
    with pytest.raises(TraceNotFound, match="no invoice"):
        trace(store, wh, "INV-99999", kind="invoice")


    # the same on the command line (one fixture: the chain takes ~20 s to build)
    _command_prints_the_trail_and_json_for_those_allowed(paid, resources, monkeypatch, capsys)
    # and the sync run's steps as OpenTelemetry spans under the same trace id
    _spans_of_the_sync_run_carry_the_trace(paid, tmp_path)


def _command_prints_the_trail_and_json_for_those_allowed(paid, resources, monkeypatch, capsys):
    url = resources["opstore"].url
    monkeypatch.setenv("SYNC_PIPELINE_WAREHOUSE", resources["warehouse"].root)
    sign_in(monkeypatch, url, "vera", "viewer")
    assert main(["trace", paid["number"]]) != 0  # a viewer may not see people's hours and payers
    sign_in(monkeypatch, url, "anna", "accountant")
    capsys.readouterr()
    assert main(["trace", "1001"]) == 0
    text = capsys.readouterr().out
    assert "Alice Archer (1): 2.5 h on 2026-10-05" in text
    assert "net 817.50  tax 163.50  gross 981.00 GBP; paid 981.00, due 0.00" in text
    assert "Bank line 090:TRACE-0001" in text and "auto_settled" in text
    cash_trace = paid["cash_run"].replace("-", "")
    assert f"in run {paid['cash_run']} (trace {cash_trace})" in text
    assert f"Trace ids: {TRACE_ID}, {cash_trace}" in text
    # the whole trail, in the order the money moved: entry, approval, billable, invoice, payment, bank line
    order = [text.index(s) for s in ("Time entry 1001", "approval: approved by Carol Chen (3)", "billable: 2.5 h",
                                     f"Invoice {paid['number']}", "settlement: ", "Bank line 090:TRACE-0001")]
    assert order == sorted(order)
    assert main(["trace", "090:TRACE-0001", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["invoices"][0]["gross"] == "981.00" and data["bank_lines"][0]["status"] == "settled"


def _spans_of_the_sync_run_carry_the_trace(paid, tmp_path):
    from sync_pipeline.defs.telemetry.sensors import export_dagster_run
    from sync_pipeline.services.telemetry import read_spans

    path = tmp_path / "spans.jsonl"
    assert export_dagster_run(paid["instance"], paid["sync_run"], path) == TRACE_ID
    spans = read_spans(path, TRACE_ID)
    [root] = [s for s in spans if s["parent_span_id"] is None]
    assert root["name"] == "sync_job" and root["attributes"]["dagster.run_id"] == paid["sync_run"]
    assert all(s["parent_span_id"] == root["span_id"] for s in spans if s is not root)
    stages = {s["attributes"]["sync_pipeline.stage"] for s in spans if s is not root}
    assert {"extract", "bill", "plan", "post", "reconcile"} <= stages
    post = next(s for s in spans if s["name"] == "posted_invoices")
    assert root["start_time_ns"] <= post["start_time_ns"] < post["end_time_ns"] <= root["end_time_ns"]
