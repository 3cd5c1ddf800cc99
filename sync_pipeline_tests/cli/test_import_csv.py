"""``sync-pipeline import csv``: an export is filed in its entity's exports folder and the folder read into the
raw_time_entries partition, as the sync reads it, so a later sync keeps it; bad rows are quarantined; an entity
whose source is Harvest or Redmine is refused with the reason."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import yaml

from sync_pipeline.cli import main
from sync_pipeline.services.pseudonymize import open_frame
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.connectors.test_csv_exports import HARVEST, LATIN, TOGGL
from sync_pipeline_tests.dagster_billing import extract_and_bill
from sync_pipeline_tests.identity import sign_in

TENANT = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"


def _mapping(tmp_path, kind="harvest", **export) -> str:
    doc = {"version": 2, "entities": [
        {"key": "csv-co", "name": "CSV Co", "timezone": "Europe/London", "base_currency": "GBP", "source": "csv",
         "csv_export": {"kind": kind, "folder": str(tmp_path / "exports"), **export}, "xero_tenant_id": TENANT,
         "require_approval": False},
        {"key": "acme-uk", "name": "Acme", "timezone": "Europe/London", "base_currency": "GBP",
         "harvest_account_id": "1", "xero_tenant_id": TENANT}]}
    p = tmp_path / "mapping.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(p)


def _import(tmp_path, file, *flags: str, entity: str = "csv-co", mapping: str | None = None) -> int:
    return main(["import", "csv", str(file), "--entity", entity, "--period", "2026-10",
                 "--mapping", mapping or _mapping(tmp_path), "--warehouse", str(tmp_path / "wh"), *flags])


def _raw(tmp_path, asset="raw_time_entries", entity="csv-co"):
    return pq.read_table(tmp_path / "wh" / asset / f"entity={entity}" / "period=2026-10.parquet")


@pytest.fixture(autouse=True)
def clerk(monkeypatch, tmp_path):
    """Importing time is a billing clerk's duty: signed in as one."""
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'op.sqlite3'}", "bill", "billing_clerk")


def test_import_needs_a_signed_in_user_with_the_duty(tmp_path, capsys, monkeypatch):
    f = tmp_path / "report.csv"
    f.write_text(HARVEST)
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'op.sqlite3'}", "victor", "viewer")
    assert _import(tmp_path, f) == 2
    assert "victor (roles: viewer) may not import.csv" in capsys.readouterr().err
    monkeypatch.delenv("SYNC_PIPELINE_TOKEN")
    assert _import(tmp_path, f) == 2
    assert "import.csv needs a signed-in user: set SYNC_PIPELINE_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "wh").exists() and not (tmp_path / "exports").exists()  # refused before anything


def test_import_harvest_csv_files_the_export_writes_the_partition_and_quarantines_bad_rows(tmp_path, capsys):
    f = tmp_path / "report.csv"
    f.write_text(HARVEST)
    rc = _import(tmp_path, f, "--kind", "harvest")
    out = capsys.readouterr().out
    assert rc == 1  # something was quarantined
    assert (tmp_path / "exports" / "report.csv").read_text() == HARVEST
    assert "3 entries of 2026-10 written" in out
    assert "2 rows quarantined (3 problems)" in out and "report.csv row 4, column 'Date': '2026-13-01' is not a " \
                                                          "date" in out
    raw = _raw(tmp_path)
    assert raw.num_rows == 3 and set(raw.column("source").to_pylist()) == {"harvest_csv"}
    q = _raw(tmp_path, "raw_time_entries_quarantine")
    # the raw rows quote names and notes: encrypted (services.pseudonymize.seal_frame), read back in memory
    raw_rows = open_frame(OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}"), q.to_pandas(),
                          "raw_time_entries_quarantine")["raw"].tolist()
    assert q.column("row").to_pylist() == [4, 5, 5] and "Bad hours" in raw_rows[1]


