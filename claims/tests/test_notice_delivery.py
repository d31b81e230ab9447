"""The customer's notice must reach the customer (SPEC §5-§7, claims.services.notices).

Sent to a real SMTP server on loopback (claims/tests/smtp_server.py) that answers each recipient as told: a 554 for
an address that does not exist, a 451 for one that is busy. The opt-out window starts when the customer contact's
copy is accepted (SMTP 250), counted from that attempt; a permanent failure sends the claim back to the partner;
a corrected address sends the notice again; PostgreSQL refuses ``customer_notified -> official`` without a
delivered notice.
"""

import datetime
import re
from email.utils import parseaddr

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from claims.bounces import bounce_address
from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification
from claims.services import (
    claim_approve,
    claim_request_information,
    claims_finalize_due,
    claims_transition,
    email_notifications_mark_sent,
    emails_send_due,
)
from claims.services.notifications import EMAIL_MAX_ATTEMPTS
from claims.tests.factories import claim_make
from claims.tokens import opt_out_token_read

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
# Monday 30 November 2026, 09:00 UTC (04:00 in New York, the m365 tenant's zone).
APPROVED = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
NOT_A_MAILBOX = "554 5.1.1 <dana@northwindtraders.onmicrosoft.com>: Recipient address rejected: User unknown"


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.UNDER_REVIEW,
        documents=(),
    )


def _approve(claim, reviewer, at=APPROVED):
    with time_machine.travel(at, tick=False):
        claim_approve(claim=claim, user=reviewer)
    return EmailNotification.objects.get(claim=claim, kind="customer_notified")


def _send(at):
    with time_machine.travel(at, tick=False):
        return emails_send_due()


def _deadline_in_body(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"becomes official after (.+?)\.\r?\n", text)


def _link_token(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"/customer/opt-out/([^/\s]+)/", text).group(1)


def test_notice_answered_554_goes_back_to_the_partner_and_a_corrected_address_restarts_it(
    claim, reviewer, client_a, smtp, m365_tenant
):
    customer = claim.customer_contact_email
    smtp.recipient_replies = {customer: NOT_A_MAILBOX}
    notice = _approve(claim, reviewer)

    # 1. The customer's server refuses the address: no message is taken, the notice fails at once (a 5xx is not
    #    retried) and the claim goes back to the partner, with no opt-out window.
    assert _send(APPROVED) == 0
    notice.refresh_from_db()
    assert (notice.state, notice.attempts) == ("failed", 1)
    assert "554 5.1.1" in notice.last_error
    assert smtp.messages == []
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED
    assert (claim.customer_notified_at, claim.opt_out_deadline) == (None, None)
    # Five business days after Monday 30 November in New York: Monday 7 December, 23:59:59 EST.
    assert claim.response_deadline == datetime.datetime(2026, 12, 8, 4, 59, 59, tzinfo=UTC)
    event = claim.events.get(new_status=ClaimStatus.ACTION_REQUIRED)
    assert (event.actor, event.user, event.action, event.old_status, event.reason) == (
        "system",
        None,
        "information_requested",
        "customer_notified",
        "notice_undeliverable",
    )
    assert "554 5.1.1" in event.message

    # 2. The partner's email, sent through the same server (the partner's address exists).
    request = EmailNotification.objects.get(claim=claim, kind="action_required")
    assert request.event_id == event.pk
    assert _send(APPROVED + datetime.timedelta(minutes=1)) == 1
    (email,) = smtp.messages
    assert email["To"] == claim.partner_contact_email
    assert email["Subject"] == f"Action required on your claim “{claim.name}”"
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert f"could not be delivered to the customer contact ({customer})" in text
    assert "Reason: The customer contact's address doesn't receive email" in text
    assert "The mail server's answer:" in text and "554 5.1.1" in text
    assert "Correct the customer contact's email address on the claim's page by Monday 7 December 2026" in text

    # 3. However late finalization runs, the claim is never official.
    assert claims_finalize_due(now=APPROVED + datetime.timedelta(days=90)) == 0
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED

    # 4. The partner corrects the address: straight back to customer_notified (the approval stands) with a new
    #    notice, belonging to the answer's event; still no window.
    corrected = "dana.lee@northwindtraders.onmicrosoft.com"
    answered = datetime.datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    with time_machine.travel(answered, tick=False):
        response = client_a.post(
            reverse("claims:respond", args=[claim.pk]),
            {"customer_contact_email": corrected, "comment": "Dana's new address."},
        )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert (claim.status, claim.customer_contact_email, claim.response_deadline) == (
        ClaimStatus.CUSTOMER_NOTIFIED,
        corrected,
        None,
    )
    assert (claim.customer_notified_at, claim.opt_out_deadline) == (None, None)
    answer = claim.events.get(action="responded")
    assert (answer.old_status, answer.new_status, answer.message) == (
        "action_required",
        "customer_notified",
        "Dana's new address.",
    )
    assert claim.events.get(action="changed").new_value == corrected
    renewed = EmailNotification.objects.get(claim=claim, kind="customer_notified", event=answer)
    assert renewed.state == "pending"

    # 5. Accepted the next day (Thursday 3 December): the window counts from then, not from the approval nor the
    #    answer: Fri 4 (1), Mon 7, Tue 8, Wed 9, Thu 10 (5) -> 23:59:59 EST = 04:59:59 UTC on 11 December.
    accepted = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    smtp.messages.clear()
    assert _send(accepted) == 1
    (sent,) = smtp.messages
    assert sent["X-Test-Rcpt-To"] == corrected
    # VERP: the envelope sender names the row, signed; the From header is the display sender.
    assert sent["X-Test-Mail-From"] == bounce_address(renewed.pk)
    assert parseaddr(sent["From"])[1] == "no-reply@cpor.example"
    claim.refresh_from_db()
    deadline = datetime.datetime(2026, 12, 11, 4, 59, 59, tzinfo=UTC)
    assert (claim.customer_notified_at, claim.opt_out_deadline) == (accepted, deadline)
    assert _deadline_in_body(sent).group(1) == "Thursday 10 December 2026, 23:59:59 New York time"
    with time_machine.travel(accepted, tick=False):
        assert opt_out_token_read(_link_token(sent)) == (claim.submission_key, int(deadline.timestamp()))
    assert claim.events.filter(action="notice_delivered", message=corrected).count() == 1

    # 6. Official once that window has passed, not before.
    assert claims_finalize_due(now=deadline - datetime.timedelta(seconds=1)) == 0
    assert claims_finalize_due(now=deadline + datetime.timedelta(seconds=1)) == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OFFICIAL


