"""Disputes (SPEC §5, §8, §12): the partner disputes a rejection once, within 30 days, on the claim page; the
reviewer approves, asks for more, or rejects for good (rejected_final) in admin; rejected_final is final; the
partner of an official association adds POE with a comment to protect it."""

import datetime

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, transaction
from django.urls import reverse

from associations.models import UserPreference
from associations.tests.fixtures import make_user
from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification, PendingUpload, PoeDocument
from claims.services import (
    ClaimStatusConflict,
    claim_reject,
    claim_request_information,
    claim_respond,
    claim_transition,
    claims_expire_information_requests,
    email_notification_send,
)
from claims.services.disputes import (
    PartnerActionRefused,
    claim_dispute,
    claim_protect,
)
from claims.tests.factories import PDF_BYTES, claim_make, claim_make_official
from claims.uploads import poe_check

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
# Rejected on Monday 2 March 2026 at 15:00 UTC: 10:00 in New York, the US tenant's zone. Disputable until the 30th
# calendar day after, 1 April, 23:59:59 New York time (2 April, 03:59:59 UTC).
REJECTED_AT = datetime.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAY_30 = datetime.datetime(2026, 4, 2, 3, 59, 59, tzinfo=UTC)
DAY_31 = datetime.datetime(2026, 4, 2, 4, 0, 0, tzinfo=UTC)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


@pytest.fixture
def rejected(partner_a, m365_tenant, products, reviewer):
    """A claim a reviewer rejected at REJECTED_AT, as production does it."""
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    with time_machine.travel(REJECTED_AT, tick=False):
        claim_reject(claim=claim, user=reviewer, reason="poe_insufficient", message="The SOW is not signed.")
    claim.refresh_from_db()
    return claim


def _dispute(client, claim, at=REJECTED_AT + datetime.timedelta(days=1), **data):
    data.setdefault("justification", "The customer signed the SOW on 1 March; attached.")
    with time_machine.travel(at, tick=False):
        response = client.post(reverse("claims:dispute", args=[claim.pk]), data)
    assert not response.get("Location", "").startswith("/login/"), "signed out (8 hours idle between requests)"
    return response


def _page(client, claim):
    client.cookies[settings.TIME_ZONE_COOKIE_NAME] = "America/New_York"  # the viewer's zone, as the customer's
    response = client.get(reverse("claims:detail", args=[claim.pk]))
    assert response.status_code == 200, response
    return response.content.decode()


def _disputed(claim, partner_a):
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=2), tick=False):
        claim_dispute(claim=claim, user=partner_a.admin, justification="Signed SOW attached.", files=[])
    claim.refresh_from_db()
    return claim


# The partner disputes ---------------------------------------------------------------------------------------------


def test_dispute_claim_page_of_a_rejected_claim_shows_the_form_and_the_deadline(client_a, rejected):
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=3), tick=False):
        page = _page(client_a, rejected)

    assert f'action="{reverse("claims:dispute", args=[rejected.pk])}"' in page
    assert '<label for="dispute-justification">Business justification</label>' in page
    assert 'type="file" name="files" multiple' in page
    assert "until <strong>Wednesday 1 April 2026, 23:59 (23:59 New York time)</strong>" in page


def test_dispute_with_justification_and_file_moves_the_claim_to_disputed(
    client_a, partner_a, rejected, s3_objects, mailoutbox
):
    file = SimpleUploadedFile("signed sow.pdf", PDF_BYTES)

    response = _dispute(client_a, rejected, files=[file])

    assert response.status_code == 302
    assert response["Location"] == reverse("claims:detail", args=[rejected.pk])
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.DISPUTED
    assert rejected.disputed_at == REJECTED_AT + datetime.timedelta(days=1)
    event = rejected.events.first()
    assert (event.actor, event.user, event.action, event.old_status, event.new_status, event.message) == (
        "partner",
        partner_a.admin,
        "disputed",
        "rejected",
        "disputed",
        "The customer signed the SOW on 1 March; attached.",
    )
    document = PoeDocument.objects.get(claim=rejected, original_name="signed sow.pdf")
    assert (document.uploaded_by, document.uploaded_at) == (partner_a.admin, rejected.disputed_at)
    assert document.content_checked and document.file.name in s3_objects("poe/")
    assert not PendingUpload.objects.exists()
    assert not EmailNotification.objects.filter(event=event).exists()  # nobody is emailed about a dispute
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=1), tick=False):
        page = client_a.get(response["Location"]).content.decode()
    assert "Your dispute was sent to the reviewer." in page
    assert "You disputed the rejection on" in page and "dispute-justification" not in page


