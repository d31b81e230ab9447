"""The partner's answer to a reviewer's information request, through the claim page (SPEC §5, issue #4 item 3)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from claims.models import ClaimEvent, ClaimStatus, PendingUpload, PoeDocument
from claims.services import claim_request_information
from claims.tests.factories import PDF_BYTES, claim_make

pytestmark = pytest.mark.django_db
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


@pytest.fixture
def waiting(partner_a, m365_tenant, products, reviewer):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_request_information(
        claim=claim, user=reviewer, reason="poe_insufficient", message="Please add the signed statement of work."
    )
    claim.refresh_from_db()
    return claim


def _respond(client, claim, **data):
    return client.post(reverse("claims:respond", args=[claim.pk]), data)


def test_respond_claim_page_shows_reviewer_message_and_form(client_a, waiting):
    page = client_a.get(reverse("claims:detail", args=[waiting.pk])).content.decode()

    assert "Please add the signed statement of work." in page
    assert "The proof of execution does not show the activity" in page
    assert f'action="{reverse("claims:respond", args=[waiting.pk])}"' in page
    assert '<label for="respond-comment">Your answer</label>' in page


def test_respond_with_comment_and_file_returns_claim_to_review(client_a, partner_a, waiting, s3_objects):
    response = _respond(
        client_a, waiting, comment="Signed SOW attached.", files=[SimpleUploadedFile("sow.pdf", PDF_BYTES)]
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("claims:detail", args=[waiting.pk])
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.UNDER_REVIEW and waiting.response_deadline is None
    document = PoeDocument.objects.get(claim=waiting, in_response=True)
    assert (document.original_name, document.uploaded_by) == ("sow.pdf", partner_a.admin)
    assert document.file.name in s3_objects("poe/")
    event = waiting.events.first()
    assert (event.actor, event.action, event.message, event.new_status) == (
        "partner",
        "responded",
        "Signed SOW attached.",
        "under_review",
    )
    followed = client_a.get(response["Location"]).content.decode()
    assert "Thank you. Your answer was sent to the reviewer." in followed


def test_respond_without_comment_or_file_is_refused_on_the_page(client_a, waiting):
    response = _respond(client_a, waiting, comment="  ")

    assert response.status_code == 400
    assert "Your answer is empty: write a comment, add a file or change the claim." in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED


def test_respond_with_renamed_executable_keeps_comment_and_stores_nothing(client_a, waiting, s3_objects):
    before = s3_objects()

    response = _respond(client_a, waiting, comment="Here it is.", files=[SimpleUploadedFile("sow.pdf", EXE)])

    page = response.content.decode()
    assert response.status_code == 400
    assert "We check what the file contains, not its name." in page
    assert "Here it is.</textarea>" in page
    assert s3_objects() == before
    assert not PoeDocument.objects.filter(in_response=True).exists() and not PendingUpload.objects.exists()
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED


def test_respond_storage_outage_shows_retryable_message(client_a, waiting, s3_objects, settings):
    from claims.tests.test_submit import _dead_storage

    settings.STORAGES = _dead_storage(settings)
    response = _respond(client_a, waiting, comment="SOW", files=[SimpleUploadedFile("sow.pdf", PDF_BYTES)])

    assert response.status_code == 400
    assert "The file storage is not available. Nothing was sent: try again in a moment." in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED
    assert not PendingUpload.objects.exists() and not PoeDocument.objects.filter(in_response=True).exists()


def test_respond_second_post_changes_nothing(client_a, waiting):
    _respond(client_a, waiting, comment="First answer.")
    events = ClaimEvent.objects.count()

    response = _respond(client_a, waiting, comment="Second answer.")

    assert response.status_code == 302
    assert ClaimEvent.objects.count() == events
    assert "This claim is not waiting for your answer." in client_a.get(response["Location"]).content.decode()


def test_respond_is_403_for_incentives_user_and_404_for_another_partner(client, partner_a, partner_b, waiting):
    client.force_login(partner_a.viewer)
    assert _respond(client, waiting, comment="x").status_code == 403
    client.force_login(partner_b.admin)
    assert _respond(client, waiting, comment="x").status_code == 404
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED


def test_respond_get_is_405(client_a, waiting):
    assert client_a.get(reverse("claims:respond", args=[waiting.pk])).status_code == 405


def test_respond_six_files_and_a_nul_comment_are_refused_on_the_page(client_a, waiting):
    files = [SimpleUploadedFile(f"p{n}.pdf", PDF_BYTES, content_type="application/pdf") for n in range(6)]
    response = client_a.post(reverse("claims:respond", args=[waiting.pk]), {"comment": "ok", "files": files})
    assert response.status_code == 400
    assert "You can add at most 5 files to an answer." in response.content.decode()

    response = _respond(client_a, waiting, comment="bad\x00byte")
    assert response.status_code == 400
    assert "Null characters are not allowed." in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED
    assert not PoeDocument.objects.filter(in_response=True).exists() and not PendingUpload.objects.exists()


# SPEC §5: information requests as often as needed, each with its own email, each sent once.


def _answer(client, claim, comment):
    assert _respond(client, claim, comment=comment).status_code == 302
    claim.refresh_from_db()


def test_respond_two_requests_send_two_emails_each_once(client_a, waiting, reviewer, mailoutbox):
    from claims.models import EmailNotification
    from claims.services import email_notification_send, emails_send_due
    from claims.tasks import email_notification_send_task, emails_send_due_task

    _answer(client_a, waiting, "Attached the SOW.")
    claim_request_information(
        claim=waiting, user=reviewer, reason="contact_unverified", message="The customer contact left the company."
    )
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED

    rows = list(EmailNotification.objects.filter(claim=waiting, kind="action_required").order_by("pk"))
    requests = list(waiting.events.filter(action="information_requested").order_by("pk"))
    assert len(rows) == 2 and [row.event_id for row in rows] == [request.pk for request in requests]

    assert emails_send_due() == 2
    # Every way of sending, again: nothing more goes out.
    assert emails_send_due() == 0
    assert email_notification_send(notification_id=rows[0].pk) is False
    assert email_notification_send(notification_id=rows[1].pk) is False
    emails_send_due_task()
    email_notification_send_task(notification_id=rows[1].pk)
    assert len(mailoutbox) == 2
    first, second = mailoutbox
    # Each email says its own request's reason and message.
    assert "Please add the signed statement of work." in first.body
    assert "The customer contact left the company." not in first.body
    assert "The customer contact left the company." in second.body
    assert "Please add the signed statement of work." not in second.body
    assert "The proof of execution does not show the activity" in first.body
    assert first.subject == second.subject == f"Action required on your claim “{waiting.name}”"
    assert {row.state for row in EmailNotification.objects.filter(pk__in=[r.pk for r in rows])} == {"sent"}


def test_respond_old_request_email_sent_late_shows_its_own_message_and_no_stale_deadline(
    client_a, waiting, reviewer, mailoutbox
):
    from claims.models import EmailNotification
    from claims.services import emails_send_due

    _answer(client_a, waiting, "Done.")
    first = EmailNotification.objects.get(claim=waiting, kind="action_required")
    emails_send_due(ids=[first.pk], now=first.next_attempt_at)
    (message,) = mailoutbox
    assert "Please add the signed statement of work." in message.body
    # Answered before the email went out: the request has no deadline left to show.
    assert "on the claim's page; without an answer the claim is rejected." in message.body
