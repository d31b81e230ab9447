"""Sessions that end after a period without requests: 8 hours for partners, 30 minutes for reviewers (SPEC §14)."""

import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY

# How often an active session's expiry is pushed forward. Refreshing on every request would write the session row
# on every request (what SESSION_SAVE_EVERY_REQUEST does); once every REFRESH_SECONDS is one write a minute at
# most, and a session still ends between idle - REFRESH_SECONDS and idle after its last request.
REFRESH_SECONDS = 30
REFRESHED_AT = "_idle_refreshed_at"


def idle_seconds(user):
    return settings.SESSION_IDLE_SECONDS_REVIEWER if user.is_staff else settings.SESSION_IDLE_SECONDS_PARTNER


class SessionIdleMiddleware:
    """Slides a signed-in session's expiry: the database row's ``expire_date`` (and the cookie's max-age) become
    now + the idle limit of the user's kind. Runs after the view so that the sign-in request itself, which creates
    the session, gets the limit too."""

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
        idle = idle_seconds(user)
        now = int(time.time())
        if session.get_expiry_age() != idle or now - session.get(REFRESHED_AT, 0) >= REFRESH_SECONDS:
            session.set_expiry(idle)
            session[REFRESHED_AT] = now
        return response