def test_dispute_on_day_30_is_accepted(client_a, rejected):
    assert _dispute(client_a, rejected, at=DAY_30).status_code == 302

    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.DISPUTED


def test_dispute_on_day_31_is_refused_and_the_page_says_when_the_window_ended(client_a, rejected):
    response = _dispute(client_a, rejected, at=DAY_31)

    assert response.status_code == 302
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED and rejected.disputed_at is None
    assert rejected.events.count() == 1
    with time_machine.travel(DAY_31, tick=False):
        page = _page(client_a, rejected)
    assert page.count("The 30 days to dispute this rejection ended on April 1, 2026.") == 2  # message and block
    assert "dispute-justification" not in page


def test_dispute_service_refuses_after_the_window(partner_a, rejected):
    with time_machine.travel(DAY_31, tick=False), pytest.raises(PartnerActionRefused, match="ended on"):
        claim_dispute(claim=rejected, user=partner_a.admin, justification="Late.", files=[])


def test_dispute_second_time_is_refused(client_a, partner_a, rejected, reviewer, m365_tenant, products):
    later = REJECTED_AT + datetime.timedelta(days=3)
    _disputed(rejected, partner_a)
    assert _dispute(client_a, rejected, at=later).status_code == 302
    claim_reject(claim=rejected, user=reviewer, reason="not_eligible")
    events = ClaimEvent.objects.count()

    again = _dispute(client_a, rejected, at=later)

    assert again.status_code == 302
    with time_machine.travel(later, tick=False):
        assert "Only a rejected claim can be disputed." in client_a.get(again["Location"]).content.decode()
    assert ClaimEvent.objects.count() == events
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED_FINAL
    # A rejected claim that carries a dispute already (rows from before rejected_final existed) is refused too.
    legacy = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["exchange-online"]],
        status=ClaimStatus.REJECTED,
        disputed_at=REJECTED_AT,
    )
    with pytest.raises(PartnerActionRefused, match="disputed only once"):
        claim_dispute(claim=legacy, user=partner_a.admin, justification="Again.", files=[])
    with time_machine.travel(later, tick=False):
        assert "a rejection can be disputed only once" in _page(client_a, legacy)


def test_dispute_without_justification_is_refused_at_the_field(client_a, rejected):
    response = _dispute(client_a, rejected, justification="   ")

    page = response.content.decode()
    assert response.status_code == 400
    assert "Write your business justification: why the claim should be approved." in page
    assert 'aria-invalid="true"' in page and 'id="dispute-justification-error"' in page
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED


@pytest.mark.parametrize(
    "text, message",
    [
        ("Signed\x00SOW", "Null characters are not allowed."),
        ("Signed\x07SOW", "Remove the invisible control character (U+0007)"),
        ("x" * 100_000, "Keep your justification under 5,000 characters."),
    ],
)
def test_dispute_bad_justification_gets_a_field_message_and_keeps_nothing(client_a, rejected, text, message):
    response = _dispute(client_a, rejected, justification=text)

    assert response.status_code == 400
    assert message in response.content.decode()
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED and rejected.events.count() == 1


def test_dispute_with_a_renamed_executable_keeps_the_text_and_stores_nothing(client_a, rejected, s3_objects):
    before = s3_objects()

    response = _dispute(client_a, rejected, justification="See file.", files=[SimpleUploadedFile("sow.pdf", EXE)])

    page = response.content.decode()
    assert response.status_code == 400
    # At the drop zone (its error block, which the file input names in aria-describedby).
    error = page.split('<div class="field-error" id="dispute-files_error">', 1)[1].split("</div>", 1)[0]
    assert "We check what the file contains, not its name." in error
    assert 'aria-describedby="dispute-files_helptext dispute-files_error" aria-invalid="true"' in page
    assert ">See file.</textarea>" in page
    assert s3_objects() == before and not PendingUpload.objects.exists()


