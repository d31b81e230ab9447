"""A dispute in Chromium (SPEC §12): the partner disputes a rejection on the claim page with a business
justification and a file; the claim is disputed and the file is its newest POE."""

import pytest
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimStatus
from claims.services import claim_reject
from claims.tests.factories import claim_make
from claims.tests.wizard_steps import PDF

pytestmark = pytest.mark.django_db(transaction=True)


def test_browser_partner_disputes_a_rejection_with_justification_and_file(
    page, live_server, partner_a, reviewer, m365_tenant, products, s3_objects
):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_reject(claim=claim, user=reviewer, reason="poe_insufficient", message="The SOW is not signed.")
    browser_sign_in(page, partner_a.admin, live_server)

    page.goto(f"/incentives/customer-associations/{claim.pk}/")
    expect(page.locator("#claim-status")).to_have_text("Rejected")
    page.get_by_label("Business justification").fill("The customer signed the SOW on 1 March: attached.")
    page.get_by_label("More proof of execution (optional)").set_input_files(
        files=[{"name": "signed sow.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.get_by_role("button", name="Dispute", exact=True).click()

    expect(page.locator("#claim-status")).to_have_text("Disputed")
    expect(page.get_by_text("Your dispute was sent to the reviewer.")).to_be_visible()
    expect(page.locator("#history")).to_contain_text("The customer signed the SOW on 1 March: attached.")
    expect(page.get_by_role("link", name="signed sow.pdf")).to_be_visible()
    expect(page.get_by_label("Business justification")).to_have_count(0)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DISPUTED and claim.disputed_at is not None
    document = claim.documents.get(original_name="signed sow.pdf")
    assert document.uploaded_at == claim.disputed_at
    assert document.file.name in s3_objects("poe/")
    assert default_storage.open(document.file.name).read() == PDF
