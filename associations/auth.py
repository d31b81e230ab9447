import ipaddress

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


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
        user = get_user_model()._default_manager.select_related("membership__partner").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


def signin_username(request, credentials):
    """The account a sign-in attempt counts against (``AXES_USERNAME_CALLABLE``): the email as the backend reads
    it, so ``Alex@…`` and ``alex@…`` share one count. NULs are dropped (PostgreSQL stores no NUL in text) and the
    length capped to axes' column."""
    data = credentials or getattr(request, "POST", {})
    username = data.get("username") if data else None
    if not isinstance(username, str):
        return None
    return username.strip().lower().replace("\x00", "")[:255]


def client_ip(request):
    """The client's address for the sign-in throttle (``AXES_CLIENT_IP_CALLABLE``).

    Directly exposed, the connection's peer (``REMOTE_ADDR``). Behind the TLS proxy (``BEHIND_PROXY``), the
    right-most X-Forwarded-For entry: the address the proxy itself appended, the peer it saw. Entries to its left
    are whatever the client chose to send, so keying on them (as "left-most" would) lets an attacker pick a new
    address per attempt. A malformed entry falls back to the proxy's address rather than to a client-chosen one.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    if not settings.BEHIND_PROXY:
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return peer
