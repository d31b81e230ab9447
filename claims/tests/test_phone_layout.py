"""Every page from 360 px to desktop (SPEC §15): at 390 and 360 px wide in Chromium, no page scrolls
sideways (the document's and the body's scroll width stay within the viewport), the wizard's fields span the
card, and the navigation collapses. One browser context walks all pages in sequence on shared data."""

import datetime
import os
import re

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimStatus
from claims.services import claim_request_information
from claims.tests.factories import claim_make, claim_make_official, usage_records_make
from claims.tests.test_wizard_browser import _contacts_step, _customer_step, _upload_with_input
from claims.tests.wizard_steps import M365_CUSTOMER, PDF
from claims.tokens import opt_out_token_make

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (390, 360)
LONG_DOMAIN = "contoso-international-manufacturing-holdings-europe.onmicrosoft.com"
LONG_FILE_NAME = "a-statement-of-work-with-a-rather-long-file-name-signed.pdf"
# Set PHONE_SCREENSHOTS=/some/dir to look at every page as the test sees it.
SHOTS = os.environ.get("PHONE_SCREENSHOTS")

OVERFLOW = """() => {
    const doc = document.documentElement, body = document.body, width = doc.clientWidth;
    const wide = [];
    for (const el of body.querySelectorAll('*')) {
        const box = el.getBoundingClientRect();
        if (box.width && box.right > width + 0.5) {
            const name = `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')}`;
            wide.push(`${name} right=${Math.round(box.right)}`);
        }
    }
    return {doc: doc.scrollWidth, body: body.scrollWidth, width, wide: wide.slice(0, 8)};
}"""

# A placeholder wider than its field is cut off (the list's search box was).
CUT_PLACEHOLDERS = """() => [...document.querySelectorAll('input[placeholder]')].filter((el) => el.offsetParent)
    .filter((el) => {
        const style = getComputedStyle(el), context = document.createElement('canvas').getContext('2d');
        context.font = `${style.fontSize} ${style.fontFamily}`;
        const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return context.measureText(el.placeholder).width > room;
    }).map((el) => el.name)"""

NARROW_FIELDS = """() => [...document.querySelectorAll('main input, main select, main textarea')]
    .filter((el) => !['hidden', 'checkbox', 'radio', 'file', 'submit'].includes(el.type) && el.offsetParent)
    .filter((el) => el.getBoundingClientRect().width < document.querySelector('main').clientWidth * 0.7)
    .map((el) => `${el.name} ${Math.round(el.getBoundingClientRect().width)}px`)"""


# Pages too wide, and fields too narrow, collected so that one run names them all.
PROBLEMS = []


def _fits(page, name):
    """Note a page wider than the viewport, naming the elements that stick out."""
    page.wait_for_load_state("load")
    width = page.viewport_size["width"]
    if SHOTS:
        shot = f"{width}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        page.screenshot(path=os.path.join(SHOTS, shot), full_page=True)
    result = page.evaluate(OVERFLOW)
    if result["width"] != width or result["doc"] > width or result["body"] > width:
        PROBLEMS.append((name, width, result))
    cut = page.evaluate(CUT_PLACEHOLDERS)
    if cut:
        PROBLEMS.append((name, width, {"placeholders cut off": cut}))


def _fields_full_width(page, name):
    narrow = page.evaluate(NARROW_FIELDS)
    if narrow:
        PROBLEMS.append((name, "narrow fields", narrow))


@pytest.fixture
def problems():
    PROBLEMS.clear()
    yield PROBLEMS
    PROBLEMS.clear()


def _rendered(page, live_server, path, template, context=None):
    """A page only reachable through a state hard to make in a browser (rate limited, a CSRF failure), served at
    ``path`` of the live server from its template so that its stylesheets load as they would. The route goes once the
    page has loaded: while a page has a route, Playwright sends its every request through the route handlers with
    Chromium's cache turned off, so each later page would fetch its stylesheets and scripts again."""
    html = render_to_string(template, context or {}, request=RequestFactory().get(path))
    url = live_server.url + path
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.goto(path)
    page.unroute(url)


