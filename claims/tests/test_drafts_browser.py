"""Drafts in Chromium (SPEC §12): start a claim, upload its POE, sign out; sign in again in another browser
context, Continue editing from the list, finish and submit it: the submitted claim is the draft, with its file."""

import re

import pytest
from playwright.sync_api import expect

from associations.tests.fixtures import PASSWORD
from claims.models import Claim, ClaimEvent, ClaimStatus, PendingUpload, PoeDocument
from claims.tests.test_wizard_browser import _contacts_step, _continue, _customer_step, _upload_with_input
from claims.tests.wizard_steps import M365_CUSTOMER, PDF

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_in(page, user):
    page.goto("/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer associations")


def test_browser_draft_survives_sign_out_and_is_submitted_from_another_context(
    browser, live_server, page, partner_a, m365_tenant, products, s3_objects
):
    _sign_in(page, partner_a.admin)
    page.get_by_role("link", name="+ Customer association").click()
    _customer_step(page, M365_CUSTOMER)
    expect(page.locator("#draft-note")).to_be_visible()
    page.get_by_label("Microsoft 365").check()
    _continue(page)
    page.get_by_label("Name", exact=True).fill("Northwind draft")
    _continue(page, "Create claim")
    page.get_by_label("Microsoft Teams").check()
    _continue(page)
    _contacts_step(page)
    _upload_with_input(page, "Statement of work.pdf", PDF)
    draft = Claim.objects.get()
    assert draft.status == ClaimStatus.DRAFT and not ClaimEvent.objects.exists()
    assert PendingUpload.objects.get().wizard_key == str(draft.submission_key)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    # Signed out, the draft is still there; signing in again (here: in a second browser context) resumes it.
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    other = context.new_page()
    try:
        _sign_in(other, partner_a.admin)
        row = other.get_by_role("row").filter(has_text="Northwind draft")
        expect(row.get_by_text("Draft", exact=True)).to_be_visible()
        expect(row.get_by_role("link", name="Delete draft Northwind draft")).to_be_visible()
        row.get_by_role("link", name="Continue editing Northwind draft").click()
        expect(other.get_by_role("heading", level=2)).to_have_text("Proof of execution (POE)")
        expect(other.get_by_text("Statement of work.pdf")).to_be_visible()
        # Back shows what was typed on the steps before.
        _continue(other, "Back")
        expect(other.get_by_role("group", name="Customer contact").get_by_label("Contact name")).to_have_value(
            "Nancy Davolio"
        )
        _continue(other)
        expect(other.get_by_role("heading", level=2)).to_have_text("Proof of execution (POE)")
        _continue(other)
        expect(other.get_by_role("heading", level=2)).to_have_text("Comments and review")
        other.get_by_role("textbox", name="Comments").fill("Finished on another device.")
        _continue(other, "Submit claim")
        expect(other).to_have_url(re.compile(rf"/incentives/customer-associations/{draft.pk}/$"))
        expect(other.locator("#claim-status")).to_have_text("Submitted")
    finally:
        context.close()

    claim = Claim.objects.get()
    assert claim.pk == draft.pk and claim.status == ClaimStatus.SUBMITTED and claim.draft_data == {}
    assert claim.comments == "Finished on another device."
    assert list(claim.items.values_list("product__code", flat=True)) == ["microsoft-teams"]
    document = PoeDocument.objects.get(claim=claim)
    assert document.original_name == "Statement of work.pdf" and not PendingUpload.objects.exists()
    assert s3_objects() == [document.file.name]
    assert list(claim.events.values_list("old_status", "new_status")) == [("draft", "submitted")]
