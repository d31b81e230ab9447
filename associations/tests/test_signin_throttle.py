"""The sign-in throttle (SPEC §14): per account and client, 429 with a clear page, logged, lifted by an admin or by
time. The same across two real gunicorn processes: test_attack_signin.py."""

import datetime
import logging

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth import SESSION_KEY
from django.test import Client, RequestFactory

from associations.tests.fixtures import PASSWORD, make_user, reviewer_login
from cpor.clientip import client_ip

pytestmark = pytest.mark.django_db
LIMIT = 5


def _sign_in(client, email, password, **extra):
    return client.post("/login/", {"username": email, "password": password}, **extra)


def _fail(client, email, times, **extra):
    return [_sign_in(client, email, "wrong-password", **extra).status_code for _ in range(times)]


def test_signin_throttle_locks_the_account_on_this_client_at_the_limit_with_429(client, partner_a):
    email = partner_a.admin.email

    assert _fail(client, email, LIMIT) == [200, 200, 200, 200, 429]

    # Locked: even the right password is refused, and no session is made.
    response = _sign_in(client, email, PASSWORD)
    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == (email, "127.0.0.1", LIMIT)


def test_signin_throttle_page_is_plain_and_links_to_the_password_reset(client, partner_a):
    _fail(client, partner_a.admin.email, LIMIT)

    response = _sign_in(client, partner_a.admin.email, PASSWORD)

    html = response.content.decode()
    assert {"registration/locked_out.html", "base.html"} <= {t.name for t in response.templates}
    assert "<title>Too many sign-in attempts · Partner Center</title>" in html
    assert "Try again in 15 minutes." in html
    assert 'href="/password-reset/"' in html
    assert PASSWORD not in html


def test_signin_throttle_counts_an_email_whatever_its_case(client, partner_a):
    email = partner_a.admin.email
    _fail(client, email, 3)
    _fail(client, email.upper(), 1)

    assert _sign_in(client, f"  {email.title()} ", "wrong").status_code == 429
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [email]


def test_signin_throttle_spares_other_accounts_and_other_clients(client, partner_a):
    _fail(client, partner_a.admin.email, LIMIT)

    # The viewer on the same client, and the admin from another address, still sign in.
    assert _sign_in(client, partner_a.viewer.email, PASSWORD).status_code == 302
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert _sign_in(other, partner_a.admin.email, PASSWORD).status_code == 302


def test_signin_throttle_success_before_the_limit_resets_the_count(client, partner_a):
    _fail(client, partner_a.admin.email, LIMIT - 1)
    assert _sign_in(client, partner_a.admin.email, PASSWORD).status_code == 302
    client.post("/logout/")

    assert _fail(client, partner_a.admin.email, LIMIT - 1) == [200] * (LIMIT - 1)


def test_signin_throttle_ends_after_the_cool_off_not_before(client, partner_a):
    start = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        _fail(client, partner_a.admin.email, LIMIT)
    with time_machine.travel(start + datetime.timedelta(minutes=14, seconds=50), tick=False):
        # A failure during the lock-out does not extend it.
        assert _sign_in(client, partner_a.admin.email, "wrong").status_code == 429
        assert _sign_in(client, partner_a.admin.email, PASSWORD).status_code == 429
    with time_machine.travel(start + datetime.timedelta(minutes=15, seconds=1), tick=False):
        assert _sign_in(client, partner_a.admin.email, PASSWORD).status_code == 302


def test_signin_throttle_an_admin_lifts_the_lock_out_in_axes_admin(client, partner_a):
    _fail(client, partner_a.admin.email, LIMIT)
    admin = make_user("admin@cpor.example", is_staff=True)
    admin.is_superuser = True
    admin.save()
    admin_client = reviewer_login(Client(), admin)
    attempt = AccessAttempt.objects.get()

    listing = admin_client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert partner_a.admin.email in listing.content.decode()
    response = admin_client.post(
        "/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"}
    )

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert _sign_in(client, partner_a.admin.email, PASSWORD).status_code == 302


def test_signin_throttle_reviewers_cannot_lift_lock_outs(partner_a, reviewer_client):
    # Lifting a lock-out is account administration, not review (SPEC §8).
    assert _fail(Client(), partner_a.admin.email, LIMIT)[-1] == 429

    assert reviewer_client.get("/admin/axes/accessattempt/").status_code == 403
    assert AccessAttempt.objects.count() == 1


def test_signin_throttle_logs_each_failure_and_the_lock_out(client, partner_a, caplog):
    with caplog.at_level(logging.INFO):
        _fail(client, partner_a.admin.email, LIMIT)

    failures = [r for r in caplog.records if r.name.startswith("axes") and r.levelno == logging.WARNING]
    messages = [r.getMessage() for r in failures]
    assert len([m for m in messages if "login failure by" in m]) == LIMIT
    assert any("Locking out" in m for m in messages)
    assert all("127.0.0.1" in m for m in messages)
    assert all(partner_a.admin.email in m for m in messages)
    assert AccessFailureLog.objects.filter(username=partner_a.admin.email).count() == LIMIT
    # The attempts keep the form's data for an investigation, the password masked.
    assert "wrong-password" not in AccessAttempt.objects.get().post_data
    assert AccessFailureLog.objects.filter(locked_out=True).count() == 1


def test_signin_throttle_covers_the_admin_login_too(partner_a, reviewer):
    client = Client()
    statuses = [
        client.post("/admin/login/", {"username": reviewer.email, "password": "wrong", "otp_token": "000000"})
        for _ in range(LIMIT)
    ]

    assert [r.status_code for r in statuses] == [200, 200, 200, 200, 429]
    assert "Too many sign-in attempts" in statuses[-1].content.decode()


