"""`sync-pipeline privacy` and `archive` as a signed-in privacy officer: holds, a purge dry run, archives."""

import json

import pandas as pd
import pytest

from sync_pipeline.cli import main
from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.identity import sign_in


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    monkeypatch.setenv("SYNC_PIPELINE_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("SYNC_PIPELINE_ARCHIVE", str(tmp_path / "archive"))
    sign_in(monkeypatch, url, "paula", "privacy_officer")
    wh = Warehouse(tmp_path / "warehouse")
    for period in ("2018-03", "2026-08"):
        wh.write("raw_time_entries", "acme-uk", period, pd.DataFrame({"user_id": ["1"], "user_name": ["Alice Archer"],
                                                                            "hours": ["1"]}))
    return url, wh


def test_holds_and_a_purge_dry_run(env, capsys):
    url, wh = env
    assert main(["privacy", "hold", "set", "--entity", "acme-uk", "--period", "2018-03", "--reason", "claim 14"]) == 0
    assert main(["privacy", "hold", "list"]) == 0
    assert "hold #1 (acme-uk 2018-03): claim 14 — set by paula" in capsys.readouterr().out
    assert main(["privacy", "purge", "--dry-run", "--as-of", "2030-01-01"]) == 0
    out = capsys.readouterr().out
    assert "would delete 0, anonymize 1, keep 1 (1 under legal hold" in out
    assert "keep      raw_time_entries/acme-uk/2018-03 (1 rows): under legal hold: hold #1" in out
    assert main(["privacy", "purge", "--as-of", "2030-01-01"]) == 2  # a real purge runs as of today only
    assert main(["privacy", "hold", "release", "1", "--reason", "settled"]) == 0
    assert wh.exists("raw_time_entries", "acme-uk", "2018-03")
    store = OperationalStore(url)
    assert [e.actor for e in audit.events(store, action="retention_purge_dry_run")] == ["paula"]
    store.dispose()


def test_archive_commands(env, capsys):
    assert main(["archive", "create", "--entity", "acme-uk", "--period", "2026-08"]) == 0
    assert main(["archive", "verify", "--entity", "acme-uk", "--period", "2026-08"]) == 0
    assert main(["archive", "read", "--entity", "acme-uk", "--period", "2026-08", "--table", "raw_time_entries"]) == 0
    assert '"user_name": "Alice Archer"' in capsys.readouterr().out
    # 2026-10 is after the demo mapping's locked_through (2026-08-31): not a closed period
    assert main(["archive", "create", "--entity", "acme-uk", "--period", "2026-10"]) == 2
    assert "is not a closed period" in capsys.readouterr().err


def test_a_person_s_export_and_erasure(env, tmp_path, capsys):
    _, wh = env
    out = tmp_path / "alice.json"
    assert main(["privacy", "export", "--person", "1", "--out", str(out), "--no-dagster"]) == 0
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    data = json.loads(out.read_text())
    assert data["person"]["names"] == ["Alice Archer"] and data["counts"]["warehouse_rows"] == 2
    assert main(["privacy", "erase", "--person", "1", "--dry-run"]) == 0
    assert "would replace the identity in 2 warehouse row(s)" in capsys.readouterr().out
    assert main(["privacy", "erase", "--person", "1"]) == 0
    assert wh.read("raw_time_entries", "acme-uk", "2026-08")["user_name"][0].startswith("erased-")
    assert main(["privacy", "export", "--person", "1"]) == 2
    assert "no person '1'" in capsys.readouterr().err


def test_only_a_privacy_officer_erases_or_releases_holds(env, monkeypatch, capsys):
    url, _ = env
    sign_in(monkeypatch, url, "oscar", "operator")
    assert main(["privacy", "purge", "--dry-run"]) == 2
    assert "oscar (roles: operator) may not privacy.purge" in capsys.readouterr().err
    sign_in(monkeypatch, url, "ada", "admin")
    assert main(["privacy", "erase", "--person", "1"]) == 2
    assert "ada (roles: admin) may not privacy.erase" in capsys.readouterr().err
