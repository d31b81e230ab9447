"""API keys (SPEC §16): made and revoked by an incentives admin, shown once, stored as a prefix and a hash.

A key reads ``cpor_<prefix>_<secret>``: the prefix finds its row (unique, indexed), the secret's SHA-256 is
compared in constant time. The secret is 32 random bytes: no slow hash is needed against guessing, and a key is
checked on every request. A key acts as the incentives admin who made it (the history names them) and never
beyond what that person may do now: a key whose maker left the partner or was deactivated stops working, and one
whose maker is no longer an incentives admin only reads (``ApiCaller``).
"""

import dataclasses
import datetime
import hashlib
import hmac
import secrets
import string

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from api.models import ApiKey
from associations.access import get_membership
from claims.policy import Role, Viewer

KEY_PREFIX = "cpor_"
PREFIX_CHARS = 12
_ALPHABET = string.ascii_lowercase + string.digits
# last_used_at is written at most once a minute per key: a request of a busy key adds no write.
LAST_USE_PRECISION_SECONDS = 60


def _hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, partner, user, name, access):
    """A new key of ``partner`` made by ``user``: (the ApiKey, the full key to show once)."""
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_CHARS))
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        partner=partner, name=name, access=access, created_by=user, prefix=prefix, secret_hash=_hash(secret)
    )
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def api_key_revoke(*, key, user):
    """Revoke a key (at once, for good). False when it was revoked already."""
    with transaction.atomic():
        return bool(
            ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_by=user)
        )


@dataclasses.dataclass(frozen=True)
class ApiCaller:
    """Who calls the API: a key, the user it acts as, and the rule book's ``Viewer`` for them (an incentives
    admin for a read-write key whose maker still is one; otherwise a view-only user of the partner)."""

    key: ApiKey
    user: object
    partner: object
    viewer: Viewer

    @property
    def writes(self):
        return self.viewer.acts


def api_key_authenticate(raw):
    """The ApiCaller of the key ``raw``, or None (unknown, wrong secret, revoked, its maker gone)."""
    if not isinstance(raw, str) or not raw.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = raw[len(KEY_PREFIX) :].partition("_")
    if len(prefix) != PREFIX_CHARS or not secret or len(secret) > 100:
        return None
    key = ApiKey.objects.select_related("partner", "created_by").filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    user = key.created_by
    membership = get_membership(user) if user.is_active else None
    if membership is None or membership.partner_id != key.partner_id:
        return None
    acts = key.access == ApiKey.Access.READ_WRITE and membership.can_manage_claims
    viewer = Viewer(Role.PARTNER_ADMIN if acts else Role.PARTNER_VIEWER, key.partner_id)
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() >= LAST_USE_PRECISION_SECONDS:
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - datetime.timedelta(seconds=30))
        ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)
    return ApiCaller(key=key, user=user, partner=key.partner, viewer=viewer)
