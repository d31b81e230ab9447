"""The outbox: each (claim, kind) sent at most once; transient SMTP failures retried; stuck rows left alone."""

import smtplib

import pytest

from associations.tests.fixtures import reviewer_login
from claims.models import ClaimStatus, EmailNotification
from claims.services import EmailTransientError, email_notification_send, emails_requeue_pending
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db


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
    return EmailNotification.objects.create(claim=claim, kind="rejected")


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


def test_email_second_send_is_a_no_op(rejected, mailoutbox):
    email_notification_send(notification_id=rejected.pk)

    assert email_notification_send(notification_id=rejected.pk) is False
    assert len(mailoutbox) == 1


def test_email_stuck_in_sending_is_never_resent(rejected, mailoutbox):
    # A worker died after sending and before marking: at most once means we do not send it again.
    EmailNotification.objects.filter(pk=rejected.pk).update(state="sending")

    assert email_notification_send(notification_id=rejected.pk) is False
    assert emails_requeue_pending(older_than=__import__("datetime").timedelta(0)) == 0
    assert mailoutbox == []


def test_email_transient_failure_goes_back_to_pending(rejected, monkeypatch, mailoutbox):
    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPResponseException(421, b"Try again later")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)

    with pytest.raises(EmailTransientError):
        email_notification_send(notification_id=rejected.pk)

    rejected.refresh_from_db()
    assert (rejected.state, rejected.attempts) == ("pending", 1)
    assert "421" in rejected.last_error


def test_email_permanent_failure_is_marked_failed(rejected, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({"claims@partner-a.example": (550, b"No such user")})

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)

    assert email_notification_send(notification_id=rejected.pk) is False
    rejected.refresh_from_db()
    assert rejected.state == "failed"


def test_email_last_attempt_is_marked_failed(rejected, monkeypatch):
    EmailNotification.objects.filter(pk=rejected.pk).update(attempts=5)

    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)

    assert email_notification_send(notification_id=rejected.pk) is False
    rejected.refresh_from_db()
    assert (rejected.state, rejected.attempts) == ("failed", 6)


def test_email_requeue_pending_only_old_pending_rows(rejected, django_capture_on_commit_callbacks):
    import datetime

    assert emails_requeue_pending(older_than=datetime.timedelta(minutes=5)) == 0
    assert emails_requeue_pending(older_than=datetime.timedelta(0), now=rejected.created_at) == 0
    assert emails_requeue_pending(older_than=datetime.timedelta(0), now=rejected.created_at.replace(year=2099)) == 1


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


def test_admin_send_again_and_mark_sent_go_through_the_services(
    rejected, client, reviewer, django_capture_on_commit_callbacks
):
    stuck = EmailNotification.objects.create(claim=rejected.claim, kind="official", state="sending", attempts=1)
    failed = EmailNotification.objects.create(claim=rejected.claim, kind="ended", state="failed", attempts=6)
    reviewer_login(client, reviewer)
    changelist = "/admin/claims/emailnotification/"

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            changelist, {"action": "requeue_selected", "_selected_action": [rejected.pk, failed.pk]}, follow=True
        )
    assert "1 email(s) queued again." in response.content.decode()
    assert len(callbacks) == 1  # one send task for the rows it put back
    assert EmailNotification.objects.get(pk=failed.pk).state == "pending"
    assert EmailNotification.objects.get(pk=rejected.pk).state == "pending"  # was pending: untouched

    response = client.post(
        changelist, {"action": "mark_sent_selected", "_selected_action": [stuck.pk, failed.pk]}, follow=True
    )
    assert "1 email(s) marked as sent." in response.content.decode()
    stuck.refresh_from_db()
    assert (stuck.state, stuck.sent_at is not None) == ("sent", True)
    assert EmailNotification.objects.get(pk=failed.pk).state == "pending"

    # The state is no field a reviewer can type into.
    page = client.get(f"{changelist}{stuck.pk}/change/").content.decode()
    assert 'name="state"' not in page
