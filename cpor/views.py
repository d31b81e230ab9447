import logging

from django.conf import settings
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from associations.forms import PasswordResetRequestForm
from claims.services import password_reset_request

logger = logging.getLogger(__name__)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a plain page in the site's layout, instead of Django's technical one (SPEC §14)."""
    return render(request, "csrf_failure.html", {"no_cookies": reason == REASON_NO_CSRF_COOKIE}, status=403)


def _password_reset_client_limited(request):
    """Whether this client (behind the configured proxies, cpor/clientip.py) asked for more than
    PASSWORD_RESET_CLIENT_LIMIT resets in PASSWORD_RESET_CLIENT_MINUTES, whatever the addresses.

    Fails open, as the opt-out page's limit: with the cache down the request goes through and the failure is
    logged; the limit per address, in PostgreSQL, still holds.
    """
    rate = f"{settings.PASSWORD_RESET_CLIENT_LIMIT}/{settings.PASSWORD_RESET_CLIENT_MINUTES}m"
    try:
        return is_ratelimited(
            request, group="password-reset-client", key="ip", rate=rate, method="POST", increment=True
        )
    except Exception as exc:  # each cache backend raises its own client's errors
        logger.warning("Password reset rate limit not checked, request let through: the cache failed (%r)", exc)
        return False


def _password_reset_limited(request, minutes):
    return render(request, "registration/password_reset_limited.html", {"minutes": minutes}, status=429)


@require_http_methods(["GET", "HEAD", "POST"])
def password_reset(request):
    """Password reset by email (SPEC §14), through the outbox: the request writes one outbox row and redirects;
    the sender builds and sends the email later, on the outbox's retry schedule (no SMTP in the request, so
    neither an SMTP outage nor a silent server holds it, and none loses the email).

    Every address gets the same answer, by the same work (``password_reset_request``): the "sent" page, or the
    429 page once the client or the address had its limit (an address without an account counts alike).
    """
    form = PasswordResetRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if _password_reset_client_limited(request):
            return _password_reset_limited(request, settings.PASSWORD_RESET_CLIENT_MINUTES)
        if form.is_valid():
            if not password_reset_request(address=form.cleaned_data["email"]):
                return _password_reset_limited(request, settings.PASSWORD_RESET_EMAIL_MINUTES)
            return redirect("password_reset_done")
    return render(request, "registration/password_reset_form.html", {"form": form})
