"""The outbox: each (claim, kind) sent at most once, on one retry schedule driven by its row (SPEC §14
"Outages"): backoff up to 24 hours, one chain per email however often the sweep runs, one SMTP connection per
batch, the same Message-ID on every attempt. Sending goes to a real SMTP server on loopback (aiosmtpd)."""

import datetime
import socket

import pytest
import time_machine
from django.utils import timezone

from claims.models import ClaimStatus, EmailNotification
from claims.services import email_notification_send, emails_send_due
from claims.services.notifications import EMAIL_MAX_ATTEMPTS, email_retry_delay
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
T0 = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def rejected(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.REJECTED,
        rejection_reasons=["Yammer is not licensed on this tenant."],
        name="Northwind Yammer",
        documents=(),
    )
    # Due a minute before T0, whatever today's date: the tests send at T0 (time_machine).
    return EmailNotification.objects.create(claim=claim, kind="rejected", next_attempt_at=T0 - MINUTE)


def _partner_emails(partner_a, m365_tenant, products, n):
    """``n`` due outbox rows, one per claim."""
    rows = []
    for _ in range(n):
        claim = claim_make(
            partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.OPTED_OUT, documents=()
        )
        rows.append(EmailNotification.objects.create(claim=claim, kind="opted_out", next_attempt_at=T0 - MINUTE))
    return rows


def _state(row):
    row.refresh_from_db()
    return row.state, row.attempts


def test_email_send_marks_sent_and_sends_text_and_html(rejected, mailoutbox):
    assert email_notification_send(notification_id=rejected.pk) is True

    rejected.refresh_from_db()
    assert (rejected.state, rejected.attempts) == ("sent", 1)
    assert rejected.sent_at is not None
    (message,) = mailoutbox
    assert message.to == ["claims@partner-a.example"]
    assert message.subject == "Your claim “Northwind Yammer” was rejected"
    assert "  - Yammer is not licensed on this tenant." in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html"
    assert "<li>Yammer is not licensed on this tenant.</li>" in html
    # The Message-ID drawn at the first attempt is stored on the row and is the message's.
    assert rejected.message_id.startswith("<") and rejected.message_id.endswith("@cpor.example>")
    assert message.extra_headers["Message-ID"] == rejected.message_id


def test_email_second_send_is_a_no_op(rejected, mailoutbox):
    email_notification_send(notification_id=rejected.pk)

    assert email_notification_send(notification_id=rejected.pk) is False
    assert emails_send_due(now=timezone.now() + datetime.timedelta(days=30)) == 0
    assert len(mailoutbox) == 1


def test_email_stuck_in_sending_is_never_resent(rejected, mailoutbox):
    # A worker died after sending and before marking: at most once means we do not send it again.
    EmailNotification.objects.filter(pk=rejected.pk).update(state="sending", attempts=1)

    assert email_notification_send(notification_id=rejected.pk) is False
    assert emails_send_due(now=timezone.now() + datetime.timedelta(days=30)) == 0
    assert _state(rejected) == ("sending", 1)
    assert mailoutbox == []


def test_email_pending_row_without_next_attempt_is_refused_by_postgres(rejected):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError, match="emailnotification_pending_is_scheduled"), transaction.atomic():
        EmailNotification.objects.filter(pk=rejected.pk).update(next_attempt_at=None)


def test_email_retry_delay_doubles_from_one_minute_up_to_24_hours_with_jitter():
    assert [email_retry_delay(n, jitter=0) / MINUTE for n in range(1, 14)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        1024,
        1440,
        1440,
    ]
    # Jitter only brings the attempt forward (at most 20%), so the cap holds.
    assert email_retry_delay(1, jitter=1) == 0.8 * MINUTE
    assert email_retry_delay(500, jitter=1) == datetime.timedelta(hours=24) * 0.8
    assert max(email_retry_delay(40) for _ in range(200)) <= datetime.timedelta(hours=24)


def test_email_transient_failure_goes_back_to_pending_with_backoff(rejected, smtp):
    smtp.mode = "refuse"

    with time_machine.travel(T0, tick=False):
        assert emails_send_due() == 0

    rejected.refresh_from_db()
    assert (rejected.state, rejected.attempts) == ("pending", 1)
    assert "451" in rejected.last_error
    assert T0 + 0.8 * MINUTE <= rejected.next_attempt_at <= T0 + MINUTE
    assert smtp.messages == []


