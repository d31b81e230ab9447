"""Sessions that end after a period without requests: 8 hours for partners, 30 minutes for reviewers (SPEC §14);
and at the latest a fixed time after signing in, whatever the activity: 7 days for partners, 12 hours for
reviewers (OWASP ASVS L2; ``SESSION_LIFETIME_HOURS_*``)."""

import datetime
import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

# How often an active session's expiry is pushed forward. Refreshing on every request would write the session row
# on every request (what SESSION_SAVE_EVERY_REQUEST does); once every REFRESH_SECONDS is one write a minute at
# most, and a session still ends between idle - REFRESH_SECONDS and idle after its last request.
REFRESH_SECONDS = 30
REFRESHED_AT = "_idle_refreshed_at"
# When the session's user signed in (Unix seconds): its lifetime counts from there.
SIGNED_IN_AT = "_signed_in_at"


def idle_seconds(user):
    return settings.SESSION_IDLE_SECONDS_REVIEWER if user.is_staff else settings.SESSION_IDLE_SECONDS_PARTNER


def lifetime_seconds(user):
    return settings.SESSION_LIFETIME_SECONDS_REVIEWER if user.is_staff else settings.SESSION_LIFETIME_SECONDS_PARTNER


@receiver(user_logged_in, dispatch_uid="associations.middleware.signed_in")
def signed_in(sender, request, user, **kwargs):
    """A sign-in starts the session's lifetime afresh (Django keeps the session's data when the same user signs in
    again in it, e.g. a reviewer adding the TOTP code), and the middleware sets its expiry on the way out."""
    session = getattr(request, "session", None)
    if session is not None:
        session[SIGNED_IN_AT] = int(time.time())
        session.pop(REFRESHED_AT, None)


class SessionIdleMiddleware:
    """Slides a signed-in session's expiry: the database row's ``expire_date`` (and the cookie's max-age) become
    now + the idle limit of the user's kind, but never later than the sign-in + the lifetime of the user's kind.
    Runs after the view so that the sign-in request itself, which creates the session, gets the limits too.

    The database enforces both: Django loads no session whose ``expire_date`` has passed, so a session past its
    lifetime is signed out on its next request however active it was, and no request pays a query for it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = request.session
        # A request that never read the session (/healthz, a customer's page) is no sign of the user's activity,
        # and checking would cost the session and user queries it saved.
        if not session.accessed or not session.get(SESSION_KEY):
            return response
        user = request.user
        if not user.is_authenticated:
            return response
        now = int(time.time())
        # A session signed in before lifetimes existed counts from its first request after.
        signed_in_at = session.setdefault(SIGNED_IN_AT, now)
        if now - session.get(REFRESHED_AT, 0) >= REFRESH_SECONDS:
            ends = min(now + idle_seconds(user), signed_in_at + lifetime_seconds(user))
            session.set_expiry(datetime.datetime.fromtimestamp(ends, tz=datetime.UTC))
            session[REFRESHED_AT] = now
        return response
