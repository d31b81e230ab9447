"""A dispute and more POE for an official association in Chromium (SPEC §12, §13): the partner disputes a rejection
on the claim page with a business justification and files dropped and chosen in the shared drag-and-drop uploader
(an error first: the form comes back with the files still chosen; then a progress bar while it is sent); the claim
is disputed and the files are its newest POE. The protect form sends its file through the same uploader."""

import base64

import pytest
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimStatus
from claims.services import claim_reject
from claims.tests.factories import claim_make, claim_make_official
from claims.tests.test_answer_browser import DROP_FILE
from claims.tests.wizard_steps import PDF
from conftest import route_reached

pytestmark = pytest.mark.django_db(transaction=True)


def _drop(page, name, content, mime="application/pdf"):
    page.evaluate(DROP_FILE, [name, base64.b64encode(content).decode(), mime])


def test_browser_partner_disputes_a_rejection_with_justification_and_file(
    page, live_server, partner_a, reviewer, m365_tenant, products, s3_objects
):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_reject(claim=claim, user=reviewer, reason="poe_insufficient", message="The SOW is not signed.")
    browser_sign_in(page, partner_a.admin, live_server)

    page.goto(f"/incentives/customer-associations/{claim.pk}/")
    expect(page.locator("#claim-status")).to_have_text("Rejected")
    expect(page.locator("#dispute-form [data-poe-dropzone]")).to_have_attribute("data-ready", "true")
    files = page.locator("#dispute-form [data-poe-list] li")

    # One file dropped on the zone, one chosen with the file input; a wrong type is refused in the browser.
    _drop(page, "customer email.pdf", PDF)
    page.get_by_label("More proof of execution (optional)").set_input_files(
        files=[{"name": "signed sow.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    _drop(page, "notes.txt", b"plain text", "text/plain")
    expect(page.locator("#dispute-form [data-poe-errors]")).to_contain_text("“notes.txt” is not a PDF")
    expect(files).to_have_count(2)

    # No justification: the form comes back in place with the error at the field, focused, the files kept.
    page.get_by_role("button", name="Dispute", exact=True).click()
    expect(page.locator("#dispute-justification-error")).to_contain_text("Write your business justification")
    expect(page.get_by_label("Business justification")).to_be_focused()
    expect(files).to_have_count(2)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED and not claim.documents.filter(original_name="signed sow.pdf")

    # Sent with a progress bar (the request held as on a slow connection), then the claim page again.
    page.get_by_label("Business justification").fill("The customer signed the SOW on 1 March: attached.")
    held = []
    page.route("**/dispute/", lambda route: held.append(route))
    page.get_by_role("button", name="Dispute", exact=True).click()
    expect(page.locator("#dispute-form [data-poe-progress]")).to_be_visible()
    expect(page.locator("#dispute-form")).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Remove signed sow.pdf")).to_be_disabled()
    route_reached(page, held)  # Playwright dispatches the held request to the handler
    assert len(held) == 1
    with page.expect_navigation():
        held[0].continue_()

    expect(page.locator("#claim-status")).to_have_text("Disputed")
    expect(page.get_by_text("Your dispute was sent to the reviewer.")).to_be_visible()
    expect(page.locator("#history")).to_contain_text("The customer signed the SOW on 1 March: attached.")
    expect(page.get_by_role("link", name="signed sow.pdf")).to_be_visible()
    expect(page.get_by_role("link", name="customer email.pdf")).to_be_visible()
    expect(page.get_by_label("Business justification")).to_have_count(0)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DISPUTED and claim.disputed_at is not None
    documents = claim.documents.filter(uploaded_at=claim.disputed_at).order_by("pk")
    assert [d.original_name for d in documents] == ["customer email.pdf", "signed sow.pdf"]
    for document in documents:
        assert document.file.name in s3_objects("poe/")
        assert default_storage.open(document.file.name).read() == PDF


def test_browser_partner_protects_an_official_association_through_the_uploader(
    page, live_server, partner_a, m365_tenant, products, s3_objects
):
    claim = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    browser_sign_in(page, partner_a.admin, live_server)

    page.goto(f"/incentives/customer-associations/{claim.pk}/")
    page.locator("details.protect-details summary").click()
    expect(page.locator("#protect-form [data-poe-dropzone]")).to_have_attribute("data-ready", "true")
    _drop(page, "q3 review.pdf", PDF)
    expect(page.locator("#protect-form [data-poe-list] li")).to_have_count(1)
    page.get_by_label("Your comment").fill("Q3 usage review with the customer.")
    with page.expect_navigation():
        page.get_by_role("button", name="Add proof of execution").click()

    expect(page.locator(".messages")).to_contain_text("Your proof of execution was added to the association.")
    expect(page.get_by_role("link", name="q3 review.pdf")).to_be_visible()
    document = claim.documents.get(original_name="q3 review.pdf")
    assert document.file.name in s3_objects("poe/") and document.size == len(PDF)


def test_browser_protect_uploader_refuses_what_the_claims_quota_cannot_take(
    page, live_server, partner_a, m365_tenant, products, settings
):
    settings.POE_CLAIM_MAX_FILES = 2
    settings.POE_CLAIM_MAX_BYTES = 3 * len(PDF)
    claim = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    browser_sign_in(page, partner_a.admin, live_server)

    page.goto(f"/incentives/customer-associations/{claim.pk}/")
    page.locator("details.protect-details summary").click()
    zone = page.locator("#protect-form [data-poe-dropzone]")
    expect(zone).to_have_attribute("data-ready", "true")
    expect(zone).to_contain_text("You can add 2 more files")
    errors = page.locator("#protect-form [data-poe-errors]")

    _drop(page, "big.pdf", PDF + b"0" * (3 * len(PDF)))
    expect(errors).to_contain_text("“big.pdf” does not fit: this claim can take")
    _drop(page, "a.pdf", PDF)
    _drop(page, "b.pdf", PDF)
    _drop(page, "c.pdf", PDF)
    expect(errors).to_contain_text("This claim can take 2 more files. Remove one before adding “c.pdf”.")
    expect(page.locator("#protect-form [data-poe-list] li")).to_have_count(2)
