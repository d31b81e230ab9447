"""Business days (SPEC §6): Monday to Friday except the public holidays of the tenant's country.

Pure functions: no database, no clock. Callers pass the moment and the tenant's country and time zone.
"""

import datetime

import holidays

from claims.vocabulary import DISPUTE_DAYS

BUSINESS_DAYS = 5
END_OF_DAY = datetime.time(23, 59, 59)


def _holidays_for(country, years):
    try:
        return holidays.country_holidays(country, years=years)
    except NotImplementedError:
        # A country the package does not know: weekends only, rather than no deadline at all.
        return {}


def business_day_add(day, count, *, country):
    """The ``count``-th business day after ``day`` (``day`` itself never counts)."""
    # Enough years for any window that starts late in December.
    public = _holidays_for(country, range(day.year, day.year + 2))
    current = day
    remaining = count
    while remaining:
        current += datetime.timedelta(days=1)
        if current.weekday() < 5 and current not in public:
            remaining -= 1
    return current


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