def test_signin_throttle_unknown_accounts_are_throttled_like_real_ones(client, db):
    # The answers do not tell an attacker which emails have accounts.
    assert _fail(client, "nobody@nowhere.example", LIMIT) == [200, 200, 200, 200, 429]


@pytest.mark.parametrize(
    "behind_proxy, forwarded, expected",
    [
        (False, "203.0.113.9", "10.0.0.2"),  # not behind a proxy: the header is the client's own say
        (True, "203.0.113.9", "203.0.113.9"),  # the address the proxy appended
        (True, "1.2.3.4, 203.0.113.9", "203.0.113.9"),  # a client-sent entry to its left is ignored
        (True, "2001:db8::1", "2001:db8::1"),
        (True, "not-an-address", "10.0.0.2"),  # malformed: the proxy's address, never a client's choice
        (True, "", "10.0.0.2"),
    ],
)
def test_signin_throttle_client_address_is_the_real_one(settings, behind_proxy, forwarded, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"] if behind_proxy else []
    request = RequestFactory().post("/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def test_signin_throttle_behind_a_proxy_a_forged_header_does_not_reset_the_count(settings, client, partner_a):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    statuses = [
        _sign_in(client, partner_a.admin.email, "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.20").status_code
        for n in range(LIMIT)
    ]

    assert statuses == [200, 200, 200, 200, 429]
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["198.51.100.20"]


# --- per client, across accounts (password spraying) --------------------------------------------------------------

CLIENT_LIMIT = 10
SPRAYED = "Winter-2026-spray"  # one password, tried on many accounts


def _accounts(n):
    return [make_user(f"user{i}@spray.example").email for i in range(n)]


def test_signin_throttle_spraying_many_accounts_from_one_client_is_refused_before_the_20th(client, partner_a):
    accounts = _accounts(20)

    statuses = [_sign_in(client, email, SPRAYED).status_code for email in accounts]

    # Each account failed once only (axes' per-account count is far from its limit): the client's count stops it.
    assert statuses == [200] * CLIENT_LIMIT + [429] * (20 - CLIENT_LIMIT)
    assert not AccessAttempt.objects.filter(failures_since_start__gt=1).exists()
    # Whatever account it tries next, with the right password too: no session, and the password is not checked.
    response = _sign_in(client, partner_a.admin.email, PASSWORD)
    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    html = response.content.decode()
    assert "Nobody can sign in from your network right now, whatever the account" in html
    assert "Try again in 15 minutes." in html
    # Refused attempts are not failures: they neither push the lock further nor count against the accounts.
    assert AccessFailureLog.objects.count() == CLIENT_LIMIT
    # Another client signs in to any of them.
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert _sign_in(other, partner_a.admin.email, PASSWORD).status_code == 302


def test_signin_throttle_client_lock_also_refuses_the_admin_login(client, partner_a, reviewer):
    for email in _accounts(CLIENT_LIMIT):
        _sign_in(client, email, SPRAYED)

    response = client.post("/admin/login/", {"username": reviewer.email, "password": PASSWORD, "otp_token": "1"})

    assert response.status_code == 429
    assert "Nobody can sign in from your network" in response.content.decode()


def test_signin_throttle_client_lock_ends_when_its_failures_leave_the_window(client, partner_a):
    start = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=datetime.UTC)
    accounts = _accounts(CLIENT_LIMIT)
    for minute, email in enumerate(accounts):
        with time_machine.travel(start + datetime.timedelta(minutes=minute), tick=False):
            _sign_in(client, email, SPRAYED)

    # Locked until the oldest of the ten failures is 15 minutes old; the page says how long is left.
    with time_machine.travel(start + datetime.timedelta(minutes=12), tick=False):
        response = _sign_in(client, partner_a.admin.email, PASSWORD)
        assert response.status_code == 429
        assert "Try again in 3 minutes." in response.content.decode()
    with time_machine.travel(start + datetime.timedelta(minutes=14, seconds=59), tick=False):
        assert _sign_in(client, partner_a.admin.email, PASSWORD).status_code == 429
    with time_machine.travel(start + datetime.timedelta(minutes=15, seconds=1), tick=False):
        assert _sign_in(client, partner_a.admin.email, PASSWORD).status_code == 302


def test_signin_throttle_client_is_an_ipv6_clients_64(partner_a):
    # An IPv6 subscriber has a /64 to pick addresses from: a new one per guess gains nothing.
    for n, email in enumerate(_accounts(CLIENT_LIMIT), start=1):
        _sign_in(Client(REMOTE_ADDR=f"2001:db8:1:2::{n:x}"), email, SPRAYED)

    assert _sign_in(Client(REMOTE_ADDR="2001:db8:1:2::ff"), partner_a.admin.email, PASSWORD).status_code == 429
    assert _sign_in(Client(REMOTE_ADDR="2001:db8:1:3::1"), partner_a.admin.email, PASSWORD).status_code == 302


def test_signin_throttle_an_admin_lifts_a_client_lock_by_deleting_its_failures(client, partner_a):
    for email in _accounts(CLIENT_LIMIT):
        _sign_in(client, email, SPRAYED)
    assert _sign_in(client, partner_a.admin.email, PASSWORD).status_code == 429
    admin = make_user("admin@cpor.example", is_staff=True)
    admin.is_superuser = True
    admin.save()
    admin_client = reviewer_login(Client(REMOTE_ADDR="198.51.100.7"), admin)
    failures = list(AccessFailureLog.objects.filter(ip_address="127.0.0.1").values_list("pk", flat=True))

    response = admin_client.post(
        "/admin/axes/accessfailurelog/", {"action": "delete_selected", "_selected_action": failures, "post": "yes"}
    )

    assert response.status_code == 302
    assert _sign_in(client, partner_a.admin.email, PASSWORD).status_code == 302
