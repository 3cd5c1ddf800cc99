"""``sync-pipeline mapping``: a changed money-moving mapping is shown as a diff, proposed by an editor and
accepted by an approver (never the proposer)."""

from __future__ import annotations

from pathlib import Path

import yaml

from sync_pipeline.cli import main
from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.defs import settings
from sync_pipeline.store.mapping_versions import MappingVersions
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.identity import sign_in


def test_diff_propose_and_accept_a_changed_mapping(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    doc = yaml.safe_load(Path(settings.mapping_path()).read_text())
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("SYNC_PIPELINE_MAPPING", str(path))
    entity = doc["entities"][0]["key"]
    MappingVersions(OperationalStore(url)).observe(load_mapping(str(path)).entity(entity), by="schedule:nightly")
    doc["entities"][0]["sales_account_code"] = "201"  # the editor changes the revenue account
    path.write_text(yaml.safe_dump(doc))

    sign_in(monkeypatch, url, "vera", "viewer")
    assert main(["mapping", "diff", "--entity", entity]) == 0
    out = capsys.readouterr().out
    assert "1 change(s)" in out and 'sales_account_code: "200" → "201"' in out
    assert main(["mapping", "status", "--entity", entity]) == 0
    assert "(NOT accepted: posting waits)" in capsys.readouterr().out
    assert main(["mapping", "propose", "--entity", entity]) == 2  # a viewer may not
    sign_in(monkeypatch, url, "maya", "mapping_editor", "approver")
    assert main(["mapping", "propose", "--entity", entity, "--comment", "revenue to 201"]) == 0
    h = capsys.readouterr().out.split("mapping version ")[1].split()[0]
    assert main(["mapping", "accept", "--entity", entity, "--hash", h]) == 2  # her own proposal
    assert "maya proposed mapping version" in capsys.readouterr().err
    sign_in(monkeypatch, url, "carol", "approver")
    assert main(["mapping", "accept", "--entity", entity, "--hash", h[:16], "--comment", "ok"]) == 0
    assert f"mapping version {h} accepted by carol" in capsys.readouterr().out
    assert main(["mapping", "status", "--entity", entity]) == 0
    assert f"version {h} (accepted)" in capsys.readouterr().out
