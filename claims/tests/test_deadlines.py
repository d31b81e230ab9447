"""Five business days (SPEC §6), each case worked out by hand against a calendar.

US tenants use America/New_York (EST = UTC-5, EDT = UTC-4); German tenants Europe/Berlin (CET = UTC+1,
CEST = UTC+2). The notification day never counts; Saturdays, Sundays and the country's public holidays are
skipped; the window closes at 23:59:59 local time.
"""

import datetime
from zoneinfo import ZoneInfo

import holidays
import pytest

from associations.models import Tenant
from claims.deadlines import business_day_add, business_days_between, deadline_after, is_business_day

UTC = datetime.UTC
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def _deadline(country, moment):
    return deadline_after(moment, country=country, time_zone=Tenant(country=country).time_zone)


def test_deadline_tenant_time_zone_is_the_countrys_main_zone():
    assert Tenant(country="US").time_zone == NEW_YORK
    assert Tenant(country="DE").time_zone == BERLIN


def test_deadline_notified_on_monday():
    # Monday 30 Nov 2026, 10:00 in New York. Tue 1 (1), Wed 2 (2), Thu 3 (3), Fri 4 (4), Mon 7 Dec (5).
    deadline = _deadline("US", datetime.datetime(2026, 11, 30, 15, 0, tzinfo=UTC))

    assert deadline == datetime.datetime(2026, 12, 7, 23, 59, 59, tzinfo=NEW_YORK)
    assert deadline.astimezone(UTC) == datetime.datetime(2026, 12, 8, 4, 59, 59, tzinfo=UTC)


def test_deadline_notified_on_friday():
    # Friday 4 Dec 2026. Sat 5 and Sun 6 skipped; Mon 7 (1), Tue 8 (2), Wed 9 (3), Thu 10 (4), Fri 11 (5).
    deadline = _deadline("US", datetime.datetime(2026, 12, 4, 16, 0, tzinfo=UTC))

    assert deadline == datetime.datetime(2026, 12, 11, 23, 59, 59, tzinfo=NEW_YORK)


def test_deadline_notified_on_saturday():
    # Saturday 5 Dec 2026 (a weekend day does not count either). Mon 7 (1) ... Fri 11 (5): same as Friday's.
    deadline = _deadline("US", datetime.datetime(2026, 12, 5, 14, 0, tzinfo=UTC))

    assert deadline == datetime.datetime(2026, 12, 11, 23, 59, 59, tzinfo=NEW_YORK)


def test_deadline_notified_the_day_before_a_us_public_holiday():
    # Wednesday 25 Nov 2026; Thu 26 is Thanksgiving (skipped). Fri 27 (1), Mon 30 (2), Tue 1 Dec (3),
    # Wed 2 (4), Thu 3 Dec (5).
    deadline = _deadline("US", datetime.datetime(2026, 11, 25, 15, 0, tzinfo=UTC))

    assert deadline == datetime.datetime(2026, 12, 3, 23, 59, 59, tzinfo=NEW_YORK)


def test_deadline_notified_the_day_before_german_christmas_and_new_year():
    # Thursday 24 Dec 2026 in Berlin. Fri 25 and Sat 26 are holidays/weekend, Sun 27 weekend; Mon 28 (1),
    # Tue 29 (2), Wed 30 (3), Thu 31 (4); Fri 1 Jan 2027 is New Year's Day, then the weekend; Mon 4 Jan (5).
    deadline = _deadline("DE", datetime.datetime(2026, 12, 24, 9, 0, tzinfo=UTC))

    assert deadline == datetime.datetime(2027, 1, 4, 23, 59, 59, tzinfo=BERLIN)
    assert deadline.astimezone(UTC) == datetime.datetime(2027, 1, 4, 22, 59, 59, tzinfo=UTC)


def test_deadline_holidays_are_the_tenants_countrys():
    # Same moment for a US tenant: Thu 24 (1), Fri 25 Christmas skipped, Mon 28 (2), Tue 29 (3), Wed 30 (4),
    # Thu 31 (5). New York's 23:59:59 EST.
    deadline = _deadline("US", datetime.datetime(2026, 12, 23, 18, 0, tzinfo=UTC))

    assert deadline == datetime.datetime(2026, 12, 31, 23, 59, 59, tzinfo=NEW_YORK)


