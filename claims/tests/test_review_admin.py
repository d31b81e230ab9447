"""The reviewers' tool in Django admin: list, filters, search, read-only claim page, the three decisions."""

import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.admin.templatetags import admin_list
from django.urls import reverse

from associations.models import Program
from claims.models import Claim, ClaimEvent, ClaimStatus
from claims.templatetags.review_queue import queue_results
from claims.tests.factories import PDF_BYTES, claim_make

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/claims/claim/"


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW, name="Yammer"
    )


def test_admin_list_flags_competing_and_queries_do_not_grow(
    reviewer_client, partner_a, m365_tenant, products, django_assert_max_num_queries
):
    for n, product in enumerate([p for p in products.values() if p.solution_area == "microsoft_365"]):
        claim_make(partner_a, tenant=m365_tenant, products=[product], competing=n == 0, documents=())

    with django_assert_max_num_queries(12):
        response = reviewer_client.get(CHANGELIST)

    assert response.status_code == 200
    assert response.content.decode().count('<td class="field-competing_display">Competing</td>') == 1


def test_admin_filters_and_search(reviewer_client, claim, partner_b, bizapps_tenant):
    other = claim_make(
        partner_b,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        programs=[Program.OSA_SELL],
        name="Field Service",
        documents=(),
    )

    def names(**params):
        response = reviewer_client.get(CHANGELIST, params)
        assert response.status_code == 200
        return {c.name for c in response.context["cl"].result_list}

    assert names(status__exact="under_review") == {"Yammer"}
    assert names(program="osa_sell") == {"Field Service"}
    assert names(solution_area__exact="microsoft_365") == {"Yammer"}
    assert names(q="2000001") == {"Field Service"}
    assert names(q=str(other.directory_id)) == {"Field Service"}
    assert names(q="northwindtraders") == {"Yammer"}
    assert names(q="not-a-guid") == set()


def test_admin_claim_page_is_read_only_with_buttons_and_poe_link(reviewer_client, claim):
    response = reviewer_client.get(reverse("admin:claims_claim_change", args=[claim.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="_save"' not in page
    assert reverse("admin:claims_claim_approve", args=[claim.pk]) in page
    assert reverse("admin:claims_claim_request_information", args=[claim.pk]) in page
    document = claim.documents.get()
    assert reverse("admin:claims_claim_poe", args=[claim.pk, document.pk]) in page
    assert "dana@northwindtraders.onmicrosoft.com" in page


def test_admin_poe_link_is_short_lived_attachment(reviewer_client, claim):
    document = claim.documents.get()

    response = reviewer_client.get(reverse("admin:claims_claim_poe", args=[claim.pk, document.pk]))

    assert response.status_code == 302
    query = parse_qs(urlsplit(response.url).query)
    assert 0 < int(query["Expires"][0]) - time.time() <= 301
    assert query["response-content-disposition"] == ['attachment; filename="proof.pdf"']
    with urllib.request.urlopen(response.url, timeout=10) as download:
        assert download.read() == PDF_BYTES


def test_admin_approve_button_confirms_then_approves(reviewer_client, reviewer, claim):
    url = reverse("admin:claims_claim_approve", args=[claim.pk])

    assert reviewer_client.get(url).status_code == 200
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.UNDER_REVIEW

    response = reviewer_client.post(url)

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED
    event = ClaimEvent.objects.get()
    assert (event.actor, event.user, event.action) == ("reviewer", reviewer, "approved")


def test_admin_request_information_needs_reason_and_message(reviewer_client, reviewer, claim):
    url = reverse("admin:claims_claim_request_information", args=[claim.pk])

    invalid = reviewer_client.post(url, {"reason": "poe_insufficient", "message": ""})
    assert invalid.status_code == 200
    assert "This field is required." in invalid.content.decode()
    assert not ClaimEvent.objects.exists()

    reviewer_client.post(url, {"reason": "poe_insufficient", "message": "Please add the signed SOW."})

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED
    event = ClaimEvent.objects.get()
    assert (event.user, event.reason, event.message) == (reviewer, "poe_insufficient", "Please add the signed SOW.")


def test_admin_reject_list_action_with_intermediate_form(reviewer_client, reviewer, claim):
    form = reviewer_client.post(CHANGELIST, {"action": "reject_selected", "_selected_action": [claim.pk]})
    assert form.status_code == 200
    assert 'name="reason"' in form.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.UNDER_REVIEW

    response = reviewer_client.post(
        CHANGELIST,
        {
            "action": "reject_selected",
            "_selected_action": [claim.pk],
            "apply": "1",
            "reason": "not_eligible",
            "message": "",
        },
    )

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED
    assert claim.rejection_reasons == ["The activity is not eligible for this program"]
    assert ClaimEvent.objects.get().user == reviewer


def test_admin_approve_action_skips_claims_someone_else_moved(reviewer_client, claim, partner_a, m365_tenant, products):
    done = claim_make(partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status="rejected")

    response = reviewer_client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [claim.pk, done.pk]}, follow=True
    )

    messages = [str(m) for m in response.context["messages"]]
    assert "Approved: 1 claim." in messages
    assert any("no longer in a status that allows it" in m for m in messages)
    done.refresh_from_db()
    assert done.status == ClaimStatus.REJECTED
    assert ClaimEvent.objects.count() == 1


def test_admin_is_closed_to_partner_users(client, partner_a, claim):
    client.force_login(partner_a.admin)

    response = client.post(reverse("admin:claims_claim_approve", args=[claim.pk]))

    assert response.status_code == 302
    assert "/admin/login/" in response.url
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.UNDER_REVIEW


def test_admin_claim_page_shows_activity_and_rejection_reasons_as_text(
    reviewer_client, partner_a, m365_tenant, products
):
    rejected = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.REJECTED,
        rejection_reasons=["Yammer is not licensed on this tenant.", "The claim has no proof of execution."],
        documents=(),
    )

    page = reviewer_client.get(reverse("admin:claims_claim_change", args=[rejected.pk])).content.decode()

    assert "<dd>Microsoft 365 · Usage</dd>" in page
    assert "<li>Yammer is not licensed on this tenant.</li><li>The claim has no proof of execution.</li>" in page
    assert '["usage"]' not in page


