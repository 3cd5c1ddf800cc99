"""SLO measurement and judgement: every objective fails on an injected breach, passes at its threshold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync_pipeline.contracts.slo import SloConfig
from sync_pipeline.services import slo
from sync_pipeline.services.slo import Observation, RunOutcome
from sync_pipeline_tests.clock import T0

CONFIG = SloConfig.model_validate({
    "objectives": {
        "sync_success_rate": {"warn": 0.9, "breach": 0.8},
        "change_to_draft_latency": {"warn": 20, "breach": 60},
        "dead_letter_backlog": {"warn": 0, "breach": 3},
        "reconciliation_mismatches": {"warn": 0, "breach": 1},
        "heartbeat_age": {"warn": 600, "breach": 1800},
    },
    "teams": {"ops": {}, "uk-finance": {}},
    "default_team": "ops",
    "entities": {"acme-uk": {"team": "uk-finance", "objectives": {"dead_letter_backlog": {"warn": 5, "breach": 9}}},
                 "acme-de": {"objectives": {"heartbeat_age": {"warn": 1, "breach": 2, "enabled": False}}}},
})


def _runs(entity: str, ok: int, failed: int, seconds: float = 5.0) -> list[RunOutcome]:
    return ([RunOutcome(entity, True, seconds, True)] * ok) + [RunOutcome(entity, False, None, True)] * failed


def _status(obs: Observation) -> str:
    (result,) = slo.evaluate(CONFIG, [obs])
    return result.status


# each objective: (observation at warn threshold, at breach threshold, just past breach)
CASES = {
    "sync_success_rate": (slo.success_rate("e", _runs("e", 9, 1)), slo.success_rate("e", _runs("e", 8, 2)),
                          slo.success_rate("e", _runs("e", 7, 3))),
    "change_to_draft_latency": (
        slo.change_to_draft_latency("e", [RunOutcome("e", True, 20.0, True)]),
        slo.change_to_draft_latency("e", [RunOutcome("e", True, 60.0, True)]),
        slo.change_to_draft_latency("e", [RunOutcome("e", True, 60.5, True)])),
    "dead_letter_backlog": (slo.dead_letter_backlog("e", []),
                            slo.dead_letter_backlog("e", [{"id": i, "entity": "e"} for i in range(3)]),
                            slo.dead_letter_backlog("e", [{"id": i, "entity": "e"} for i in range(4)])),
    "reconciliation_mismatches": (
        slo.reconciliation_mismatches("e", {("c", "e|2026-10-01"): True}),
        slo.reconciliation_mismatches("e", {("c", "e|2026-10-01"): False, ("c", "e|2026-09-01"): True}),
        slo.reconciliation_mismatches("e", {("c", "e|2026-10-01"): False, ("d", "e|2026-09-01"): False})),
    "heartbeat_age": tuple(
        slo.heartbeat_age("e", heartbeat_entity="e", last_arrived_at=T0 - timedelta(seconds=s), first_sent_at=None,
                          now=T0) for s in (600, 1800, 1801)),
}


@pytest.mark.parametrize("objective", sorted(CASES))
def test_each_objective_passes_at_warn_warns_at_breach_and_breaches_beyond(objective: str) -> None:
    at_warn, at_breach, beyond = CASES[objective]
    assert {o.objective for o in CASES[objective]} == {objective}
    assert [_status(at_warn), _status(at_breach), _status(beyond)] == ["ok", "warn", "breach"]


def test_success_rate_lower_is_worse_and_counts_only_the_entity() -> None:
    obs = slo.success_rate("a", _runs("a", 1, 1) + _runs("b", 0, 5))
    assert obs.value == 0.5 and obs.detail == {"runs": 2, "succeeded": 1, "failed": 1}


def test_latency_is_p95_of_successful_change_feed_runs() -> None:
    runs = [RunOutcome("e", True, float(s), True) for s in range(1, 21)]  # 1..20 s
    runs += [RunOutcome("e", True, 999.0, False), RunOutcome("e", False, 999.0, True)]  # not counted
    assert slo.change_to_draft_latency("e", runs).value == 19.0
    assert slo.p95([]) is None and slo.p95([7.0]) == 7.0


def test_no_data_is_neither_pass_nor_fail() -> None:
    for obs in (slo.success_rate("e", []), slo.change_to_draft_latency("e", []),
                slo.heartbeat_age("e", heartbeat_entity="other", last_arrived_at=None, first_sent_at=None, now=T0),
                slo.heartbeat_age("e", heartbeat_entity="e", last_arrived_at=None, first_sent_at=None, now=T0)):
        (r,) = slo.evaluate(CONFIG, [obs])
        assert r.status == "no_data" and not r.failing


def test_heartbeat_that_never_arrived_ages_from_the_first_probe() -> None:
    obs = slo.heartbeat_age("e", heartbeat_entity="e", last_arrived_at=None, first_sent_at=T0 - timedelta(hours=1),
                            now=T0)
    assert obs.value == 3600.0 and _status(obs) == "breach"


def test_entity_overrides_team_and_disabled_objectives() -> None:
    letters = [{"id": i, "entity": "acme-uk"} for i in range(5)]
    (r,) = slo.evaluate(CONFIG, [slo.dead_letter_backlog("acme-uk", letters)])
    assert (r.status, r.team, r.warn, r.breach) == ("ok", "uk-finance", 5, 9)
    hb = slo.heartbeat_age("acme-de", heartbeat_entity="acme-de", last_arrived_at=T0 - timedelta(days=1),
                           first_sent_at=None, now=T0)
    assert slo.evaluate(CONFIG, [hb]) == []
    us = [{**d, "entity": "acme-us"} for d in letters]
    (other,) = slo.evaluate(CONFIG, [slo.dead_letter_backlog("acme-us", letters + us)])
    assert other.team == "ops" and other.status == "breach"


def test_describe_says_value_status_and_thresholds() -> None:
    (r,) = slo.evaluate(CONFIG, [CASES["sync_success_rate"][2]])
    assert r.incident_key == "sync_success_rate/e"
    assert r.describe() == ("sync_success_rate for e is 70.00 % (breach; warn unless at least 90.00 %, breach beyond "
                            "80.00 %)")
