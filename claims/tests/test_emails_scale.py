"""The outbox at scale (SPEC §11, issue 19): a sweep run drains a backlog batch after batch within its time budget,
and a batch costs the same statements whatever its size (claimed in one UPDATE, read in a few queries, its
outcomes written in one UPDATE, the notices' windows started together). Sent to a real SMTP server on loopback."""

import io
import itertools

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from associations.models import UserPreference
from claims.models import ClaimEvent, ClaimStatus, EmailNotification
from claims.services import claim_approve, claim_request_information, emails_send_due
from claims.services import notifications as outbox
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
PARTNER_KINDS = [
    ("official", ClaimStatus.OFFICIAL),
    ("rejected", ClaimStatus.REJECTED),
    ("opted_out", ClaimStatus.OPTED_OUT),
    ("ended", ClaimStatus.ENDED),
]


def _opted_out_emails(partner_a, m365_tenant, products, n):
    rows = []
    for _ in range(n):
        claim = claim_make(
            partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.OPTED_OUT, documents=()
        )
        rows.append(EmailNotification.objects.create(claim=claim, kind="opted_out"))
    return rows


def _mixed_emails(partner_a, reviewer, m365_tenant, products, n):
    """``n`` due emails of every common kind, in turn: the customer's notice (an approved claim), an information
    request (belonging to its event), official, rejected, opted out, ended."""
    kinds = itertools.cycle(["notice", "request", *PARTNER_KINDS])
    rows = []
    for kind in itertools.islice(kinds, n):
        status = ClaimStatus.UNDER_REVIEW if kind in ("notice", "request") else kind[1]
        claim = claim_make(
            partner_a,
            tenant=m365_tenant,
            products=[products["yammer"], products["microsoft-teams"]],
            status=status,
            rejection_reasons=["Yammer is not licensed on this tenant."],
            documents=(),
        )
        if kind == "notice":
            claim_approve(claim=claim, user=reviewer)
        elif kind == "request":
            claim_request_information(claim=claim, user=reviewer, reason="contact_unverified", message="Who?")
        else:
            EmailNotification.objects.create(claim=claim, kind=kind[0])
        rows.append(EmailNotification.objects.get(claim=claim))
    return rows


def test_email_sweep_drains_a_backlog_past_the_old_twenty_batches_in_one_run(partner_a, m365_tenant, products, smtp):
    """A run went on for at most 20 batches (1,000 emails every 30 seconds at most); now it goes on while there are
    due rows, over one connection."""
    rows = _opted_out_emails(partner_a, m365_tenant, products, 23)

    assert emails_send_due(batch_size=1) == 23

    assert {row.state for row in EmailNotification.objects.filter(pk__in=[r.pk for r in rows])} == {"sent"}
    assert len(smtp.messages) == 23
    assert smtp.connections == 1


