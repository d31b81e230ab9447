"""The one transition function and the review services built on it."""

import datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from claims.models import ClaimEvent, ClaimStatus, EmailNotification, PendingUpload, PoeDocument
from claims.services import (
    ClaimStatusConflict,
    claim_approve,
    claim_reject,
    claim_request_information,
    claim_respond,
    claim_transition,
    claims_expire_information_requests,
    emails_send_due,
)
from claims.tests.factories import PDF_BYTES, claim_make
from claims.uploads import poe_check

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)


def test_transition_saves_status_writes_one_event_and_queues_email(claim, reviewer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        claim_transition(
            claim=claim, to="rejected", actor="reviewer", user=reviewer, action="rejected", reason="other", message="m"
        )

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED
    event = ClaimEvent.objects.get(claim=claim)
    assert (event.actor, event.user, event.action, event.old_status, event.new_status, event.reason, event.message) == (
        "reviewer",
        reviewer,
        "rejected",
        "under_review",
        "rejected",
        "other",
        "m",
    )
    assert list(EmailNotification.objects.values_list("claim_id", "kind", "state")) == [
        (claim.pk, "rejected", "pending")
    ]
    assert len(callbacks) == 1  # one enqueue after commit


def test_transition_not_allowed_raises_conflict_and_writes_nothing(claim):
    with pytest.raises(ClaimStatusConflict):
        claim_transition(claim=claim, to="official", actor="system", action="finalized")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.UNDER_REVIEW
    assert not ClaimEvent.objects.exists()
    assert not EmailNotification.objects.exists()


def test_transition_reads_the_status_under_the_lock_not_the_stale_object(claim):
    stale = type(claim).objects.get(pk=claim.pk)
    claim_transition(claim=claim, to="rejected", actor="reviewer", action="rejected")

    with pytest.raises(ClaimStatusConflict):
        claim_transition(claim=stale, to="customer_notified", actor="reviewer", action="approved")
    assert ClaimEvent.objects.count() == 1


def test_approve_queues_customer_email_whose_delivery_stores_notification_and_deadline(claim, reviewer, mailoutbox):
    # Tuesday 24 Nov 2026 in New York; Thu 26 is Thanksgiving: Wed 25 (1), Fri 27 (2), Mon 30 (3), Tue 1 (4),
    # Wed 2 Dec (5) -> 23:59:59 EST = 04:59:59 UTC on 3 Dec. The window starts when the notice is accepted (SPEC
    # §6, claims.services.notices), here in the same minute as the approval.
    with time_machine.travel(datetime.datetime(2026, 11, 24, 15, 0, tzinfo=UTC), tick=False):
        claim_approve(claim=claim, user=reviewer)
        claim.refresh_from_db()
        assert (claim.customer_notified_at, claim.opt_out_deadline) == (None, None)
        assert emails_send_due() == 1

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED
    assert claim.customer_notified_at == datetime.datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert claim.opt_out_deadline == datetime.datetime(2026, 12, 3, 4, 59, 59, tzinfo=UTC)
    assert ClaimEvent.objects.get(action="approved").user == reviewer
    assert list(EmailNotification.objects.values_list("kind", flat=True)) == ["customer_notified"]


def test_approve_twice_second_is_a_conflict(claim, reviewer):
    claim_approve(claim=claim, user=reviewer)

    with pytest.raises(ClaimStatusConflict):
        claim_approve(claim=claim, user=reviewer)
    assert ClaimEvent.objects.count() == 1
    assert EmailNotification.objects.count() == 1


def test_approve_from_action_required_is_refused(partner_a, m365_tenant, products, reviewer):
    waiting = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.ACTION_REQUIRED
    )

    with pytest.raises(ClaimStatusConflict):
        claim_approve(claim=waiting, user=reviewer)


def test_request_information_sets_response_deadline_and_event(claim, reviewer):
    with time_machine.travel(datetime.datetime(2026, 11, 30, 15, 0, tzinfo=UTC), tick=False):
        claim_request_information(claim=claim, user=reviewer, reason="poe_insufficient", message="Add the SOW.")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED
    # Monday 30 Nov: Tue 1 ... Mon 7 Dec, 23:59:59 EST.
    assert claim.response_deadline == datetime.datetime(2026, 12, 8, 4, 59, 59, tzinfo=UTC)
    event = ClaimEvent.objects.get()
    assert (event.action, event.reason, event.message, event.user) == (
        "information_requested",
        "poe_insufficient",
        "Add the SOW.",
        reviewer,
    )
    assert list(EmailNotification.objects.values_list("kind", flat=True)) == ["action_required"]


