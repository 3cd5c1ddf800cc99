"""``sync-pipeline hours``: a person-day over the daily limit is held by the sync; a recorded decision (actor, time,
note) releases or quarantines it, and the next billing run honours it."""

from __future__ import annotations

import json
from decimal import Decimal

from sync_pipeline.cli import main
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.connectors.test_csv_exports import HEADER, _harvest_row
from sync_pipeline_tests.dagster_billing import extract_and_bill
from sync_pipeline_tests.defs.test_csv_source import ENTITY, _mapping
from sync_pipeline_tests.identity import sign_in


def test_a_held_day_is_released_by_a_recorded_decision_and_billed_by_the_next_run(tmp_path, monkeypatch, capsys):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "october.csv").write_text("\n".join([
        HEADER, _harvest_row("7", notes="Launch"), _harvest_row("4", notes="Launch night"),
        _harvest_row("2", notes="Next day", day="2026-10-06")]) + "\n", encoding="utf-8")
    mapping, wh, store = _mapping(tmp_path, max_hours_per_day="10"), tmp_path / "wh", f"sqlite:///{tmp_path}/op.db"
    assert extract_and_bill(ENTITY, "2026-10", mapping, wh, opstore=store).success
    clean = Warehouse(wh).read("clean_time_entries", ENTITY, "2026-10")
    assert sorted(clean["disposition"]) == ["billable", "held", "held"]

    sign_in(monkeypatch, store, "vic", "viewer")
    assert main(["hours", "review", "--entity", ENTITY, "--period", "2026-10", "--warehouse", str(wh)]) == 0
    [held] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (held["user"], held["day"], held["day_hours"], held["entries"]) == ("alice-archer", "2026-10-05",
                                                                               "11.000000", 2)
    decide = ["hours", "decide", "--entity", ENTITY, "--period", "2026-10", "--user", "alice-archer",
              "--day", "2026-10-05", "--release", "--note", "launch day, agreed with the client", "--warehouse",
              str(wh)]
    assert main(decide) == 2 and "vic (roles: viewer) may not hours.decide" in capsys.readouterr().err
    sign_in(monkeypatch, store, "ann", "approver")
    assert main(decide) == 0
    assert "released alice-archer on 2026-10-05 (11.000000 h, 2 entries) by ann" in capsys.readouterr().out

    assert extract_and_bill(ENTITY, "2026-10", mapping, wh, opstore=store).success  # the next run honours it
    clean = Warehouse(wh).read("clean_time_entries", ENTITY, "2026-10")
    assert sorted(clean["disposition"]) == ["billable", "billable", "billable"]
    drafts = Warehouse(wh).read("invoice_drafts", ENTITY, "2026-10")
    assert sum(Decimal(str(x)) for x in drafts["line_amount_minor"]) == Decimal(13 * 12000)  # 13 h x 120.00
    assert main(["hours", "decide", *decide[2:]]) == 2
    assert "not held for review" in capsys.readouterr().err
