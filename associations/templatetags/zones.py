"""Times in the viewer's zone, and a customer's deadline also in the customer's, named by its city (SPEC §15).

Django renders every time in the active zone: the viewer's (``associations.timezones``). These add the words:
``{% viewer_zone %}`` names that zone ("Taipei time"), for the page's one sentence about times;
``{{ moment|customer_time:zone }}`` is a deadline on the customer's clock ("23:59 Taipei time", with its date
when the viewer's day differs); ``{{ moment|deadline:zone }}`` and ``{{ moment|deadline_long:zone }}`` say a
deadline in the viewer's time with the customer's beside it.
"""

import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext, pgettext

from associations.zones import zone_key, zone_label, zone_time

register = template.Library()


@register.simple_tag
def viewer_zone():
    """The viewer's zone, named by its city ("Taipei time", 「台北時間」), or "UTC"."""
    zone = timezone.get_current_timezone()
    return "UTC" if zone_key(zone) == "UTC" else zone_label(zone)


@register.filter
def customer_time(moment, zone):
    """``moment`` on the clock of ``zone`` (a customer's): "23:59 Taipei time", or "2027-01-06 23:59 Taipei time"
    when that is another day than the viewer's. Empty for no moment or no zone."""
    if not moment or zone is None:
        return ""
    local = moment.astimezone(zone)
    viewer = timezone.localtime(moment)
    text = date_format(local, "H:i" if local.date() == viewer.date() else "Y-m-d H:i")
    if zone_key(zone) == "UTC":
        return f"{text} UTC"
    return zone_time(zone, text)


def _with_customer(viewer_text, moment, zone):
    if zone is None or zone is datetime.UTC:
        return viewer_text
    return gettext("%(time)s (%(customer_time)s)") % {
        "time": viewer_text,
        "customer_time": customer_time(moment, zone),
    }


@register.filter
def deadline(moment, zone):
    """A deadline in the viewer's time with the customer's beside it: "2027-01-06 16:59 (23:59 Taipei time)"."""
    if not moment:
        return ""
    return _with_customer(date_format(timezone.localtime(moment), "Y-m-d H:i"), moment, zone)


@register.filter
def deadline_long(moment, zone):
    """As ``deadline``, the day written out: "Wednesday 6 January 2027, 16:59 (23:59 Taipei time)"."""
    if not moment:
        return ""
    viewer = date_format(timezone.localtime(moment), pgettext("a deadline, written out", "l j F Y, H:i"))
    return _with_customer(viewer, moment, zone)


@register.filter
def in_zone_long(moment, zone):
    """``moment`` written out on the clock of ``zone``, named by its city, for a reader in that zone (a customer's
    page), to the second as the customer's email gives it: "Wednesday 6 January 2027, 23:59:59 Taipei time"
    (「台北時間 2027年1月6日 星期三 23:59:59」)."""
    if not moment or zone is None:
        return ""
    return zone_time(zone, date_format(moment.astimezone(zone), pgettext("deadline in an email", "l j F Y, H:i:s")))


@register.filter
def in_zone_minutes(moment, zone):
    """As ``in_zone_long``, to the minute: a moment that passed, such as when an association became official
    ("Friday 6 November 2026, 00:00 Taipei time"), where the seconds of a sweep's run mean nothing to a reader."""
    if not moment or zone is None:
        return ""
    return zone_time(zone, date_format(moment.astimezone(zone), pgettext("a deadline, written out", "l j F Y, H:i")))
