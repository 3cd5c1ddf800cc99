"""`sync-pipeline alerts`: list incidents, acknowledge one (no escalation), silence one — each audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_pipeline.cli import main
from sync_pipeline.contracts.slo import SloConfig
from sync_pipeline.services import slo
from sync_pipeline.services.alert_routing import AlertRouter, Channels
from sync_pipeline.store import audit
from sync_pipeline.store.alert_incidents import Incidents
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.identity import sign_in

CONFIG = SloConfig.model_validate({"teams": {"ops": {"escalate_after_minutes": 10, "escalate_to": "oncall"},
                                             "oncall": {}}, "default_team": "ops"})
KEY = "dead_letter_backlog/acme-uk"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OperationalStore:
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    sign_in(monkeypatch, url, "olivia", "operator")
    s = OperationalStore(url)
    results = slo.evaluate(CONFIG, [slo.dead_letter_backlog("acme-uk", [{"id": i, "entity": "acme-uk"}
                                                                         for i in range(12)])])
    AlertRouter(CONFIG, Channels(), Incidents(s)).process(results)
    return s


def test_list_ack_and_silence(store: OperationalStore, capsys: pytest.CaptureFixture) -> None:
    assert main(["alerts", "list"]) == 0
    out = capsys.readouterr().out
    assert KEY in out and "breach" in out
    assert main(["alerts", "ack", KEY]) == 0
    assert "acknowledged by olivia" in capsys.readouterr().out
    assert Incidents(store).get(KEY).acknowledged_by == "olivia"
    assert main(["alerts", "silence", KEY, "--minutes", "30"]) == 0
    assert "silenced until" in capsys.readouterr().out
    actions = [e.action for e in audit.events(store)]
    assert "alert_acknowledged" in actions and "alert_silenced" in actions


def test_acknowledging_an_unknown_incident_says_where_to_look(store: OperationalStore,
                                                              capsys: pytest.CaptureFixture) -> None:
    assert main(["alerts", "ack", "heartbeat_age/acme-uk"]) == 2
    assert "sync-pipeline alerts list" in capsys.readouterr().err


def test_a_viewer_may_list_but_not_silence(store: OperationalStore, tmp_path: Path, monkeypatch, capsys) -> None:
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'op.sqlite3'}", "vera", "viewer")
    assert main(["alerts", "list"]) == 0
    assert main(["alerts", "silence", KEY, "--minutes", "30"]) != 0
