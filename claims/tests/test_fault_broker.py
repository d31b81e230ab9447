"""Outages of the broker and the cache (SPEC §14 "Outages"), with real servers this module starts and breaks itself:
a Redis stopped, frozen or flushed while partners submit, and a loopback socket that accepts and never answers.

The promise: no request waits more than two seconds on them, the claim is saved (PostgreSQL is the source of
truth), and the requeue job rebuilds the lost work, which a real worker then does, once.
"""

import datetime
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from contextlib import contextmanager

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from claims.models import Claim, ClaimEvent, ClaimStatus, PendingUpload
from claims.services import claims_requeue_unvalidated
from claims.services.jobs import task_send
from claims.services.transitions import claim_event_record
from claims.tests.factories import claim_make
from claims.tests.invariants import assert_invariants
from claims.tests.outages import socket_waits
from claims.tests.wizard_steps import step_data, submit, walk_m365, wizard_url
from conftest import ROOT, S3_PORT, _stop, _wait_for, celery_worker_start, database_url, free_port

pytestmark = pytest.mark.django_db(transaction=True)

# SPEC §14: a broker or cache that does not answer delays no request by more than this. The delay is the time the
# request spent on the broker and cache: the time it held a connection to the test's silent server open
# (``_Silent.waited``), or spent in socket calls to the test's own Redis (``socket_waits``), the outage's share of
# the request, which a machine busy with other tests does not lengthen (``_assert_within_the_promise``).
REQUEST_SECONDS = 2.0
NOW = datetime.timedelta(0)
# Where claim_validate_task waits (cpor/settings.py routes it by name; the test worker's own queue).
VALIDATION_QUEUE = settings.CELERY_TASK_ROUTES["claims.tasks.claim_validate_task"]["queue"]


def _assert_within_the_promise(timing, bound=REQUEST_SECONDS):
    """The outage delayed the block by less than ``bound``; and the whole block took less than twice that, so that no
    pause outside the sockets (a sleep between retries) hides from the measure on a machine busy with other tests."""
    assert timing.waited < bound, vars(timing)
    assert timing.seconds < 2 * bound, vars(timing)


def _assert_saved(response, key):
    """The final step answered with the claim's page and the claim of this wizard run is whole: submitted, one
    event, its item and document, no upload left behind."""
    claim = Claim.objects.get(submission_key=key)
    assert response.status_code == 302
    assert response.url == reverse("claims:detail", args=[claim.pk])
    assert claim.status == ClaimStatus.SUBMITTED
    assert list(claim.events.values_list("action", flat=True)) == [ClaimEvent.Action.SUBMITTED]
    assert claim.items.count() == 1
    assert claim.documents.count() == 1
    assert not PendingUpload.objects.exists()
    return claim


def _validations(claim):
    return list(
        claim.events.filter(action__in=[ClaimEvent.Action.VALIDATED, ClaimEvent.Action.VALIDATION_FAILED]).values_list(
            "action", flat=True
        )
    )


def _status(claim):
    return Claim.objects.values_list("status", flat=True).get(pk=claim.pk)


def _submitted_claim(actor, tenant, product):
    """A submitted claim as the wizard leaves it: the rows and the submission event, committed."""
    claim = claim_make(actor, tenant=tenant, products=[product])
    claim_event_record(
        claim=claim, actor=ClaimEvent.Actor.PARTNER, action=ClaimEvent.Action.SUBMITTED, new_status=claim.status
    )
    return claim


class _Silent:
    """What a silent server saw: when each connection was opened and when its client gave up on it (closed it)."""

    def __init__(self, port):
        self.port = port
        self.connections = []  # [opened, closed or None], monotonic seconds

    def waited(self, since, until):
        """The seconds between ``since`` and ``until`` during which a client held a connection open, waiting for an
        answer that never comes: the delay the outage itself made, whatever else the machine was busy with."""
        spans = sorted((max(opened, since), min(closed or until, until)) for opened, closed in self.connections)
        total, reached = 0.0, since
        for opened, closed in spans:
            opened = max(opened, reached)
            if closed > opened:
                total, reached = total + closed - opened, closed
        return total

    @contextmanager
    def delay(self):
        """Times the block: ``seconds`` its whole time, ``waited`` the part of it spent waiting on this server."""
        timing = types.SimpleNamespace()
        started = time.monotonic()
        try:
            yield timing
        finally:
            ended = time.monotonic()
            timing.seconds, timing.waited = ended - started, self.waited(started, ended)