def test_email_backoff_schedule_until_it_gives_up_after_about_three_days(rejected, smtp):
    """Refused at every attempt: each attempt comes exactly when the row is due (never a second early), the waits
    double from 1 minute to 24 hours, and the 14th failure, about three days in, marks the row failed."""
    smtp.mode = "refuse"
    EmailNotification.objects.filter(pk=rejected.pk).update(next_attempt_at=T0)
    due = T0
    for attempt in range(1, EMAIL_MAX_ATTEMPTS + 1):
        with time_machine.travel(due - datetime.timedelta(seconds=1), tick=False):
            emails_send_due()
        assert _state(rejected) == ("pending", attempt - 1)  # not due yet: untouched
        with time_machine.travel(due, tick=False):
            emails_send_due()
        rejected.refresh_from_db()
        assert rejected.attempts == attempt
        if attempt < EMAIL_MAX_ATTEMPTS:
            wait = min(MINUTE * 2 ** (attempt - 1), datetime.timedelta(hours=24))
            assert rejected.state == "pending"
            assert due + 0.8 * wait <= rejected.next_attempt_at <= due + wait
            due = rejected.next_attempt_at
    assert rejected.state == "failed"
    assert rejected.last_error.startswith("Gave up after 14 attempts: ")
    assert datetime.timedelta(days=2.5) < due - T0 < datetime.timedelta(days=3.5)
    assert smtp.connections == EMAIL_MAX_ATTEMPTS  # one connection per attempt, nothing in between
    assert smtp.refused == EMAIL_MAX_ATTEMPTS


def test_email_outage_of_twenty_hours_is_one_chain_per_email_then_each_sent_once(
    partner_a, m365_tenant, products, smtp
):
    """The sweep runs every minute through a 20-hour outage (and the wake-up for the same rows runs too):
    each email is tried only when its row is due, 11 times in 20 hours, never more; then the server comes back
    and each is sent once."""
    rows = _partner_emails(partner_a, m365_tenant, products, 3)
    EmailNotification.objects.filter(pk__in=[r.pk for r in rows]).update(next_attempt_at=T0)
    smtp.mode = "refuse"
    step = datetime.timedelta(minutes=1)
    moment = T0
    while moment < T0 + datetime.timedelta(hours=20):
        emails_send_due(now=moment)
        if moment.minute == 0:
            emails_send_due(now=moment, ids=[r.pk for r in rows])  # a duplicate wake-up: changes nothing
        moment += step

    # Attempts at 0, 1, 3, 7, ... 1023 minutes (17 h), each up to 20% sooner; the 12th is due after 27 h.
    assert {_state(row) for row in rows} == {("pending", 11)}
    # Each failed batch stopped at the first refusal: the rows of one batch share their attempts.
    assert 11 <= smtp.refused == smtp.connections <= 33
    assert smtp.messages == []

    smtp.mode = "accept"
    sent = emails_send_due(now=moment + datetime.timedelta(hours=24)) + emails_send_due(
        now=moment + datetime.timedelta(hours=48)
    )
    assert sent == 3
    assert {_state(row) for row in rows} == {("sent", 12)}
    assert sorted(smtp.message_ids()) == sorted(EmailNotification.objects.values_list("message_id", flat=True))
    assert len(set(smtp.message_ids())) == 3


def test_email_batch_is_sent_over_one_smtp_connection(partner_a, m365_tenant, products, smtp):
    rows = _partner_emails(partner_a, m365_tenant, products, 7)

    assert emails_send_due(batch_size=3) == 7  # three batches, one connection

    assert smtp.connections == 1
    assert len(smtp.messages) == 7
    assert {_state(row) for row in rows} == {("sent", 1)}
    assert sorted(m["X-Test-Rcpt-To"] for m in smtp.messages) == ["claims@partner-a.example"] * 7


def test_email_refused_batch_waits_its_backoff_without_trying_every_row(partner_a, m365_tenant, products, smtp):
    """A server that refuses the first message is in trouble: the other rows of the batch count the same
    attempt and wait, one connection and one refusal for the whole batch."""
    rows = _partner_emails(partner_a, m365_tenant, products, 4)
    smtp.mode = "refuse"

    assert emails_send_due() == 0

    assert (smtp.connections, smtp.refused) == (1, 1)
    assert {_state(row) for row in rows} == {("pending", 1)}
    first, *others = sorted(rows, key=lambda row: row.pk)
    assert "451" in first.last_error
    assert {row.last_error for row in others} == {
        # The server's answer as it said it; no envelope sender (each row has its own, VERP: claims.bounces).
        "Not tried: the mail server failed the batch (451 4.3.2 Try again later)"
    }


def test_email_server_down_is_transient_for_the_whole_batch(partner_a, m365_tenant, products, settings):
    rows = _partner_emails(partner_a, m365_tenant, products, 2)
    with socket.socket() as sock:  # a loopback port nobody listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2},
        }
    }

    assert emails_send_due() == 0

    assert {_state(row) for row in rows} == {("pending", 1)}
    assert all(row.last_error.startswith("Could not connect to the mail server: ") for row in rows)


