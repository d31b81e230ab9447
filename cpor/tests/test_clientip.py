"""The client's address behind the configured reverse proxies (cpor/clientip.py), and the settings that drive it."""

import pytest
from django.test import RequestFactory, override_settings

from cpor.clientip import client_ip, ratelimit_ip
from cpor.tests.test_settings_env import assert_fails_naming, run_django, settings_of


def _ip(remote, forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


@override_settings(TRUSTED_PROXIES=[])
def test_clientip_without_proxies_is_remote_addr_whatever_forwarded_for_says():
    assert _ip("203.0.113.7") == "203.0.113.7"
    assert _ip("203.0.113.7", "198.51.100.1") == "203.0.113.7"
    assert _ip("127.0.0.1", "198.51.100.1, 198.51.100.2") == "127.0.0.1"


@pytest.mark.parametrize(
    "remote, forwarded, expected",
    [
        # The proxy appended the address it saw; what the client sent before it is ignored.
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6,198.51.100.1", "198.51.100.1"),
        # Two proxies of ours: the right-most address that is not one of them.
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.9.8.7", "198.51.100.1"),
        # A client that claims to be one of our proxies, left of the real client, changes nothing.
        ("10.0.0.2", "10.1.1.1, 198.51.100.1", "198.51.100.1"),
        # Ports and brackets as some proxies write them; IPv4-mapped IPv6.
        ("10.0.0.2", "198.51.100.1:51234", "198.51.100.1"),
        ("10.0.0.2", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.0.0.2", "2001:db8::1", "2001:db8::1"),
        ("::ffff:10.0.0.2", "::ffff:198.51.100.1", "198.51.100.1"),
        # Garbage right of the client can only come from a proxy passing it on: the last proxy stands in.
        ("10.0.0.2", "198.51.100.1, unknown", "10.0.0.2"),
        # No header, or only our own proxies: the left-most proxy.
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),
        # Not from our proxy: X-Forwarded-For is the client's own word.
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        # A Unix socket (no address): only the proxy on this machine can connect.
        ("", "198.51.100.1", "198.51.100.1"),
    ],
)
@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_clientip_behind_proxies_is_the_right_most_untrusted_hop(remote, forwarded, expected):
    assert _ip(remote, forwarded) == expected


@override_settings(TRUSTED_PROXIES=[])
def test_clientip_ratelimit_key_of_a_request_without_address_is_one_shared_bucket():
    assert ratelimit_ip(RequestFactory().get("/", REMOTE_ADDR="")) == "0.0.0.0"
    assert ratelimit_ip(RequestFactory().get("/", REMOTE_ADDR="198.51.100.1")) == "198.51.100.1"


def test_settings_trusted_proxies_parse_and_default(tmp_path):
    def proxies(**env):
        return settings_of(tmp_path, "[str(n) for n in settings.TRUSTED_PROXIES]", **env)

    assert proxies() == []
    # BEHIND_PROXY alone: a proxy on this machine.
    assert proxies(BEHIND_PROXY="1") == ["127.0.0.1/32", "::1/128"]
    assert proxies(BEHIND_PROXY="1", TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7") == ["10.0.0.0/8", "192.0.2.7/32"]
    assert proxies(BEHIND_PROXY="1", TRUSTED_PROXIES="") == []


@pytest.mark.parametrize("value", ["10.0.0.1/8", "proxy.example", "10.0.0.0/33"])
def test_settings_malformed_trusted_proxies_fails_naming_it(tmp_path, value):
    assert_fails_naming(run_django(tmp_path, TRUSTED_PROXIES=value), "TRUSTED_PROXIES")


def test_settings_secret_key_fallbacks_read_from_the_environment(tmp_path):
    fallbacks = settings_of(tmp_path, "settings.SECRET_KEY_FALLBACKS", SECRET_KEY_FALLBACKS="old-key-1, old-key-2")

    assert fallbacks == ["old-key-1", "old-key-2"]
    assert settings_of(tmp_path, "settings.SECRET_KEY_FALLBACKS") == []