def test_dispute_of_another_partners_claim_is_404_and_viewer_is_403(client, partner_a, partner_b, rejected):
    client.force_login(partner_b.admin)
    assert _dispute(client, rejected).status_code == 404
    client.force_login(partner_a.viewer)
    assert _dispute(client, rejected).status_code == 403
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=1), tick=False):
        page = _page(client, rejected)
    assert "An incentives admin of your organization can dispute this rejection" in page
    assert "dispute-justification" not in page
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED


def test_dispute_get_is_405(client_a, rejected):
    assert client_a.get(reverse("claims:dispute", args=[rejected.pk])).status_code == 405


# The reviewer decides ---------------------------------------------------------------------------------------------


def test_dispute_admin_page_shows_justification_and_its_poe_with_the_three_decisions(
    reviewer_client, partner_a, rejected
):
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=2), tick=False):
        claim_dispute(
            claim=rejected,
            user=partner_a.admin,
            justification="Signed SOW attached.",
            files=[(upload := SimpleUploadedFile("signed.pdf", PDF_BYTES), poe_check(upload))],
        )

    page = reviewer_client.get(reverse("admin:claims_claim_change", args=[rejected.pk])).content.decode()

    assert "The partner disputed the rejection." in page
    assert 'id="justification">Signed SOW attached.</p>' in page
    document = rejected.documents.get(original_name="signed.pdf")
    assert reverse("admin:claims_claim_poe", args=[rejected.pk, document.pk]) in page
    assert reverse("admin:claims_claim_approve", args=[rejected.pk]) in page
    assert reverse("admin:claims_claim_request_information", args=[rejected.pk]) in page
    assert "Reject (final)" in page


def test_dispute_admin_list_filters_by_the_new_statuses(reviewer_client, partner_a, rejected):
    _disputed(rejected, partner_a)

    response = reviewer_client.get("/admin/claims/claim/", {"status__exact": "disputed"})

    assert [c.pk for c in response.context["cl"].result_list] == [rejected.pk]
    page = response.content.decode()
    assert "?status__exact=rejected_final" in page and "Rejected (final)" in page


def test_dispute_reviewer_approves_and_the_customer_is_emailed(
    reviewer_client, reviewer, partner_a, rejected, mailoutbox
):
    _disputed(rejected, partner_a)

    with time_machine.travel(datetime.datetime(2026, 3, 9, 14, 0, tzinfo=UTC), tick=False):
        response = reviewer_client.post(reverse("admin:claims_claim_approve", args=[rejected.pk]))

    assert response.status_code == 302
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.CUSTOMER_NOTIFIED
    event = rejected.events.first()
    assert (event.actor, event.user, event.action, event.old_status) == ("reviewer", reviewer, "approved", "disputed")
    notification = EmailNotification.objects.get(event=event)
    # The window starts when the notice is accepted (claims.services.notices), here the same day.
    with time_machine.travel(datetime.datetime(2026, 3, 9, 14, 1, tzinfo=UTC), tick=False):
        assert email_notification_send(notification_id=notification.pk) is True
    rejected.refresh_from_db()
    # Five business days after Monday 9 March, New York: Monday 16 March, 23:59:59 EDT.
    assert rejected.opt_out_deadline == datetime.datetime(2026, 3, 17, 3, 59, 59, tzinfo=UTC)
    (message,) = mailoutbox
    assert message.to == ["dana@northwindtraders.onmicrosoft.com"]
    assert "/customer/opt-out/" in message.body


def test_dispute_reviewer_requests_information(reviewer_client, reviewer, partner_a, rejected):
    _disputed(rejected, partner_a)

    reviewer_client.post(
        reverse("admin:claims_claim_request_information", args=[rejected.pk]),
        {"reason": "poe_unreadable", "message": "The new file does not open."},
    )

    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.ACTION_REQUIRED and rejected.response_deadline is not None
    event = rejected.events.first()
    assert (event.action, event.reason, event.message, event.old_status) == (
        "information_requested",
        "poe_unreadable",
        "The new file does not open.",
        "disputed",
    )
    assert EmailNotification.objects.filter(event=event, kind="action_required").exists()


