"""Password reset by email (SPEC §14), end to end: the request writes an outbox row, the outbox's sweep sends the
email (through the test process's mail outbox, or a real SMTP server on loopback), the link sets a new password.

The attack (issue 14): 40 requests for one address sent 40 emails; the request spoke SMTP itself, so its time told
which addresses have accounts (5 ms vs 20 s with a silent SMTP server) and a reset asked during an SMTP outage was
lost. Now: no SMTP in the request, the same work and answer for every address, limits per address (PostgreSQL)
and per client (the cache, failing open), and the outbox's retry schedule.
"""

import datetime
import logging
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.db import IntegrityError, connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from associations.models import UserPreference
from associations.tests.fixtures import PASSWORD
from claims.models import EmailNotification
from claims.services import emails_send_due, password_reset_request
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-new-long-passphrase-2027"
URL = "/password-reset/"
# One fixed instant: every request of a test falls in the same window of the limits.
NOW = datetime.datetime(2026, 11, 30, 12, 0, 5, tzinfo=datetime.UTC)
EMAIL_LIMIT = 3
CLIENT_LIMIT = 10
# The mailer's timeout in the silent-server test: a request that spoke SMTP would wait this long at least.
SILENT_SMTP_TIMEOUT = 30


def _reset_link(body, settings):
    match = re.search(re.escape(settings.SITE_URL) + r"(/password-reset/[^/\s\"]+/[^/\s\"]+/)", body)
    assert match, body
    return match.group(1)


def _text(message):
    """The plain-text body of a message the SMTP server received."""
    return message.get_body(("plain",)).get_content()


def _resets():
    return EmailNotification.objects.filter(kind=EmailNotification.Kind.PASSWORD_RESET)


def _new_password_works(client, link, user):
    form_url = client.get(link)["Location"]
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/password-reset/done/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.post("/login/", {"username": user.email, "password": NEW_PASSWORD}).status_code == 302


def test_password_reset_login_page_links_to_it(client):
    html = client.get("/login/").content.decode()

    assert '<a href="/password-reset/">Forgot your password?</a>' in html


def test_password_reset_by_email_end_to_end(client, partner_a, mailoutbox, settings):
    user = partner_a.admin
    page = client.get(URL)
    assert page.status_code == 200
    assert "Reset your password" in page.content.decode()

    # The address as people type it: any case.
    response = client.post(URL, {"email": user.email.upper()})
    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert "Check your email" in client.get(response["Location"]).content.decode()
    # The request only queued it: one outbox row for the account, sent by the sweep.
    assert mailoutbox == []
    row = _resets().get()
    assert (row.user, row.address, row.claim, row.state) == (user, user.email, None, "pending")

    assert emails_send_due() == 1
    (message,) = mailoutbox
    assert message.to == [user.email]
    assert message.subject == "Reset your CPOR claims password"
    assert message.message()["From"] == settings.DEFAULT_FROM_EMAIL  # the envelope sender is its VERP address
    link = _reset_link(message.body, settings)
    (html, _type) = message.alternatives[0]
    assert f'href="{settings.SITE_URL}{link}"' in html

    # Django's confirm view swaps the token for a session marker, then shows the form.
    form_url = client.get(link)["Location"]
    assert form_url.endswith("/set-password/")
    form = client.get(form_url)
    assert "Choose a new password" in form.content.decode()
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/password-reset/done/"
    assert "Password changed" in client.get(done["Location"]).content.decode()

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.post("/login/", {"username": user.email, "password": PASSWORD}).status_code == 200
    assert client.post("/login/", {"username": user.email, "password": NEW_PASSWORD}).status_code == 302
    assert SESSION_KEY in client.session

    # The link works once.
    client.post("/logout/")
    again = client.get(link, follow=True)
    assert "This link does not work any more" in again.content.decode()


