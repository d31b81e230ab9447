"""The API's list, errors and limits: cursor pages that stay right while claims are added, problem details (in the
caller's language), the rate limit per key (429 with Retry-After), text with control characters refused at its
field, the rule book's refusals (409 with the reason)."""

from api.services.drafts import api_draft_create
from api.tests.conftest import NORTHWIND, ApiClient
from associations.models import Product
from claims.models import ClaimStatus
from claims.tests.factories import claim_make


def test_api_claims_cursor_pages_neither_repeat_nor_skip_while_claims_are_added(api_a, partner_a, m365_tenant):
    teams = Product.objects.get(code="microsoft-teams")
    made = [claim_make(partner_a, tenant=m365_tenant, products=[teams]) for _ in range(7)]
    seen, cursor = [], None
    while True:
        page = api_a.get("/claims", limit=3, **({"cursor": cursor} if cursor else {})).json()
        seen += [item["id"] for item in page["items"]]
        claim_make(partner_a, tenant=m365_tenant, products=[teams])  # a new claim between every two pages
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((claim.pk for claim in made), reverse=True)


def test_api_claims_filters_as_the_list_page_does(api_a, partner_a, m365_tenant):
    teams = Product.objects.get(code="microsoft-teams")
    official = claim_make(partner_a, tenant=m365_tenant, products=[teams], status=ClaimStatus.OFFICIAL, name="Alpha")
    claim_make(partner_a, tenant=m365_tenant, products=[teams], name="Beta")
    assert [c["id"] for c in api_a.get("/claims", status="official").json()["items"]] == [official.pk]
    assert [c["id"] for c in api_a.get("/claims", q="Alph").json()["items"]] == [official.pk]


def test_api_claims_errors_are_problem_details_in_the_callers_language(api_a, m365_tenant):
    response = api_a.get("/claims/999999", headers={"Accept-Language": "zh-Hant"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["title"]) == (404, "找不到")
    invalid = api_a.post("/claims", {**NORTHWIND, "directory_id": "9a3c6b1e-0000-4c8a-9e7b-5d1f0a2b3c4d"})
    assert invalid.status_code == 422
    assert {"field": "directory_id", "message": invalid.json()["errors"][0]["message"]} in invalid.json()["errors"]


def test_api_claims_rate_limit_per_key_is_429_with_retry_after(client, api_a, key_b, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    answers = [api_a.get("/claims").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = api_a.get("/claims")
    assert limited["Content-Type"] == "application/problem+json"
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert ApiClient(client, key_b).get("/claims").status_code == 200  # another key counts on its own


def test_api_claims_control_characters_in_json_are_refused_at_their_field(api_a, m365_tenant):
    response = api_a.post("/claims", {**NORTHWIND, "comments": "a\x00b"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "comments"
    response = api_a.post("/claims", {**NORTHWIND, "name": "Two\nlines"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


def test_api_claims_the_rule_book_refuses_with_409_and_its_reason(api_a, partner_a, m365_tenant):
    teams = Product.objects.get(code="microsoft-teams")
    claim = claim_make(partner_a, tenant=m365_tenant, products=[teams], status=ClaimStatus.UNDER_REVIEW)
    response = api_a.post(f"/claims/{claim.pk}/dispute", {"justification": "Please"}, files={})
    assert response.status_code == 409
    assert response.json()["detail"] == "Only a rejected claim can be disputed."
    assert api_a.post(f"/claims/{claim.pk}/disassociate", {"reason": "x"}).status_code == 409


def test_api_claims_a_draft_made_through_the_api_opens_in_the_wizard(client_a, partner_a, m365_tenant):
    draft = api_draft_create(partner=partner_a.partner, user=partner_a.admin, fields=dict(NORTHWIND))
    response = client_a.get(f"/incentives/customer-associations/{draft.pk}/edit/")
    assert response.status_code == 200
    assert "Dana Whitley" in response.content.decode()  # its last step given, the contacts, with what was sent