def test_an_import_keeps_no_name_in_clear_not_even_in_the_quarantine(tmp_path, capsys):
    """As the sync does (services.pseudonymize): names become pseudonyms, notes are encrypted, and the raw rows of
    the quarantine (which quote the whole export row: names, notes) are encrypted too; export still finds them."""
    from sync_pipeline.services import subject_rights
    from sync_pipeline_tests.people_in_clear import people_in_clear

    f = tmp_path / "report.csv"
    f.write_text(HARVEST.replace("Bad hours", '"Bad hours, ask Carol Chen"'))
    assert _import(tmp_path, f, "--kind", "harvest") == 1
    found = people_in_clear(tmp_path / "wh", f"sqlite:///{tmp_path / 'op.sqlite3'}",
                            ["Alice Archer", "Bob Baker", "Carol Chen", "Checkout flow", "Bad hours"],
                            scanned=("raw_time_entries", "raw_time_entries_quarantine", "audit_events.detail"))
    assert found == []
    store, wh = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}"), Warehouse(tmp_path / "wh")
    person = subject_rights.Person("Carol Chen", None, {"no-such-id"}, {"Carol Chen"})
    out = subject_rights.export(wh, store, person, actor="dpo", include_dagster=False)
    assert {x["asset"] for x in out["warehouse"]} == {"raw_time_entries_quarantine"}


def test_import_toggl_csv_clean_file_exits_zero(tmp_path, capsys):
    f = tmp_path / "toggl.csv"
    f.write_text("\n".join(TOGGL.splitlines()[:4]) + "\n")  # without the broken row
    rc = _import(tmp_path, f, mapping=_mapping(tmp_path, kind="toggl"))
    assert rc == 0 and "3 entries of 2026-10 written" in capsys.readouterr().out


def test_wrong_kind_of_file_is_a_user_error(tmp_path, capsys):
    f = tmp_path / "report.csv"
    f.write_text(HARVEST)
    rc = _import(tmp_path, f, mapping=_mapping(tmp_path, kind="toggl"))
    assert rc == 2 and "missing column(s) User" in capsys.readouterr().err
    assert not (tmp_path / "exports" / "report.csv").exists()  # not filed


def test_an_entity_billed_from_harvest_refuses_an_import_with_the_reason(tmp_path, capsys):
    f = tmp_path / "report.csv"
    f.write_text(HARVEST)
    rc = _import(tmp_path, f, entity="acme-uk")
    err = capsys.readouterr().err
    assert rc == 2 and "acme-uk takes its time entries from harvest" in err and "would drop this import" in err
    assert "set source: csv and csv_export" in err
    assert not (tmp_path / "wh").exists()


def test_what_was_imported_survives_the_next_sync(tmp_path, capsys):
    f = tmp_path / "report.csv"
    f.write_text(HARVEST)
    mapping = _mapping(tmp_path)
    _import(tmp_path, f, mapping=mapping)
    imported = sorted(_raw(tmp_path).column("entry_id").to_pylist())
    result = extract_and_bill("csv-co", "2026-10", mapping, tmp_path / "wh")  # the sync's extract and billing
    assert result.success
    meta = result.asset_materializations_for_node("raw_time_entries")[0].metadata
    assert meta["deleted_since_last_extract"].value == 0 and meta["edited_since_last_extract"].value == 0
    assert sorted(Warehouse(tmp_path / "wh").read("raw_time_entries", "csv-co", "2026-10")["entry_id"]) == imported


def test_import_reads_a_declared_locale_and_a_bad_encoding_names_the_file_and_the_fix(tmp_path, capsys):
    f = tmp_path / "export-fr.csv"
    f.write_bytes(LATIN.replace(",", ";").replace("2.5", "2,5").encode("latin-1"))
    rc = _import(tmp_path, f, "--decimal-separator", ",")
    assert rc == 0 and "1 entries of 2026-10 written" in capsys.readouterr().out
    raw = _raw(tmp_path)
    assert raw.column("client_name").to_pylist() == ["Société Générale"]
    assert str(raw.column("hours").to_pylist()[0]) == "2.500000"
    g = tmp_path / "other.csv"
    g.write_bytes(f.read_bytes())
    rc = _import(tmp_path, g, "--encoding", "utf-8")
    err = capsys.readouterr().err
    assert rc == 2 and "other.csv: not utf-8" in err and "--encoding" in err