def test_notice_answer_keeping_the_address_that_failed_is_refused_at_its_field(
    claim, reviewer, client_a, smtp, m365_tenant
):
    smtp.recipient_replies = {claim.customer_contact_email: NOT_A_MAILBOX}
    _approve(claim, reviewer)
    _send(APPROVED)

    response = client_a.post(
        reverse("claims:respond", args=[claim.pk]),
        {"customer_contact_email": claim.customer_contact_email.upper(), "comment": "It is right."},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "The customer&#x27;s notice could not be delivered to this address." in page
    assert 'id="respond-customer_contact_email_error"' in page or "respond-customer_contact_email" in page
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED
    assert not claim.events.filter(action="responded").exists()


def test_notice_answer_page_asks_for_the_address_only(claim, reviewer, client_a, smtp):
    smtp.recipient_replies = {claim.customer_contact_email: NOT_A_MAILBOX}
    _approve(claim, reviewer)
    _send(APPROVED)

    page = client_a.get(reverse("claims:detail", args=[claim.pk])).content.decode()

    assert "Correct the customer contact" in page
    assert "The notice to your customer could not be delivered" in page
    assert 'name="customer_contact_email"' in page
    assert 'name="files"' not in page and 'name="location"' not in page
    assert "Could not be delivered: the customer contact's address doesn't receive email" in page


def test_notice_transient_failure_then_success_counts_the_deadline_from_the_success(claim, reviewer, smtp):
    smtp.recipient_replies = {claim.customer_contact_email: "451 4.2.1 Mailbox busy, try again later"}
    notice = _approve(claim, reviewer)

    assert _send(APPROVED) == 0
    notice.refresh_from_db()
    assert (notice.state, notice.attempts) == ("pending", 1)
    claim.refresh_from_db()
    assert (claim.status, claim.opt_out_deadline) == (ClaimStatus.CUSTOMER_NOTIFIED, None)
    # Past its deadline-to-be, finalization still has nothing: the window has not started.
    assert claims_finalize_due(now=APPROVED + datetime.timedelta(days=30)) == 0

    # The mailbox takes it on Wednesday 2 December: Thu 3, Fri 4, Mon 7, Tue 8, Wed 9 (5) -> 23:59:59 EST on
    # Wednesday 9 December, not Monday 7 December as from the approval day.
    smtp.recipient_replies = {}
    success = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert _send(success) == 1

    claim.refresh_from_db()
    assert claim.customer_notified_at == success
    assert claim.opt_out_deadline == datetime.datetime(2026, 12, 10, 4, 59, 59, tzinfo=UTC)
    (message,) = smtp.messages
    assert _deadline_in_body(message).group(1) == "Wednesday 9 December 2026, 23:59:59 New York time"
    notice.refresh_from_db()
    assert (notice.state, notice.attempts, notice.sent_at) == ("sent", 2, success)


def test_notice_retry_schedule_giving_up_sends_the_claim_back(claim, reviewer, smtp):
    notice = _approve(claim, reviewer)
    EmailNotification.objects.filter(pk=notice.pk).update(attempts=EMAIL_MAX_ATTEMPTS - 1)
    smtp.mode = "refuse"

    assert _send(APPROVED) == 0

    notice.refresh_from_db()
    assert notice.state == "failed" and notice.last_error.startswith(f"Gave up after {EMAIL_MAX_ATTEMPTS} attempts")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED
    assert claim.events.get(new_status="action_required").reason == "notice_undeliverable"


def test_notice_customer_copy_refused_while_the_technical_copy_is_taken_is_undeliverable(
    partner_a, reviewer, bizapps_tenant, smtp
):
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        status=ClaimStatus.UNDER_REVIEW,
        documents=(),
    )
    smtp.recipient_replies = {claim.customer_contact_email: "550 5.1.1 No such mailbox"}
    notice = _approve(claim, reviewer)

    assert _send(APPROVED) == 0

    # The server took the message for the technical contact only; the customer contact's copy decides.
    (taken,) = smtp.messages
    assert taken["X-Test-Rcpt-To"] == claim.technical_contact_email
    notice.refresh_from_db()
    assert notice.state == "failed" and f"{claim.customer_contact_email}: 550 5.1.1" in notice.last_error
    claim.refresh_from_db()
    assert (claim.status, claim.opt_out_deadline) == (ClaimStatus.ACTION_REQUIRED, None)


