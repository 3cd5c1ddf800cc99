"""Operational store on SQLite and on the real PostgreSQL server; warehouse and SQL runner."""

import uuid
from decimal import Decimal

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from sync_pipeline.contracts.warehouse import CleanTimeEntry
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.sql import SqlModelError, SqlModels
from sync_pipeline.store.warehouse import ContractViolation, Warehouse, WarehouseError

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _pg_available() -> bool:
    try:
        with sa.create_engine(PG_ADMIN_URL).connect() as c:
            c.execute(sa.text("select 1"))
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
        yield s
        s.dispose()
        return
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (start it: pg_ctlcluster ... main start)")
    name = f"sp_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    s = OperationalStore(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
    yield s
    s.dispose()
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_ledger_pending_then_posted(store):
    kw = dict(invoice_key="inv_1", entity="e", period="2026-10", client_id="1", revision=1, reference="SP-e-1",
              payload_hash="h", idempotency_key="k", triggered_by="test")
    store.record_pending(**kw)
    store.record_pending(**kw)  # idempotent
    assert store.ledger_entry("inv_1")["status"] == "pending"
    store.record_posted("inv_1", "xid", "INV-1")
    store.record_pending(**kw)  # a posted entry is never set back to pending
    row = store.ledger_entry("inv_1")
    assert (row["status"], row["target_id"], row["target_number"]) == ("posted", "xid", "INV-1")
    assert [r["invoice_key"] for r in store.ledger_for("e", "2026-10")] == ["inv_1"]


def test_audit_and_contacts(store):
    store.remember_contact("e", "1", "c-1", "HARVEST-1")
    store.remember_contact("e", "1", "c-2", "HARVEST-1")
    assert store.contact_for("e", "1") == "c-2"
    store.audit("alice", "invoice_posted", entity="e", subject="SP-e-1", detail={"n": 1})
    assert [(a["actor"], a["action"]) for a in store.audit_entries("e")] == [("alice", "invoice_posted")]


def test_warehouse_round_trip_keeps_decimals(tmp_path):
    wh = Warehouse(tmp_path)
    df = pd.DataFrame([{
        "entity": "e", "period": "2026-10", "entry_id": "1", "spent_date": "2026-10-01", "client_id": "1",
        "client_name": "A", "project_id": "1", "project_name": "P", "task_id": "1", "task_name": "T",
        "user_id": "1", "user_name": "U", "currency": "GBP", "hours": Decimal("0.333333"),
        "rate": Decimal("95.5"), "disposition": "billable", "reason": None,
        "source_spent_date": "2026-10-01", "source_client_id": "1", "invoice_currency": "GBP",
        "list_rate": Decimal("95.5"), "billable_percent": Decimal(100), "rate_source": "source_system",
        "approved_by": None, "approved_at": None}])
    wh.write("clean_time_entries", "e", "2026-10", df, CleanTimeEntry)
    back = wh.read("clean_time_entries", "e", "2026-10")
    assert back.loc[0, "hours"] == Decimal("0.333333") and isinstance(back.loc[0, "rate"], Decimal)
    with pytest.raises(WarehouseError, match="materialize the upstream asset"):
        wh.read("clean_time_entries", "e", "2026-11")


def test_contract_violation_names_column_and_check(tmp_path):
    bad = pd.DataFrame([{
        "entity": "e", "period": "2026-10", "entry_id": "1", "spent_date": None, "client_id": None,
        "client_name": None, "project_id": None, "project_name": None, "task_id": None, "task_name": None,
        "user_id": None, "user_name": None, "currency": None, "hours": None, "rate": None,
        "disposition": "billable", "reason": None, "source_spent_date": None, "source_client_id": None,
        "invoice_currency": None, "list_rate": None, "billable_percent": None, "rate_source": None,
        "approved_by": None, "approved_at": None}])
    with pytest.raises(ContractViolation, match="billable_rows_are_complete"):
        Warehouse(tmp_path).write("clean_time_entries", "e", "2026-10", bad, CleanTimeEntry)


def test_sql_runner_orders_models_and_binds_parameters(tmp_path):
    (tmp_path / "b.sql").write_text("SELECT x * $factor AS y FROM a")
    (tmp_path / "a.sql").write_text("-- from nowhere\nSELECT * FROM src WHERE x > $min")
    (tmp_path / "c.sql").write_text("SELECT sum(y) AS total FROM b JOIN a ON true")
    models = SqlModels(tmp_path)
    assert models.plan(["c"]) == ["a", "b", "c"]
    con = duckdb.connect()
    con.register("src", pd.DataFrame({"x": [1, 2, 3]}))
    out = models.run(con, ["b"], {"factor": 10, "min": 1}, sources=["src"])
    assert out["b"].column("y").to_pylist() == [20, 30]
    with pytest.raises(SqlModelError, match="needs parameters"):
        models.run(duckdb.connect(), ["a"], {})
    # an injection attempt stays a value
    con.register("src", pd.DataFrame({"x": [1]}))
    with pytest.raises(SqlModelError):
        models.run(con, ["a"], {"min": "1; DROP TABLE src"}, sources=["src"])
    assert con.sql("SELECT count(*) FROM src").fetchall() == [(1,)]


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_a_step_reads_only_the_columns_it_needs_and_the_partition_has(kind, tmp_path):
    root = str(tmp_path) if kind == "local" else f"memory://sp-{uuid.uuid4().hex[:8]}/wh"
    wh = Warehouse(root)
    wh.write("raw_time_entries", "e", "2026-10", pd.DataFrame({"entry_id": ["2", "1"], "hours": [Decimal("1.5")] * 2}))
    got = wh.read_available("raw_time_entries", "e", "2026-10", ["entry_id", "cost_rate"])  # an older file: no cost_rate
    assert list(got.columns) == ["entry_id"] and list(got["entry_id"]) == ["2", "1"]
    with pytest.raises(WarehouseError, match="materialize the upstream asset"):
        wh.read_available("raw_time_entries", "e", "2026-11", ["entry_id"])
