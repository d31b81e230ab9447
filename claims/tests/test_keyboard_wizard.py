"""The whole wizard with the keyboard alone (SPEC §15, WCAG 2.1.1 and 2.4.7): from the list's "+ Customer
association" link to a submitted claim, with Tab, Shift+Tab, Space, Enter, arrow keys and typing only, the POE file
chosen through the file chooser the keyboard opens; at every Tab stop the focused element shows a focus ring."""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import Claim, ClaimStatus, PoeDocument
from claims.tests.wizard_steps import CONTACTS, M365_CUSTOMER, PDF

pytestmark = pytest.mark.django_db(transaction=True)

# The focused element, described, and whether its focus can be seen: an outline or a box-shadow ring.
FOCUS = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== 'none';
    return {id: el.id, tag: el.tagName.toLowerCase(), text: (el.innerText || el.value || '').trim().slice(0, 40),
            visible: ring};
}"""


def _focus(page):
    return page.evaluate(FOCUS)


def _tab_to(page, selector, *, key="Tab", most=60):
    """Press Tab (or Shift+Tab) until the focus is on ``selector``; every stop on the way must show its focus."""
    for _ in range(most):
        page.keyboard.press(key)
        focused = _focus(page)
        if focused["tag"] == "body":
            # Past the last (or before the first) element the focus leaves the page for the browser's own controls:
            # the document's body is no Tab stop of ours.
            continue
        assert focused["visible"], f"focus not visible on {focused}"
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return focused
    raise AssertionError(f"{selector} not reached with {key} in {most} presses")


def _file_chooser_by_space(page, attempts=3):
    """Space on the drop zone's focused "Choose files" button opens the chooser. Under load Chromium sometimes drops
    the first key press's user activation for a file input, so a person (and this test) presses Space again."""
    for attempt in range(attempts):
        assert page.evaluate("document.activeElement.id") == "id_poe_files_choose"
        try:
            with page.expect_file_chooser(timeout=5000) as chooser:
                page.keyboard.press("Space")
            return chooser.value
        except PlaywrightTimeoutError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _type_into(page, selector, text):
    _tab_to(page, selector)
    page.keyboard.type(text)


def _continue(page, heading):
    """Tab to the step's primary button and press Enter; the next step's heading appears."""
    _tab_to(page, "#wizard-form .wizard-actions button.primary")
    page.keyboard.press("Enter")
    expect(page.locator("#step-title")).to_have_text(heading)


def test_keyboard_wizard_completed_with_the_keyboard_alone(page, live_server, partner_a, m365_tenant, products):
    browser_sign_in(page, partner_a.admin, live_server)
    page.goto("/incentives/customer-associations/")

    # The skip link is the first Tab stop, and Enter on it moves the focus to the main content.
    focused = _tab_to(page, ".skip-link", most=1)
    assert focused["text"] == "Skip to main content"
    expect(page.locator(".skip-link")).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    _tab_to(page, "a[href$='/customer-associations/new/']")
    page.keyboard.press("Enter")
    expect(page.locator("#step-title")).to_have_text("Customer")

    # Customer: the MPN ID by arrow key in the focused select, then the domain and the Directory ID typed.
    _tab_to(page, "#id_customer-location")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#id_customer-location")).to_have_value(M365_CUSTOMER["location"])
    _type_into(page, "#id_customer-domain", M365_CUSTOMER["domain"])
    _type_into(page, "#id_customer-directory_id", M365_CUSTOMER["directory_id"])
    # Shift+Tab goes back through the fields as well.
    _tab_to(page, "#id_customer-domain", key="Shift+Tab")
    _continue(page, "Solution area and activity")

    # Activity: Space checks the focused radio (Microsoft 365, the first).
    _tab_to(page, "#id_activity-solution_area_0")
    page.keyboard.press("Space")
    expect(page.locator("#id_activity-solution_area_0")).to_be_checked()
    _continue(page, "Associate customer")

    _type_into(page, "#id_associate-name", "Northwind by keyboard")
    _tab_to(page, "#wizard-form .wizard-actions button.primary")
    page.keyboard.press("Enter")
    expect(page.locator("#step-title")).to_have_text("Product(s)")

    _tab_to(page, "input[name='products-products']")
    page.keyboard.press("Space")
    expect(page.locator("input[name='products-products']:checked")).to_have_count(1)
    _continue(page, "Contacts")

    for name in (
        "customer_contact_name",
        "customer_contact_title",
        "customer_contact_email",
        "partner_contact_name",
        "partner_contact_email",
    ):
        _type_into(page, f"#id_contacts-{name}", CONTACTS[name])
    _continue(page, "Proof of execution (POE)")

    # POE: the drop zone's own "Choose files" button (the file input is hidden); Space on it opens the file chooser.
    expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")
    _tab_to(page, "#id_poe_files_choose")
    chooser = _file_chooser_by_space(page)
    chooser.set_files(files=[{"name": "sow.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    expect(page.locator("#uploads li.done progress")).to_have_js_property("value", 100)
    _continue(page, "Comments and review")

    _type_into(page, "#id_review-comments", "Sent by keyboard.")
    _tab_to(page, "#wizard-form .wizard-actions button.primary")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/incentives/customer-associations/\d+/$"))

    claim = Claim.objects.get(name="Northwind by keyboard")
    assert claim.status in {ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW}
    assert claim.partner_id == partner_a.partner.pk
    assert str(claim.tenant.directory_id) == M365_CUSTOMER["directory_id"]
    assert claim.comments == "Sent by keyboard."
    assert list(PoeDocument.objects.filter(claim=claim).values_list("original_name", flat=True)) == ["sow.pdf"]


def test_keyboard_wizard_focus_check_can_fail(page, live_server, partner_a):
    """The focus check above can fail: with focus rings removed by a style sheet, the first Tab stop is reported."""
    browser_sign_in(page, partner_a.admin, live_server)
    page.goto("/incentives/customer-associations/")
    # Adopted style sheets are not subject to the CSP's style-src, unlike an added <style>.
    page.evaluate(
        """() => {
            const sheet = new CSSStyleSheet();
            sheet.replaceSync('*:focus, *:focus-visible { outline: none !important; box-shadow: none !important; }');
            document.adoptedStyleSheets = [sheet];
        }"""
    )

    with pytest.raises(AssertionError, match="focus not visible"):
        _tab_to(page, "a[href$='/customer-associations/new/']")
