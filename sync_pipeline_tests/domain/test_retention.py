"""Retention rules: holds and open documents always keep; tax retention is a floor; identity goes first."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.domain.retention import (
    ANONYMIZE,
    DEFAULT_TAX_YEARS,
    DELETE,
    KEEP,
    RecordClass,
    RetentionError,
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


# Every verdict compared whole: action, the reason a person reads in the purge report, and the deletion date.
WHOLE = RetentionPolicy(classes={
    "ledger": RecordClass("ledger", personal_years=3, keep_years=8, tax=True),  # 8 y, or the country's if longer
    "cache": RecordClass("cache", personal_years=None, keep_years=2),
    "notes": RecordClass("notes", personal_years=1, keep_years=None),
    "logs": RecordClass("logs", personal_years=None, keep_years=None),
})


def _v(cls: str, today: date, jurisdiction: str | None = "GB", **kw) -> tuple:
    v = decide(WHOLE, cls, "2026-10", today, jurisdiction=jurisdiction, **kw)
    return v.action, v.reason, v.keep_until


def test_an_unknown_class_names_the_known_ones():
    with pytest.raises(RetentionError) as e:
        decide(WHOLE, "emails", "2026-10", date(2030, 1, 1), jurisdiction="GB")
    assert str(e.value) == ("no retention class 'emails': add it under classes: in the retention file "
                            "(known: cache, ledger, logs, notes)")


def test_a_tax_class_keeps_its_own_years_when_longer_than_the_countrys():
    ledger = WHOLE.classes["ledger"]
    assert (WHOLE.keep_years(ledger, "GB"), WHOLE.keep_years(ledger, "DE")) == (8, 10)
    assert WHOLE.keep_years(WHOLE.classes["cache"], "DE") == 2  # not a tax record: no floor


def test_holds_and_open_documents_keep_and_still_say_when_deletion_would_be():
    assert _v("ledger", date(2040, 1, 1), legal_hold="case 42") == (
        KEEP, "under legal hold: case 42", date(2035, 1, 1))
    assert _v("ledger", date(2040, 1, 1), open_documents=2) == (
        KEEP, "referenced by 2 open (unpaid) document(s)", date(2035, 1, 1))


def test_deletion_says_how_long_after_which_year_and_the_tax_rule():
    assert _v("ledger", date(2035, 1, 1)) == (
        DELETE, "past retention: 8 year(s) after 2026 ended (tax retention 6 y, GB)", date(2035, 1, 1))
    assert _v("ledger", date(2037, 1, 1), jurisdiction=None) == (
        DELETE, "past retention: 10 year(s) after 2026 ended (tax retention 10 y, unknown)", date(2037, 1, 1))
    assert _v("cache", date(2029, 1, 1)) == (DELETE, "past retention: 2 year(s) after 2026 ended", date(2029, 1, 1))


def test_anonymizing_says_until_when_the_amounts_stay():
    assert _v("ledger", date(2030, 1, 1)) == (
        ANONYMIZE, "personal data past 3 year(s); kept for tax/audit until 2035-01-01", date(2035, 1, 1))
    assert _v("notes", date(2028, 1, 1)) == (ANONYMIZE, "personal data past 1 year(s)", None)


def test_what_stays_says_until_when_or_that_it_has_no_date():
    assert _v("ledger", date(2029, 12, 31)) == (KEEP, "within retention until 2035-01-01", date(2035, 1, 1))
    assert _v("logs", date(2099, 1, 1)) == (KEEP, "no deletion date for this class", None)
    assert _v("notes", date(2099, 1, 1), anonymized=True) == (KEEP, "no deletion date for this class", None)