def test_notice_technical_copy_refused_alone_is_noted_and_the_window_starts(partner_a, reviewer, bizapps_tenant, smtp):
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        status=ClaimStatus.UNDER_REVIEW,
        documents=(),
    )
    smtp.recipient_replies = {claim.technical_contact_email: "550 5.1.1 No such mailbox"}
    notice = _approve(claim, reviewer)

    assert _send(APPROVED) == 1

    notice.refresh_from_db()
    assert notice.state == "sent"
    assert notice.last_error == f"Not accepted for: {claim.technical_contact_email}: 550 5.1.1 No such mailbox"
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED and claim.customer_notified_at == APPROVED
    assert claim.opt_out_deadline is not None


def test_notice_postgres_refuses_official_for_a_claim_whose_notice_was_not_delivered(partner_a, m365_tenant, products):
    waiting = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        notice="pending",
        documents=(),
    )
    assert (waiting.customer_notified_at, waiting.opt_out_deadline) == (None, None)

    # Python's finalization never takes it (no deadline) ...
    assert claims_finalize_due(now=APPROVED + datetime.timedelta(days=365)) == 0
    # ... and PostgreSQL refuses the move, asked directly, also with dates written by hand (the lifecycle columns
    # are not frozen) but no sent notice.
    for dates in ({}, {"customer_notified_at": APPROVED, "opt_out_deadline": APPROVED}):
        Claim.objects.filter(pk=waiting.pk).update(**dates)
        with pytest.raises(IntegrityError, match="notice was not delivered"), transaction.atomic():
            claims_transition(
                claim_ids=[waiting.pk],
                old_status=ClaimStatus.CUSTOMER_NOTIFIED,
                to=ClaimStatus.OFFICIAL,
                actor=ClaimEvent.Actor.SYSTEM,
                action=ClaimEvent.Action.FINALIZED,
            )
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.CUSTOMER_NOTIFIED

    # A failed notice (or one sent before the claim entered customer_notified) does not count either; the one sent
    # since does.
    notice = EmailNotification.objects.get(claim=waiting)
    EmailNotification.objects.filter(pk=notice.pk).update(state="failed")
    with pytest.raises(IntegrityError, match="notice was not delivered"), transaction.atomic():
        claims_transition(
            claim_ids=[waiting.pk], old_status="customer_notified", to="official", actor="system", action="finalized"
        )
    EmailNotification.objects.filter(pk=notice.pk).update(state="sent", created_at=waiting.status_changed_at)
    claims_transition(
        claim_ids=[waiting.pk], old_status="customer_notified", to="official", actor="system", action="finalized"
    )
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.OFFICIAL


def test_notice_dates_are_set_together_or_not_at_all(partner_a, m365_tenant, products):
    """The CHECK: a notice date and a deadline together or not at all, in any status."""
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)

    with pytest.raises(IntegrityError, match="claim_notified_has_deadline"), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(customer_notified_at=APPROVED)


