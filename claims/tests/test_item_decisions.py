"""Per-item decisions (SPEC §8): the reviewer approves some items and rejects others, each with a reason; the claim
goes on with the approved ones to official, and the partner's email and claim page say which went on and why the
others did not. Rejecting every item rejects the claim."""

import datetime

import pytest
from django.urls import reverse

from associations.models import Association, UserPreference
from associations.tests.fixtures import make_user
from claims.models import ClaimEvent, ClaimItem, ClaimStatus, EmailNotification
from claims.services import ClaimStatusConflict, claim_approve, claims_finalize_due, emails_send_due
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
# "Rejected by the reviewer: The proof of execution does not support the claim", as the zh-Hant catalog says it.
ZH_REJECTED_POE = "審核者已拒絕：執行證明不足以佐證此宣告"  # noqa: RUF001 (zh-Hant punctuation)


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.UNDER_REVIEW,
        name="Northwind collaboration",
    )


def _item(claim, code):
    return claim.items.get(product__code=code)


def _approve_url(claim):
    return reverse("admin:claims_claim_approve", args=[claim.pk])


def _decisions(claim, **rejected):
    """The Approve page's POST: each item approved, except ``rejected`` ({product code: (reason, note)})."""
    data = {}
    for item in claim.items.all():
        prefix = f"item-{item.pk}"
        reason, note = rejected.get(item.product.code.replace("-", "_"), ("", ""))
        data[f"{prefix}-decision"] = "reject" if reason else "approve"
        data[f"{prefix}-reason"] = reason
        data[f"{prefix}-message"] = note
    return data


def _finalize(claim, mailoutbox):
    """The customer's notice delivered (its window starts), then the deadline passed: official, and its emails."""
    emails_send_due()
    claim.refresh_from_db()
    assert claim.opt_out_deadline is not None
    mailoutbox.clear()
    claims_finalize_due(now=claim.opt_out_deadline + datetime.timedelta(seconds=1))
    emails_send_due()
    claim.refresh_from_db()


def test_item_decisions_approve_one_reject_one_through_to_official(reviewer_client, reviewer, claim, mailoutbox):
    response = reviewer_client.get(_approve_url(claim))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Microsoft Teams" in page and "Yammer" in page and "Cancel" in page

    response = reviewer_client.post(
        _approve_url(claim), _decisions(claim, yammer=("poe_insufficient", "The POE shows Teams only."))
    )

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED
    yammer, teams = _item(claim, "yammer"), _item(claim, "microsoft-teams")
    assert (yammer.outcome, yammer.outcome_reason) == (ClaimItem.Outcome.REJECTED, "poe_insufficient")
    assert teams.outcome == ""
    rejected_event = claim.events.get(action=ClaimEvent.Action.ITEM_REJECTED)
    assert (rejected_event.user, rejected_event.message) == (reviewer, "The POE shows Teams only.")
    assert claim.events.get(action=ClaimEvent.Action.APPROVED).user == reviewer
    # The customer is asked about Teams only.
    emails_send_due()
    (notice,) = mailoutbox
    assert "Microsoft Teams" in notice.body and "Yammer" not in notice.body

    mailoutbox.clear()
    claim.refresh_from_db()
    claims_finalize_due(now=claim.opt_out_deadline + datetime.timedelta(seconds=1))
    emails_send_due()

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OFFICIAL
    associations = Association.objects.filter(partner=claim.partner)
    assert [a.product.code for a in associations] == ["microsoft-teams"]
    assert associations.get().status == Association.Status.ACTIVE
    (official,) = mailoutbox
    assert official.to == ["claims@partner-a.example"]
    body = official.body
    went_on, _, did_not = body.partition("The reviewer rejected these products, which did not go on:")
    assert "Microsoft Teams" in went_on and "Yammer" not in went_on
    assert "Yammer: The proof of execution does not support the claim (The POE shows Teams only.)" in did_not
    html = official.alternatives[0][0]
    assert "Yammer: The proof of execution does not support the claim (The POE shows Teams only.)" in html


def test_item_decisions_official_email_in_zh_hant(reviewer, claim, mailoutbox):
    UserPreference.objects.create(user=make_user(claim.partner_contact_email), language="zh-hant")
    claim_approve(claim=claim, user=reviewer, rejected_items={_item(claim, "yammer").pk: ("not_eligible", "")})
    _finalize(claim, mailoutbox)

    (official,) = mailoutbox
    assert "審核者已拒絕下列產品，這些產品未繼續處理：" in official.body  # noqa: RUF001 (zh-Hant punctuation)
    assert "Yammer：此活動不符合此方案的資格" in official.body  # noqa: RUF001 (zh-Hant punctuation)


def test_item_decisions_partner_page_says_which_went_on_and_why(client, partner_a, reviewer, claim):
    client.force_login(partner_a.admin)
    assert "Going on" not in client.get(reverse("claims:detail", args=[claim.pk])).content.decode()
    claim_approve(
        claim=claim,
        user=reviewer,
        rejected_items={_item(claim, "yammer").pk: ("poe_insufficient", "The POE shows Teams only.")},
    )

    page = client.get(reverse("claims:detail", args=[claim.pk])).content.decode()

    assert "Rejected by the reviewer: The proof of execution does not support the claim" in page
    assert "The POE shows Teams only." in page
    assert "Going on" in page

    client.cookies.load({"django_language": "zh-hant"})
    page = client.get(reverse("claims:detail", args=[claim.pk]), HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert ZH_REJECTED_POE in page


def test_item_decisions_rejecting_every_item_rejects_the_claim(reviewer_client, claim, mailoutbox):
    response = reviewer_client.post(
        _approve_url(claim),
        _decisions(claim, yammer=("poe_insufficient", "Teams only."), microsoft_teams=("not_eligible", "")),
    )

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED
    assert claim.rejection_reasons == [
        "Microsoft Teams was rejected: The activity is not eligible for this program.",
        "Yammer was rejected: The proof of execution does not support the claim. Teams only.",
    ]
    assert not claim.items.exclude(outcome="").exists()  # a dispute may bring them all back
    emails_send_due()
    (rejected,) = mailoutbox
    assert "Yammer was rejected: The proof of execution does not support the claim. Teams only." in rejected.body


def test_item_decisions_reject_needs_a_reason_said_at_its_field(reviewer_client, claim):
    data = _decisions(claim)
    data[f"item-{_item(claim, 'yammer').pk}-decision"] = "reject"

    response = reviewer_client.post(_approve_url(claim), data)

    assert response.status_code == 400
    assert "Choose why this product is rejected." in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.UNDER_REVIEW
    assert not claim.events.exists()


def test_item_decisions_only_a_reviewer_on_a_claim_under_review(partner_a, reviewer, claim):
    with pytest.raises(ClaimStatusConflict):
        claim_approve(claim=claim, user=partner_a.admin, rejected_items={})
    claim_approve(claim=claim, user=reviewer)
    with pytest.raises(ClaimStatusConflict):  # decided already: nothing more
        claim_approve(claim=claim, user=reviewer, rejected_items={_item(claim, "yammer").pk: ("other", "")})
    assert not claim.items.exclude(outcome="").exists()
    assert EmailNotification.objects.filter(claim=claim, kind="customer_notified").count() == 1


def test_item_decisions_bad_item_ids_change_nothing(reviewer, claim, partner_b, m365_tenant, products):
    other = claim_make(partner_b, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    with pytest.raises(ValueError):
        claim_approve(claim=claim, user=reviewer, rejected_items={other.items.get().pk: ("other", "")})
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.UNDER_REVIEW
    assert not claim.events.exists()