@pytest.fixture
def shared(partner_a, m365_tenant, products, reviewer):
    """One claim in each state the claim page shows, usage data, and the customer's links."""
    waiting = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.UNDER_REVIEW,
        domain=LONG_DOMAIN,
    )
    claim_request_information(claim=waiting, user=reviewer, reason="poe_insufficient", message="Add the SOW.")
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    usage_records_make(m365_tenant, products["microsoft-teams"])
    notified = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["exchange-online"], products["sharepoint-online"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        name="Northwind Traders Exchange Online and SharePoint Online migration, phase two",
    )
    submitted = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])
    rejected = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.REJECTED)
    # Disputes (SPEC §12): the rejected claim above shows the dispute form; these the dispute's later states.
    disputed = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.DISPUTED)
    final = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.REJECTED_FINAL,
        disputed_at=datetime.datetime(2026, 1, 5, 17, tzinfo=datetime.UTC),
        rejection_reasons=["The proof of execution does not support the claim"],
    )
    # Official with its deadline ahead: the customer's link shows "closed" rather than "expired".
    decided = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.OFFICIAL)
    past = datetime.datetime(2026, 1, 5, 17, tzinfo=datetime.UTC)
    # Drafts (SPEC §12): a draft's page is the wizard, resumed; an expired one offers Copy into a new claim.
    draft = claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=(), domain=LONG_DOMAIN)
    expired = claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.EXPIRED, documents=())
    return {
        "claims": [waiting, official, notified, submitted, rejected, disputed, final, draft, expired],
        "draft": draft,
        "waiting": waiting,
        "disputed": disputed,
        "official": official,
        "optout": opt_out_token_make(submission_key=notified.submission_key, deadline=notified.opt_out_deadline),
        "closed": opt_out_token_make(submission_key=decided.submission_key, deadline=decided.opt_out_deadline),
        "expired": opt_out_token_make(submission_key=notified.submission_key, deadline=past),
    }


def _visitor_and_customer_pages(page, live_server, shared):
    for path in (
        "/login/",
        "/password-reset/",
        "/password-reset/sent/",
        "/password-reset/done/",
        "/password-reset/x/y/",
    ):
        page.goto(path)
        _fits(page, path)
    page.goto("/login/")
    page.get_by_role("button", name="Sign in").click()  # the form's errors
    _fits(page, "login errors")
    page.goto("/login/?next=%00")
    expect(page.locator("h1")).to_be_visible()
    _fits(page, "input refused")
    _rendered(page, live_server, "/csrf-failure/", "csrf_failure.html", {"no_cookies": True})
    _fits(page, "csrf failure")
    _rendered(page, live_server, "/customer/opt-out/limited/", "claims/optout_limited.html")
    _fits(page, "opt-out limited")
    page.goto("/customer/opt-out/not-a-token/")
    _fits(page, "opt-out invalid")
    page.goto(f"/customer/opt-out/{shared['expired']}/")
    _fits(page, "opt-out link of another deadline")
    page.goto(f"/customer/opt-out/{shared['closed']}/")
    _fits(page, "opt-out closed")
    page.goto(f"/customer/opt-out/{shared['optout']}/")
    if page.locator(".optout-form").count():  # the first width: the request, confirm, then opt out
        _fits(page, "opt-out request")
        for box in page.locator(".optout-form input[type=checkbox]").all():
            box.check()
        page.locator(".optout-form button[type=submit]").click()
        _fits(page, "opt-out confirm")
        page.locator(".confirm-form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You opted out")
    _fits(page, "opt-out done")