def test_notice_admin_mark_as_sent_starts_the_window_from_the_attempt(claim, reviewer, mailoutbox):
    notice = _approve(claim, reviewer)
    # A worker died mid-send on Tuesday 1 December: the row is stuck in sending; the mail log shows it delivered.
    attempt = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    EmailNotification.objects.filter(pk=notice.pk).update(state="sending", attempts=1, next_attempt_at=attempt)

    with time_machine.travel(datetime.datetime(2026, 12, 2, 9, 0, tzinfo=UTC), tick=False):
        assert email_notifications_mark_sent(notification_ids=[notice.pk]) == 1

    claim.refresh_from_db()
    # Wed 2, Thu 3, Fri 4, Mon 7, Tue 8 December (5) -> 23:59:59 EST, as the message of that attempt stated.
    assert (claim.customer_notified_at, claim.opt_out_deadline) == (
        attempt,
        datetime.datetime(2026, 12, 9, 4, 59, 59, tzinfo=UTC),
    )


def test_notice_old_notice_sent_again_after_a_correction_is_not_sent(claim, reviewer, client_a, smtp):
    smtp.recipient_replies = {claim.customer_contact_email: NOT_A_MAILBOX}
    first = _approve(claim, reviewer)
    _send(APPROVED)
    client_a.post(
        reverse("claims:respond", args=[claim.pk]),
        {"customer_contact_email": "dana.lee@northwindtraders.onmicrosoft.com"},
    )
    # Someone sends the first notice again from the outbox admin while the new one waits.
    EmailNotification.objects.filter(pk=first.pk).update(state="pending", attempts=0)
    EmailNotification.objects.filter(claim=claim, kind="customer_notified").exclude(pk=first.pk).update(
        next_attempt_at=APPROVED + datetime.timedelta(days=30)
    )
    smtp.messages.clear()

    _send(APPROVED + datetime.timedelta(minutes=5))

    first.refresh_from_db()
    assert first.state == "failed" and first.last_error.startswith("Not sent")
    # (The partner's action_required email went out in that sweep; nothing went to the customer.)
    assert [m["X-Test-Rcpt-To"] for m in smtp.messages] == [claim.partner_contact_email]
    claim.refresh_from_db()
    assert (claim.status, claim.opt_out_deadline) == (ClaimStatus.CUSTOMER_NOTIFIED, None)


def test_notice_reviewers_cannot_give_the_systems_reason(claim, reviewer, reviewer_client):
    with pytest.raises(ValueError, match="system"):
        claim_request_information(claim=claim, user=reviewer, reason="notice_undeliverable", message="x")

    page = reviewer_client.get(reverse("admin:claims_claim_request_information", args=[claim.pk])).content.decode()
    assert 'value="contact_unverified"' in page and 'value="notice_undeliverable"' not in page


# Seen by the partner and the reviewer, in both languages ------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "sending", "delivered", "failed", "quoted"),
    [
        ("en", "Sending to the customer", "Delivered 2026-11-30", "Could not be delivered", "“%s”"),
        # Chinese quotes the mail server's words in its own quotation marks (「…」).
        ("zh-TW", "正在寄送給客戶", "已於 2026-11-30", "無法送達", "「%s」"),
    ],
)
def test_notice_delivery_state_on_the_partners_and_the_reviewers_claim_pages(
    partner_a, m365_tenant, products, reviewer, reviewer_client, language, sending, delivered, failed, quoted
):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.UNDER_REVIEW,
        documents=(),
    )
    notice = _approve(claim, reviewer)
    partner = Client()
    partner.force_login(partner_a.admin)
    headers = {"accept-language": language}

    def pages():
        partner_page = partner.get(reverse("claims:detail", args=[claim.pk]), headers=headers).content.decode()
        admin_page = reviewer_client.get(reverse("admin:claims_claim_change", args=[claim.pk]), headers=headers)
        return partner_page, admin_page.content.decode()

    for page in pages():
        assert sending in page
    with time_machine.travel(APPROVED, tick=False):
        emails_send_due()
    for page in pages():
        assert delivered in page
    EmailNotification.objects.filter(pk=notice.pk).update(state="failed", last_error="Bounced: 5.1.1 unknown user")
    for page in pages():
        assert failed in page and quoted % "Bounced: 5.1.1 unknown user" in page


def test_notice_claim_pages_with_a_notice_stay_within_the_query_bar(
    client_a, partner_a, m365_tenant, products, django_assert_max_num_queries
):
    """SPEC §11: at most 12 queries a page, the notice's state included (one query, only where there is one)."""
    notified = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status="customer_notified")
    official = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], status="official")

    for claim in (notified, official):
        with django_assert_max_num_queries(12):
            page = client_a.get(reverse("claims:detail", args=[claim.pk])).content.decode()
        assert "Customer's notice" in page or claim is official
