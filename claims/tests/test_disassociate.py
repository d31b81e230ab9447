"""Disassociate (SPEC §5 "ended"), and the partner's answer to an information request, on the claim page."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from associations.models import Association
from claims.models import ClaimEvent, ClaimStatus, EmailNotification, PoeDocument
from claims.tests.factories import PDF_BYTES, claim_make, claim_make_official

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


@pytest.fixture
def official(partner_a, m365_tenant, products):
    claim = claim_make_official(partner_a, tenant=m365_tenant, product=products["yammer"])
    EmailNotification.objects.all().delete()
    return claim


def _new_events():
    """The history written after the claim became official (history is never deleted, migration 0008)."""
    return ClaimEvent.objects.exclude(action=ClaimEvent.Action.FINALIZED)


def _url(claim, name="disassociate"):
    return reverse(f"claims:{name}", args=[claim.pk])


# The confirmation page's POST (Disassociate asks first: a POST without it only asks again).
CONFIRM = {"confirm": "1"}


def test_disassociate_ends_claim_and_associations(client_a, partner_a, official):
    response = client_a.post(_url(official), {"reason": "The customer moved in-house.", **CONFIRM})

    assert response.status_code == 302
    official.refresh_from_db()
    assert official.status == ClaimStatus.ENDED
    association = official.items.get().association
    assert (association.status, association.end_reason, association.end_message) == (
        "ended",
        "disassociated",
        "The customer moved in-house.",
    )
    event = _new_events().get()
    assert (event.actor, event.user, event.action, event.message) == (
        "partner",
        partner_a.admin,
        "disassociated",
        "The customer moved in-house.",
    )
    assert list(EmailNotification.objects.values_list("kind", flat=True)) == ["ended"]


def test_disassociate_needs_a_reason(client_a, official):
    response = client_a.post(_url(official), {"reason": "  ", **CONFIRM})

    assert response.status_code == 400
    assert "Give a reason for ending the association." in response.content.decode()
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL


def test_disassociate_twice_changes_nothing_more(client_a, official):
    client_a.post(_url(official), {"reason": "Done.", **CONFIRM})
    client_a.post(_url(official), {"reason": "Again.", **CONFIRM})

    assert _new_events().count() == 1
    assert Association.objects.get().end_message == "Done."


def test_disassociate_refused_to_viewer_other_partner_and_get(client, partner_a, partner_b, official):
    client.force_login(partner_a.viewer)
    assert client.post(_url(official), {"reason": "x", **CONFIRM}).status_code == 403
    assert client.get(_url(official)).status_code == 403
    client.force_login(partner_b.admin)
    assert client.post(_url(official), {"reason": "x", **CONFIRM}).status_code == 404
    assert client.get(_url(official)).status_code == 404
    client.force_login(partner_a.admin)
    # Behaviour change (issue 15): GET is the confirmation page (it was 405); it changes nothing either.
    assert client.get(_url(official)).status_code == 200
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL


def test_claim_page_shows_disassociate_form_and_usage_link(client_a, official):
    page = client_a.get(reverse("claims:detail", args=[official.pk])).content.decode()

    assert _url(official) in page
    assert _url(official, "usage") in page


@pytest.fixture
def waiting(partner_a, m365_tenant, products, reviewer):
    from claims.services import claim_request_information

    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_request_information(claim=claim, user=reviewer, reason="poe_insufficient", message="Add the signed SOW.")
    return claim


def test_claim_page_shows_reviewer_message_and_answer_form(client_a, waiting, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        page = client_a.get(reverse("claims:detail", args=[waiting.pk])).content.decode()

    assert "Add the signed SOW." in page
    assert "The proof of execution does not show the activity" in page
    assert _url(waiting, "respond") in page


def test_respond_with_comment_and_file_returns_to_review(client_a, waiting):
    upload = SimpleUploadedFile("sow.pdf", PDF_BYTES, content_type="application/pdf")

    response = client_a.post(_url(waiting, "respond"), {"comment": "Attached.", "files": [upload]})

    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.UNDER_REVIEW
    assert PoeDocument.objects.filter(claim=waiting, in_response=True).count() == 1
    assert ClaimEvent.objects.filter(claim=waiting, action="responded", message="Attached.").count() == 1


def test_respond_with_wrong_file_type_keeps_the_comment_and_changes_nothing(client_a, waiting):
    upload = SimpleUploadedFile("sow.pdf", b"just text", content_type="application/pdf")

    response = client_a.post(_url(waiting, "respond"), {"comment": "Attached.", "files": [upload]})

    assert response.status_code == 400
    page = response.content.decode()
    assert "is not a PDF, Word, Excel, PowerPoint, PNG, JPEG or Outlook message file" in page
    assert "Attached.</textarea>" in page
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED
    assert not PoeDocument.objects.filter(in_response=True).exists()


def test_respond_empty_is_refused(client_a, waiting):
    response = client_a.post(_url(waiting, "respond"), {"comment": ""})

    assert response.status_code == 400
    assert "Your answer is empty: write a comment, add a file or change the claim." in response.content.decode()


def test_respond_when_not_waiting_changes_nothing(client_a, official):
    response = client_a.post(_url(official, "respond"), {"comment": "Hello"})

    assert response.status_code == 302
    assert not _new_events().exists()


def test_disassociate_reason_too_long_or_with_nul_is_refused_and_kept(client_a, official):
    long_reason = "x" * 1001
    response = client_a.post(_url(official), {"reason": long_reason, **CONFIRM})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Keep the reason under 1,000 characters." in page
    assert f">{long_reason}</textarea>" in page

    response = client_a.post(_url(official), {"reason": "a\x00b", **CONFIRM})
    assert response.status_code == 400
    assert "Null characters are not allowed." in response.content.decode()
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL
    assert not _new_events().exists()


# --- Disassociate asks first (issue 15): a confirmation page, then the POST that acts ---------------------------


def test_disassociate_get_shows_what_ends_and_asks_for_the_reason(client_a, official):
    response = client_a.get(_url(official))

    assert response.status_code == 200
    page = response.content.decode()
    assert "End the association “Claim" in page
    assert "Yammer · OSU-Microsoft 365" in page  # what ends: the claim's items
    assert "The customer's usage data of these products is no longer shown to your organization." in page
    assert "This cannot be undone" in page
    assert '<textarea id="disassociate-reason" name="reason"' in page
    assert f'<form method="post" action="{_url(official)}"' in page and 'name="confirm" value="1"' in page
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL and not _new_events().exists()


def test_disassociate_page_in_traditional_chinese(client_a, official):
    page = client_a.get(_url(official), HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()

    assert "要解除關聯「" in page and "此動作無法復原" in page and "使用量資料" in page
    assert "End the association" not in page


def test_disassociate_one_click_post_without_confirming_only_asks(client_a, official):
    """The claim page's old one-click form posted the reason straight away: such a post now gets the confirmation
    page, with the reason kept, and ends nothing."""
    response = client_a.post(_url(official), {"reason": "Moved in-house."})

    assert response.status_code == 200
    page = response.content.decode()
    assert "This cannot be undone" in page and ">Moved in-house.</textarea>" in page
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL and not _new_events().exists()
    assert official.items.get().association.status == "active"


def test_claim_page_disassociate_button_leads_to_the_confirmation(client_a, official):
    page = client_a.get(reverse("claims:detail", args=[official.pk])).content.decode()

    assert f'<a class="button" href="{_url(official)}">Disassociate</a>' in page
    assert f'action="{_url(official)}"' not in page  # no form that ends it from the claim page
