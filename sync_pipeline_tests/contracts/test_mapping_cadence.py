"""Sync direction and cadence in the mapping: what each source allows, refused at load with the key and the fix."""

from __future__ import annotations

import pytest
import yaml

from sync_pipeline.connectors.project import SOURCE_CAPABILITIES
from sync_pipeline.contracts.mapping import CHANGE_FEED_SOURCES, WRITE_BACK_SOURCES, MappingError, load_mapping

TENANT = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"
SOURCES = {"harvest": {"harvest_account_id": "1"}, "redmine": {},
           "csv": {"csv_export": {"kind": "toggl", "folder": "exports"}}}


def _load(tmp_path, automation=None, **entity):
    source = entity.setdefault("source", "harvest")
    doc = {"key": "e", "name": "E", "timezone": "Europe/London", "base_currency": "GBP", "xero_tenant_id": TENANT,
           **SOURCES[source], **entity}
    p = tmp_path / "mapping.yaml"
    p.write_text(yaml.safe_dump({"version": 2, "entities": [doc], **({"automation": automation} if automation
                                                                     else {})}), encoding="utf-8")
    return load_mapping(p)


def _problems(tmp_path, **kw) -> str:
    with pytest.raises(MappingError) as e:
        _load(tmp_path, **kw)
    return str(e.value)


@pytest.mark.parametrize("source", ["redmine", "csv"])
def test_bidirectional_is_refused_where_the_source_cannot_take_payments_back(tmp_path, source):
    assert (f"entities.0.direction: bidirectional is not supported for source {source}: its "
            f"{'API' if source == 'redmine' else 'exports'} cannot take payments or credits back (only harvest "
            "can); use direction: one_way") in _problems(tmp_path, source=source, direction="bidirectional")


@pytest.mark.parametrize("source", ["redmine", "csv"])
def test_realtime_is_refused_without_a_change_feed(tmp_path, source):
    assert (f"entities.0.cadence: realtime needs a change feed of the project system, and source {source} has "
            "none; use hourly, daily or weekly") in _problems(tmp_path, source=source, cadence="realtime")


@pytest.mark.parametrize(("kw", "expected"), [
    ({"cadence": "monthly"}, "entities.0.cadence: Input should be 'realtime', 'hourly', 'daily' or 'weekly' "
                             "(got 'monthly'): use one of them"),
    ({"direction": "two_way"}, "entities.0.direction: Input should be 'one_way' or 'bidirectional'"),
    ({"automation": {"daily_cron": "5am"}}, "automation.daily_cron: '5am' is not a cron schedule of five fields"),
    ({"automation": {"weekly_cron": "0 5 * *"}}, "automation.weekly_cron: '0 5 * *' is not a cron schedule"),
    ({"automation": {"realtime_interval_seconds": 1}}, "automation.realtime_interval_seconds: Input should be "
                                                       "greater than or equal to 5"),
    ({"automation": {"timezone": "Mars/Olympus"}}, "automation.timezone: unknown IANA time zone 'Mars/Olympus'"),
])
def test_bad_direction_cadence_or_automation_names_the_key_and_the_fix(tmp_path, kw, expected):
    assert expected in _problems(tmp_path, **kw)


@pytest.mark.parametrize(("source", "cadence"), [("harvest", "realtime"), ("redmine", "daily"), ("csv", "daily")])
def test_the_default_cadence_is_realtime_where_there_is_a_change_feed(tmp_path, source, cadence):
    e = _load(tmp_path, source=source).entities[0]
    assert e.cadence is None and e.sync_cadence == cadence and e.direction == "one_way"


def test_harvest_may_be_bidirectional_on_any_cadence(tmp_path):
    m = _load(tmp_path, direction="bidirectional", cadence="weekly", automation={"weekly_cron": "30 6 * * 5"})
    assert m.entities[0].direction == "bidirectional" and m.with_cadence("weekly") == ["e"]
    assert m.automation.weekly_cron == "30 6 * * 5" and m.automation.daily_cron == "0 5 * * *"


def test_the_mapping_agrees_with_the_sources_on_what_they_support():
    assert CHANGE_FEED_SOURCES == {s for s, caps in SOURCE_CAPABILITIES.items() if "change_feed" in caps}
    assert WRITE_BACK_SOURCES == {s for s, caps in SOURCE_CAPABILITIES.items() if "payment_write_back" in caps}
