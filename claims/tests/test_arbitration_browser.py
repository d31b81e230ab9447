"""The arbitration pages in Chromium (SPEC §8, §15): the side-by-side view and the Approve page (item by item, with
the confirmation a held item asks for, and its errors) have zero axe-core violations in English and Traditional
Chinese (the admin axe test's rules and exceptions: ``test_accessibility._axe``), and fit a 390 px phone."""

import pytest

from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimStatus
from claims.services import claim_approve
from claims.tests.factories import claim_make
from claims.tests.test_accessibility import LOCALES, _axe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def competing(partner_a, partner_b, m365_tenant, products):
    holder = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        name="Contoso Yammer",
        competing=True,
    )
    rival = claim_make(
        partner_b,
        tenant=m365_tenant,
        products=[products["yammer"], products["microsoft-teams"]],
        status=ClaimStatus.UNDER_REVIEW,
        name="Fabrikam collaboration",
        competing=True,
    )
    return holder, rival


@pytest.fixture
def partly_rejected(partner_a, m365_tenant, products, reviewer):
    """Partner A's claim awaiting the customer with one of its two products rejected by the reviewer."""
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["exchange-online"], products["sharepoint-online"]],
        status=ClaimStatus.UNDER_REVIEW,
    )
    rejected = {claim.items.get(product__code="sharepoint-online").pk: ("poe_insufficient", "Exchange only.")}
    claim_approve(claim=claim, user=reviewer, rejected_items=rejected)
    return claim


def _no_sideways_scroll(page, where):
    wide = page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    return [f"{where}: the page scrolls sideways at 390 px"] if wide else []


def test_arbitration_pages_have_no_axe_violation_in_both_languages(
    browser, live_server, reviewer, partner_a, competing, partly_rejected
):
    holder, rival = competing
    found = []
    for locale in LOCALES:
        context = browser.new_context(base_url=live_server.url, locale=locale)
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            browser_sign_in(page, reviewer, live_server)
            page.goto(f"/admin/claims/claim/{rival.pk}/compare/{holder.pk}/")
            assert page.locator(".compare-side").count() == 2
            found += _axe(page, live_server, "side by side")
            page.goto(f"/admin/claims/claim/{rival.pk}/approve/")
            assert page.locator("fieldset.item-decision").count() == 2
            found += _axe(page, live_server, "approve, item by item")
            # Reject Teams without a reason, approve the held Yammer without one: both errors at their fields.
            teams = page.locator("fieldset.item-decision").filter(has_text="Microsoft Teams")
            teams.locator("input[type=radio][value=reject]").check()
            with page.expect_navigation(wait_until="load"):
                page.locator(".submit-row input[type=submit]").click()
            assert page.locator(".field-error").count() == 2
            found += _axe(page, live_server, "approve with errors")
            page.set_viewport_size({"width": 390, "height": 844})
            found += _no_sideways_scroll(page, "approve with errors")
            page.goto(f"/admin/claims/claim/{rival.pk}/compare/{holder.pk}/")
            found += _no_sideways_scroll(page, "side by side")
            # The partner's claim page says which products went on and why the other did not.
            browser_sign_in(page, partner_a.admin, live_server)
            page.goto(f"/incentives/customer-associations/{partly_rejected.pk}/")
            assert page.locator("td.item-outcome").count() == 2
            found += _axe(page, live_server, "partner's claim page with a rejected product")
            found += _no_sideways_scroll(page, "partner's claim page with a rejected product")
        finally:
            context.close()
        found = [line if line.startswith("[") else f"[{locale}] {line}" for line in found]

    assert found == [], "\n".join(found)
    rival.refresh_from_db()
    assert rival.status == ClaimStatus.UNDER_REVIEW
