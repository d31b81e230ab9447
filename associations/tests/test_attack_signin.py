"""Attack: guessing a password across two real gunicorn processes (SPEC §14, issue #8 "30 wrong passwords in 10 s,
then the right one, all answered normally").

Two gunicorn masters on their own loopback ports, sharing the test's PostgreSQL (where axes counts failures) and
Redis: the guesses alternate between them, and the lock-out one of them starts holds on the other.
"""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from axes.models import AccessAttempt
from django.conf import settings
from django.db import connection
from django_otp.oath import totp

from associations.tests.fixtures import PASSWORD, make_partner, make_user
from conftest import ROOT, _stop, _wait_for, database_url

LIMIT = 5


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def web_servers(django_db_setup, django_db_blocker, tmp_path_factory):
    """Two gunicorn processes (one sync worker each, like two web nodes) on the test database; stopped by PID."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cpor.test_settings",
        "TEST_DATABASE_URL": database_url(connection.settings_dict["NAME"]),
        "TEST_CACHE_URL": settings.CACHES["default"]["LOCATION"],
        "TEST_CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    processes, urls = [], []
    log_dir = tmp_path_factory.mktemp("gunicorn")
    try:
        for n in range(2):
            port = _free_port()
            with open(log_dir / f"web{n}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(
                        [gunicorn, "cpor.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for process, url in zip(processes, urls, strict=True):
            _wait_for(
                lambda url=url, process=process: (
                    process.poll() is None and requests.get(f"{url}/healthz", timeout=2).status_code == 200
                ),
                seconds=60,
                what=f"gunicorn at {url}",
            )
        yield urls
    finally:
        for process in processes:
            _stop(process)


def _csrf(session, url, path):
    html = session.get(f"{url}{path}", timeout=10).text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def _sign_in(session, url, email, password):
    token = _csrf(session, url, "/login/")
    return session.post(
        f"{url}/login/",
        data={"username": email, "password": password, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )


def _admin_sign_in(session, url, user):
    device = user.totp_device
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    token = _csrf(session, url, "/admin/login/")
    return session.post(
        f"{url}/admin/login/",
        data={"username": user.email, "password": PASSWORD, "otp_token": code, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )


@pytest.mark.django_db(transaction=True)
def test_attack_signin_guesses_across_two_web_processes_are_locked_out_until_an_admin_lifts_it(web_servers, products):
    partner = make_partner("Contoso Partners", mpn_ids=["1000001"], email_domain="partner-a.example")
    email = partner.admin.email
    attacker = requests.Session()

    # 1. Thirty wrong passwords, alternating between the two processes: the fifth is refused with 429 and so is
    #    every later one, whichever process answers.
    statuses = [_sign_in(attacker, web_servers[n % 2], email, f"guess-{n}").status_code for n in range(30)]
    assert statuses == [200] * (LIMIT - 1) + [429] * (30 - LIMIT + 1)
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == (email, "127.0.0.1", LIMIT)

    # 2. Then the right password: refused by both processes, and no session is made.
    for url in web_servers:
        locked = _sign_in(attacker, url, email, PASSWORD)
        assert locked.status_code == 429
        assert "Too many sign-in attempts" in locked.text
    assert attacker.get(f"{web_servers[0]}/incentives/customer-associations/", allow_redirects=False).status_code == 302

    # 3. An admin (a superuser with a TOTP device, on the first process) lifts the lock-out in axes' admin.
    root = make_user("root@cpor.example", is_staff=True)
    root.is_superuser = True
    root.save()
    admin = requests.Session()
    assert _admin_sign_in(admin, web_servers[0], root).status_code == 302
    token = _csrf(admin, web_servers[0], "/admin/axes/accessattempt/")
    lifted = admin.post(
        f"{web_servers[0]}/admin/axes/accessattempt/",
        data={
            "action": "delete_selected",
            "_selected_action": [attempt.pk],
            "post": "yes",
            "csrfmiddlewaretoken": token,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert lifted.status_code == 302
    assert not AccessAttempt.objects.exists()

    # 4. The right password now works on the other process, and the session it makes works on both.
    signed_in = _sign_in(attacker, web_servers[1], email, PASSWORD)
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/incentives/customer-associations/"
    for url in web_servers:
        page = attacker.get(f"{url}/incentives/customer-associations/", allow_redirects=False, timeout=10)
        assert page.status_code == 200


CLIENT_LIMIT = 10


@pytest.mark.django_db(transaction=True)
def test_attack_signin_spraying_one_password_over_many_accounts_across_two_web_processes_is_refused(
    web_servers, products
):
    # Issue 14: "20 accounts x 1 password from one client were all answered". One guess per account (far from
    # any account's own lock-out), alternating between the two processes: the client is refused from the 11th on,
    # whichever process answers, whatever the account, the right password included.
    partner = make_partner("Contoso Partners", mpn_ids=["1000001"], email_domain="partner-a.example")
    accounts = [make_user(f"user{n}@partner-a.example", partner=partner.partner).email for n in range(20)]
    attacker = requests.Session()

    statuses = [
        _sign_in(attacker, web_servers[n % 2], email, "Winter-2026-spray").status_code
        for n, email in enumerate(accounts)
    ]

    assert statuses == [200] * CLIENT_LIMIT + [429] * (20 - CLIENT_LIMIT)
    for url in web_servers:
        refused = _sign_in(attacker, url, partner.admin.email, PASSWORD)
        assert refused.status_code == 429
        assert "Nobody can sign in from your network right now" in refused.text