def test_deadline_across_the_us_daylight_saving_change():
    # Wednesday 28 Oct 2026, 10:00 EDT. Clocks go back on Sunday 1 Nov. Thu 29 (1), Fri 30 (2), Mon 2 Nov (3),
    # Tue 3 (4), Wed 4 Nov (5): 23:59:59 EST, which is 04:59:59 UTC on the 5th (not 03:59:59 as in EDT).
    deadline = _deadline("US", datetime.datetime(2026, 10, 28, 14, 0, tzinfo=UTC))

    assert deadline.astimezone(UTC) == datetime.datetime(2026, 11, 5, 4, 59, 59, tzinfo=UTC)
    assert deadline.astimezone(NEW_YORK).hour == 23


def test_deadline_across_the_european_daylight_saving_change():
    # Thursday 22 Oct 2026 in Berlin (CEST). Clocks go back on Sunday 25 Oct. Fri 23 (1), Mon 26 (2), Tue 27 (3),
    # Wed 28 (4), Thu 29 Oct (5): 23:59:59 CET = 22:59:59 UTC.
    deadline = _deadline("DE", datetime.datetime(2026, 10, 22, 8, 0, tzinfo=UTC))

    assert deadline.astimezone(UTC) == datetime.datetime(2026, 10, 29, 22, 59, 59, tzinfo=UTC)


def test_deadline_counts_from_the_local_day_not_the_utc_day():
    # 03:00 UTC on Monday 30 Nov is still Sunday 29 Nov, 22:00 in New York: Mon 30 (1) ... Fri 4 Dec (5).
    deadline = _deadline("US", datetime.datetime(2026, 11, 30, 3, 0, tzinfo=UTC))

    assert deadline == datetime.datetime(2026, 12, 4, 23, 59, 59, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        (datetime.date(2026, 11, 24), 0, datetime.date(2026, 11, 24)),
        (datetime.date(2026, 11, 24), 1, datetime.date(2026, 11, 25)),
        (datetime.date(2026, 11, 25), 1, datetime.date(2026, 11, 27)),  # Thanksgiving skipped
    ],
)
def test_business_day_add(day, count, expected):
    assert business_day_add(day, count, country="US") == expected


def test_deadline_country_the_holidays_package_does_not_know_counts_weekends_only():
    """holidays raises NotImplementedError for a country it has no calendar of: the window still closes, after
    five weekdays, instead of the deadline failing."""
    with pytest.raises(NotImplementedError):
        holidays.country_holidays("QQ", years=2026)
    # Thursday 24 December 2026: Christmas counts as a business day where no calendar says otherwise.
    assert business_day_add(datetime.date(2026, 12, 24), 5, country="QQ") == datetime.date(2026, 12, 31)
    assert business_day_add(datetime.date(2026, 12, 24), 5, country="US") == datetime.date(2027, 1, 4)


@pytest.mark.parametrize("country", ["US", "TW", "DE", "GB", None])
def test_business_days_between_counts_as_a_day_by_day_walk(country):
    """The count (weekdays less the holidays on them) agrees with walking the days, over spans of up to 70 days
    from every day of a year, across a new year, with each country's holidays (Taiwan's New Year, Christmas)."""

    def walked(start, end):
        days = (start + datetime.timedelta(days=n) for n in range(1, (end - start).days + 1))
        return sum(1 for day in days if is_business_day(day, country=country))

    first = datetime.date(2026, 1, 1)
    for offset in range(0, 380, 3):
        start = first + datetime.timedelta(days=offset)
        for span in (-3, 0, 1, 2, 5, 6, 7, 9, 13, 30, 70):
            end = start + datetime.timedelta(days=span)
            assert business_days_between(start, end, country=country) == walked(start, end), (start, end)
    assert business_days_between(datetime.date(2026, 12, 24), datetime.date(2026, 12, 28), country="US") == 1
