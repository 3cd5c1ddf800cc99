"""People who pay, and people named in decisions, are not kept in clear either: bank lines paid by a person,
the matching log (explanations, candidates), a payer alias, an hours decision's note (and its audit event) —
scanned after the cash job like the demo test scans after the demo (docs/data-protection.md). Cash matching
still finds the person's payment, and `privacy export` still returns it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from dagster import MultiPartitionKey
from dagster_shared.serdes import serialize_value

from sync_pipeline.connectors.bank_statements import write_csv
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.generator.cash import generate
from sync_pipeline.services import subject_rights
from sync_pipeline.store.hours_reviews import HoursReviews
from sync_pipeline.store.matching_log import MatchingLog
from sync_pipeline_tests.people_in_clear import people_in_clear

PERIOD = "2026-03"
ENTITY = demo_data.DEMO_ENTITY
PAYER, EMAIL, NOTED = "Carol Chen", "alice.archer@acme-uk.example", "Bob Baker"


def test_payers_aliases_decision_notes_and_their_audit_events_hold_no_name_in_clear(sandboxes, resources,
                                                                                     instance, tmp_path):
    ds = generate(seed=11, n_invoices=60, entity=ENTITY)
    ds.seed_xero(sandboxes.xero, demo_data.XERO_TENANT_ID)
    rows = [r for r in ds.statement_rows() if r["currency"] == "GBP" and r["payer"] and Decimal(r["amount"]) > 0
            and r["date"].startswith(PERIOD)]
    paid_by_person = {**rows[0], "payer": PAYER}  # a sole trader's invoice paid from their own account
    rows[0] = paid_by_person
    rows[1] = {**rows[1], "description": f"{rows[1]['description']} {EMAIL}"}
    unreadable = {**rows[2], "amount": "twelve pounds", "payer": PAYER}  # rejected, and never quoted in the logs
    write_csv([*rows, unreadable], tmp_path / "statements" / ENTITY / "bank.csv")
    job = build_defs(resources).resolve_job_def("cash_reconciliation_job")
    run = job.execute_in_process(instance=instance, partition_key=MultiPartitionKey(
        {"entity": ENTITY, "period": f"{PERIOD}-01"}))
    assert run.success
    logs = [serialize_value(e) for e in instance.all_logs(run.run_id)]
    assert any("rejected_rows" in x for x in logs) and not [x for x in logs if PAYER in x or EMAIL in x]

    store = resources["opstore"].get()
    log = MatchingLog(store)
    decisions = log.decisions(entity=ENTITY, period=PERIOD, limit=10_000)
    mine = next(d for d in decisions if d["payer_name"] == PAYER)  # read back in clear through the store API
    contact = ds.contacts["contact_id"].iloc[0]
    log.add_alias(ENTITY, PAYER, contact, source="pytest", actor="mia")
    assert any(a["contact_id"] == contact for a in log.aliases(ENTITY))
    HoursReviews(store).decide(ENTITY, "3", date(2026, 3, 5), Decimal("12"), "quarantine",
                               note=f"{NOTED} booked the day twice", actor="mia")
    [dec] = HoursReviews(store).latest(ENTITY, date(2026, 3, 1), date(2026, 3, 31))
    assert dec.note == f"{NOTED} booked the day twice"

    found = people_in_clear(tmp_path, f"sqlite:///{tmp_path / 'operational.sqlite3'}", [PAYER, EMAIL, NOTED],
                            scanned=("bank_statement_lines", "cash_decisions.explanation", "cash_decisions.candidates",
                                     "cash_payer_aliases.payer_name", "hours_day_decisions.note", "audit_events.detail",
                                     "audit_events.subject"))
    assert found == []

    # the person's records are still theirs: export returns them (decrypted), the matcher saw the name
    wh = resources["warehouse"].get()
    person = subject_rights.Person(PAYER, None, {"no-such-id"}, {PAYER})
    out = subject_rights.export(wh, store, person, actor="dpo", include_dagster=False)
    assert any(r.get("payer_name") == PAYER for x in out["warehouse"] for r in x["rows"])
    tables = {t["table"] for t in out["operational_store"]}
    assert {"cash_decisions", "cash_payer_aliases"} <= tables, tables
    assert mine["payer_name"] == PAYER and mine["allocations"], mine  # matched to its invoice, as before


def test_erasure_removes_a_payer_from_bank_lines_decisions_and_aliases(sandboxes, resources, instance, tmp_path):
    ds = generate(seed=11, n_invoices=30, entity=ENTITY)
    ds.seed_xero(sandboxes.xero, demo_data.XERO_TENANT_ID)
    rows = [r for r in ds.statement_rows() if r["currency"] == "GBP" and r["payer"] and Decimal(r["amount"]) > 0
            and r["date"].startswith(PERIOD)]
    rows[0] = {**rows[0], "payer": PAYER}
    write_csv(rows, tmp_path / "statements" / ENTITY / "bank.csv")
    job = build_defs(resources).resolve_job_def("cash_reconciliation_job")
    assert job.execute_in_process(instance=instance, partition_key=MultiPartitionKey(
        {"entity": ENTITY, "period": f"{PERIOD}-01"})).success
    store, wh = resources["opstore"].get(), resources["warehouse"].get()
    MatchingLog(store).add_alias(ENTITY, PAYER, ds.contacts["contact_id"].iloc[0], source="pytest", actor="mia")

    person = subject_rights.Person(PAYER, None, {"no-such-id"}, {PAYER})
    report = subject_rights.erase(wh, store, person, actor="dpo")
    assert {x["asset"] for x in report["warehouse"]} >= {"bank_statement_lines"}
    assert {x["table"] for x in report["store"]} >= {"cash_decisions", "cash_payer_aliases"}
    again = subject_rights.export(wh, store, person, actor="dpo", include_dagster=False)
    assert again["counts"]["warehouse_rows"] == 0
    assert not {t["table"] for t in again["operational_store"]} & {"cash_decisions", "cash_payer_aliases"}
