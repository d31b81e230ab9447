"""The Content-Security-Policy in Chromium (SPEC §14 "Headers"): every main page loads, works and submits its
forms under the policy with zero violations, the admin's included. Violations are caught two ways: the
``securitypolicyviolation`` event (reported to Python through a binding) and Chromium's "Refused to ..." console
messages."""

import re

import pytest
from playwright.sync_api import expect

from associations.tests.fixtures import PASSWORD, browser_sign_in
from claims.models import ClaimStatus
from claims.services import claim_request_information
from claims.tests.factories import claim_make, claim_make_official, usage_records_make
from claims.tests.test_wizard_browser import _contacts_step, _customer_step, _upload_with_input
from claims.tests.wizard_steps import M365_CUSTOMER, PDF
from claims.tokens import opt_out_token_make

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = """document.addEventListener("securitypolicyviolation", (event) => {
    window.reportCsp(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});"""


@pytest.fixture
def watched(page):
    """The page, and the list of CSP violations seen on it (events and console messages), across navigations."""
    violations = []
    page.expose_function("reportCsp", lambda text: violations.append(text))
    page.add_init_script(REPORT)
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    return page, violations


def test_csp_browser_every_main_page_without_a_violation(
    watched, live_server, partner_a, m365_tenant, products, reviewer
):
    page, violations = watched
    waiting = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_request_information(claim=waiting, user=reviewer, reason="poe_insufficient", message="Add the SOW.")
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    usage_records_make(m365_tenant, products["microsoft-teams"])
    notified = claim_make(
        partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status=ClaimStatus.CUSTOMER_NOTIFIED
    )
    token = opt_out_token_make(submission_key=notified.submission_key, deadline=notified.opt_out_deadline)

    # The customer's page, and opting out (a form post under form-action 'self').
    page.goto(f"/customer/opt-out/{token}/")
    page.get_by_role("button", name="Opt out").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    # Sign in through the form, the list, a claim page with the answer form, the usage chart.
    page.goto("/login/")
    page.get_by_label("Email").fill(partner_a.admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer associations")
    page.goto(f"/incentives/customer-associations/{waiting.pk}/")
    page.get_by_label("Your answer").fill("The signed SOW is attached.")
    page.get_by_role("button", name="Send answer").click()
    expect(page.get_by_text("Thank you. Your answer was sent to the reviewer.")).to_be_visible()
    page.goto(f"/incentives/customer-associations/{official.pk}/")
    page.get_by_text("Disassociate").click()
    expect(page.get_by_label("Reason")).to_be_visible()
    page.goto(f"/incentives/customer-associations/{official.pk}/usage/")
    expect(page.locator("svg.usage-chart")).to_have_count(1)
    expect(page.locator(".swatch-users")).to_have_css("color", "rgb(15, 108, 189)")

    # The whole wizard, its uploader's script included, to a submitted claim.
    page.goto("/incentives/customer-associations/")
    page.get_by_role("link", name="+ Customer association").click()
    _customer_step(page, M365_CUSTOMER)
    page.get_by_label("Microsoft 365").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Northwind under CSP")
    page.get_by_role("button", name="Create claim", exact=True).click()
    page.get_by_label("SharePoint Online").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    _contacts_step(page)
    _upload_with_input(page, "sow.pdf", PDF)
    page.get_by_role("button", name="Continue", exact=True).click()
    page.get_by_role("button", name="Submit claim", exact=True).click()
    expect(page).to_have_url(re.compile(r"/incentives/customer-associations/\d+/$"))
    expect(page.locator("#claim-status")).to_have_text("Submitted")

    # The reviewer's admin: the list, a claim, a decision's page, its filters' script.
    page.context.clear_cookies()
    browser_sign_in(page, reviewer, live_server)
    page.goto("/admin/claims/claim/")
    expect(page.locator("#changelist")).to_be_visible()
    page.goto("/admin/claims/claim/?status__exact=under_review")
    page.goto(f"/admin/claims/claim/{waiting.pk}/change/")
    expect(page.locator("#content")).to_contain_text(waiting.name)
    page.goto(f"/admin/claims/claim/{official.pk}/request-information/")
    page.goto("/admin/claims/claimevent/")
    page.goto("/admin/auth/user/add/")
    page.goto("/admin/")

    assert violations == []


def test_csp_browser_catches_an_inline_style(watched, live_server, partner_a):
    """The watch above can fail: an inline style attribute set on a served page is refused and reported."""
    page, violations = watched
    browser_sign_in(page, partner_a.admin, live_server)
    page.goto("/incentives/customer-associations/")
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    expect(page.locator("body")).not_to_have_css("color", "rgb(255, 0, 0)")
    page.wait_for_timeout(200)
    assert any(re.search(r"style-src", text) for text in violations), violations
