"""WCAG 2.2 AA with axe-core (SPEC §15): every page and state (errors, uploads, an empty list, the customer's page,
the error pages, the reviewer's admin) in English and in Traditional Chinese, zero violations.

axe-core is vendored in static/vendor/axe-core (npm's axe-core 4.14.1). The first page a context checks loads it
from our own static files with ``add_script_tag(url=...)`` (the Content-Security-Policy allows scripts only from
'self', so an inlined copy would be refused); every later document of that context has it from the start, as an
init script of the context (run by the browser, which the page's policy does not govern), instead of a script tag
fetched and run again per page. One browser, one context per language, the pages in sequence on data made once."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import Claim, ClaimStatus
from claims.services import claim_request_information
from claims.services.finalization import claim_disassociate
from claims.tests.factories import claim_make, claim_make_official, usage_records_make
from claims.tests.wizard_steps import CONTACTS, M365_CUSTOMER, PDF
from claims.tokens import opt_out_token_make

pytestmark = pytest.mark.django_db(transaction=True)

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
LOCALES = ["en", "zh-TW"]
# Django admin's own markup, which we do not write and cannot fix in templates we own: (rule, the admin container
# whose nodes are excused). Only these; our admin customisations, and every other rule there, are checked in full.
ADMIN_MARKUP_EXCEPTIONS = [
    # The changelist's filter links ("All", "Submitted", ...) are 17 px high, one under the other (Django 6.1's
    # admin/filter.html and changelists.css); WCAG 2.5.8 asks for 24 px or spacing.
    ("target-size", "#changelist-filter"),
]
LIST = "/incentives/customer-associations/"
WIZARD = "/incentives/customer-associations/new/"


AXE_RUN = """async ([tags, exceptions]) => {
    if (typeof window.axe === 'undefined') return null;
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    const excused = (rule, node) => exceptions.some(([r, container]) =>
        r === rule && document.querySelector(node.target[0])?.closest(container));
    return result.violations.map(v => ({...v, nodes: v.nodes.filter(node => !excused(v.id, node))}));
}"""


def _axe(page, live_server, where):
    """axe-core's WCAG 2.2 AA violations on the page as it is now, as readable lines."""
    violations = page.evaluate(AXE_RUN, [WCAG_22_AA, ADMIN_MARKUP_EXCEPTIONS])
    if violations is None:  # the context's first page: axe from a script tag, then from the start of every document
        page.add_script_tag(url=live_server.url + static("vendor/axe-core/axe.min.js"))
        page.context.add_init_script(path=finders.find("vendor/axe-core/axe.min.js"))
        violations = page.evaluate(AXE_RUN, [WCAG_22_AA, ADMIN_MARKUP_EXCEPTIONS])
    # Beyond axe (which accepts aria-describedby when one of its ids exists): every id it names exists, and every
    # invalid field (or the fieldset of its radio group or checkboxes) is described by its error message, and every link
    # of an error summary leads to its field.
    found = [
        f"{where}: {problem}"
        for problem in page.evaluate(
            """() => [...document.querySelectorAll('[aria-describedby]')].flatMap(el => [
                ...el.getAttribute('aria-describedby').split(/\\s+/).filter(id => id && !document.getElementById(id))
                    .map(id => `aria-describedby names a missing id ${id} on #${el.id}`),
            ]).concat([...document.querySelectorAll('[aria-invalid=true]')].filter(el =>
                ![el, el.closest('fieldset')].some(owner => (owner?.getAttribute('aria-describedby') || '')
                    .split(/\\s+/).some(id => document.getElementById(id)?.matches('.field-error, .form-error')))
            ).map(el => `invalid field #${el.id} not described by its error (nor its fieldset)`))
            .concat([...document.querySelectorAll('.error-summary a')].filter(a =>
                !document.getElementById(a.hash.slice(1))).map(a => `error summary links to a missing ${a.hash}`))"""
        )
    ]
    for violation in violations:
        nodes = violation["nodes"]
        if nodes:
            targets = ", ".join(str(node["target"]) for node in nodes[:4])
            found.append(f"{where}: {violation['id']} ({violation['impact']}) {violation['help']} at {targets}")
    return found


