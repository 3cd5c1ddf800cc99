"""``sync-pipeline import csv``: a CSV export becomes a raw_time_entries partition; bad rows are quarantined."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from sync_pipeline.cli import main
from sync_pipeline_tests.connectors.test_csv_exports import HARVEST, TOGGL
from sync_pipeline_tests.identity import sign_in


@pytest.fixture(autouse=True)
def clerk(monkeypatch, tmp_path):
    """Importing time is a billing clerk's duty: signed in as one."""
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'op.sqlite3'}", "bill", "billing_clerk")


def test_import_needs_a_signed_in_user_with_the_duty(tmp_path, capsys, monkeypatch):
    f = tmp_path / "report.csv"
    f.write_text(HARVEST)
    argv = ["import", "csv", str(f), "--kind", "harvest", "--entity", "acme-uk", "--period", "2026-10",
            "--warehouse", str(tmp_path / "wh")]
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'op.sqlite3'}", "victor", "viewer")
    assert main(argv) == 2
    assert "victor (roles: viewer) may not import.csv" in capsys.readouterr().err
    monkeypatch.delenv("SYNC_PIPELINE_TOKEN")
    assert main(argv) == 2
    assert "import.csv needs a signed-in user: set SYNC_PIPELINE_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "wh").exists()  # refused before anything was read or written


def test_import_harvest_csv_writes_the_partition_and_quarantines_bad_rows(tmp_path, capsys):
    f = tmp_path / "report.csv"
    f.write_text(HARVEST)
    rc = main(["import", "csv", str(f), "--kind", "harvest", "--entity", "acme-uk", "--period", "2026-10",
               "--warehouse", str(tmp_path / "wh")])
    out = capsys.readouterr().out
    assert rc == 1  # something was quarantined
    assert "3 entries of 2026-10 written" in out
    assert "2 rows quarantined (3 problems)" in out and "row 4, column 'Date': '2026-13-01' is not a date" in out
    raw = pq.read_table(tmp_path / "wh" / "raw_time_entries" / "entity=acme-uk" / "period=2026-10.parquet")
    assert raw.num_rows == 3 and set(raw.column("source").to_pylist()) == {"harvest_csv"}
    q = pq.read_table(tmp_path / "wh" / "raw_time_entries_quarantine" / "entity=acme-uk" / "period=2026-10.parquet")
    assert q.column("row").to_pylist() == [4, 5, 5] and "Bad hours" in q.column("raw").to_pylist()[1]


def test_import_toggl_csv_clean_file_exits_zero(tmp_path, capsys):
    f = tmp_path / "toggl.csv"
    f.write_text("\n".join(TOGGL.splitlines()[:4]) + "\n")  # without the broken row
    rc = main(["import", "csv", str(f), "--kind", "toggl", "--entity", "acme-uk", "--period", "2026-10",
               "--warehouse", str(tmp_path / "wh")])
    assert rc == 0 and "3 entries of 2026-10 written" in capsys.readouterr().out


def test_wrong_kind_of_file_is_a_user_error(tmp_path, capsys):
    f = tmp_path / "report.csv"
    f.write_text(HARVEST)
    rc = main(["import", "csv", str(f), "--kind", "toggl", "--entity", "acme-uk", "--period", "2026-10",
               "--warehouse", str(tmp_path / "wh")])
    assert rc == 2 and "missing column(s) User" in capsys.readouterr().err


def test_import_reads_a_declared_locale_and_a_bad_encoding_names_the_file_and_the_fix(tmp_path, capsys):
    from sync_pipeline_tests.connectors.test_csv_exports import LATIN

    f = tmp_path / "export-fr.csv"
    f.write_bytes(LATIN.replace(",", ";").replace("2.5", "2,5").encode("latin-1"))
    wh = str(tmp_path / "wh")
    rc = main(["import", "csv", str(f), "--kind", "harvest", "--entity", "acme-fr", "--period", "2026-10",
               "--decimal-separator", ",", "--warehouse", wh])
    assert rc == 0 and "1 entries of 2026-10 written" in capsys.readouterr().out
    raw = pq.read_table(tmp_path / "wh" / "raw_time_entries" / "entity=acme-fr" / "period=2026-10.parquet")
    assert raw.column("client_name").to_pylist() == ["Société Générale"]
    assert str(raw.column("hours").to_pylist()[0]) == "2.500000"
    rc = main(["import", "csv", str(f), "--kind", "harvest", "--entity", "acme-fr", "--period", "2026-10",
               "--encoding", "utf-8", "--warehouse", wh])
    err = capsys.readouterr().err
    assert rc == 2 and "export-fr.csv: not utf-8" in err and "--encoding" in err