def test_dispute_reviewer_rejects_for_good_and_the_partner_is_emailed(
    reviewer_client, reviewer, partner_a, rejected, mailoutbox
):
    _disputed(rejected, partner_a)
    url = reverse("admin:claims_claim_reject", args=[rejected.pk])
    assert "rejecting is final" in reviewer_client.get(url).content.decode()

    reviewer_client.post(url, {"reason": "not_eligible", "message": "Still no signed SOW."})

    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED_FINAL
    assert rejected.rejection_reasons == ["The activity is not eligible for this program", "Still no signed SOW."]
    event = rejected.events.first()
    assert (event.actor, event.user, event.action, event.reason, event.message) == (
        "reviewer",
        reviewer,
        "dispute_rejected",
        "not_eligible",
        "Still no signed SOW.",
    )
    notification = EmailNotification.objects.get(event=event)
    assert notification.kind == "rejected_final"
    assert email_notification_send(notification_id=notification.pk) is True
    (message,) = mailoutbox
    assert message.to == ["claims@partner-a.example"]
    assert message.subject == f"Your claim “{rejected.name}” was rejected (final decision)"
    assert "This decision is final: the claim cannot be disputed again." in message.body
    assert "Still no signed SOW." in message.body
    assert "/incentives/customer-associations/new/" in message.body
    html = message.alternatives[0][0]
    assert "Start a new claim" in html and "The activity is not eligible for this program" in html


def test_dispute_rejected_final_email_in_traditional_chinese(partner_a, rejected, reviewer, mailoutbox):
    contact = make_user("claims@partner-a.example", partner=partner_a.partner)
    UserPreference.objects.create(user=contact, language="zh-hant")
    _disputed(rejected, partner_a)
    claim_transition(claim=rejected, to="rejected_final", actor="reviewer", user=reviewer, action="dispute_rejected")
    notification = EmailNotification.objects.get(claim=rejected, kind="rejected_final")

    email_notification_send(notification_id=notification.pk)

    (message,) = mailoutbox
    assert "最終" in message.subject and "提出爭議" in message.body


# rejected_final is final --------------------------------------------------------------------------------------------


def test_dispute_rejected_final_is_final(client_a, partner_a, reviewer, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.DISPUTED)
    claim_transition(claim=claim, to="rejected_final", actor="reviewer", user=reviewer, action="dispute_rejected")

    page = _page(client_a, claim)
    assert "This decision is final: the claim cannot be disputed again." in page
    assert "dispute-justification" not in page and 'id="dispute-closed"' in page
    for status in ClaimStatus.values:
        with pytest.raises((ClaimStatusConflict, ValueError)):
            claim_transition(claim=claim, to=status, actor="reviewer", user=reviewer, action="approved")
    with pytest.raises(PartnerActionRefused):
        claim_dispute(claim=claim, user=partner_a.admin, justification="Again.", files=[])
    # PostgreSQL itself refuses every move out of rejected_final, whoever writes.
    for status in ("rejected", "disputed", "under_review", "customer_notified"):
        with pytest.raises(DatabaseError), transaction.atomic():
            Claim.objects.filter(pk=claim.pk).update(status=status)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED_FINAL


def test_dispute_rerejection_of_a_disputed_claim_from_review_is_final(partner_a, reviewer, rejected):
    _disputed(rejected, partner_a)
    claim_request_information(claim=rejected, user=reviewer, reason="other", message="Which SOW?")
    claim_respond(claim=rejected, user=partner_a.admin, comment="The one of 1 March.", files=[])
    stale = Claim.objects.get(pk=rejected.pk)
    stale.disputed_at = None  # a reviewer page loaded before the dispute must not decide

    claim_reject(claim=stale, user=reviewer, reason="not_eligible")

    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED_FINAL
    event = rejected.events.first()
    assert (event.action, event.old_status, event.new_status) == ("dispute_rejected", "under_review", "rejected_final")
    assert EmailNotification.objects.filter(event=event, kind="rejected_final").exists()