@pytest.fixture
def claims_in_every_status(partner_a, m365_tenant, products, reviewer):
    made = {}
    for status, code in [
        (ClaimStatus.SUBMITTED, "yammer"),
        (ClaimStatus.UNDER_REVIEW, "exchange-online"),
        (ClaimStatus.CUSTOMER_NOTIFIED, "sharepoint-online"),
        (ClaimStatus.OPTED_OUT, "onedrive-for-business"),
        (ClaimStatus.REJECTED, "microsoft-intune"),
    ]:
        made[status] = claim_make(partner_a, tenant=m365_tenant, products=[products[code]], status=status)
    waiting = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["azure-ad-premium"], products["azure-information-protection"]],
        status=ClaimStatus.UNDER_REVIEW,
    )
    claim_request_information(claim=waiting, user=reviewer, reason="poe_insufficient", message="Add the SOW.")
    made[ClaimStatus.ACTION_REQUIRED] = waiting
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    usage_records_make(m365_tenant, products["microsoft-teams"])
    made[ClaimStatus.OFFICIAL] = official
    ended = claim_make_official(partner_a, tenant=m365_tenant, product=products["defender-for-office-365"])
    claim_disassociate(claim=ended, user=partner_a.admin, reason="Contract over")
    made[ClaimStatus.ENDED] = ended
    # Disputes (SPEC §12): the rejected claim above shows the dispute form; these the dispute's later states.
    made[ClaimStatus.DISPUTED] = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.DISPUTED
    )
    made[ClaimStatus.REJECTED_FINAL] = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.REJECTED_FINAL,
        disputed_at=made[ClaimStatus.REJECTED].submitted_at,
        rejection_reasons=["The proof of execution does not support the claim"],
    )
    # Drafts (SPEC §12): a draft (its page is the wizard, resumed) and an expired one (Copy into a new claim).
    for status in (ClaimStatus.DRAFT, ClaimStatus.EXPIRED):
        made[status] = claim_make(partner_a, tenant=m365_tenant, status=status, documents=(), name=f"Draft {status}")
    return made


