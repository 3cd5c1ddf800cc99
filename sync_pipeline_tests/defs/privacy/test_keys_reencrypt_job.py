"""The key re-encryption as a Dagster job: after a rotation it moves every wrapped key, every encrypted store value
and every encrypted warehouse value to the new keys, while everything stays readable (no downtime)."""

from datetime import date
from decimal import Decimal

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa
from dagster import DagsterInstance

from sync_pipeline.defs.privacy.jobs import keys_reencrypt_job
from sync_pipeline.defs.resources import OperationalStoreResource, WarehouseResource
from sync_pipeline.services.pseudonymize import open_frame, seal_frame
from sync_pipeline.store import audit
from sync_pipeline.store.hours_reviews import HoursReviews
from sync_pipeline.store.keys import provider_from_env
from sync_pipeline.store.matching_log import MatchingLog
from sync_pipeline.store.operational import OperationalStore, metadata
from sync_pipeline.store.protection import (
    PSEUDONYM_PREFIX,
    Protector,
    data_keys,
    encrypted_columns,
    is_token,
    person_keys,
    protector,
    token_key,
)
from sync_pipeline.store.warehouse import Warehouse

LINES = pd.DataFrame({"line_id": ["090:1", "090:2"], "payer_name": ["Carol Chen", None],
                      "description": ["INV-0001 thanks", "fee"], "amount_minor": [1000, -450]})
QUARANTINE = pd.DataFrame({"source": ["harvest"], "record": ["7"], "row": [1], "field": ["notes"],
                           "value": ["'call with Bob Baker'"], "problem": ["too long"]})


def _decision(line_id: str) -> dict:
    return {"line_id": line_id, "outcome": "exception", "rule": "none", "confidence": 0.0, "line_amount_minor": 1000,
            "line_currency": "GBP", "payer_name": "Carol Chen", "description": "INV-0001 thanks",
            "explanation": {"payer": "Carol Chen"}, "candidates": [{"invoice_id": "I-1", "contact_name": "Chen"}]}


def _records(store: OperationalStore, wh: Warehouse) -> None:
    MatchingLog(store).record("acme-uk", "2026-10", [_decision("090:1")], actor="pytest")
    HoursReviews(store).decide("acme-uk", "3", date(2026, 10, 5), Decimal("12"), "release", note="Carol Chen ill",
                               actor="mia")
    p = protector(store)
    pid = p.person_pseudonym("harvest", "3", name="Carol Chen", email="carol.chen@acme-uk.example")
    wh.write("raw_time_entries", "acme-uk", "2026-10", pd.DataFrame(
        {"user_name": [pid], "notes": [p.encrypt_for_person(pid, "Checkout flow", "raw_time_entries.notes")]}))
    wh.write("bank_statement_lines", "acme-uk", "2026-10", seal_frame(store, LINES, "bank_statement_lines"))
    wh.write("cash_quarantine", "acme-uk", "2026-10", seal_frame(store, QUARANTINE, "cash_quarantine"))


def _readable(store: OperationalStore, wh: Warehouse) -> None:
    d = MatchingLog(store).decisions(entity="acme-uk")[0]
    assert (d["payer_name"], d["explanation"], d["candidates"][0]["contact_name"]) == (
        "Carol Chen", {"payer": "Carol Chen"}, "Chen")
    assert HoursReviews(store).latest("acme-uk", date(2026, 10, 1), date(2026, 10, 31))[0].note == "Carol Chen ill"
    lines = open_frame(store, wh.read("bank_statement_lines", "acme-uk", "2026-10"), "bank_statement_lines")
    assert lines["payer_name"].tolist() == ["Carol Chen", None] and lines["description"].tolist() == [
        "INV-0001 thanks", "fee"]
    q = open_frame(store, wh.read("cash_quarantine", "acme-uk", "2026-10"), "cash_quarantine")
    assert q["value"].tolist() == ["'call with Bob Baker'"]
    p = protector(store)
    pid = p.pseudonym_of("harvest", "3")
    assert p.identity(pid)["email"] == "carol.chen@acme-uk.example"
    notes = wh.read("raw_time_entries", "acme-uk", "2026-10")["notes"].iloc[0]
    assert p.decrypt_field(notes, "raw_time_entries.notes") == "Checkout flow"


def test_the_job_moves_everything_to_the_rotated_keys_and_everything_stays_readable(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_PIPELINE_KEYS", f"file:{tmp_path / 'keys' / 'keyring.json'}")  # its own master keys
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    store, wh = OperationalStore(url), Warehouse(tmp_path / "warehouse")
    _records(store, wh)
    rotated = protector(store).rotate(actor="admin")
    _readable(store, wh)  # mid-way: old keys still decrypt

    resources = {"warehouse": WarehouseResource(root=str(wh.root), people_store=url),
                 "opstore": OperationalStoreResource(url=url)}
    with DagsterInstance.ephemeral() as instance:
        result = keys_reencrypt_job.execute_in_process(instance=instance, resources=resources)
    assert result.success
    counts = result.output_for_node("keys_reencrypt_op")
    # 4 cash_decisions columns + the hours note in the store; 3 bank values + 1 quarantined value in the warehouse
    assert (counts["values_reencrypted"], counts["warehouse_values_reencrypted"]) == (5, 4)
    assert counts["warehouse_partitions_rewritten"] == 2

    fresh_store = OperationalStore(url)  # a new process: the new keys only
    fresh = Protector(fresh_store.engine, provider_from_env())
    assert fresh.status()["pending"] == 0
    materialized = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    assert materialized[0].event_specific_data.metadata["pending_after"].value == 0  # store and warehouse
    with fresh_store.engine.connect() as c:
        for table, column, _ in encrypted_columns():
            col = metadata.tables[table].c[column]
            for (v,) in c.execute(sa.select(col).where(col.is_not(None))):
                assert is_token(v) and token_key(v) in (rotated["field_key"],) or token_key(v).startswith(
                    PSEUDONYM_PREFIX), (table, column, v)
        keks = {r.kek_id for r in c.execute(sa.select(data_keys.c.kek_id))} | {
            r.kek_id for r in c.execute(sa.select(person_keys.c.kek_id))}
    assert keks == {rotated["master_key"]}
    for asset, cols in (("bank_statement_lines", ("payer_name", "description")), ("cash_quarantine", ("value",))):
        t = pq.read_table(wh.path(asset, "acme-uk", "2026-10"))
        assert all(token_key(v) == rotated["field_key"] for c in cols for v in t.column(c).to_pylist() if v)
    _readable(fresh_store, wh)
    assert {e.action for e in audit.events(fresh_store)} >= {"keys_rotated", "keys_reencrypted",
                                                             "warehouse_reencrypted"}

    again = keys_reencrypt_job.execute_in_process(resources=resources).output_for_node("keys_reencrypt_op")
    assert (again["values_reencrypted"], again["warehouse_values_reencrypted"]) == (0, 0)  # re-runnable
    fresh_store.dispose()
    store.dispose()