def test_email_sweep_starts_no_batch_once_its_time_budget_is_spent(partner_a, m365_tenant, products, smtp, monkeypatch):
    """The budget is read on the sweep's clock after each batch: with 10 seconds a batch and 25 to spend, a run
    sends three batches and leaves the rest due for the next run."""
    rows = _opted_out_emails(partner_a, m365_tenant, products, 10)
    ticks = itertools.count(0, 10)
    monkeypatch.setattr(outbox, "_clock", lambda: next(ticks))

    assert emails_send_due(batch_size=2, seconds=25) == 6

    states = list(EmailNotification.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk").values_list("state"))
    assert states == [("sent",)] * 6 + [("pending",)] * 4
    assert EmailNotification.objects.filter(state="pending", attempts=0).count() == 4  # never tried: no attempt
    assert emails_send_due(batch_size=2, seconds=25) == 4
    assert len(smtp.messages) == 10


def test_email_sweep_out_of_time_sends_its_next_run_at_once(
    partner_a, m365_tenant, products, smtp, monkeypatch, django_capture_on_commit_callbacks
):
    """Beat's sweep task whose run stops at its budget with rows left sends the sweep task again (no countdown: it
    runs after what else waits in the queue); a run that drains everything sends nothing."""
    from claims.tasks import emails_send_due_task

    rows = _opted_out_emails(partner_a, m365_tenant, products, outbox.EMAIL_BATCH_SIZE + 1)
    ticks = itertools.count(0, 30)
    monkeypatch.setattr(outbox, "_clock", lambda: next(ticks))

    with django_capture_on_commit_callbacks(execute=False) as out_of_time:
        assert emails_send_due_task() == outbox.EMAIL_BATCH_SIZE
    assert [(callback.args, callback.keywords) for callback in out_of_time] == [(("emails_send_due_task",), {})]

    with django_capture_on_commit_callbacks(execute=False) as drained:
        assert emails_send_due_task() == 1
    assert drained == []
    assert {row.state for row in EmailNotification.objects.filter(pk__in=[r.pk for r in rows])} == {"sent"}


def test_email_sweep_budget_ends_a_run_before_beat_sends_the_next():
    from cpor.celery import app

    assert 0 < outbox.EMAIL_SWEEP_SECONDS < app.conf.beat_schedule["emails-send-due"]["schedule"]


def test_email_batch_statements_do_not_grow_with_its_size(partner_a, reviewer, m365_tenant, products, smtp):
    """A batch of 10 and one of 50, each of every common kind (notices too, whose windows start), partners' contacts
    reading in two languages: the same statements, none per email."""
    user = get_user_model().objects.create_user(username="claims@partner-a.example", email="claims@partner-a.example")
    UserPreference.objects.create(user=user, language="zh-hant")
    counts = []
    for size in (10, 50):
        rows = _mixed_emails(partner_a, reviewer, m365_tenant, products, size)
        with CaptureQueriesContext(connection) as queries:
            assert emails_send_due(batch_size=size) == size
        counts.append(len(queries))
        notices = [row for row in rows if row.kind == "customer_notified"]
        assert {row.state for row in EmailNotification.objects.filter(pk__in=[r.pk for r in rows])} == {"sent"}
        assert ClaimEvent.objects.filter(
            claim__in=[row.claim_id for row in notices], action=ClaimEvent.Action.NOTICE_DELIVERED
        ).count() == len(notices)
    assert counts[0] == counts[1] <= 16
    # Every partner email went out in the contact's saved language (Traditional Chinese), every notice in the US
    # tenant's (English).
    assert len(smtp.messages) == 60
    for message in smtp.messages:
        chinese = any("\u4e00" <= character <= "\u9fff" for character in message["Subject"])
        assert chinese == (message["To"] == "claims@partner-a.example")


def test_email_batch_of_notices_starts_each_window_once_with_a_signed_history(
    partner_a, reviewer, m365_tenant, products, smtp
):
    """Four notices in one batch: each claim's window starts at the batch's attempt with the deadline its message
    states, one NOTICE_DELIVERED event each, and the history chains verify. A notice that is no longer its claim's
    current one (a newer notice replaced it) is not sent."""
    claims = [
        claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status="under_review", documents=())
        for _ in range(4)
    ]
    for claim in claims:
        claim_approve(claim=claim, user=reviewer)
    stale = EmailNotification.objects.get(claim=claims[3])
    # A newer notice of the same claim (as a corrected address queues): the older one waits for nobody.
    newer = EmailNotification.objects.create(
        claim=claims[3], kind="customer_notified", next_attempt_at=stale.created_at
    )

    assert emails_send_due() == 4

    for claim in claims:
        claim.refresh_from_db()
        assert claim.opt_out_deadline is not None
        assert claim.events.filter(action=ClaimEvent.Action.NOTICE_DELIVERED).count() == 1
    assert {row.pk: row.state for row in EmailNotification.objects.filter(pk__in=[stale.pk, newer.pk])} == {
        stale.pk: "failed",
        newer.pk: "sent",
    }
    attempted = EmailNotification.objects.get(pk=newer.pk).next_attempt_at
    assert claims[3].customer_notified_at == attempted
    assert sorted(message["To"] for message in smtp.messages) == sorted(c.customer_contact_email for c in claims)
    out = io.StringIO()
    call_command("claims_history_verify", stdout=out)
    assert "every hash chain whole" in out.getvalue()


def test_email_batch_outcomes_are_written_when_a_message_cannot_be_built(
    partner_a, m365_tenant, products, smtp, monkeypatch
):
    """One message of the batch fails to build (a bug): it is failed, the others are sent, all in the batch's one
    write of outcomes."""
    rows = _opted_out_emails(partner_a, m365_tenant, products, 3)
    build = outbox.emails.notification_email

    def broken_for_the_second(row, **kwargs):
        if row.pk == rows[1].pk:
            raise RuntimeError("template bug")
        return build(row, **kwargs)

    monkeypatch.setattr(outbox.emails, "notification_email", broken_for_the_second)

    assert emails_send_due() == 2

    states = dict(EmailNotification.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "state"))
    assert states == {rows[0].pk: "sent", rows[1].pk: "failed", rows[2].pk: "sent"}
    assert "template bug" in EmailNotification.objects.get(pk=rows[1].pk).last_error
    assert all(row.sent_at for row in EmailNotification.objects.filter(state="sent"))
    assert len(smtp.messages) == 2