def test_password_reset_link_is_built_on_site_url_not_the_host_header(client, partner_a, mailoutbox, settings):
    # Whoever asks for a reset controls the Host header; a link to their server would leak the token.
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "https://claims.cpor.example"

    client.post(URL, {"email": partner_a.admin.email}, HTTP_HOST="evil.example")
    emails_send_due()

    (message,) = mailoutbox
    assert "https://claims.cpor.example/password-reset/" in message.body
    assert "evil.example" not in message.body


def test_password_reset_unknown_address_says_the_same_and_sends_nothing(client, db, mailoutbox):
    # The answer does not tell who has an account.
    response = client.post(URL, {"email": "nobody@nowhere.example"})

    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    # Its row is written as a known address's is; the sender finds nobody to send it to.
    row = _resets().get()
    assert (row.user, row.address) == (None, "nobody@nowhere.example")
    emails_send_due()
    assert mailoutbox == []
    row.refresh_from_db()
    assert row.state == "sent"


def test_password_reset_inactive_account_gets_nothing(client, partner_a, mailoutbox):
    partner_a.viewer.is_active = False
    partner_a.viewer.save()

    assert client.post(URL, {"email": partner_a.viewer.email})["Location"] == "/password-reset/sent/"
    emails_send_due()

    assert mailoutbox == []


def test_password_reset_email_is_in_the_users_saved_language(client, partner_a, mailoutbox, settings):
    UserPreference.objects.create(user=partner_a.admin, language="zh-hant")

    client.post(URL, {"email": partner_a.admin.email})
    emails_send_due()

    (message,) = mailoutbox
    assert message.subject == "重設您的 CPOR 宣告密碼"
    assert "Reset" not in message.body
    assert _reset_link(message.body, settings)