def _partner_pages(page, shared):
    page.goto("/incentives/customer-associations/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer associations")
    # What the search box searches is said by its visible label, not by a placeholder a phone would cut off.
    expect(
        page.get_by_label("Search by claim number, name, customer, domain, Directory ID, MPN ID or product")
    ).to_be_visible()
    _fits(page, "list")
    page.goto("/incentives/customer-associations/?q=nothing-matches")
    _fits(page, "list empty")
    # The navigation's "Needs your action" link, with its badge, and the list it opens (SPEC §12).
    expect(page.locator(".sidenav .needs-action .badge")).to_be_visible()
    page.locator(".sidenav .needs-action").click()
    expect(page.locator(".due-cell .due").first).to_be_visible()
    _fits(page, "list needs your action")
    for claim in shared["claims"]:
        page.goto(f"/incentives/customer-associations/{claim.pk}/")
        _fits(page, f"claim {claim.status}")
    page.goto(f"/incentives/customer-associations/{shared['draft'].pk}/delete/")
    _fits(page, "delete draft")
    page.goto(f"/incentives/customer-associations/{shared['waiting'].pk}/")
    page.locator("details.answer-edits summary").click()
    page.locator("#respond-customer_contact_email").fill("dana@elsewhere.example")
    page.locator("#respond-files").set_input_files(
        files=[
            {
                "name": LONG_FILE_NAME,
                "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4\n%%EOF\n",
            }
        ]
    )
    page.locator(".respond-form button[type=submit]").click()
    expect(page.locator("#respond-customer_contact_email")).to_have_attribute("aria-invalid", "true")
    _fits(page, "claim answer with errors and a file")
    page.goto(f"/incentives/customer-associations/{shared['official'].pk}/")
    page.get_by_text("Disassociate").click()  # Disassociate asks first, on a page of its own
    expect(page.get_by_label("Reason")).to_be_visible()
    _fits(page, "claim disassociate open")
    page.go_back()
    page.locator("details.protect-details summary").click()
    expect(page.get_by_label("Your comment")).to_be_visible()
    _fits(page, "claim protect open")
    expect(page.locator("#protect-form [data-poe-dropzone]")).to_have_attribute("data-ready", "true")
    page.locator("#protect-files").set_input_files(
        files=[{"name": LONG_FILE_NAME, "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}]
    )
    page.locator(".protect-form button[type=submit]").click()  # no comment: the form comes back with the file
    expect(page.locator("#protect-comment")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#protect-form [data-poe-list] li")).to_have_count(1)
    _fits(page, "claim protect with an error and a file")
    page.goto(f"/incentives/customer-associations/{shared['official'].pk}/usage/")
    chart = page.locator("svg.usage-chart")
    expect(chart).to_have_count(1)
    _fits(page, "usage")
    # The chart scales down with the page rather than being clipped.
    assert chart.bounding_box()["width"] <= page.viewport_size["width"] - 20


def _wizard(page):
    page.goto("/incentives/customer-associations/new/")
    expect(page.get_by_role("heading", level=2)).to_have_text("Customer")
    _fits(page, "wizard customer")
    _fields_full_width(page, "wizard customer")
    page.get_by_role("button", name="Continue", exact=True).click()  # every field's error
    expect(page.locator(".field-error").first).to_be_visible()
    _fits(page, "wizard customer errors")
    _customer_step(page, M365_CUSTOMER)
    _fits(page, "wizard activity")
    page.get_by_label("Microsoft 365").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    _fits(page, "wizard associate")
    _fields_full_width(page, "wizard associate")
    page.get_by_label("Name", exact=True).fill("Northwind Traders collaboration rollout for the whole company")
    page.get_by_role("button", name="Create claim", exact=True).click()
    _fits(page, "wizard products")
    page.get_by_label("SharePoint Online").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    _fits(page, "wizard contacts")
    _fields_full_width(page, "wizard contacts")
    _contacts_step(page)
    _upload_with_input(page, "statement-of-work-northwind-traders-sharepoint-online-2026.pdf", PDF)
    _fits(page, "wizard poe")
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Comments and review")
    _fits(page, "wizard review")
    _fields_full_width(page, "wizard review")
    page.get_by_role("button", name="Submit claim", exact=True).click()
    expect(page.locator("#claim-status")).to_have_text("Submitted")
    _fits(page, "claim after submit")


def _reviewer_pages(page, shared):
    waiting = shared["waiting"]
    for path in (
        "/admin/",
        "/admin/claims/claim/",
        f"/admin/claims/claim/{waiting.pk}/change/",
        f"/admin/claims/claim/{waiting.pk}/approve/",
        f"/admin/claims/claim/{waiting.pk}/request-information/",
        f"/admin/claims/claim/{waiting.pk}/reject/",
        f"/admin/claims/claim/{shared['disputed'].pk}/change/",
        f"/admin/claims/claim/{shared['disputed'].pk}/reject/",
    ):
        page.goto(path)
        _fits(page, path)


def test_phone_layout_no_page_scrolls_sideways(page, live_server, shared, partner_a, reviewer, s3_objects, problems):
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        page.context.clear_cookies()
        _visitor_and_customer_pages(page, live_server, shared)
        browser_sign_in(page, partner_a.admin, live_server)
        _partner_pages(page, shared)
        browser_sign_in(page, reviewer, live_server)
        _reviewer_pages(page, shared)
    # The wizard once, at the narrowest width (it submits a claim).
    browser_sign_in(page, partner_a.admin, live_server)
    _wizard(page)
    assert problems == [], "\n".join(map(str, problems))


def test_phone_layout_navigation_collapses(page, live_server, partner_a):
    """At 390 px the sidebar becomes a one-line strip above the page; on a desktop it stays a column beside it."""
    browser_sign_in(page, partner_a.admin, live_server)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/incentives/customer-associations/")
    nav, main = page.locator("nav.sidenav"), page.locator("main")
    expect(nav.get_by_role("link", name="Customer associations")).to_be_visible()
    strip, content = nav.bounding_box(), main.bounding_box()
    assert strip["height"] < 60 and strip["y"] + strip["height"] <= content["y"], (strip, content)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    assert page.evaluate(CUT_PLACEHOLDERS) == []
    column, content = nav.bounding_box(), main.bounding_box()
    assert column["width"] < 300 and column["x"] + column["width"] <= content["x"], (column, content)


def test_phone_layout_check_can_fail(page, live_server, partner_a, problems):
    """The overflow check above catches a page made wider than the phone."""
    browser_sign_in(page, partner_a.admin, live_server)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/incentives/customer-associations/")
    _fits(page, "list, before")
    assert problems == []
    wide = "Object.assign(document.createElement('pre'), {textContent: 'x'.repeat(200)})"
    page.evaluate(f"document.querySelector('main').append({wide})")
    _fits(page, "made wide")
    assert [(name, width) for name, width, _ in problems] == [("made wide", 390)]
    page.reload()
    page.evaluate("document.querySelector('#id_q').placeholder = 'Claim name, customer domain name or Directory ID'")
    _fits(page, "long placeholder")
    assert problems[1:] == [("long placeholder", 390, {"placeholders cut off": ["q"]})]