def test_dispute_no_answer_after_a_dispute_is_final_and_other_claims_stay_rejected(
    partner_a, reviewer, rejected, m365_tenant, products
):
    _disputed(rejected, partner_a)
    claim_request_information(claim=rejected, user=reviewer, reason="other", message="Which SOW?")
    plain = claim_make(
        partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status=ClaimStatus.ACTION_REQUIRED
    )

    assert claims_expire_information_requests(now=datetime.datetime(2027, 1, 1, tzinfo=UTC)) == 2

    rejected.refresh_from_db()
    plain.refresh_from_db()
    assert (rejected.status, plain.status) == (ClaimStatus.REJECTED_FINAL, ClaimStatus.REJECTED)
    assert rejected.events.first().action == "no_response"
    assert EmailNotification.objects.filter(claim=rejected, kind="rejected_final").count() == 1
    assert EmailNotification.objects.filter(claim=plain, kind="rejected").count() == 1


def test_dispute_reject_of_a_never_disputed_claim_stays_rejected(reviewer_client, rejected):
    assert rejected.status == ClaimStatus.REJECTED
    assert rejected.events.first().action == "rejected"


# Protect an official association ----------------------------------------------------------------------------------


@pytest.fixture
def official(partner_a, m365_tenant, products):
    return claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])


def _protect(client, claim, **data):
    return client.post(reverse("claims:protect", args=[claim.pk]), data)


def test_protect_official_claim_records_poe_and_comment(client_a, partner_a, official, s3_objects):
    page = _page(client_a, official)
    assert f'action="{reverse("claims:protect", args=[official.pk])}"' in page

    response = _protect(
        client_a,
        official,
        comment="Q3 usage review with the customer.",
        files=[SimpleUploadedFile("q3.pdf", PDF_BYTES)],
    )

    assert response.status_code == 302
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL
    event = official.events.first()
    assert (event.actor, event.user, event.action, event.message, event.new_status) == (
        "partner",
        partner_a.admin,
        "poe_added",
        "Q3 usage review with the customer.",
        "",
    )
    document = official.documents.get(original_name="q3.pdf")
    assert document.uploaded_at == event.created_at and document.file.name in s3_objects("poe/")
    assert not EmailNotification.objects.filter(event=event).exists()
    assert (
        "Your proof of execution was added to the association." in client_a.get(response["Location"]).content.decode()
    )


def test_protect_needs_a_comment_and_a_file(client_a, official):
    response = _protect(client_a, official, comment="")

    page = response.content.decode()
    assert response.status_code == 400
    assert "Write a comment: what the new proof of execution shows." in page
    assert "Add at least one proof of execution file." in page
    assert '<details class="protect-details" open>' in page
    assert official.events.filter(action="poe_added").count() == 0


def test_protect_is_refused_on_a_claim_that_is_not_official(client_a, partner_a, rejected):
    response = _protect(client_a, rejected, comment="More proof.", files=[SimpleUploadedFile("q3.pdf", PDF_BYTES)])

    assert response.status_code == 302
    assert "only to an official association" in client_a.get(response["Location"]).content.decode()
    assert not rejected.documents.filter(original_name="q3.pdf").exists()
    assert reverse("claims:protect", args=[rejected.pk]) not in _page(client_a, rejected)
    with pytest.raises(PartnerActionRefused):
        claim_protect(claim=rejected, user=partner_a.admin, comment="More.", files=[])


def test_protect_of_another_partners_claim_is_404_and_viewer_is_403(client, partner_a, partner_b, official):
    client.force_login(partner_b.admin)
    assert _protect(client, official, comment="x").status_code == 404
    client.force_login(partner_a.viewer)
    assert _protect(client, official, comment="x").status_code == 403
    assert "protect-comment" not in _page(client, official)
    assert official.events.filter(action="poe_added").count() == 0


# The shared drop zone (SPEC §13): the dispute and protect forms send their files as the answer's do --------------

XHR = {"X-Requested-With": "XMLHttpRequest"}


