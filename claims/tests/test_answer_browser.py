"""The answer to an information request in Chromium (SPEC §12, §13): an edit, a dropped and a chosen file through the
shared drag-and-drop uploader (list, remove, checks in the browser, a progress bar while the form is sent), and the
form's errors put in place with the chosen files kept."""

import base64

import pytest
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimEvent, ClaimStatus, PoeDocument
from claims.services import claim_request_information
from claims.tests.factories import claim_make
from claims.tests.wizard_steps import PDF
from conftest import route_reached

pytestmark = pytest.mark.django_db(transaction=True)

DROP_FILE = """([name, data, type]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, {type}));
    const zone = document.querySelector("[data-poe-dropzone] .drop-zone");
    for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }
}"""


@pytest.fixture
def waiting(partner_a, m365_tenant, products, reviewer):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.UNDER_REVIEW,
    )
    claim_request_information(claim=claim, user=reviewer, reason="poe_insufficient", message="Add the signed SOW.")
    return claim


def _open(page, live_server, user, claim):
    browser_sign_in(page, user, live_server)
    page.goto(f"/incentives/customer-associations/{claim.pk}/")
    expect(page.locator("[data-poe-dropzone]")).to_have_attribute("data-ready", "true")


def _drop(page, name, content, mime="application/pdf"):
    page.evaluate(DROP_FILE, [name, base64.b64encode(content).decode(), mime])


def test_answer_browser_edit_and_files_through_the_uploader(page, live_server, partner_a, waiting, s3_objects):
    _open(page, live_server, partner_a.admin, waiting)
    files = page.locator("[data-poe-list] li")

    # Dropped and chosen files are listed; one is removed again; a wrong type and a second copy are not listed.
    big = PDF + b"%" * (2 * 1024 * 1024)
    _drop(page, "dropped sow.pdf", big)
    page.get_by_label("More proof of execution (optional)").set_input_files(
        files=[{"name": "chosen.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    _drop(page, "notes.txt", b"plain text", "text/plain")
    expect(page.locator("[data-poe-errors]")).to_contain_text("“notes.txt” is not a PDF")
    _drop(page, "spare.pdf", PDF)
    expect(files).to_have_count(3)
    page.get_by_role("button", name="Remove spare.pdf").click()
    expect(files).to_have_count(2)
    expect(files.nth(0)).to_contain_text("dropped sow.pdf")
    expect(files.nth(1)).to_contain_text("chosen.pdf")

    # An error first: the returned form takes this one's place, the files stay chosen, the edits stay open.
    page.get_by_text("Change the MPN ID, products or contacts (optional)").click()
    page.get_by_label("MPN ID").select_option("1000002")
    page.locator("#respond-customer_contact_email").fill("dana@elsewhere.example")
    page.get_by_role("button", name="Send answer").click()
    expect(page.locator("#respond-customer_contact_email_error")).to_contain_text(
        "Enter an address at the customer's domain"
    )
    expect(page.locator("#respond-error-summary")).to_be_focused()
    expect(page.locator("details.answer-edits")).to_have_attribute("open", "")
    expect(page.locator("#respond-customer_contact_email")).to_have_value("dana@elsewhere.example")
    expect(page.get_by_label("MPN ID")).to_have_value("1000002")
    expect(files).to_have_count(2)
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED and not PoeDocument.objects.filter(in_response=True).exists()

    # Corrected, with a comment and one product removed: sent with a progress bar, then the claim page again.
    page.locator("#respond-customer_contact_email").fill("ana@northwindtraders.example")
    page.get_by_label("Yammer").check()
    page.get_by_label("Your answer").fill("Signed SOW attached; the MPN ID and the contact are corrected.")
    held = []
    page.route("**/respond/", lambda route: held.append(route))  # a slow connection, without a sleep
    page.get_by_role("button", name="Send answer").click()
    expect(page.locator("[data-poe-progress]")).to_be_visible()
    expect(page.locator("#respond-form")).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Remove chosen.pdf")).to_be_disabled()
    route_reached(page, held)  # Playwright dispatches the held request to the handler
    assert len(held) == 1
    with page.expect_navigation():
        held[0].continue_()
    expect(page.locator(".messages")).to_contain_text("Thank you. Your answer was sent to the reviewer.")
    expect(page.locator("#claim-status")).to_have_text("Under review")

    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.UNDER_REVIEW
    assert waiting.location.mpn_id == "1000002"
    assert waiting.customer_contact_email == "ana@northwindtraders.example"
    assert list(waiting.items.values_list("product__code", flat=True)) == ["microsoft-teams"]
    changes = set(
        ClaimEvent.objects.filter(claim=waiting, action="changed").values_list("field", "old_value", "new_value")
    )
    assert changes == {
        ("location", "1000001 · Contoso Partners 1", "1000002 · Contoso Partners 2"),
        ("customer_contact_email", "dana@northwindtraders.onmicrosoft.com", "ana@northwindtraders.example"),
        ("product", "Yammer", ""),
    }
    documents = PoeDocument.objects.filter(claim=waiting, in_response=True).order_by("pk")
    assert [(d.original_name, d.size) for d in documents] == [("dropped sow.pdf", len(big)), ("chosen.pdf", len(PDF))]
    assert {d.file.name for d in documents} <= set(s3_objects("poe/"))
    # Nothing left in the answer form: the claim is no longer waiting.
    expect(page.locator("#respond-form")).to_have_count(0)


def test_answer_browser_without_javascript_posts_the_plain_form(browser, live_server, partner_a, waiting):
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    page = context.new_page()
    try:
        browser_sign_in(page, partner_a.admin, live_server)
        page.goto(f"/incentives/customer-associations/{waiting.pk}/")
        page.get_by_label("More proof of execution (optional)").set_input_files(
            files=[{"name": "plain.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        page.get_by_label("Your answer").fill("Without JavaScript.")
        page.get_by_role("button", name="Send answer").click()
        expect(page.locator(".messages")).to_contain_text("Thank you. Your answer was sent to the reviewer.")
    finally:
        context.close()
    assert PoeDocument.objects.filter(claim=waiting, in_response=True, original_name="plain.pdf").count() == 1
