"""Arbitration (SPEC §8): each competing claim linked from the review page, two competing claims side by side, and
approving an item another partner already has awaiting the customer or official asks for a confirmation and a
reason (refused without one, recorded in the history with it)."""

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from associations.models import Association
from claims.models import ClaimEvent, ClaimStatus, EmailNotification, PoeDocument
from claims.services import claim_approve
from claims.services.review import ApprovalNeedsConfirmation
from claims.tests.factories import claim_make, claim_make_official

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(partner_a, m365_tenant, products):
    """Partner A's claim for Yammer, awaiting the customer."""
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        name="Contoso Yammer",
        competing=True,
    )


@pytest.fixture
def rival(partner_b, m365_tenant, products):
    """Partner B's claim for Yammer and Teams, under review."""
    claim = claim_make(
        partner_b,
        tenant=m365_tenant,
        products=[products["yammer"], products["microsoft-teams"]],
        status=ClaimStatus.UNDER_REVIEW,
        name="Fabrikam collaboration",
        competing=True,
    )
    claim.items.filter(product__code="yammer").update(competing=True)
    return claim


def _approve_all(claim, **extra):
    data = {f"item-{item.pk}-decision": "approve" for item in claim.items.all()}
    return {**data, **extra}


def test_arbitration_approving_a_held_item_is_refused_without_a_reason(reviewer_client, holder, rival):
    url = reverse("admin:claims_claim_approve", args=[rival.pk])

    page = reviewer_client.get(url).content.decode()
    assert "Another partner already has this product awaiting the customer or official:" in page
    assert reverse("admin:claims_claim_compare", args=[rival.pk, holder.pk]) in page
    assert 'name="confirmation"' in page

    response = reviewer_client.post(url, _approve_all(rival, confirmation="   "))

    assert response.status_code == 400
    page = response.content.decode()
    assert "To approve it anyway, give the reason; otherwise reject the product." in page
    assert 'aria-invalid="true"' in page
    rival.refresh_from_db()
    assert rival.status == ClaimStatus.UNDER_REVIEW
    assert not rival.events.exists()
    assert not EmailNotification.objects.filter(claim=rival).exists()


def test_arbitration_approving_a_held_item_with_a_reason_is_recorded(reviewer_client, reviewer, holder, rival):
    url = reverse("admin:claims_claim_approve", args=[rival.pk])
    reason = "The customer's signed SOW names Fabrikam for Yammer since October."

    response = reviewer_client.post(url, _approve_all(rival, confirmation=reason))

    assert response.status_code == 302
    rival.refresh_from_db()
    assert rival.status == ClaimStatus.CUSTOMER_NOTIFIED
    event = rival.events.get(action=ClaimEvent.Action.APPROVED)
    assert (event.user, event.reason, event.message) == (reviewer, "over_competing", reason)
    # In the history, in words, in both languages.
    history = reviewer_client.get(reverse("admin:claims_claim_compare", args=[rival.pk, holder.pk])).content.decode()
    assert "Approved over another partner&#x27;s claim or association, confirmed by the reviewer" in history
    with translation.override("zh-hant"):
        from claims.templatetags.history import history_reason

        assert history_reason(event) == "審核者確認後，仍核准此宣告（另一個合作夥伴已有相同產品的宣告或關聯）"  # noqa: RUF001


def test_arbitration_rejecting_the_held_item_needs_no_confirmation(reviewer, holder, rival):
    yammer = rival.items.get(product__code="yammer")

    claim_approve(claim=rival, user=reviewer, rejected_items={yammer.pk: ("duplicate", "")})

    rival.refresh_from_db()
    assert rival.status == ClaimStatus.CUSTOMER_NOTIFIED
    assert rival.events.get(action=ClaimEvent.Action.APPROVED).reason == ""


def test_arbitration_service_refuses_without_a_reason_also_for_an_official_holder(
    reviewer, partner_a, partner_b, m365_tenant, products
):
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["exchange-online"])
    assert Association.objects.active().filter(partner=partner_a.partner).count() == 1
    rival = claim_make(
        partner_b, tenant=m365_tenant, products=[products["exchange-online"]], status=ClaimStatus.UNDER_REVIEW
    )

    with pytest.raises(ApprovalNeedsConfirmation) as refused:
        claim_approve(claim=rival, user=reviewer)

    assert list(refused.value.contested) == [rival.items.get().pk]
    assert [c.pk for c in refused.value.contested[rival.items.get().pk]] == [official.pk]
    rival.refresh_from_db()
    assert rival.status == ClaimStatus.UNDER_REVIEW