def test_dispute_and_protect_forms_use_the_shared_drop_zone_once(client_a, rejected, official):
    protect_page = _page(client_a, official)
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=1), tick=False):
        dispute_page = _page(client_a, rejected)

    for page, form_id in ((dispute_page, "dispute-form"), (protect_page, "protect-form")):
        form = page.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
        assert form.count("data-poe-dropzone") == 1
        assert (
            'data-max-files="5" data-max-bytes="10485760" data-accept=".pdf,.docx,.xlsx,.pptx,.png,.jpg,.jpeg,.msg"'
            in form
        )
        assert f'name="files" multiple id="{form_id.removesuffix("-form")}-files"' in form
        assert page.count("js/poe-upload.js") == 1
        assert "Up to 5 files of 10.0\xa0MB each" in form
    assert '<label for="dispute-files">More proof of execution (optional)</label>' in dispute_page
    assert '<label for="protect-files">Proof of execution (POE)</label>' in protect_page


def test_dispute_xhr_post_is_answered_with_the_claim_page_address(client_a, rejected, s3_objects):
    detail = reverse("claims:detail", args=[rejected.pk])
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=1), tick=False):
        response = client_a.post(
            reverse("claims:dispute", args=[rejected.pk]),
            {"justification": "Signed SOW attached.", "files": [SimpleUploadedFile("sow.pdf", PDF_BYTES)]},
            headers=XHR,
        )

        # The message waits for the page the uploader opens.
        assert "Your dispute was sent to the reviewer." in client_a.get(detail).content.decode()

    assert response.status_code == 200 and response.json() == {"location": detail}
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.DISPUTED
    assert rejected.documents.filter(original_name="sow.pdf", uploaded_at=rejected.disputed_at).count() == 1

    # A second dispute (another tab) is refused the same way: the address, with the reason shown there.
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=1, hours=1), tick=False):
        again = client_a.post(reverse("claims:dispute", args=[rejected.pk]), {"justification": "Again."}, headers=XHR)
        assert again.status_code == 200 and again.json() == {"location": detail}
        assert "Only a rejected claim can be disputed." in client_a.get(detail).content.decode()


def test_dispute_xhr_post_with_errors_returns_the_form_at_400(client_a, rejected):
    files = [SimpleUploadedFile(f"p{n}.pdf", PDF_BYTES) for n in range(6)]
    documents = rejected.documents.count()
    with time_machine.travel(REJECTED_AT + datetime.timedelta(days=1), tick=False):
        response = client_a.post(
            reverse("claims:dispute", args=[rejected.pk]), {"justification": "", "files": files}, headers=XHR
        )

    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    form = response.content.decode().split('id="dispute-form"', 1)[1].split("</form>", 1)[0]
    assert 'id="dispute-justification-error"' in form
    files_error = form.split('id="dispute-files_error">', 1)[1].split("</div>", 1)[0]
    assert "You can add at most 5 files at a time." in files_error
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED and rejected.documents.count() == documents


def test_protect_xhr_post_is_answered_with_the_address_or_the_form_at_400(client_a, official, rejected, s3_objects):
    url = reverse("claims:protect", args=[official.pk])
    detail = reverse("claims:detail", args=[official.pk])

    refused = client_a.post(url, {"comment": "Q3 review."}, headers=XHR)
    assert refused.status_code == 400
    form = refused.content.decode().split('id="protect-form"', 1)[1].split("</form>", 1)[0]
    assert "Add at least one proof of execution file." in form.split('id="protect-files_error">', 1)[1]
    assert ">Q3 review.</textarea>" in form

    response = client_a.post(
        url, {"comment": "Q3 review.", "files": [SimpleUploadedFile("q3.pdf", PDF_BYTES)]}, headers=XHR
    )
    assert response.status_code == 200 and response.json() == {"location": detail}
    assert official.documents.filter(original_name="q3.pdf").count() == 1
    assert "Your proof of execution was added to the association." in client_a.get(detail).content.decode()

    # Not official: the claim page's address, with the reason shown there; nothing stored.
    elsewhere = client_a.post(
        reverse("claims:protect", args=[rejected.pk]),
        {"comment": "More.", "files": [SimpleUploadedFile("more.pdf", PDF_BYTES)]},
        headers=XHR,
    )
    assert elsewhere.json() == {"location": reverse("claims:detail", args=[rejected.pk])}
    assert not rejected.documents.filter(original_name="more.pdf").exists()
