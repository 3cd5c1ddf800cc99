"""Two hours rules: an entry longer than max_hours_per_entry is quarantined alone; a person-day whose entries add up
past max_hours_per_day is held whole for review until a recorded decision releases or quarantines it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from sync_pipeline.store import audit
from sync_pipeline.store.hours_reviews import HoursReviews, as_relation
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.billing.helpers import bill, entity, entry

DAY = "2026-10-14"


def test_one_entry_over_the_limit_is_quarantined_alone_its_day_neighbours_billed():
    b = bill([entry("long", user="9", hours="30", date=DAY), entry("a", user="9", hours="3", date=DAY),
              entry("b", user="9", hours="2", date=DAY)], entity(max_hours_per_entry="12"))
    assert b.disposition("long") == (
        "quarantined", "entry of 30.000000 h is longer than 12 h (max_hours_per_entry): correct it in the project "
                       "system")
    assert b.disposition("a") == ("billable", None) and b.disposition("b") == ("billable", None)
    assert b.lines("1") == [(D("5.0000"), D("100.0000"), D("500.00"))]


def test_a_day_adding_up_past_the_limit_is_held_whole_and_other_days_are_billed():
    b = bill([entry("a", user="9", hours="7", date=DAY), entry("b", user="9", hours="4", date=DAY),
              entry("c", user="9", hours="6", date="2026-10-15")], entity(max_hours_per_day="10"))
    reason = ("person-day over 10 h held for review: user 9 on 2026-10-14 has 11.000000 h; release or quarantine it: "
              "sync-pipeline hours decide")
    assert b.disposition("a") == ("held", reason) and b.disposition("b") == ("held", reason)
    assert b.disposition("c") == ("billable", None)
    assert D(b.conservation.per_currency["GBP"]["held"]) == D("1100")


def _decide(tmp_path, decision: str, hours: str = "11", note: str = "checked with Nine: a launch day"):
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    reviews = HoursReviews(store)
    reviews.decide("acme-uk", "9", date(2026, 10, 14), D(hours), decision, note=note, actor="mia")
    return store, as_relation(reviews.latest("acme-uk", date(2026, 10, 1), date(2026, 10, 31)))


def test_a_release_bills_the_held_day_and_is_in_the_audit_trail(tmp_path):
    rows = [entry("a", user="9", hours="7", date=DAY), entry("b", user="9", hours="4", date=DAY)]
    store, decisions = _decide(tmp_path, "release")
    b = bill(rows, entity(max_hours_per_day="10"), day_decisions=decisions)
    assert b.disposition("a") == ("billable", None) and b.disposition("b") == ("billable", None)
    assert b.lines("1") == [(D("11.0000"), D("100.0000"), D("1100.00"))]
    [ev] = audit.events(store, entity="acme-uk", action="hours_day_released")
    assert (ev.actor, ev.subject) == ("mia", "9@2026-10-14") and not audit.verify(store)


def test_a_quarantine_decision_quarantines_the_day_with_who_and_why(tmp_path):
    rows = [entry("a", user="9", hours="7", date=DAY), entry("b", user="9", hours="4", date=DAY)]
    _, decisions = _decide(tmp_path, "quarantine", note="double-booked: fix in Harvest")
    b = bill(rows, entity(max_hours_per_day="10"), day_decisions=decisions)
    disposition, reason = b.disposition("a")
    assert disposition == "quarantined" and reason.startswith("person-day over 10 h quarantined by mia at ")
    # the note may name people: the warehouse reason points at the decision, whose note is kept encrypted
    assert reason.endswith(": decision #1, see its note with sync-pipeline hours review")
    assert b.disposition("b")[0] == "quarantined" and "double-booked" not in reason


def test_a_decision_taken_on_another_day_total_no_longer_applies(tmp_path):
    rows = [entry("a", user="9", hours="7", date=DAY), entry("b", user="9", hours="4", date=DAY),
            entry("late", user="9", hours="3", date=DAY)]  # added after the release of an 11 h day
    _, decisions = _decide(tmp_path, "release")
    b = bill(rows, entity(max_hours_per_day="10"), day_decisions=decisions)
    assert b.disposition("late") == ("held", "person-day over 10 h held for review: user 9 on 2026-10-14 has "
                                             "14.000000 h (the release by mia was for 11.000000 h); release or "
                                             "quarantine it: sync-pipeline hours decide")
