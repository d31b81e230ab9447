"""Fault: SMTP failing, then recovering (SPEC §14 "Outages", §11 invariants).

Real processes, nothing mocked: an SMTP server this test starts on its own loopback port (aiosmtpd, refusing every
message with 451, then accepting) and a real Celery worker consuming Redis, configured to send through that
server. Reviewers' decisions queue the emails as in production (outbox rows, a wake-up task after commit). Hours
of outage are played by making the rows due (``next_attempt_at`` in the past) rather than by waiting, and the
sweep is the task beat sends every 30 seconds. Every email is sent exactly once, none is lost, and no run of the
sweep or of a stray wake-up adds an attempt to a row that is not due.
"""

import uuid
from collections import Counter

import pytest
from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from claims.models import ClaimStatus, EmailNotification
from claims.services import claim_approve, claim_reject, claim_request_information
from claims.tests.factories import claim_make
from conftest import _wait_for
from cpor.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp_worker(smtp_server, monkeypatch, request):
    """The worker, sending through the test's SMTP server (it reads TEST_EMAIL_URL, see cpor/test_settings.py)."""
    smtp_server.reset()
    monkeypatch.setenv("TEST_EMAIL_URL", smtp_server.url)
    yield request.getfixturevalue("celery_worker")
    smtp_server.reset()


def _worker_idle():
    """Wait until the worker has run every task sent before. One solo worker takes each queue in order, but not the
    queues in the order their tasks were sent (the sweep is on the email queue, the ping's own on the default one):
    a ping on every queue it consumes, each run after that queue's earlier tasks."""
    from django.conf import settings

    tokens = {queue.name: uuid.uuid4().hex for queue in settings.CELERY_TASK_QUEUES}
    for queue, token in tokens.items():
        app.send_task("cpor.ping", kwargs={"token": token}, queue=queue)
    for queue, token in tokens.items():
        _wait_for(lambda token=token: cache.get(f"cpor:ping:{token}"), seconds=30, what=f"the worker to run {queue}")


def _sweep(times=1):
    for _ in range(times):
        app.send_task("claims.tasks.emails_send_due_task")  # what beat sends every 30 seconds


def _attempts():
    return dict(EmailNotification.objects.values_list("pk", "attempts"))


def _time_passes():
    """The backoff of every waiting row has elapsed (what hours of outage do to the schedule)."""
    EmailNotification.objects.filter(state="pending").update(next_attempt_at=timezone.now())


def _assert_email_invariants(smtp_server):
    """SPEC §11 for the outbox (the shared invariants helper replaces this at merge): at most one sent email per
    event, no pending row forgotten, nothing half-sent, and the server got each sent row's message exactly once."""
    rows = EmailNotification.objects.all()
    duplicates = rows.values("claim", "kind", "association").annotate(n=Count("pk")).filter(n__gt=1)
    assert list(duplicates) == []
    assert not rows.filter(state="pending", next_attempt_at__isnull=True).exists()
    assert not rows.filter(state="sending").exists()
    assert not rows.filter(state="sent", sent_at__isnull=True).exists()
    received = Counter(smtp_server.message_ids())
    sent_ids = set(rows.filter(state="sent").values_list("message_id", flat=True))
    assert received == Counter(dict.fromkeys(sent_ids, 1))


def test_fault_smtp_failing_for_hours_then_recovering_sends_every_email_once(
    smtp_worker, smtp_server, partner_a, reviewer, m365_tenant, products
):
    smtp_server.mode = "refuse"
    claims = [
        claim_make(partner_a, tenant=m365_tenant, products=[product], status=ClaimStatus.UNDER_REVIEW, name=f"M365 {i}")
        for i, product in enumerate(
            [
                products["microsoft-teams"],
                products["yammer"],
                products["sharepoint-online"],
                products["exchange-online"],
            ]
        )
    ]
    # 1. Reviewers decide while the SMTP server refuses everything: one outbox row each, and a wake-up task after
    #    each commit, which the worker runs: one attempt each, refused, back to pending with a backoff.
    claim_approve(claim=claims[0], user=reviewer)
    claim_approve(claim=claims[1], user=reviewer)
    claim_reject(claim=claims[2], user=reviewer, reason="poe_insufficient")
    claim_request_information(claim=claims[3], user=reviewer, reason="contact_unverified", message="Who is Dana?")
    rows = EmailNotification.objects.order_by("pk")
    assert rows.count() == 4
    _wait_for(
        lambda: set(rows.values_list("state", "attempts")) == {("pending", 1)},
        seconds=60,
        what="the first attempt of every email",
    )
    assert all(row.next_attempt_at > row.created_at for row in rows)
    assert smtp_server.messages == []
    assert smtp_server.refused == 4

    # 2. The outage goes on. Between due times the sweep runs again and again, and stray wake-ups and a task of
    #    the old per-email kind arrive for the same rows: none of them tries a row that is not due.
    for attempt in (2, 3, 4):
        ids = list(rows.values_list("pk", flat=True))
        _sweep(times=5)
        app.send_task("claims.tasks.email_notifications_send_task", kwargs={"notification_ids": ids})
        app.send_task("claims.tasks.email_notification_send_task", kwargs={"notification_id": ids[0]})
        _worker_idle()
        assert set(_attempts().values()) == {attempt - 1}
        refused = smtp_server.refused

        _time_passes()
        _sweep(times=3)
        _worker_idle()
        # One batch, one connection, one refusal: every row counts the attempt and waits its (longer) backoff.
        assert set(_attempts().values()) == {attempt}
        assert smtp_server.refused == refused + 1
        assert set(rows.values_list("state", flat=True)) == {"pending"}
        assert smtp_server.messages == []
        _assert_email_invariants(smtp_server)

    # 3. The server recovers. At the rows' next due time the sweep sends each, once, over one connection.
    smtp_server.mode = "accept"
    connections = smtp_server.connections
    _time_passes()
    _sweep()
    _wait_for(lambda: set(rows.values_list("state", flat=True)) == {"sent"}, seconds=60, what="delivery")
    assert smtp_server.connections == connections + 1
    assert set(_attempts().values()) == {5}

    # 4. More sweeps and wake-ups later: nothing is sent twice.
    _time_passes()  # a no-op: no row is pending any more
    _sweep(times=3)
    app.send_task(
        "claims.tasks.email_notifications_send_task",
        kwargs={"notification_ids": list(rows.values_list("pk", flat=True))},
    )
    _worker_idle()

    assert len(smtp_server.messages) == 4
    by_rcpt = sorted((m["X-Test-Rcpt-To"], m["Subject"]) for m in smtp_server.messages)
    assert by_rcpt == [
        ("claims@partner-a.example", "Action required on your claim “M365 3”"),
        ("claims@partner-a.example", "Your claim “M365 2” was rejected"),
        ("dana@northwindtraders.onmicrosoft.com", "Contoso Partners asks to be your partner of record"),
        ("dana@northwindtraders.onmicrosoft.com", "Contoso Partners asks to be your partner of record"),
    ]
    assert all(row.last_error == "" and row.sent_at is not None for row in rows.all())
    _assert_email_invariants(smtp_server)
