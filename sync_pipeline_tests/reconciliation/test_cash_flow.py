"""Cash reconciliation end to end: generated ledger in the Xero sandbox, statements as CSV and OFX files,
the Dagster job for one entity × period, settlement checked in the accounting system and the matching log."""

from decimal import Decimal

from dagster import MultiPartitionKey

from sync_pipeline.connectors.bank_statements import write_csv, write_ofx
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.generator.cash import generate
from sync_pipeline.store.matching_log import MatchingLog

PERIOD = "2026-03"


def _setup(sandboxes, resources, tmp_path):
    ds = generate(seed=11, n_invoices=120, entity=demo_data.DEMO_ENTITY)
    ids = ds.seed_xero(sandboxes.xero, demo_data.XERO_TENANT_ID)
    folder = tmp_path / "statements" / demo_data.DEMO_ENTITY
    rows = [r for r in ds.statement_rows() if r["currency"] == "GBP"]
    write_csv(rows[::2], folder / "bank-2026.csv")  # the bank's CSV export and its OFX download, interleaved
    write_ofx(rows[1::2], folder / "bank-2026.ofx", account="090", currency="GBP")
    return ds, ids


def _run(resources, instance):
    job = build_defs(resources).resolve_job_def("cash_reconciliation_job")
    return job.execute_in_process(instance=instance, partition_key=MultiPartitionKey(
        {"entity": demo_data.DEMO_ENTITY, "period": f"{PERIOD}-01"}))


def test_cash_job_settles_in_the_accounting_system_once_and_logs_every_decision(sandboxes, resources, instance,
                                                                                 tmp_path):
    ds, ids = _setup(sandboxes, resources, tmp_path)
    result = _run(resources, instance)
    assert result.success
    assert all(ev.passed for ev in result.get_asset_check_evaluations())

    wh = resources["warehouse"].get()
    lines = wh.read("bank_statement_lines", demo_data.DEMO_ENTITY, PERIOD)
    assert len(lines) > 10 and set(lines["date"].str[:7]) == {PERIOD}
    assert {s for s in lines["source"]} == {"bank-2026.csv", "bank-2026.ofx"}

    log = MatchingLog(resources["opstore"].get())
    decisions = log.decisions(entity=demo_data.DEMO_ENTITY, period=PERIOD, limit=10_000)
    assert {d["line_id"] for d in decisions} == set(lines[lines["amount_minor"] > 0]["line_id"])
    settled = [d for d in decisions if d["status"] == "settled"]
    assert settled, "some lines settle automatically"

    # every settled allocation is a reconciled payment in the sandbox, for the right invoice and amount
    truth = {(r.line_id, ids[r.invoice_id]) for r in ds.labels.itertuples()}
    payments = {p["PaymentID"]: p for p in sandboxes.xero.all("Payments", demo_data.XERO_TENANT_ID)}
    by_bank_ref = dict(zip(ds.bank_lines["bank_reference"], ds.bank_lines["line_id"], strict=True))
    correct = 0
    for d in settled:
        for a in d["allocations"]:
            pay = payments[a["target_payment_id"]]
            assert pay["Invoice"]["InvoiceID"] == a["invoice_id"]
            assert pay["IsReconciled"] is True
            assert pay["Amount"] == Decimal(a["applied_minor"]).scaleb(-2)
            generated_line = by_bank_ref[d["line_id"].split(":", 1)[1]]
            correct += (generated_line, a["invoice_id"]) in truth
        history = [e["action"] for e in log.history(d["decision_id"])]
        assert history[:1] == ["decided"] and history[-1] == "settled"
    n_alloc = sum(len(d["allocations"]) for d in settled)
    # (quality is measured on thousands of lines in test_cash_quality; on one month of a small ledger a single
    # coincidence — a part payment in EUR that happens to equal another invoice at the day's rate — is possible)
    assert correct >= n_alloc - 1

    # write-offs are bank transactions on the configured account, for exactly the difference
    writeoffs = [d for d in settled if d["writeoff_minor"]]
    txns = sandboxes.xero.all("BankTransactions", demo_data.XERO_TENANT_ID)
    assert len(txns) == len(writeoffs)
    for t in txns:
        assert t["LineItems"][0]["AccountCode"] == "404"

    # queryable by invoice and by bank line
    some = settled[0]
    assert log.by_line(some["line_id"])[-1]["decision_id"] == some["decision_id"]
    assert some["decision_id"] in {x["decision_id"] for x in log.by_invoice(some["allocations"][0]["invoice_id"])}

    # a second run decides nothing again and pays nothing twice
    n_payments = len(payments)
    assert _run(resources, instance).success
    assert len(sandboxes.xero.all("Payments", demo_data.XERO_TENANT_ID)) == n_payments
    again = log.decisions(entity=demo_data.DEMO_ENTITY, period=PERIOD, statuses=["settled"], limit=10_000)
    assert {d["decision_id"] for d in again} == {d["decision_id"] for d in settled}