@pytest.mark.parametrize("status", ["draft", "expired"])
def test_admin_never_shows_a_partners_draft(
    reviewer_client, claim, partner_a, m365_tenant, products, s3_objects, status
):
    """A draft (also one that expired unsubmitted) is the partner's unfinished work (SPEC §12): not in the list, its
    filters, search or counts, and its pages, decisions and POE are 404 for a reviewer."""
    draft = claim_make(
        partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status=status, name="Unfinished"
    )
    document = draft.documents.get()

    def listed(url=CHANGELIST, **params):
        response = reviewer_client.get(url, params)
        assert response.status_code == 200
        return response, {str(row) for row in response.context["cl"].result_list}

    response, names = listed()
    assert names == {"Yammer"}
    page = response.content.decode()
    assert "status__exact=draft" not in page and "status__exact=expired" not in page  # the filter's choices
    assert "status__exact=under_review" in page
    assert "Unfinished" not in page
    assert listed(status__exact=status)[1] == set()
    assert listed(q="Unfinished")[1] == set()
    assert listed(q=draft.domain)[1] == {"Yammer"}
    assert listed(reverse("admin:claims_poedocument_changelist"))[1] == {str(claim.documents.get())}

    for url in (
        reverse("admin:claims_claim_approve", args=[draft.pk]),
        reverse("admin:claims_claim_request_information", args=[draft.pk]),
        reverse("admin:claims_claim_reject", args=[draft.pk]),
        reverse("admin:claims_claim_poe", args=[draft.pk, document.pk]),
    ):
        assert reviewer_client.get(url).status_code == 404, url
    for url in (
        reverse("admin:claims_claim_change", args=[draft.pk]),
        reverse("admin:claims_poedocument_change", args=[document.pk]),
    ):
        response = reviewer_client.get(url)  # as for an id that does not exist: back to the admin's start
        assert (response.status_code, response["Location"]) == (302, reverse("admin:index")), url

    # A list action posted with the draft's id (a crafted post) does nothing to it.
    reviewer_client.post(CHANGELIST, {"action": "approve_selected", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == status and not ClaimEvent.objects.filter(claim=draft).exists()


def test_admin_list_rows_are_djangos_cell_for_cell(reviewer_client, partner_a, partner_b, m365_tenant, products):
    """The queue writes its rows itself (claims.templatetags.review_queue, for speed): the same cells as Django admin's
    items_for_result, with a filter preserved in the links, a competing claim, a name with markup and spaces, a
    claim whose customer is known only by its domain, and every status's column."""
    teams, yammer = products["microsoft-teams"], products["yammer"]
    claim_make(partner_a, tenant=m365_tenant, products=[teams], competing=True, name=' <b>A & "B"</b> ', documents=())
    claim_make(partner_b, tenant=m365_tenant, products=[yammer], status=ClaimStatus.UNDER_REVIEW, documents=())
    claim_make(partner_a, tenant=m365_tenant, products=[yammer], status=ClaimStatus.OFFICIAL, documents=())
    unknown = claim_make(partner_b, tenant=m365_tenant, products=[teams], name="No tenant", documents=())
    Claim.objects.filter(pk=unknown.pk).update(tenant=None, customer_name="")

    for params in ({}, {"queue": "all"}, {"queue": "all", "o": "-4"}, {"q": "northwindtraders", "competing": "1"}):
        response = reviewer_client.get(CHANGELIST, params)
        assert response.status_code == 200
        cl = response.context["cl"]
        ours = [list(row) for row in queue_results(cl)]
        assert ours == [list(row) for row in admin_list.results(cl)]
        assert len(ours) == len(cl.result_list) > 0
        for row in ours:
            assert "<tr>" + "".join(row) + "</tr>" in response.content.decode()
