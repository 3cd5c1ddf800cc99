"""``sync-pipeline bench fuzz`` at small scale: every source, no crash, nothing coerced, nothing lost (the 10,000-
record run is recorded in docs/benchmarks.md)."""

from __future__ import annotations

import argparse
from decimal import Decimal

import pytest

from sync_pipeline.bench import fuzz, hostile
from sync_pipeline.bench.hostile import Case


def test_bench_fuzz_reads_every_source_strictly(tmp_path):
    p = argparse.ArgumentParser()
    fuzz.add_arguments(p)
    p.add_argument("--json", action="store_true")
    figures = fuzz.run(p.parse_args(["--records", "400", "--json"]))
    for source in fuzz.SOURCES:
        f = figures[source]
        assert (f["inputs"], f["crashes"], f["coerced"], f["lost"]) == (400, 0, 0, 0), (source, f)
        assert 100 < f["quarantined"] < 250 and f["records_per_s"] > 0  # about 40 % carry an odd field


def test_the_tally_counts_what_a_lenient_reader_would_do():
    """The bench's own arithmetic: a billed odd record is coerced, a good one billed wrong is coerced, a good one
    not billed is lost, a partition that raised is a crash that loses every record."""
    cases = [Case({}, Decimal("1.5"), "good"), Case({}, None, "hours=True", True), Case({}, Decimal("2"), "good"),
             Case({}, Decimal("3"), "good"), Case({}, None, "id=None", True)]
    keys = ["1", "2", "3", "4", "5"]
    outcome = fuzz.Outcome(billed={"1": Decimal("1.5"), "2": Decimal("1"), "3": Decimal("2.5")},
                           disposition={"1": "billable", "2": "billable", "3": "billable", "4": "held"},
                           rejected={"position 5"})
    t = fuzz.tally(cases, keys, outcome, seconds=1.0)
    assert (t.inputs, t.crashes, t.quarantined, t.coerced, t.lost) == (5, 0, 1, 2, 1)
    crashed = fuzz.tally(cases, keys, None, seconds=1.0, crash="InvalidOperation")
    assert (crashed.crashes, crashed.lost, crashed.ok) == (1, 5, False)


@pytest.mark.parametrize("make", [hostile.harvest_time_entry_cases, hostile.harvest_expense_cases,
                                  hostile.redmine_cases, hostile.harvest_csv_cases, hostile.toggl_csv_cases])
def test_generated_records_are_reproducible_and_mixed(make):
    a, b = make(300, seed=7), make(300, seed=7)
    assert [c.change for c in a] == [c.change for c in b]
    changes = {c.change.split("=")[0] for c in a}
    assert {"good", "non-billable"} <= changes and len(changes) > 6
