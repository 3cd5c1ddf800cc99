"""Every stored column has a class: derived from the pandera contracts and the live store schema, not a list."""

import importlib
import inspect
import pkgutil

import pandera.pandas as pa
import pytest
import sqlalchemy as sa

import sync_pipeline.contracts as contracts_pkg
from sync_pipeline.contracts import classification as cl
from sync_pipeline.store.operational import OperationalStore


def _contract_columns() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(contracts_pkg.__path__, contracts_pkg.__name__ + "."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, pa.DataFrameModel) and obj.__module__ == module.__name__
                    and not name.startswith("_")):
                found[name] = list(obj.to_schema().columns)
    return found


@pytest.fixture(scope="module")
def store_columns(tmp_path_factory) -> dict[str, list[str]]:
    store = OperationalStore(f"sqlite:///{tmp_path_factory.mktemp('cls') / 'op.sqlite3'}")
    try:
        inspector = sa.inspect(store.engine)
        return {t: [c["name"] for c in inspector.get_columns(t)] for t in inspector.get_table_names()}
    finally:
        store.dispose()


def test_every_warehouse_contract_column_has_a_class():
    columns = _contract_columns()
    assert {"RawTimeEntry", "InvoiceDraftLine", "SharedCostLine", "ConsolidatedLine"} <= set(columns)
    missing = [f"{m}.{c}" for m, cols in columns.items() for c in cols if cl.class_of(m, c) is None]
    assert not missing, f"classify these in sync_pipeline/contracts/classification.py: {missing}"


def test_every_operational_store_column_has_a_class(store_columns):
    assert {"sync_ledger", "cash_decisions", "person_keys", "audit_events"} <= set(store_columns)
    missing = [f"{t}.{c}" for t, cols in store_columns.items() for c in cols if cl.class_of(t, c) is None]
    assert not missing, f"classify these in sync_pipeline/contracts/classification.py: {missing}"


def test_classes_and_protections_name_real_columns(store_columns):
    contracts = _contract_columns()
    every = {**contracts, **store_columns}
    assert {c for cols in cl.TABLE_COLUMNS.values() for c in cols.values()} <= set(cl.CLASSES)
    assert set(cl.COLUMNS.values()) <= set(cl.CLASSES)
    stale = [f"{t}.{c}" for t, cols in cl.TABLE_COLUMNS.items() for c in cols if c not in every.get(t, [])]
    stale += [f"{t}.{c}" for t, c in cl.PROTECTED if c not in every.get(t, [])]
    assert not stale, f"classification names columns that do not exist: {stale}"


def test_protected_columns_are_personal_or_secret_and_names_of_people_are_protected():
    for (table, column), how in cl.PROTECTED.items():
        assert cl.class_of(table, column) in (cl.PERSONAL, cl.SECRET), (table, column, how)
    contracts = _contract_columns()
    for model in ("RawTimeEntry", "CleanTimeEntry", "RawExpense", "CleanExpense"):
        assert cl.PROTECTED[(model, "user_name")] == "pseudonym"
    assert ("sync_ledger", "payload") in cl.encrypted_columns()
    # every contract that carries who approved the work carries a pseudonym, not a name
    unprotected = [m for m, cols in contracts.items() if "approved_by" in cols and (m, "approved_by") not in cl.PROTECTED
                   and m not in ("InvoicePlanRow", "PostedEntryLink")]
    assert not unprotected