@contextmanager
def _silent_server():
    """A loopback TCP server that accepts every connection and never sends a byte; yields a ``_Silent``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)  # the accepting thread looks at ``done`` between connections
    held, done = [], threading.Event()
    silent = _Silent(server.getsockname()[1])

    def read_until_closed(connection, record):
        try:
            while connection.recv(65536):
                pass
        except OSError:
            pass
        record[1] = time.monotonic()

    def accept():
        while not done.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            record = [time.monotonic(), None]
            silent.connections.append(record)
            held.append(connection)
            threading.Thread(target=read_until_closed, args=(connection, record), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield silent
    finally:
        done.set()
        server.close()
        for connection in held:
            connection.close()
        thread.join(timeout=2)


def _cache_at(url):
    """The project's cache settings (timeouts included) pointed at another Redis."""
    return {"default": {**settings.CACHES["default"], "LOCATION": url}}


def test_fault_redis_stopped_submit_answers_and_work_is_rebuilt(
    client_a, partner_a, m365_tenant, products, own_redis, broker_at, tmp_path, s3_objects
):
    own_redis.client().flushall()
    key = walk_m365(client_a, [products["microsoft-teams"]])
    with broker_at(own_redis.url()):
        own_redis.stop()
        with socket_waits(own_redis.port) as submitting:
            response = submit(client_a, key)
        _assert_within_the_promise(submitting)
        claim = _assert_saved(response, key)

        # Redis is back: the requeue job rebuilds the lost task from PostgreSQL and a worker validates the claim.
        own_redis.start()
        worker = celery_worker_start(broker_url=own_redis.url(), workdir=tmp_path)
        try:
            assert claims_requeue_unvalidated(older_than=NOW) == 1
            _wait_for(lambda: _status(claim) == ClaimStatus.UNDER_REVIEW, seconds=30, what="validation")
        finally:
            _stop(worker)
    assert _validations(claim) == [ClaimEvent.Action.VALIDATED]
    assert_invariants(storage_keys=s3_objects())


def test_fault_redis_flushed_with_tasks_queued_work_is_rebuilt(
    partner_a, m365_tenant, products, own_redis, broker_at, tmp_path, s3_objects
):
    own_redis.client().flushall()
    codes = ["microsoft-teams", "exchange-online", "sharepoint-online"]
    claims = [_submitted_claim(partner_a, m365_tenant, products[code]) for code in codes]
    with broker_at(own_redis.url()):
        for claim in claims:
            task_send("claim_validate_task", claim_id=claim.pk)
        assert own_redis.client().llen(VALIDATION_QUEUE) == 3
        own_redis.client().flushall()
        assert own_redis.client().llen(VALIDATION_QUEUE) == 0

        worker = celery_worker_start(broker_url=own_redis.url(), workdir=tmp_path)
        try:
            assert claims_requeue_unvalidated(older_than=NOW) == 3
            _wait_for(
                lambda: all(_status(c) == ClaimStatus.UNDER_REVIEW for c in claims), seconds=30, what="validation"
            )
        finally:
            _stop(worker)
    assert [_validations(c) for c in claims] == [[ClaimEvent.Action.VALIDATED]] * 3
    assert_invariants(storage_keys=s3_objects())


def test_fault_silent_broker_and_cache_submit_answers_within_two_seconds(
    client_a, partner_a, m365_tenant, products, broker_at, s3_objects
):
    key = walk_m365(client_a, [products["microsoft-teams"]])
    with _silent_server() as server:
        silent = f"redis://127.0.0.1:{server.port}/0"
        with broker_at(silent), override_settings(CACHES=_cache_at(silent)):
            with server.delay() as submitting:
                response = submit(client_a, key)
            _assert_within_the_promise(submitting)
            claim = _assert_saved(response, key)

            with server.delay() as reading:
                page = client_a.get(response.url)
            assert page.status_code == 200
            _assert_within_the_promise(reading)

            # Whatever reads the cache (the rate limits) gets an error within the timeout, never a wait.
            with server.delay() as caching, pytest.raises(redis.exceptions.TimeoutError):
                cache.get("cpor:anything")
            _assert_within_the_promise(caching, settings.REDIS_TIMEOUT * 2)
    # Nothing half-written: the claim waits for validation, which the requeue job will send.
    assert _status(claim) == ClaimStatus.SUBMITTED
    assert_invariants(storage_keys=s3_objects())


