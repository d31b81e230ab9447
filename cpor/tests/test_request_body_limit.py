"""The request-body cap (SPEC §14, issue 14): a body longer than any form needs gets the 413 page before a byte of
it is read, under the test server and under gunicorn alike; a body of no declared length gets the 411 page."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from conftest import ROOT, _stop, _wait_for

MB = 1024 * 1024
DECLARED = 150 * MB
# What the client sends of that body before it waits for the answer.
SENT = 4096


def _answer(port, head, body):
    """Send ``head`` and ``body`` on a fresh connection and read the answer up to the end of its page, never sending
    more. A server that waited for the rest of the body would answer nothing: the read times out."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head.encode("latin-1") + body)
        received = b""
        while b"</html>" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), rest.decode("utf-8", "replace")


def _declared_post(length, *, language="en"):
    return (
        "POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {length}\r\nAccept-Language: {language}\r\n\r\n"
    )


def _chunked_post():
    return (
        "POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )


def test_request_body_limit_default_holds_a_full_form_and_little_more():
    full_form = settings.POE_MAX_FILES * settings.POE_MAX_BYTES
    assert full_form < settings.REQUEST_MAX_BYTES <= full_form + 4 * MB


@pytest.mark.django_db
def test_request_body_limit_declared_length_over_the_cap_is_413_without_reading_the_body(client):
    # The test client's body is a few bytes: reading past them raises, so a 413 here means nothing read them.
    response = client.post(
        reverse("login"), data=b"x" * 10, content_type="application/octet-stream", CONTENT_LENGTH=str(DECLARED)
    )

    assert response.status_code == 413
    page = response.content.decode()
    assert "<h1>Too much to send at once</h1>" in page
    assert f"larger than {settings.REQUEST_MAX_BYTES // MB} MB" in page
    assert 'class="skip-link"' in page and 'href="/"' in page
    # The headers every response carries come with it (the cap sits after the middleware that sets them).
    assert "no-store" in response["Cache-Control"]
    assert "Content-Security-Policy" in response


@pytest.mark.django_db
def test_request_body_limit_page_in_traditional_chinese(client):
    response = client.post(
        reverse("login"),
        data=b"x",
        content_type="application/octet-stream",
        CONTENT_LENGTH=str(DECLARED),
        HTTP_ACCEPT_LANGUAGE="zh-Hant",
    )

    assert response.status_code == 413
    assert response["Content-Language"] == "zh-hant"
    page = response.content.decode()
    assert "一次傳送的內容太多" in page
    assert "Too much to send at once" not in page


@pytest.mark.django_db
def test_request_body_limit_is_exact(client, settings):
    settings.REQUEST_MAX_BYTES = 1000
    body = b"a=" + b"b" * 998

    at_cap = client.post(reverse("login"), data=body, content_type="application/x-www-form-urlencoded")
    over = client.post(reverse("login"), data=body + b"c", content_type="application/x-www-form-urlencoded")

    assert at_cap.status_code == 200  # the sign-in form again: the body was read and judged as usual
    assert over.status_code == 413


@pytest.mark.django_db(transaction=True)
def test_request_body_limit_live_server_answers_150_mb_after_a_few_kilobytes(live_server):
    port = int(live_server.url.rsplit(":", 1)[1])

    status, page = _answer(port, _declared_post(DECLARED), b"-" * SENT)

    assert status == 413
    assert "<h1>Too much to send at once</h1>" in page


@pytest.mark.django_db(transaction=True)
def test_request_body_limit_live_server_answers_a_chunked_body_with_411(live_server):
    port = int(live_server.url.rsplit(":", 1)[1])

    status, page = _answer(port, _chunked_post(), b"1000\r\n" + b"a" * SENT)

    assert status == 411
    assert "<h1>We could not read that request</h1>" in page


@pytest.fixture(scope="module")
def gunicorn_port(tmp_path_factory):
    """A real gunicorn (one sync worker, as `make run` starts it) on the test settings; stopped by PID. The refusal
    needs no database: the page is rendered before the session or the user is looked up."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cpor.test_settings"}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    log = tmp_path_factory.mktemp("gunicorn") / "web.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [gunicorn, "cpor.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def up():
            assert process.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return b"Booting worker" in log.read_bytes()

        _wait_for(up, seconds=60, what=f"gunicorn on port {port}")
        yield port
    finally:
        _stop(process)


def test_request_body_limit_gunicorn_answers_150_mb_after_a_few_kilobytes(gunicorn_port):
    status, page = _answer(gunicorn_port, _declared_post(DECLARED, language="zh-Hant"), b"-" * SENT)

    assert status == 413
    assert "一次傳送的內容太多" in page


def test_request_body_limit_gunicorn_answers_a_chunked_body_with_411(gunicorn_port):
    status, page = _answer(gunicorn_port, _chunked_post(), b"1000\r\n" + b"a" * SENT)

    assert status == 411
    assert re.search(r"<h1>We could not read that request</h1>", page)


def test_request_body_limit_client_under_the_cap_is_not_refused(db):
    client = Client()
    response = client.post(reverse("login"), {"username": "nobody@example.com", "password": "x"})

    assert response.status_code == 200
