"""Per-entry time rules where billables.sql computes them twice: the main stream and the retainer branch."""

from __future__ import annotations

from decimal import Decimal as D

from sync_pipeline.domain.billing import TU_PER_HOUR

from .helpers import bill, entity, entry


def test_retainer_drawdown_counts_time_after_entry_rounding_and_minimum():
    # project 71: retainer of 5 h; entries rounded up to 15 min per entry, at least 30 min billed per entry.
    # t1 1 h 05 min -> 1.25 h; t2 10 min -> 30 min (minimum); t3 4 h -> 4 h; t4 (no retainer) 50 min -> 1 h.
    # The retainer draws down the rounded time in date order: 1.25 + 0.5 + 3.25 of t3 = 5 h; 0.75 h overage.
    ent = entity(
        clients=[{"source_id": "1", "name": "Acme Corp",
                  "rounding": {"increment_minutes": 15, "mode": "up", "scope": "entry", "minimum_minutes": 30}}],
        projects=[{"source_id": "71", "client": "1", "name": "Care", "billing": "retainer",
                   "retainer": {"fee": "500", "hours": "5"}},
                  {"source_id": "72", "client": "1", "name": "Build"}])
    b = bill([
        entry("t1", project="71", hours="1.083333", rate="100", date="2026-10-02"),
        entry("t2", project="71", hours="0.166667", rate="100", date="2026-10-03"),
        entry("t3", project="71", hours="4", rate="100", date="2026-10-04"),
        entry("t4", project="72", hours="0.833333", rate="100", date="2026-10-04"),
    ], ent)
    got = {r.entry_id: (D(r.billed_tu) / TU_PER_HOUR, D(r.retainer_tu) / TU_PER_HOUR)
           for r in b.billables.itertuples()}
    assert got == {"t1": (D(0), D("1.25")), "t2": (D(0), D("0.5")), "t3": (D("0.75"), D("3.25")),
                   "t4": (D(1), D(0))}
    assert b.lines("1")[:2] == [(D("0.7500"), D("100.0000"), D("75.00")), (D("1.0000"), D("100.0000"), D("100.00"))]
