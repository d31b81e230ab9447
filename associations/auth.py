import ipaddress
import logging

from axes.helpers import get_client_ip_address
from axes.models import AccessFailureLog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone

logger = logging.getLogger(__name__)


class EmailBackend(ModelBackend):
    """Partner users and reviewers sign in with their email address (stored as the username, lower-cased)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        User = get_user_model()
        email = username.strip().lower()
        try:
            user = User.objects.get(username=email)
        except User.DoesNotExist:
            User().set_password(password)  # same work as a real check, so timing does not reveal accounts
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):
        # Every partner page needs the user's membership and partner: load them with the user in one query (LEFT
        # JOINs; a reviewer's missing membership is cached as None), so access.get_membership costs nothing.
        # get(), not filter().first(): no ORDER BY to compile on every request (a fifth of this call's time).
        User = get_user_model()
        try:
            user = User._default_manager.select_related("membership__partner").get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None


def signin_username(request, credentials):
    """The account a sign-in attempt counts against (``AXES_USERNAME_CALLABLE``): the email as the backend reads
    it, so ``Alex@…`` and ``alex@…`` share one count. NULs are dropped (PostgreSQL stores no NUL in text) and the
    length capped to axes' column."""
    data = credentials or getattr(request, "POST", {})
    username = data.get("username") if data else None
    if not isinstance(username, str):
        return None
    return username.strip().lower().replace("\x00", "")[:255]


def _client_failures(address):
    """axes' failure log rows of one client: its address, or an IPv6 client's /64 (one subscriber's, which it can
    change at will; django-ratelimit keys on it too); requests without an address share one bucket."""
    failures = AccessFailureLog.objects.all()
    if not address:
        return failures.filter(ip_address__isnull=True)
    if ipaddress.ip_address(address).version == 4:
        return failures.filter(ip_address=address)
    network = ipaddress.ip_network(f"{address}/64", strict=False)
    # An inet column: PostgreSQL answers "within this network" from the ip_address index.
    return failures.filter(RawSQL("ip_address <<= %s::inet", [str(network)], output_field=BooleanField()))


def signin_client_locked_until(request):
    """When the client of ``request`` may sign in again, or None if it may now: SIGNIN_CLIENT_FAILURE_LIMIT
    failed sign-ins within SIGNIN_CLIENT_WINDOW, whatever the accounts, lock it until the oldest of them is older
    than the window. One indexed query on axes' failure log (PostgreSQL, shared by every web process)."""
    window = settings.SIGNIN_CLIENT_WINDOW
    limit = settings.SIGNIN_CLIENT_FAILURE_LIMIT
    latest = list(
        _client_failures(get_client_ip_address(request))
        .filter(attempt_time__gt=timezone.now() - window)
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)[:limit]
    )
    return latest[-1] + window if len(latest) >= limit else None


class ClientThrottleBackend:
    """Refuses every sign-in from a client that failed too often lately, whatever the account it tries (password
    spraying: many accounts, one password, one client; SPEC §14). First in AUTHENTICATION_BACKENDS, so the
    password is not even checked.

    The refusal goes the way of axes' own lock-out: ``authenticate`` turns PermissionDenied into a failed sign-in,
    axes does not record a failure of a request it marks locked out (the lock-out is not pushed further), and its
    middleware answers with ``associations.views.signin_locked_out``: the 429 page, on the partners' sign-in page
    and the admin's alike. No ``get_user``: it never signs anyone in (and Django's test client's ``force_login``
    picks the first backend that has one).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        until = signin_client_locked_until(request)
        if until is None:
            return None
        logger.warning(
            "Sign-in refused: client %s failed %s times within %s (account tried: %s)",
            get_client_ip_address(request),
            settings.SIGNIN_CLIENT_FAILURE_LIMIT,
            settings.SIGNIN_CLIENT_WINDOW,
            signin_username(request, {"username": username}),
        )
        request.signin_client_locked_until = until
        request.axes_locked_out = True
        raise PermissionDenied("too many failed sign-ins from this client")


def password_validate_on_save(sender, instance, **kwargs):
    """Every password set meets AUTH_PASSWORD_VALIDATORS, whatever sets it (``pre_save`` of the user model).

    The reset's and admin's forms check before saving; this also covers what does not: ``createsuperuser
    --noinput`` with DJANGO_SUPERUSER_PASSWORD, the "Bypass password validation" answer of its interactive mode
    (createsuperuser shows the messages and creates nobody), a shell. ``set_password`` keeps the new password in
    ``_password`` until the save; a password re-hashed at sign-in is not a new one (Django clears it first).
    """
    raw = getattr(instance, "_password", None)
    if raw is not None:
        validate_password(raw, instance)