def test_fault_frozen_broker_submit_answers_within_two_seconds(
    client_a, partner_a, m365_tenant, products, own_redis, broker_at, s3_objects
):
    """A broker that stops answering on a connection already open (the pool's): Redis frozen with SIGSTOP."""
    own_redis.client().flushall()
    key = walk_m365(client_a, [products["microsoft-teams"]])
    other = _submitted_claim(partner_a, m365_tenant, products["exchange-online"])
    with broker_at(own_redis.url()):
        task_send("claim_validate_task", claim_id=other.pk)  # the pool now holds an open connection
        own_redis.process.send_signal(signal.SIGSTOP)
        try:
            with socket_waits(own_redis.port) as submitting:
                response = submit(client_a, key)
        finally:
            own_redis.process.send_signal(signal.SIGCONT)
        _assert_within_the_promise(submitting)
        claim = _assert_saved(response, key)

        # Back: the requeue job sends both validations again (the first send may or may not have landed).
        own_redis.client().flushall()
        assert claims_requeue_unvalidated(older_than=NOW) == 2
        assert own_redis.client().llen(VALIDATION_QUEUE) == 1  # one task validates the oldest waiting batch
    assert _status(claim) == ClaimStatus.SUBMITTED
    assert_invariants(storage_keys=s3_objects())


def test_fault_silent_broker_several_sends_after_commit_wait_once(partner_a, m365_tenant, products, broker_at):
    """A request that enqueues several tasks waits for a silent broker once, not once per task."""
    from django.db import transaction

    from claims.services.jobs import task_send_on_commit

    claims = [_submitted_claim(partner_a, m365_tenant, products[code]) for code in ["microsoft-teams", "yammer"]]
    with (
        _silent_server() as server,
        broker_at(f"redis://127.0.0.1:{server.port}/0"),
        server.delay() as sending,
        transaction.atomic(),
    ):
        for claim in claims * 3:
            task_send_on_commit("claim_validate_task", claim_id=claim.pk)
    _assert_within_the_promise(sending, settings.REDIS_TIMEOUT * 3)
    assert [_status(c) for c in claims] == [ClaimStatus.SUBMITTED] * 2


def test_fault_silent_broker_and_cache_gunicorn_final_step_within_two_seconds(
    client_a, partner_a, m365_tenant, products, tmp_path, s3_objects
):
    """The same promise from a real gunicorn whose environment names the silent server as broker and cache: the
    wizard is walked with the test client (its state is in the database session), the final POST goes over HTTP."""
    import requests

    key = walk_m365(client_a, [products["microsoft-teams"]])
    session_id = client_a.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = client_a.cookies[settings.CSRF_COOKIE_NAME].value
    port = free_port()
    with _silent_server() as server:
        silent = f"redis://127.0.0.1:{server.port}/0"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cpor.test_settings",
            "TEST_S3_PORT": str(S3_PORT),
            "TEST_DATABASE_URL": database_url(settings.DATABASES["default"]["NAME"]),
            "TEST_CELERY_BROKER_URL": silent,
            "TEST_CACHE_URL": silent,
        }
        with open(tmp_path / "gunicorn.log", "wb") as out:
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "cpor.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "-t", "30"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok, seconds=30, what="gunicorn")
            # The worker's first page loads what a cold process imports and compiles once (views, templates,
            # catalogs): not the outage's delay, so it is not timed.
            cookies = {settings.SESSION_COOKIE_NAME: session_id}
            assert requests.get(base + reverse("claims:list"), cookies=cookies, timeout=30).status_code == 200
            with server.delay() as posting:
                response = requests.post(
                    base + wizard_url(),
                    data={**step_data("review", {"comments": ""}), "submission_key": key, "csrfmiddlewaretoken": csrf},
                    cookies={settings.SESSION_COOKIE_NAME: session_id, settings.CSRF_COOKIE_NAME: csrf},
                    allow_redirects=False,
                    timeout=30,
                )
        finally:
            _stop(gunicorn)
    assert response.status_code == 302, (tmp_path / "gunicorn.log").read_text()[-2000:]
    _assert_within_the_promise(posting)
    claim = Claim.objects.get(submission_key=key)
    assert response.headers["Location"] == reverse("claims:detail", args=[claim.pk])
    assert claim.status == ClaimStatus.SUBMITTED
    assert list(claim.events.values_list("action", flat=True)) == [ClaimEvent.Action.SUBMITTED]
    assert not PendingUpload.objects.exists()
    assert_invariants(storage_keys=s3_objects())
