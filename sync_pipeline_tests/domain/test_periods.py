from datetime import UTC, date, datetime

import pytest

from sync_pipeline.domain.periods import Period, PeriodError, is_closed, local_date, today_in


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


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-10-02", "26-10", "2026-1", "2026/10", "x2026-10",
                                  "2026-10x"])
def test_what_is_not_a_month_is_refused(text):
    with pytest.raises(PeriodError):
        Period.parse(text)


def test_month_out_of_range_says_which_period():
    with pytest.raises(PeriodError, match=r"^month out of range in period 2026-13$"):
        Period(2026, 13)
    with pytest.raises(PeriodError, match=r"^month out of range in period 2026-0$"):
        Period(2026, 0)
    assert Period(2026, 1).month == 1 and Period(2026, 12).month == 12
    with pytest.raises(PeriodError, match=r"^not a billing period: 'Oct 2026'; expected YYYY-MM \(e\.g\. 2026-10\)$"):
        Period.parse("Oct 2026")


def test_keys_text_and_surrounding_blanks():
    p = Period.parse(" 2026-03 ")
    assert (p.key, p.partition_key, str(p)) == ("2026-03", "2026-03-01", "2026-03")
    assert Period(987, 3).key == "0987-03"
    assert Period.of(date(2026, 10, 31)) == Period(2026, 10)


@pytest.mark.parametrize(("month", "previous", "next_"), [
    ((2026, 1), (2025, 12), (2026, 2)),
    ((2026, 2), (2026, 1), (2026, 3)),
    ((2026, 7), (2026, 6), (2026, 8)),
    ((2026, 11), (2026, 10), (2026, 12)),
    ((2026, 12), (2026, 11), (2027, 1)),
])
def test_every_month_has_its_neighbours_in_the_same_or_adjacent_year(month, previous, next_):
    p = Period(*month)
    assert (p.previous(), p.next()) == (Period(*previous), Period(*next_))
    assert p.next().previous() == p == p.previous().next()


def test_a_period_contains_its_first_and_last_day_only():
    p = Period(2026, 4)
    assert (p.start, p.end) == (date(2026, 4, 1), date(2026, 4, 30))
    assert p.contains(date(2026, 4, 1)) and p.contains(date(2026, 4, 30))
    assert not p.contains(date(2026, 3, 31)) and not p.contains(date(2026, 5, 1))
    assert Period(2026, 12).end == date(2026, 12, 31)
    assert Period(2026, 1) < Period(2026, 2) < Period(2027, 1)


def test_today_is_the_local_date_of_now():
    now = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert today_in("Europe/Berlin", now) == date(2026, 11, 1)
    assert today_in("UTC", now) == date(2026, 10, 31)
    before = datetime.now(tz=UTC).date()
    today = today_in("UTC")  # without a clock given: now
    assert before <= today <= datetime.now(tz=UTC).date()


def test_the_closing_zone_is_where_a_month_ends_last_daylight_saving_included():
    from sync_pipeline.domain.periods import closing_timezone

    assert closing_timezone(["Europe/London", "Pacific/Auckland", "America/Los_Angeles"]) == "America/Los_Angeles"
    # Santiago is UTC-3 in January, UTC-4 in July; New York UTC-5 in January: New York ends its months last
    assert closing_timezone(("America/Santiago", "America/New_York")) == "America/New_York"
    assert closing_timezone(["Pacific/Pago_Pago", "Pacific/Honolulu"]) == "Pacific/Pago_Pago"
    assert closing_timezone(["UTC", "Europe/London"]) == "Europe/London"  # both UTC+0 in winter: by name
    assert closing_timezone([]) == "UTC"


def test_the_opening_zone_is_where_a_month_begins_first_daylight_saving_included():
    from sync_pipeline.domain.periods import opening_timezone

    assert opening_timezone(["Europe/London", "Pacific/Auckland", "America/Los_Angeles"]) == "Pacific/Auckland"
    # Santiago reaches UTC-3 in its summer (January), New York only UTC-4 (July)
    assert opening_timezone(("America/New_York", "America/Santiago")) == "America/Santiago"
    assert opening_timezone(["Pacific/Auckland", "Pacific/Kiritimati"]) == "Pacific/Kiritimati"
    assert opening_timezone(["America/Halifax", "America/Santiago"]) == "America/Halifax"  # both UTC-3: by name
    assert opening_timezone(["UTC", "Europe/London"]) == "Europe/London"  # UTC+1 in summer
    assert opening_timezone([]) == "UTC"