@pytest.fixture
def silent_smtp():
    """An SMTP server on loopback that accepts connections and never answers (no greeting), as in the attack: a
    request that spoke SMTP would wait for the mailer's timeout. ``accepted``: the connections it took;
    ``mailer``: a mailer sending to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    accepted = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    mailer = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": "127.0.0.1", "port": server.getsockname()[1], "timeout": SILENT_SMTP_TIMEOUT},
    }
    try:
        yield SimpleNamespace(accepted=accepted, mailer=mailer)
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def _without_csrf_token(html):
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def _query_shapes(context):
    """The SQL of each query, its values (an address, a user's id or NULL) and savepoint names left out."""
    return [re.sub(r"'[^']*'|\b\d+\b|\bNULL\b|\"s\d+_x\d+\"", "?", query["sql"]) for query in context.captured_queries]


def test_password_reset_known_and_unknown_addresses_get_the_same_answer_and_no_smtp_in_the_request(
    partner_a, silent_smtp, smtp, settings, django_capture_on_commit_callbacks
):
    settings.MAILERS = {"default": silent_smtp.mailer}
    answers = {}
    for address in (partner_a.admin.email, "nobody@nowhere.example"):
        client = Client()
        client.get(URL)
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            started = time.monotonic()
            response = client.post(URL, {"email": address})
            elapsed = time.monotonic() - started
        shapes = _query_shapes(queries)  # before the next request, which empties the connection's log
        page = client.get(response["Location"])
        answers[address] = (response.status_code, response["Location"], response.content, page.status_code)
        answers[address] += (_without_csrf_token(page.content.decode()), shapes)
        # No SMTP connection at all while the request ran, so no wait for the silent server.
        assert silent_smtp.accepted == []
        assert elapsed < SILENT_SMTP_TIMEOUT

    known, unknown = answers.values()
    assert known == unknown
    assert known[:2] == (302, "/password-reset/sent/")
    assert "INSERT INTO" in " ".join(known[5])
    assert _resets().count() == 2

    # Later, the sweep sends the account's email, and nothing for the unknown address.
    settings.MAILERS = {"default": smtp.mailer}
    assert emails_send_due() == 2
    (message,) = smtp.messages
    assert message["X-Test-Rcpt-To"] == partner_a.admin.email
    assert silent_smtp.accepted == []


def test_password_reset_forty_requests_for_one_address_send_at_most_the_limit(client, partner_a, smtp):
    email = partner_a.admin.email
    with time_machine.travel(NOW, tick=False):
        statuses = [client.post(URL, {"email": email}).status_code for _ in range(40)]
        last = client.post(URL, {"email": email})

    assert statuses == [302] * EMAIL_LIMIT + [429] * (40 - EMAIL_LIMIT)
    assert last.status_code == 429
    assert "Too many password reset requests" in last.content.decode()
    emails_send_due()
    assert _resets().count() == EMAIL_LIMIT
    assert len(smtp.messages) == EMAIL_LIMIT
    assert {message["X-Test-Rcpt-To"] for message in smtp.messages} == {email}


def test_password_reset_limit_per_address_counts_unknown_addresses_alike_and_ends_with_its_period(client, db):
    # An address without an account reaches the limit at the same request as one with: the 429 tells nothing.
    with time_machine.travel(NOW, tick=False):
        statuses = [client.post(URL, {"email": "nobody@nowhere.example"}).status_code for _ in range(EMAIL_LIMIT + 1)]
    assert statuses == [302] * EMAIL_LIMIT + [429]

    with time_machine.travel(NOW + datetime.timedelta(minutes=61), tick=False):
        assert Client().post(URL, {"email": "nobody@nowhere.example"}).status_code == 302


def test_password_reset_limit_per_client_across_addresses(client, db):
    with time_machine.travel(NOW, tick=False):
        addresses = [f"someone-{n}@example.com" for n in range(CLIENT_LIMIT + 1)]
        statuses = [client.post(URL, {"email": address}).status_code for address in addresses]
        other_client = Client(REMOTE_ADDR="198.51.100.7").post(URL, {"email": "someone-else@example.com"})

    assert statuses == [302] * CLIENT_LIMIT + [429]
    assert other_client.status_code == 302
    assert _resets().count() == CLIENT_LIMIT + 1


def test_password_reset_limit_page_is_clear_in_both_languages(client, db):
    with time_machine.travel(NOW, tick=False):
        for _ in range(EMAIL_LIMIT):
            client.post(URL, {"email": "nobody@nowhere.example"})
        english = client.post(URL, {"email": "nobody@nowhere.example"})
        chinese = client.post(URL, {"email": "nobody@nowhere.example"}, HTTP_ACCEPT_LANGUAGE="zh-Hant")

    assert english.status_code == chinese.status_code == 429
    html = english.content.decode()
    assert "<h1>Too many password reset requests</h1>" in html
    assert "You can ask for a new link in 60 minutes." in html
    html = chinese.content.decode()
    assert "Too many" not in html
    assert "60" in html


@pytest.mark.parametrize("cache", ["refused", "silent"])
def test_password_reset_fails_open_when_the_cache_is_down_and_the_address_limit_holds(client, db, cache, caplog):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        if cache == "silent":
            silent.listen(16)  # accepts (the kernel's backlog), never answers
        port = silent.getsockname()[1]
        caches = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            }
        }
        with override_settings(CACHES=caches), caplog.at_level(logging.WARNING, logger="cpor.views"):
            statuses = [client.post(URL, {"email": "nobody@nowhere.example"}).status_code for _ in range(5)]

    assert statuses == [302] * EMAIL_LIMIT + [429] * 2
    assert sum("Password reset rate limit not checked" in r.getMessage() for r in caplog.records) == 5


@pytest.mark.django_db(transaction=True)
def test_password_reset_limit_per_address_holds_under_concurrent_requests(partner_a):
    def ask(_):
        try:
            return password_reset_request(address=partner_a.admin.email)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ask, range(24)))

    assert results.count(True) == EMAIL_LIMIT
    assert _resets().count() == EMAIL_LIMIT