def test_arbitration_list_action_skips_a_contested_claim(reviewer_client, holder, rival):
    response = reviewer_client.post(
        "/admin/claims/claim/", {"action": "approve_selected", "_selected_action": [rival.pk]}, follow=True
    )

    assert "Approve each from its own Approve page, with a reason" in response.content.decode()
    rival.refresh_from_db()
    assert rival.status == ClaimStatus.UNDER_REVIEW


def test_arbitration_side_by_side_shows_both_partners(reviewer_client, holder, rival, django_assert_max_num_queries):
    PoeDocument.objects.filter(claim=rival).update(original_name="fabrikam-sow.pdf")
    url = reverse("admin:claims_claim_compare", args=[holder.pk, rival.pk])

    with django_assert_max_num_queries(20):
        response = reviewer_client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    for text in ("Contoso Partners", "Fabrikam Consulting", "Contoso Yammer", "Fabrikam collaboration"):
        assert text in page
    assert page.count("Dana Customer") == 2 and page.count("Pat Partner") == 2
    assert "fabrikam-sow.pdf" in page
    for claim in (holder, rival):
        document = claim.documents.get()
        assert reverse("admin:claims_claim_poe", args=[claim.pk, document.pk]) in page
    assert reverse("admin:claims_claim_approve", args=[rival.pk]) in page
    assert reverse("admin:claims_claim_approve", args=[holder.pk]) not in page  # awaiting the customer already
    # Yammer competes on both sides; Teams, the rival's alone, does not.
    assert page.count("<strong>Competing</strong>") == 2
    # An item is said only once it ended ("Rejected by the reviewer: …"): "Going on" under a claim still under review
    # read as approved.
    assert "Going on" not in page
    teams = rival.items.filter(product__code="microsoft-teams")
    teams.update(outcome="rejected", outcome_reason="poe_insufficient", outcome_at=timezone.now())
    page = reviewer_client.get(url).content.decode()
    assert page.count("Rejected by the reviewer") == 1 and "Going on" not in page


def test_arbitration_side_by_side_404_and_403(client, reviewer_client, partner_a, holder, rival):
    assert reviewer_client.get(reverse("admin:claims_claim_compare", args=[holder.pk, holder.pk])).status_code == 404
    assert reviewer_client.get(reverse("admin:claims_claim_compare", args=[holder.pk, 999999])).status_code == 404
    client.force_login(partner_a.admin)
    response = client.get(reverse("admin:claims_claim_compare", args=[holder.pk, rival.pk]))
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_arbitration_review_page_lists_competing_claims_with_links(reviewer_client, holder, rival):
    response = reviewer_client.get(reverse("admin:claims_claim_change", args=[rival.pk]))

    rivals = response.context["review"]["rivals"]
    assert [rival.claim.pk for rival in rivals if rival.claim] == [holder.pk]
    context = {"original": response.context["original"], "rivals": rivals}
    with translation.override("en"):
        block = render_to_string("admin/claims/claim/_competing.html", context)
    assert reverse("admin:claims_claim_change", args=[holder.pk]) in block
    assert reverse("admin:claims_claim_compare", args=[rival.pk, holder.pk]) in block
    assert "Compare side by side" in block and "Contoso Partners" in block and "Yammer" in block
    with translation.override("zh-hant"):
        block = render_to_string("admin/claims/claim/_competing.html", context)
    assert "並排比較" in block and "有競爭" in block


def test_arbitration_pages_in_zh_hant(reviewer_client, holder, rival):
    headers = {"HTTP_ACCEPT_LANGUAGE": "zh-TW"}
    compare = reviewer_client.get(reverse("admin:claims_claim_compare", args=[rival.pk, holder.pk]), **headers)
    approve = reviewer_client.get(reverse("admin:claims_claim_approve", args=[rival.pk]), **headers)

    page = compare.content.decode()
    for words in ("並排比較", "合作夥伴連絡人", "執行證明", "有競爭", "開啟其審核頁面"):
        assert words in page
    page = approve.content.decode()
    for words in ("儲存決定並通知客戶", "拒絕原因", "給合作夥伴的附註", "仍要核准的原因", "取消"):
        assert words in page
    # Whose product it is, said plainly; two Chinese sentences joined without a space (full-width 。 carries it).
    assert "另一個合作夥伴的宣告已包含此產品，且正在等待客戶回應或已生效：" in page  # noqa: RUF001
    assert "已生效時，必須填寫。會記錄在宣告的歷程記錄中" in page  # noqa: RUF001
    for english in ("Compare side by side", "Reason for rejecting", "Save the decisions", "Partner contact"):
        assert english not in compare.content.decode() + page