def _partner_pages(page, live_server, claims, partner_a, partner_b):
    found = []
    check = lambda where: found.extend(_axe(page, live_server, where))  # noqa: E731

    # Signed out: sign-in (and with an error), password reset, the error pages, the customer's page.
    page.goto("/login/")
    check("login")
    page.locator("#id_username").fill(partner_a.admin.email)
    page.locator("#id_password").fill("not the password")
    _go(page, page.locator("main form button[type=submit]"))
    expect(page.locator(".form-error")).to_be_visible()
    check("login with an error")
    page.goto("/password-reset/")
    check("password reset")
    _go(page, page.locator("main form button[type=submit]"))
    check("password reset with an error")
    page.goto("/password-reset/sent/")
    check("password reset sent")
    page.goto("/password-reset/MQ/not-a-token/")
    check("password reset link not valid")
    page.goto("/password-reset/done/")
    check("password reset complete")
    page.goto("/does-not-exist")
    check("404")
    page.goto("/login/")
    page.context.clear_cookies()
    _go(page, page.locator("main form button[type=submit]"))
    expect(page.locator(".error-page")).to_be_visible()  # the CSRF page (any language)
    check("CSRF failure")
    notified = claims[ClaimStatus.CUSTOMER_NOTIFIED]
    token = opt_out_token_make(submission_key=notified.submission_key, deadline=notified.opt_out_deadline)
    page.goto(f"/customer/opt-out/{token}/")
    check("customer page")  # the second language sees it closed: the first opted out below
    if page.locator(".optout-form").count():
        # Opting out asks first (issue 17): choose the product, confirm (every state: test_customer_browser).
        page.locator(".optout-form input[type=checkbox]").check()
        _go(page, page.locator(".optout-form button[type=submit]"))
        check("customer page, confirm opting out")
        _go(page, page.locator(".confirm-form button[type=submit]"))
        check("customer page, opted out")
    page.goto("/customer/opt-out/not-a-valid-token/")
    check("customer page, link not valid")

    # Partner B: an empty list.
    browser_sign_in(page, partner_b.admin, live_server)
    page.goto(LIST)
    check("list, empty")
    page.context.clear_cookies()

    # Partner A: the list, filtered, every claim page, the answer form with an error, usage, "association ended".
    browser_sign_in(page, partner_a.admin, live_server)
    page.goto(LIST)
    check("list")
    page.goto(f"{LIST}?q=Northwind&status=official")
    check("list, filtered")
    page.goto(f"{LIST}?q=nothing-matches-this")
    check("list, filtered to nothing")
    page.goto(f"{LIST}?q=Northwnd&sort=due")  # a typo: the close matches, sorted by what is due
    check("list, close matches sorted by due")
    page.goto("/settings/")
    check("settings")
    page.locator("#id_time_zone").select_option("Asia/Taipei")
    page.get_by_role("button", name=re.compile("Save|儲存")).click()
    expect(page.locator(".messages")).to_be_visible()
    check("settings saved")
    page.goto(f"{LIST}?status=needs_action")
    expect(page.locator(".sidenav .needs-action .badge")).to_be_visible()
    check("list, needs your action")
    for status, claim in claims.items():
        page.goto(f"{LIST}{claim.pk}/")
        check(f"claim page, {status}")
    page.goto(f"{LIST}{claims[ClaimStatus.DRAFT].pk}/delete/")
    check("delete draft")
    page.goto(f"{LIST}{claims[ClaimStatus.ACTION_REQUIRED].pk}/")
    # The uploader sends the answer by XHR and puts the returned form, with its errors, in place.
    expect(page.locator("[data-poe-dropzone]")).to_have_attribute("data-ready", "true")
    page.locator(".respond-form button[type=submit]").click()
    expect(page.locator("#respond-comment")).to_have_attribute("aria-invalid", "true")
    check("claim page, answer with an error")
    # The edits, open, with errors at their fields (the contact rule, a blank name) and a file chosen.
    page.locator("details.answer-edits summary").click()
    page.locator("#respond-customer_contact_email").fill("dana@elsewhere.example")
    page.locator("#respond-partner_contact_name").fill("")
    page.locator("#respond-files").set_input_files(
        files=[{"name": "statement.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    expect(page.locator("[data-poe-list] li")).to_have_count(1)
    check("claim page, answer with a file chosen")
    page.locator(".respond-form button[type=submit]").click()
    expect(page.locator("#respond-customer_contact_email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[data-poe-list] li")).to_have_count(1)
    check("claim page, answer edits with errors")
    page.goto(f"{LIST}{claims[ClaimStatus.OFFICIAL].pk}/")
    page.locator("p.disassociate a").click()  # Disassociate asks first, on a page of its own
    expect(page.locator("#disassociate-reason")).to_be_visible()
    check("disassociate confirmation")
    page.go_back()
    page.locator("details.protect-details summary").click()
    check("claim page, protect form open")
    page.locator(".protect-form button[type=submit]").click()  # the drop zone puts the returned form in place
    expect(page.locator("#protect-comment")).to_have_attribute("aria-invalid", "true")
    check("claim page, protect form with errors")
    page.goto(f"{LIST}{claims[ClaimStatus.REJECTED].pk}/")
    page.locator(".dispute-form button[type=submit]").click()  # the drop zone puts the returned form in place
    expect(page.locator("#dispute-justification")).to_have_attribute("aria-invalid", "true")
    check("claim page, dispute form with an error")
    page.locator("#dispute-files").set_input_files(
        files=[{"name": "signed sow.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    expect(page.locator("#dispute-form [data-poe-list] li")).to_have_count(1)
    check("claim page, dispute form with a file chosen")
    page.goto(f"{LIST}{claims[ClaimStatus.OFFICIAL].pk}/usage/")
    check("usage")
    page.goto(f"{LIST}{claims[ClaimStatus.ENDED].pk}/usage/")
    check("association ended")
    page.goto(f"{LIST}999999/")
    check("404 signed in")

    # The wizard: every step, empty (the errors) then filled; the POE step before and after an upload.
    page.goto(LIST)
    _go(page, page.locator(f"a[href='{WIZARD}']"))
    check("wizard customer")
    _continue(page)
    expect(page.locator(".error-summary")).to_be_visible()
    check("wizard customer with errors")
    page.locator("#id_customer-location").select_option(M365_CUSTOMER["location"])
    page.locator("#id_customer-domain").fill(M365_CUSTOMER["domain"])
    page.locator("#id_customer-directory_id").fill(M365_CUSTOMER["directory_id"])
    _continue(page)
    check("wizard activity")
    _continue(page)
    expect(page.locator(".error-summary")).to_be_visible()
    check("wizard activity with errors")
    page.locator("input[name='activity-solution_area'][value='microsoft_365']").check()
    _continue(page)
    check("wizard associate")
    _continue(page)
    expect(page.locator(".error-summary")).to_be_visible()
    check("wizard associate with errors")
    page.locator("#id_associate-name").fill("Northwind, accessible")
    _continue(page)
    check("wizard products")
    _continue(page)
    expect(page.locator(".error-summary")).to_be_visible()
    check("wizard products with errors")
    page.locator("input[name='products-products']:not([disabled])").first.check()
    _continue(page)
    check("wizard contacts")
    _continue(page)
    expect(page.locator(".error-summary")).to_be_visible()
    check("wizard contacts with errors")
    for name in ("customer_contact_name", "customer_contact_title", "customer_contact_email"):
        page.locator(f"#id_contacts-{name}").fill(CONTACTS[name])
    for name in ("partner_contact_name", "partner_contact_email"):
        page.locator(f"#id_contacts-{name}").fill(CONTACTS[name])
    _continue(page)
    expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")
    check("wizard POE")
    _continue(page)
    expect(page.locator(".error-summary")).to_be_visible()
    check("wizard POE with errors")
    expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")
    page.locator("#id_poe_files").set_input_files(
        files=[{"name": "sow.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    expect(page.locator("#uploads li.done progress")).to_have_js_property("value", 100)
    check("wizard POE after an upload")
    _continue(page)
    check("wizard review")
    _continue(page)
    expect(page.locator("#claim-status")).to_be_visible()
    check("claim page after submitting")
    page.context.clear_cookies()
    return found


def _go(page, locator):
    """Click and wait for the next page to load: axe on a page still loading sees it without its stylesheet."""
    with page.expect_navigation(wait_until="load"):
        locator.click()


def _continue(page):
    _go(page, page.locator("#wizard-form .wizard-actions button.primary"))


def _admin_pages(page, live_server, claims, reviewer):
    found = []
    page.goto("/admin/login/")
    found.extend(_axe(page, live_server, "admin sign-in"))
    browser_sign_in(page, reviewer, live_server)
    under_review = claims[ClaimStatus.UNDER_REVIEW].pk
    for where, url in [
        ("admin index", "/admin/"),
        ("admin approve", f"/admin/claims/claim/{under_review}/approve/"),
        ("admin request information", f"/admin/claims/claim/{under_review}/request-information/"),
        ("admin reject", f"/admin/claims/claim/{under_review}/reject/"),
        ("admin claim list", "/admin/claims/claim/"),
        ("admin claim list, filtered", "/admin/claims/claim/?status__exact=under_review"),
        ("admin claim page", f"/admin/claims/claim/{claims[ClaimStatus.UNDER_REVIEW].pk}/change/"),
        ("admin claim page, official", f"/admin/claims/claim/{claims[ClaimStatus.OFFICIAL].pk}/change/"),
        ("admin claim page, disputed", f"/admin/claims/claim/{claims[ClaimStatus.DISPUTED].pk}/change/"),
        ("admin reject, disputed", f"/admin/claims/claim/{claims[ClaimStatus.DISPUTED].pk}/reject/"),
        ("admin claim list, rejected (final)", "/admin/claims/claim/?status__exact=rejected_final"),
    ]:
        page.goto(url)
        found.extend(_axe(page, live_server, where))
    page.context.clear_cookies()
    return found


def test_accessibility_every_page_and_state_in_both_languages_has_no_axe_violation(
    browser, live_server, claims_in_every_status, partner_a, partner_b, reviewer
):
    found = []
    for locale in LOCALES:
        context = browser.new_context(base_url=live_server.url, locale=locale)
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            lines = _partner_pages(page, live_server, claims_in_every_status, partner_a, partner_b)
            lines += _admin_pages(page, live_server, claims_in_every_status, reviewer)
        finally:
            context.close()
        found.extend(f"[{locale}] {line}" for line in lines)

    assert found == [], "\n".join(found)
    # The pages were really walked: the customer opted out, and the wizard submitted a claim in each language.
    notified = claims_in_every_status[ClaimStatus.CUSTOMER_NOTIFIED]
    notified.refresh_from_db()
    assert notified.status == ClaimStatus.OPTED_OUT
    assert Claim.objects.filter(name="Northwind, accessible").count() == 2


def test_accessibility_axe_finds_a_violation(page, live_server):
    """The check can fail: an image without a text alternative, added to a served page, is reported."""
    page.goto("/login/")
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")

    found = _axe(page, live_server, "login with an unlabelled image")

    assert len(found) == 1 and "image-alt" in found[0], found
