"""Who is asking: the client's address behind the configured reverse proxies.

Rate limits must key on the real client (SPEC §14). Behind a proxy, REMOTE_ADDR is the proxy's address for every
request, so a limit on it throttles every customer at once; X-Forwarded-For names the client, but only the entries
that trusted proxies appended mean anything: each proxy appends the address the request came to it from, and
everything to the left of that was sent by the client itself. So the client is the right-most address of the
chain (X-Forwarded-For, then REMOTE_ADDR) that is not a trusted proxy. Without trusted proxies
(``TRUSTED_PROXIES`` empty, the default) X-Forwarded-For is ignored altogether.
"""

import ipaddress

from django.conf import settings


def _parse(entry):
    """An ``ipaddress`` address from one X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``,
    ``::1``), IPv4-mapped IPv6 as IPv4; None for anything else (``unknown``, obfuscated identifiers, garbage)."""
    text = entry.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_address(request):
    """The client's address (an ``ipaddress`` object), or None when the request carries no usable one."""
    trusted = [ipaddress.ip_network(n) for n in getattr(settings, "TRUSTED_PROXIES", ())]
    remote = _parse(request.META.get("REMOTE_ADDR", ""))
    if not trusted:
        # Not behind a proxy we trust: X-Forwarded-For is whatever the client wanted it to say.
        return remote
    # No address at all is a Unix socket: only a process on this machine, i.e. the proxy, can connect to it.
    if remote is not None and not any(remote in network for network in trusted):
        return remote
    chain = [_parse(entry) for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
    address = remote
    for hop in reversed(chain):
        if hop is None:
            # Trusted proxies write addresses; this entry came from the client (or the proxy passed garbage on).
            # The last trusted hop stands for the client: a limit too wide rather than one the client can dodge.
            return address
        address = hop
        if not any(hop in network for network in trusted):
            return hop
    # Every hop is a proxy of ours (a request from the proxy itself): the left-most one.
    return address


def client_ip(request):
    """The client's address as text (for logs and sign-in throttles); "" when the request carries none."""
    address = client_address(request)
    return str(address) if address is not None else ""


def ratelimit_ip(request):
    """django-ratelimit's client address (``RATELIMIT_IP_META_KEY``; it keys IPv6 clients on their /64).

    Requests without a usable address share one bucket: a limit too wide rather than none.
    """
    return client_ip(request) or "0.0.0.0"  # noqa: S104 (a key, not an address to bind)
