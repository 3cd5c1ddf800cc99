from __future__ import annotations

from pathlib import Path

import pytest

from sync_pipeline.contracts.slo import DEFAULT_THRESHOLDS, SloConfig, SloConfigError, load_slo_config
from sync_pipeline.defs.settings import PROJECT_ROOT


def test_the_example_file_loads_and_escalates_finance_ops_to_platform() -> None:
    cfg = load_slo_config(PROJECT_ROOT / "docs" / "slo.example.yaml")
    assert cfg.escalation_chain("finance-ops") == ["finance-ops", "platform"]
    assert cfg.thresholds("acme-us")["dead_letter_backlog"].breach == 20
    assert cfg.team_of("acme-uk") == "finance-ops"


def test_an_empty_file_means_the_documented_defaults() -> None:
    cfg = SloConfig.model_validate({})
    assert {n: (t.warn, t.breach) for n, t in cfg.thresholds("x").items()} == DEFAULT_THRESHOLDS
    assert cfg.team_of("x") == "operations"
    assert cfg.event_rule("run_failure").severity is None and cfg.events_clear_after_minutes == 60


@pytest.mark.parametrize("data, says", [
    ({"objectives": {"uptime": {"warn": 1, "breach": 2}}}, "unknown objective"),
    ({"objectives": {"dead_letter_backlog": {"warn": 5, "breach": 2}}}, "warn (5.0) must be at most breach"),
    ({"objectives": {"sync_success_rate": {"warn": 0.9, "breach": 0.95}}}, "must be at least breach"),
    ({"objectives": {"sync_success_rate": {"warn": 99, "breach": 95}}}, "ratio from 0 to 1"),
    ({"default_team": "nobody"}, "default_team 'nobody' is not under teams"),
    ({"entities": {"acme-uk": {"team": "ghosts"}}}, "entities.acme-uk.team 'ghosts'"),
    ({"teams": {"operations": {"routes": {"breach": ["pager"]}}}}, "unknown channel"),
    ({"teams": {"operations": {"routes": {"breach": ["email"]}}}}, "lists no email recipients"),
    ({"teams": {"operations": {"escalate_to": "operations"}}}, "set both escalate_after_minutes and escalate_to"),
    ({"teams": {"operations": {"escalate_after_minutes": 5, "escalate_to": "b"},
                "b": {"escalate_after_minutes": 5, "escalate_to": "operations"}}}, "comes back to itself"),
    ({"events": {"disk_full": {"severity": "warn"}}}, "events: unknown kind(s) ['disk_full']"),
    ({"events": {"run_failure": {"severity": "page"}}}, "events.run_failure.severity"),
    ({"events_clear_after_minutes": 0}, "events_clear_after_minutes"),
])
def test_a_bad_file_names_the_key_and_the_fix(tmp_path: Path, data: dict, says: str) -> None:
    import yaml

    p = tmp_path / "slo.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(SloConfigError, match="SLO file") as e:
        load_slo_config(p)
    assert says in str(e.value)


def test_a_missing_file_says_which_variable_to_set(tmp_path: Path) -> None:
    with pytest.raises(SloConfigError, match="set SYNC_PIPELINE_SLO"):
        load_slo_config(tmp_path / "nope.yaml")
