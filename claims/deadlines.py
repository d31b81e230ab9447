"""Business days (SPEC §6): Monday to Friday except the public holidays of the tenant's country.

Pure functions: no database, no clock. Callers pass the moment and the tenant's country and time zone. A claim
with no tenant (unresolved) passes no country: weekends only.
"""

import bisect
import datetime
from functools import lru_cache

import holidays

from claims.vocabulary import DISPUTE_DAYS

BUSINESS_DAYS = 5
END_OF_DAY = datetime.time(23, 59, 59)


@lru_cache(maxsize=512)
def _holiday_dates(country, year):
    """The public holidays of ``country`` in ``year``, as a frozenset of dates. Cached per (country, year): the
    list page asks for every row, and building a country's calendar costs far more than looking a day up."""
    if not country:
        return frozenset()
    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except NotImplementedError:
        # A country the package does not know: weekends only, rather than no deadline at all.
        return frozenset()


def _holidays_for(country, years):
    return frozenset().union(*(_holiday_dates(country, year) for year in years))


def is_business_day(day, *, country):
    return day.weekday() < 5 and day not in _holiday_dates(country, day.year)


def business_day_add(day, count, *, country):
    """The ``count``-th business day after ``day`` (``day`` itself never counts)."""
    current = day
    remaining = count
    while remaining:
        current += datetime.timedelta(days=1)
        if is_business_day(current, country=country):
            remaining -= 1
    return current


def business_days_between(start, end, *, country):
    """How many business days fall after ``start`` and on or before ``end`` (dates); 0 when ``end`` is not after
    ``start``. ``business_days_between(d, business_day_add(d, n)) == n``. Counted, not walked day by day: the list
    asks it for every row (the weekdays of the span, less the public holidays that fall on one of them)."""
    if end <= start:
        return 0
    weeks, rest = divmod((end - start).days, 7)
    first = start.weekday()
    weekdays = 5 * weeks + sum(1 for offset in range(1, rest + 1) if (first + offset) % 7 < 5)
    holidays_in_span = sum(
        bisect.bisect_right(days, end) - bisect.bisect_right(days, start)
        for days in (_weekday_holidays(country, year) for year in range(start.year, end.year + 1))
    )
    return weekdays - holidays_in_span


@lru_cache(maxsize=512)
def _weekday_holidays(country, year):
    """The public holidays of ``country`` in ``year`` that fall on a weekday, in order."""
    return tuple(sorted(day for day in _holiday_dates(country, year) if day.weekday() < 5))


def deadline_after(moment, *, country, time_zone, days=BUSINESS_DAYS):
    """23:59:59 local time on the ``days``-th business day after the local day of ``moment``.

    ``moment`` is an aware datetime; the day it falls on is taken in ``time_zone`` (a ZoneInfo), so a
    notification at 23:30 UTC on Monday is a Tuesday in Berlin. The result is aware, in ``time_zone``; the
    zone's own UTC offset on that day applies, so a window across a daylight-saving change still closes at
    23:59:59 on the wall clock.
    """
    local_day = moment.astimezone(time_zone).date()
    last_day = business_day_add(local_day, days, country=country)
    return datetime.datetime.combine(last_day, END_OF_DAY, tzinfo=time_zone)


# --- Disputes (SPEC §12) ----------------------------------------------------------------------------------------


def dispute_deadline(rejected_at, *, time_zone, days=DISPUTE_DAYS):
    """The end of a rejection's dispute window: 23:59:59 local time on the ``days``-th calendar day after the local
    day of the rejection (rejected on 1 March: disputable until 31 March, 23:59:59), in the customer tenant's
    zone like every other deadline of a claim."""
    local_day = rejected_at.astimezone(time_zone).date()
    return datetime.datetime.combine(local_day + datetime.timedelta(days=days), END_OF_DAY, tzinfo=time_zone)
