from datetime import UTC, date, datetime

import pytest

from sync_pipeline.domain.periods import Period, PeriodError, is_closed, local_date


def test_parse_both_forms():
    assert Period.parse("2026-10") == Period.parse("2026-10-01") == Period(2026, 10)
    with pytest.raises(PeriodError, match="expected YYYY-MM"):
        Period.parse("Oct 2026")


def test_bounds_and_neighbours():
    p = Period(2024, 2)
    assert (p.start, p.end) == (date(2024, 2, 1), date(2024, 2, 29))
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2026, 1).previous() == Period(2025, 12)


def test_local_date_across_midnight_and_dst():
    # 23:30 UTC on 31 Oct is already 1 Nov in Berlin? No: CET (UTC+1) from 25 Oct → 00:30 on 1 Nov.
    instant = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert local_date(instant, "Europe/Berlin") == date(2026, 11, 1)
    assert local_date(instant, "America/New_York") == date(2026, 10, 31)
    with pytest.raises(PeriodError, match="naive"):
        local_date(datetime(2026, 10, 31, 23, 30), "Europe/Berlin")


def test_period_closes_at_local_midnight():
    oct_ = Period(2026, 10)
    assert not is_closed(oct_, "Pacific/Auckland", now=datetime(2026, 10, 31, 10, 59, tzinfo=UTC))
    assert is_closed(oct_, "Pacific/Auckland", now=datetime(2026, 10, 31, 11, 0, tzinfo=UTC))