def test_request_information_unknown_reason_is_refused(claim, reviewer):
    with pytest.raises(ValueError):
        claim_request_information(claim=claim, user=reviewer, reason="because", message="x")
    assert ClaimEvent.objects.count() == 0


def test_reject_stores_reason_label_and_message(claim, reviewer):
    claim_reject(claim=claim, user=reviewer, reason="poe_insufficient", message="The POE is a blank page.")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED
    assert claim.rejection_reasons == [
        "The proof of execution does not support the claim",
        "The POE is a blank page.",
    ]


def test_respond_returns_to_review_with_files_in_response(partner_a, m365_tenant, products, s3_objects):
    waiting = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.ACTION_REQUIRED
    )
    upload = SimpleUploadedFile("sow.pdf", PDF_BYTES, content_type="application/pdf")

    claim_respond(claim=waiting, user=partner_a.admin, comment="Here is the SOW.", files=[(upload, poe_check(upload))])

    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.UNDER_REVIEW
    assert waiting.response_deadline is None
    document = PoeDocument.objects.get(claim=waiting, in_response=True)
    assert (document.original_name, document.size, document.uploaded_by) == ("sow.pdf", len(PDF_BYTES), partner_a.admin)
    assert document.file.name in s3_objects("poe/")
    assert document.content_checked
    assert not PendingUpload.objects.exists()
    event = ClaimEvent.objects.get()
    assert (event.actor, event.action, event.message) == ("partner", "responded", "Here is the SOW.")


def test_respond_when_no_longer_waiting_stores_nothing(claim, partner_a, s3_objects):
    upload = SimpleUploadedFile("sow.pdf", PDF_BYTES, content_type="application/pdf")
    before = s3_objects("poe/")

    with pytest.raises(ClaimStatusConflict):
        claim_respond(claim=claim, user=partner_a.admin, comment="late", files=[(upload, poe_check(upload))])

    assert s3_objects("poe/") == before
    assert not PoeDocument.objects.filter(in_response=True).exists()
    assert not PendingUpload.objects.exists()


def test_expire_information_requests_rejects_only_overdue(partner_a, m365_tenant, products):
    now = datetime.datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    overdue = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.ACTION_REQUIRED,
        response_deadline=now - datetime.timedelta(seconds=1),
    )
    pending = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["exchange-online"]],
        status=ClaimStatus.ACTION_REQUIRED,
        response_deadline=now + datetime.timedelta(hours=1),
    )

    assert claims_expire_information_requests(now=now) == 1
    assert claims_expire_information_requests(now=now) == 0

    overdue.refresh_from_db()
    pending.refresh_from_db()
    assert overdue.status == ClaimStatus.REJECTED
    assert overdue.rejection_reasons == ["No response to the information request within 5 business days"]
    assert pending.status == ClaimStatus.ACTION_REQUIRED
    event = ClaimEvent.objects.get()
    assert (event.claim_id, event.actor, event.action, event.reason) == (
        overdue.pk,
        "system",
        "no_response",
        "no_response",
    )
    assert list(EmailNotification.objects.values_list("claim_id", "kind")) == [(overdue.pk, "rejected")]


def test_respond_storage_outage_leaves_claim_waiting_and_nothing_stored(
    partner_a, m365_tenant, products, s3_objects, settings
):
    from claims.services import PoeStorageError
    from claims.tests.test_submit import _dead_storage

    waiting = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.ACTION_REQUIRED
    )
    before = s3_objects()
    upload = SimpleUploadedFile("sow.pdf", PDF_BYTES, content_type="application/pdf")
    settings.STORAGES = _dead_storage(settings)

    with pytest.raises(PoeStorageError):
        claim_respond(claim=waiting, user=partner_a.admin, comment="SOW", files=[(upload, poe_check(upload))])

    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED
    assert not PendingUpload.objects.exists() and not PoeDocument.objects.filter(in_response=True).exists()
    assert not ClaimEvent.objects.exists()
    assert s3_objects() == before