def test_email_permanent_failure_is_marked_failed_and_the_batch_goes_on(partner_a, m365_tenant, products, smtp):
    rows = _partner_emails(partner_a, m365_tenant, products, 3)
    smtp.mode = "reject"

    assert emails_send_due() == 0

    assert {_state(row) for row in rows} == {("failed", 1)}
    assert all("550" in row.last_error for row in rows)
    assert smtp.connections == 1  # the session survived each refused recipient


def test_email_last_attempt_is_marked_failed(rejected, smtp):
    EmailNotification.objects.filter(pk=rejected.pk).update(attempts=EMAIL_MAX_ATTEMPTS - 1)
    smtp.mode = "refuse"

    assert email_notification_send(notification_id=rejected.pk) is False

    rejected.refresh_from_db()
    assert (rejected.state, rejected.attempts) == ("failed", EMAIL_MAX_ATTEMPTS)


def test_email_resent_after_a_lost_reply_carries_the_same_message_id(rejected, smtp):
    """The server took the message but the connection died before its "250": the row is retried (it may not
    have arrived), and the second copy has the same Message-ID so that receivers can drop the duplicate."""
    smtp.mode = "lose_reply"

    assert emails_send_due() == 0
    rejected.refresh_from_db()
    assert (rejected.state, rejected.attempts) == ("pending", 1)
    first_id = rejected.message_id

    assert emails_send_due(now=rejected.next_attempt_at) == 1

    rejected.refresh_from_db()
    assert (rejected.state, rejected.attempts, rejected.message_id) == ("sent", 2, first_id)
    assert smtp.message_ids() == [first_id, first_id]
    assert smtp.connections == 2


def test_email_message_ids_differ_between_emails(partner_a, m365_tenant, products, smtp):
    rows = _partner_emails(partner_a, m365_tenant, products, 3)

    emails_send_due()

    ids = {row.message_id for row in EmailNotification.objects.filter(pk__in=[r.pk for r in rows])}
    assert len(ids) == 3
    assert set(smtp.message_ids()) == ids


def test_email_every_partner_kind_goes_to_the_partner_contact(partner_a, m365_tenant, products, mailoutbox):
    for kind, status in [
        ("action_required", ClaimStatus.ACTION_REQUIRED),
        ("official", ClaimStatus.OFFICIAL),
        ("opted_out", ClaimStatus.OPTED_OUT),
        ("ended", ClaimStatus.ENDED),
    ]:
        claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=status, documents=())
        notification = EmailNotification.objects.create(claim=claim, kind=kind)
        assert email_notification_send(notification_id=notification.pk) is True
    assert [m.to for m in mailoutbox] == [["claims@partner-a.example"]] * 4
    assert [m.subject.split("“")[0] for m in mailoutbox] == [
        "Action required on your claim ",
        "Your claim ",
        "The customer opted out of your claim ",
        "Your association ",
    ]


def test_email_action_required_carries_reason_and_message(partner_a, reviewer, m365_tenant, products, mailoutbox):
    from claims.services import claim_request_information

    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_request_information(claim=claim, user=reviewer, reason="contact_unverified", message="Who is Dana?")

    email_notification_send(notification_id=EmailNotification.objects.get(claim=claim).pk)

    (message,) = mailoutbox
    assert "Reason: The customer contact could not be verified" in message.body
    assert "Who is Dana?" in message.body
    assert f"/incentives/customer-associations/{claim.pk}/" in message.body


def test_outbox_add_rows_are_due_at_once_and_wake_a_sender(
    partner_a, reviewer, m365_tenant, products, django_capture_on_commit_callbacks
):
    from claims.services import claim_request_information

    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks() as callbacks:
        claim_request_information(claim=claim, user=reviewer, reason="contact_unverified", message="Who?")

    row = EmailNotification.objects.get(claim=claim)
    assert (row.state, row.attempts, row.next_attempt_at, row.message_id) == ("pending", 0, T0, "")
    # The wake-up names the rows; it carries no countdown (the schedule is the row's).
    wake = [c for c in callbacks if getattr(c, "args", None) == ("email_notifications_send_task",)]
    assert [c.keywords for c in wake] == [{"notification_ids": [row.pk]}]


def test_email_sweep_runs_every_30_seconds_in_beat():
    from cpor.celery import app

    assert app.conf.beat_schedule["emails-send-due"] == {"task": "claims.tasks.emails_send_due_task", "schedule": 30.0}
    # The old requeue of pending emails is gone: no job but the sweep starts a send.
    assert [entry["task"] for entry in app.conf.beat_schedule.values() if "email" in entry["task"]] == [
        "claims.tasks.emails_send_due_task"
    ]
