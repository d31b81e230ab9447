"""Drafts through the API: made, changed, given POE and submitted with the wizard's own checks."""

from api.tests.conftest import NORTHWIND, pdf
from claims.models import Claim, ClaimEvent, ClaimStatus


def test_api_draft_created_with_poe_and_submitted_is_a_submitted_claim(api_a, partner_a, m365_tenant):
    response = api_a.post("/claims", NORTHWIND)
    assert response.status_code == 201, response.content
    claim_id = response.json()["id"]
    assert response.json()["status"] == "draft"
    assert response.json()["data"]["products"] == ["microsoft-teams"]
    upload = api_a.post(f"/claims/{claim_id}/poe", files={"file": pdf()})
    assert upload.status_code == 201, upload.content
    submitted = api_a.post(f"/claims/{claim_id}/submit")
    assert submitted.status_code == 200, submitted.content
    claim = Claim.objects.get(pk=claim_id)
    assert claim.status == ClaimStatus.SUBMITTED
    assert claim.created_by == partner_a.admin
    assert [item.product.code for item in claim.items.all()] == ["microsoft-teams"]
    assert claim.documents.count() == 1
    event = ClaimEvent.objects.get(claim=claim)
    assert (event.action, event.user) == ("submitted", partner_a.admin)
