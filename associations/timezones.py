"""The viewer's time zone (SPEC §15): every time on a page is shown in it, named by its city.

Saved per user beside the language (``UserPreference.time_zone``), and, like the language, carried by a cookie
so that no page pays a query for it: signing in puts the saved zone in the cookie; a user who never chose one
gets the zone their browser reports at sign-in (``static/js/time-zone.js`` fills a hidden field of the sign-in
form: ``Intl.DateTimeFormat().resolvedOptions().timeZone``), saved once as their choice. The settings page changes
it. Without any, times are in UTC (``settings.TIME_ZONE``), and the page says so.
"""

import zoneinfo

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import timezone

from associations.models import UserPreference
from associations.zones import time_zone_valid

# The field of the sign-in form that carries the browser's zone, and the attribute of a request whose response
# puts a zone in the cookie.
BROWSER_TIME_ZONE_FIELD = "time_zone"
TIME_ZONE_TO_SET = "_cpor_time_zone_to_set"


def time_zone_remember(request, key):
    """Activate ``key`` for this request and have the response put it in the time zone cookie."""
    timezone.activate(zoneinfo.ZoneInfo(key))
    setattr(request, TIME_ZONE_TO_SET, key)


@receiver(user_logged_in, dispatch_uid="associations.timezones.signed_in")
def signed_in(sender, request, user, **kwargs):
    """The saved zone, or the browser's guess (then saved as the user's choice), into the cookie."""
    if request is None:
        return
    preference = UserPreference.objects.filter(user=user).first()
    key = time_zone_valid(preference.time_zone) if preference is not None and preference.time_zone else None
    if key is None:
        key = time_zone_valid(request.POST.get(BROWSER_TIME_ZONE_FIELD, "")) if request.method == "POST" else None
        if key is not None:
            UserPreference.objects.update_or_create(user=user, defaults={"time_zone": key})
    time_zone_remember(request, key or settings.TIME_ZONE)


class ViewerTimeZoneMiddleware:
    """Activates the zone of the time zone cookie for the request; writes the cookie when a sign-in or the settings
    page chose one (``time_zone_remember``). An unknown value in the cookie is ignored (UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = time_zone_valid(request.COOKIES.get(settings.TIME_ZONE_COOKIE_NAME, ""))
        if key is not None:
            timezone.activate(zoneinfo.ZoneInfo(key))
        else:
            timezone.deactivate()
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        chosen = getattr(request, TIME_ZONE_TO_SET, None)
        if chosen is not None:
            response.set_cookie(
                settings.TIME_ZONE_COOKIE_NAME,
                chosen,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path="/",
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