def test_password_reset_smtp_outage_loses_nothing_and_the_link_works_once_the_server_is_back(
    client, partner_a, smtp, settings
):
    user = partner_a.admin
    smtp.mode = "refuse"  # 451 to every message, as a server in trouble
    assert client.post(URL, {"email": user.email})["Location"] == "/password-reset/sent/"

    # The sweep tries, the server refuses: the row waits its backoff on the outbox's schedule.
    assert emails_send_due() == 0
    row = _resets().get()
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > row.created_at
    assert smtp.refused == 1

    # The server is back. Not due yet: a sweep now tries nothing (no storm); the next due one sends it.
    smtp.mode = "accept"
    assert emails_send_due() == 0
    assert smtp.messages == []
    assert emails_send_due(now=row.next_attempt_at) == 1
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)
    (message,) = smtp.messages
    assert message["X-Test-Rcpt-To"] == user.email

    _new_password_works(client, _reset_link(_text(message), settings), user)


def _confirm_form(client, partner_a, mailoutbox, settings):
    client.post(URL, {"email": partner_a.admin.email})
    emails_send_due()
    return client.get(_reset_link(mailoutbox[0].body, settings))["Location"]


def test_password_reset_weak_new_password_is_refused(client, partner_a, mailoutbox, settings):
    form_url = _confirm_form(client, partner_a, mailoutbox, settings)

    response = client.post(form_url, {"new_password1": "password", "new_password2": "password"})

    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    partner_a.admin.refresh_from_db()
    assert partner_a.admin.check_password(PASSWORD)


@pytest.mark.parametrize(
    "password, english, chinese",
    [
        (
            "Tr0ub4dor&3",  # 11 characters
            "This password is too short. It must contain at least 12 characters.",
            "密碼太短，必須至少 12 個字元。",  # noqa: RUF001 (Django's zh-Hant catalog)
        ),
        ("password1234", "This password is too common.", "這個密碼太常見了。"),
        ("admin@partner-a.example", "The password is too similar to the username.", "這個密碼與使用者名稱太相近。"),
    ],
)
def test_password_reset_new_password_needs_12_characters_and_no_common_or_similar_one(
    client, partner_a, mailoutbox, settings, password, english, chinese
):
    form_url = _confirm_form(client, partner_a, mailoutbox, settings)

    response = client.post(form_url, {"new_password1": password, "new_password2": password})
    in_chinese = client.post(
        form_url, {"new_password1": password, "new_password2": password}, HTTP_ACCEPT_LANGUAGE="zh-Hant"
    )

    assert response.status_code == in_chinese.status_code == 200
    assert english in response.content.decode()
    assert chinese in in_chinese.content.decode()
    partner_a.admin.refresh_from_db()
    assert partner_a.admin.check_password(PASSWORD)
    # Twelve characters of no common or similar kind are enough.
    done = client.post(form_url, {"new_password1": "iloveyou1234", "new_password2": "iloveyou1234"})
    assert done["Location"] == "/password-reset/done/"


def test_password_reset_outbox_rows_are_a_claims_email_or_a_reset_never_a_mix(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])
    refused = [
        {"kind": "password_reset", "address": ""},  # a reset names its address
        {"kind": "rejected", "address": ""},  # a claim's email has its claim
        {"kind": "password_reset", "address": "a@b.example", "claim": claim},
        {"kind": "rejected", "claim": claim, "address": "a@b.example"},
        {"kind": "rejected", "claim": claim, "user": partner_a.admin},
    ]
    for fields in refused:
        with pytest.raises(IntegrityError), transaction.atomic():
            EmailNotification.objects.create(**fields)

    EmailNotification.objects.create(kind="password_reset", address="a@b.example")
    EmailNotification.objects.create(kind="password_reset", address="a@b.example", user=partner_a.admin)
    EmailNotification.objects.create(kind="rejected", claim=claim)
    assert EmailNotification.objects.count() == 3
