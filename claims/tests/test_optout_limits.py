"""The customer's page's rate limits (SPEC §14): keyed on the real client behind the configured proxies and on the
link, and failing open (never a 500) when the cache is down or does not answer."""

import datetime
import logging
import socket

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse

from claims.models import ClaimEvent, ClaimStatus
from claims.tests.factories import claim_make
from claims.tests.outages import socket_waits
from claims.tokens import opt_out_token_make
from claims.views.customer import OPT_OUT_CLIENT_RATE, OPT_OUT_LINK_RATE

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
DEADLINE = datetime.datetime(2026, 12, 3, 4, 59, 59, tzinfo=UTC)
# One fixed instant: every request of a test falls in the same one-minute window of the limits.
NOW = datetime.datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)
# Opting out of the claim's one product, confirmed (SPEC §7: a confirmation step first; the POST that acts).
OPT_OUT = {"action": "opt_out", "item": ["1"], "confirm": "1"}
PER_CLIENT = int(OPT_OUT_CLIENT_RATE.split("/")[0])
PER_LINK = int(OPT_OUT_LINK_RATE.split("/")[0])


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE,
    )


def _url(claim):
    return reverse(
        "customer_opt_out", args=[opt_out_token_make(submission_key=claim.submission_key, deadline=DEADLINE)]
    )


def _junk(index):
    return reverse("customer_opt_out", args=[f"junk-token-{index}"])


def test_optout_limits_rates_are_what_a_person_needs():
    assert (PER_CLIENT, PER_LINK) == (30, 20)
    assert OPT_OUT_CLIENT_RATE.endswith("/m") and OPT_OUT_LINK_RATE.endswith("/m")


def test_optout_limits_junk_from_one_client_does_not_block_another(client, claim):
    codes = [client.get(_junk(i), REMOTE_ADDR="203.0.113.7").status_code for i in range(PER_CLIENT + 1)]

    assert codes == [404] * PER_CLIENT + [429]
    limited = client.get(_url(claim), REMOTE_ADDR="203.0.113.7")
    assert limited.status_code == 429
    assert "Too many requests" in limited.content.decode()
    assert client.post(_url(claim), OPT_OUT, REMOTE_ADDR="203.0.113.7").status_code == 429
    # The customer, from another address, is not affected.
    assert client.get(_url(claim), REMOTE_ADDR="198.51.100.20").status_code == 200
    assert client.post(_url(claim), OPT_OUT, REMOTE_ADDR="198.51.100.20").status_code == 200
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT
    assert ClaimEvent.objects.filter(claim=claim).count() == 2  # its item opted out of, and the claim


def test_optout_limits_one_link_is_limited_across_clients(client, claim, partner_a, m365_tenant, products):
    url = _url(claim)
    codes = [client.get(url, REMOTE_ADDR=f"192.0.2.{i}").status_code for i in range(1, PER_LINK + 2)]

    assert codes == [200] * PER_LINK + [429]
    assert client.post(url, REMOTE_ADDR="198.51.100.99").status_code == 429
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED
    assert not ClaimEvent.objects.exists()
    # Another customer's link, from one of those addresses, still works.
    other = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE,
    )
    assert client.get(_url(other), REMOTE_ADDR="192.0.2.1").status_code == 200


def test_optout_limits_forwarded_for_is_ignored_without_a_proxy(client, claim, settings):
    assert settings.TRUSTED_PROXIES == []
    codes = [
        client.get(_junk(i), REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(PER_CLIENT + 1)
    ]

    # A new X-Forwarded-For each time changes nothing: the key is the connection's address.
    assert codes == [404] * PER_CLIENT + [429]
    # And naming the limited address in X-Forwarded-For does not limit someone else.
    response = client.get(_url(claim), REMOTE_ADDR="203.0.113.8", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert response.status_code == 200


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_optout_limits_behind_the_proxy_key_on_the_forwarded_client(client, claim):
    # Every request arrives from the proxy (10.0.0.2); the client prepends whatever it likes, the proxy appends
    # the address it saw.
    codes = [
        client.get(_junk(i), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.7").status_code
        for i in range(PER_CLIENT + 1)
    ]

    assert codes == [404] * PER_CLIENT + [429]
    # The proxy's address is not the key: another client through the same proxy (and through a second proxy of
    # ours) gets the page.
    assert client.get(_url(claim), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.4").status_code == 200
    response = client.get(
        _url(claim), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.5, 10.1.2.3"
    )
    assert response.status_code == 200
    # The limited client behind two of our proxies is still the limited client.
    response = client.get(
        _url(claim), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.6, 203.0.113.7, 10.1.2.3"
    )
    assert response.status_code == 429


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_cache(port):
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


@pytest.fixture
def silent_port():
    """A loopback socket that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("cache", ["refused", "silent"])
def test_optout_limits_fail_open_when_the_cache_is_down(client, claim, cache, silent_port, caplog):
    port = _closed_port() if cache == "refused" else silent_port

    with (
        override_settings(CACHES=_redis_cache(port)),
        caplog.at_level(logging.WARNING, logger="claims.views.customer"),
        socket_waits(port) as timing,
    ):
        get = client.get(_url(claim), REMOTE_ADDR="203.0.113.7")
        post = client.post(_url(claim), OPT_OUT, REMOTE_ADDR="203.0.113.7")

    assert (get.status_code, post.status_code) == (200, 200)
    assert 'value="opt_out">Opt out</button>' in get.content.decode()
    assert "You opted out" in post.content.decode()
    # The two requests waited on the cache less than 2.5 s (a timeout each), and took less than twice that in all.
    assert timing.waited < 2.5 and timing.seconds < 5, vars(timing)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT
    assert sum("Opt-out rate limit not checked" in r.getMessage() for r in caplog.records) == 2
