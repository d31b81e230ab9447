"""Where a webhook may go (SPEC §16): HTTPS to a public address, nothing inside our network (SSRF).

``target_check`` resolves the endpoint's host and refuses it when any address it resolves to is private, loopback,
link-local, reserved, multicast, unspecified or otherwise not global; it runs when the endpoint is registered and
again right before each delivery. ``post`` then connects to the address that was checked (never a second DNS
lookup, which could answer differently: time of check, time of use), speaks TLS to the host name (SNI and the
certificate are the host's), waits a few seconds at most and follows no redirect.

``WEBHOOKS_ALLOW_LOOPBACK`` (``make run`` and the tests only) lets loopback addresses through, over plain http://
too; private and link-local addresses stay refused.
"""

import dataclasses
import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

CONNECT_SECONDS = 5
READ_SECONDS = 10
EXCERPT_BYTES = 1000


class AddressRefused(Exception):
    """The address may not receive webhooks; ``str()`` says why in plain words."""


@dataclasses.dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked IP address to connect to


def _address_allowed(ip):
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return settings.WEBHOOKS_ALLOW_LOOPBACK
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_private)


def _resolve(host, port):
    """Every address ``host`` resolves to (the system's resolver, asked once)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def target_check(url):
    """The Target of ``url``, checked; AddressRefused when it may not receive webhooks."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused(_("This is not a valid address.")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise AddressRefused(_("Enter an address that starts with https://."))
    if parts.username or parts.password:
        raise AddressRefused(_("The address must not contain a user name or password."))
    if scheme == "http" and not settings.WEBHOOKS_ALLOW_LOOPBACK:
        raise AddressRefused(_("Webhooks are sent over HTTPS only: enter an address that starts with https://."))
    host = parts.hostname
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError):
        raise AddressRefused(_("The host name of this address cannot be found.")) from None
    ips = []
    for address in addresses:
        try:
            ips.append(ipaddress.ip_address(address.split("%", 1)[0]))
        except ValueError:
            raise AddressRefused(_("The host name of this address cannot be found.")) from None
    if not ips:
        raise AddressRefused(_("The host name of this address cannot be found."))
    if not all(_address_allowed(ip) for ip in ips):
        raise AddressRefused(
            _(
                "This address leads to a private, loopback, link-local or reserved network address: webhooks go "
                "only to public addresses."
            )
        )
    if scheme == "http" and not all(ip.is_loopback for ip in ips):
        raise AddressRefused(_("Webhooks are sent over HTTPS only: enter an address that starts with https://."))
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(ips[0]))


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    excerpt: str


def post(target, *, body, headers):
    """POST ``body`` to ``target`` (a checked Target), connecting to its checked address only. Returns the
    Response (any status: 3xx is not followed); OSError (http.client's errors included) when it cannot be had."""
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=CONNECT_SECONDS, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=CONNECT_SECONDS)

    def connect_to_checked_address(address, timeout=None, source_address=None, **kwargs):
        # http.client asks for (host, port): a socket to the host's checked address instead, with no lookup at all
        # (socket.create_connection would ask the resolver again, even if only for the address itself).
        family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((target.address, address[1]))
        except BaseException:
            sock.close()
            raise
        return sock

    connection._create_connection = connect_to_checked_address
    try:
        connection.connect()
        connection.sock.settimeout(READ_SECONDS)
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
        return Response(status=response.status, excerpt=excerpt)
    except (http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        raise OSError(str(exc) or type(exc).__name__) from exc
    finally:
        connection.close()
