"""Retention rules: holds and open documents always keep; tax retention is a floor; identity goes first."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.domain.retention import (
    ANONYMIZE,
    DEFAULT_TAX_YEARS,
    DELETE,
    KEEP,
    RecordClass,
    RetentionPolicy,
    clock_start,
    decide,
)

POLICY = RetentionPolicy(classes={
    "time_entries": RecordClass("time_entries", personal_years=2, keep_years=None, tax=True),
    "operational": RecordClass("operational", personal_years=None, keep_years=2),
    "marketing": RecordClass("marketing", personal_years=1, keep_years=3, tax=False),
})


def test_the_clock_starts_when_the_period_s_year_ends():
    assert clock_start("2026-10") == date(2027, 1, 1)
    assert clock_start("2026-01") == date(2027, 1, 1)


def test_time_entries_lose_their_identity_first_and_go_when_tax_retention_ends():
    uk, de = "GB", "DE"
    assert decide(POLICY, "time_entries", "2026-10", date(2028, 12, 31), jurisdiction=uk).action == KEEP
    v = decide(POLICY, "time_entries", "2026-10", date(2029, 1, 1), jurisdiction=uk)
    assert (v.action, v.keep_until) == (ANONYMIZE, date(2033, 1, 1))  # GB: 6 years
    assert decide(POLICY, "time_entries", "2026-10", date(2029, 1, 1), jurisdiction=uk,
                  anonymized=True).action == KEEP
    assert decide(POLICY, "time_entries", "2026-10", date(2033, 1, 1), jurisdiction=uk).action == DELETE
    # the same records in Germany: 10 years
    assert decide(POLICY, "time_entries", "2026-10", date(2033, 1, 1), jurisdiction=de).action == ANONYMIZE
    assert decide(POLICY, "time_entries", "2026-10", date(2037, 1, 1), jurisdiction=de).action == DELETE
    # UK is an alias of GB; an unknown jurisdiction keeps the longest common figure
    assert POLICY.tax_years_for("UK") == 6 and POLICY.tax_years_for("XX") == 10 and POLICY.tax_years_for(None) == 10


def test_a_legal_hold_and_an_open_document_keep_anything():
    old = date(2090, 1, 1)
    v = decide(POLICY, "time_entries", "2026-10", old, jurisdiction="GB", legal_hold="hold #3: claim")
    assert (v.action, v.reason) == (KEEP, "under legal hold: hold #3: claim")
    v = decide(POLICY, "operational", "2026-10", old, jurisdiction="GB", open_documents=2)
    assert (v.action, v.reason) == (KEEP, "referenced by 2 open (unpaid) document(s)")


def test_non_tax_classes_follow_their_own_years():
    assert decide(POLICY, "operational", "2026-10", date(2029, 1, 1), jurisdiction="DE").action == DELETE
    assert decide(POLICY, "marketing", "2026-10", date(2028, 1, 1), jurisdiction="DE").action == ANONYMIZE


@given(cls=st.sampled_from(sorted(POLICY.classes)), year=st.integers(2000, 2060), month=st.integers(1, 12),
       today=st.dates(date(2000, 1, 1), date(2120, 1, 1)), juris=st.sampled_from([*DEFAULT_TAX_YEARS, "XX", None]),
       hold=st.sampled_from([None, "hold"]), open_docs=st.integers(0, 3), anonymized=st.booleans())
def test_never_touches_held_open_or_tax_retained_records(cls, year, month, today, juris, hold, open_docs, anonymized):
    period = f"{year}-{month:02d}"
    v = decide(POLICY, cls, period, today, jurisdiction=juris, legal_hold=hold, open_documents=open_docs,
               anonymized=anonymized)
    if hold or open_docs:
        assert v.action == KEEP
    if v.action == DELETE and POLICY.classes[cls].tax:
        assert today >= date(year + 1 + POLICY.tax_years_for(juris), 1, 1)
    if v.action == ANONYMIZE:
        assert not anonymized
