"""Tiny helpers that read settings from the environment and fail loudly.

A malformed value stops start-up with an ``ImproperlyConfigured`` error that names the variable, so a typo in a
deployment never turns into a silently different configuration.
"""

import os
import re
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off (got {raw!r})")


def env_int(name, default, *, minimum=None):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {raw!r})") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {value})")
    return value


def env_list(name, default=()):
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,20}")
KEY_MIN_LENGTH = 32


def env_keys(name, default=""):
    """Named secrets, ``id:secret`` separated by commas (``2026a:…,2025b:…``), as [(id, secret), ...] in that
    order; ``default`` (the same form) when unset. An id is 1 to 20 letters, digits, ``.``, ``_`` or ``-``, unique;
    a secret at least KEY_MIN_LENGTH characters (no commas)."""
    keys = []
    raw = os.environ.get(name, default)
    for item in (item.strip() for item in raw.split(",") if item.strip()):
        key_id, separator, secret = item.partition(":")
        if not separator or not KEY_ID.fullmatch(key_id):
            raise ImproperlyConfigured(
                f"{name} must list id:secret entries separated by commas, each id 1 to 20 letters, digits, '.', "
                f"'_' or '-' (got an entry starting {item[:8]!r})"
            )
        if len(secret) < KEY_MIN_LENGTH:
            raise ImproperlyConfigured(
                f"{name}: the secret of key {key_id!r} must be at least {KEY_MIN_LENGTH} characters"
            )
        if key_id in dict(keys):
            raise ImproperlyConfigured(f"{name} names key {key_id!r} twice")
        keys.append((key_id, secret))
    return keys


def env_networks(name, default=()):
    """Comma-separated IP addresses or networks (``10.0.0.0/8``, ``::1``), as ``ipaddress`` networks."""
    import ipaddress

    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or networks such as 10.0.0.0/8, separated by commas (got {item!r})"
            ) from None
    return networks


def env_database(name, default):
    """Parse a PostgreSQL URL: ``postgres://user:password@host:5432/db``, or a percent-encoded socket directory as
    the host (``postgres://user@%2Fpath%2Fto%2Fsocketdir/db``)."""
    import dj_database_url

    raw = os.environ.get(name) or default
    scheme = urlsplit(raw).scheme
    if scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"{name} must be a postgres:// URL, PostgreSQL being the only database (got scheme {scheme!r} in "
            f"{_redact(raw)!r})"
        )
    try:
        config = dj_database_url.parse(raw)
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} must name a database (got {_redact(raw)!r})")
    try:
        int(config.get("PORT") or 0)
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port (got {_redact(raw)!r})") from None
    return config


def env_email(name):
    """Parse ``smtp://user:password@host:port`` (``smtps://`` for implicit TLS, ``?starttls=1`` for STARTTLS)."""
    raw = os.environ.get(name)
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must look like smtp://user:password@host:587 (got {_redact(raw)!r})")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port (got {_redact(raw)!r})") from None
    query = {key: values[-1].strip().lower() for key, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - {"starttls"})
    if unknown:
        raise ImproperlyConfigured(f"{name} has an unknown option {unknown[0]!r} (only starttls=1 is understood)")
    starttls = query.get("starttls", "0")
    if starttls not in TRUE | FALSE:
        raise ImproperlyConfigured(f"{name}: starttls must be 1 or 0 (got {starttls!r})")
    if parts.scheme == "smtps" and starttls in TRUE:
        # SMTP over TLS and STARTTLS are exclusive; Django would only say so when the first email is sent.
        raise ImproperlyConfigured(f"{name}: use smtps:// (implicit TLS) or ?starttls=1, not both")
    return {
        "BACKEND": "cpor.mail.SmtpBackend",
        "OPTIONS": {
            "host": parts.hostname,
            "port": port or (465 if parts.scheme == "smtps" else 25),
            "username": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "use_ssl": parts.scheme == "smtps",
            "use_tls": starttls in TRUE,
            "timeout": 20,
        },
    }


def _redact(url):
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
