"""A partner's phone (SPEC §15), in Chromium at 390 px: every control big enough to tap, the claim page's history as
blocks, the usage chart's months apart.

Tap targets (SPEC §15: "every control is at least 24x24 CSS px", WCAG 2.2 §2.5.8): every link, button, input,
select, textarea and summary a partner or a customer can tap on every page of theirs is at least 24x24 CSS px. This
is stricter than the criterion, whose spacing exception would let a small control pass when nothing is near it: only
the criterion's inline exception applies, to a link inside a sentence (an inline link whose block holds other words:
its size is the line of text's), and what nobody can tap is not measured (the skip link until it is focused, a table
header clipped to a pixel on a phone). A checkbox or a radio is measured with its label, which checks it when tapped
(one target, as the criterion's understanding counts it). The pages are read in English.
"""

import itertools

import pytest
from django.conf import settings
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimStatus
from claims.services import claim_request_information
from claims.tests.factories import claim_make, claim_make_official, usage_records_make
from claims.tests.test_accessibility import _go
from claims.tests.test_wizard_browser import _contacts_step, _customer_step, _upload_with_input
from claims.tests.wizard_steps import BIZAPPS_CUSTOMER, M365_CUSTOMER, PDF
from claims.tokens import opt_out_token_make

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}

# Every target on the page, measured: [{name, width, height, why}] for those too small, [names] for those exempt.
SMALL_TARGETS = """() => {
    const targets = [...document.querySelectorAll(
        'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [tabindex="0"]'
    )].filter((el) => {
        const style = getComputedStyle(el), box = el.getBoundingClientRect();
        if (style.visibility === 'hidden' || style.display === 'none') return false;
        if (box.width <= 1 || box.height <= 1) return false;
        // Inside a visually hidden box (a table's header row on a phone, clipped to a pixel): nothing to tap.
        for (let up = el.parentElement; up; up = up.parentElement) {
            const around = up.getBoundingClientRect();
            if (getComputedStyle(up).clipPath !== 'none' && around.width <= 1 && around.height <= 1) return false;
        }
        return true;
    });
    const name = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}` +
        `${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''}` +
        ` "${(el.innerText || el.value || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40)}"`;
    // A link inside a sentence: inline, in a block that holds words besides the link's own.
    const inSentence = (el) => {
        if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
        let block = el.parentElement;
        while (block && getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
        // Punctuation and spaces are no words (the full-width ones: ()、,。:).
        const punctuation = /[\\s.,:;·—()\\uff08\\uff09\\u3001\\uff0c\\u3002\\uff1a]/g;
        const others = block.innerText.replace(el.innerText, '').replace(punctuation, '');
        return others.length > 0;
    };
    // A checkbox or a radio with its label: tapping the label checks it, so the two are one target.
    const targetBox = (el) => {
        const boxes = [el, ...(['checkbox', 'radio'].includes(el.type) ? el.labels : [])]
            .map((part) => part.getBoundingClientRect());
        const left = Math.min(...boxes.map((b) => b.left)), right = Math.max(...boxes.map((b) => b.right));
        const top = Math.min(...boxes.map((b) => b.top)), bottom = Math.max(...boxes.map((b) => b.bottom));
        return {width: right - left, height: bottom - top};
    };
    const problems = [], exempt = [];
    targets.forEach((el) => {
        const box = targetBox(el);
        if (box.width >= 23.5 && box.height >= 23.5) return;
        if (inSentence(el)) { exempt.push(name(el)); return; }
        problems.push(`${name(el)} ${Math.round(box.width)}x${Math.round(box.height)}`);
    });
    return {problems, exempt, count: targets.length};
}"""

# Whether anything on the page sticks out of the viewport, or the page scrolls sideways (what a clipped box holds,
# a table's header row hidden on a phone, is not seen).
WIDE = """() => {
    const width = document.documentElement.clientWidth, wide = [];
    for (const el of document.body.querySelectorAll('*')) {
        if ([...ancestors(el)].some((up) => getComputedStyle(up).clipPath !== 'none')) continue;
        const box = el.getBoundingClientRect();
        if (box.width && (box.right > width + 0.5 || box.left < -0.5)) wide.push(`${el.tagName} ${el.className}`);
    }
    return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 8)};
    function* ancestors(el) { for (let up = el; up; up = up.parentElement) yield up; }
}"""


class Taps:
    """What each page gets wrong, collected so that one run names every page."""

    def __init__(self, page):
        self.page = page
        self.problems = {}
        self.exempt = set()
        self.pages = []

    def measure(self, name):
        self.page.wait_for_load_state("load")
        result = self.page.evaluate(SMALL_TARGETS)
        assert result["count"] > 0, name
        self.pages.append(name)
        self.exempt.update(result["exempt"])
        if result["problems"]:
            self.problems[name] = result["problems"]

    def report(self):
        return "\n".join(f"{name}: {problem}" for name, found in self.problems.items() for problem in found)


@pytest.fixture
def claims(partner_a, m365_tenant, bizapps_tenant, products, reviewer):
    """A claim in each status the claim page shows, with a history worth reading."""
    made = {}
    for status in ClaimStatus.values:
        if status in (ClaimStatus.OFFICIAL, ClaimStatus.ACTION_REQUIRED):
            continue
        made[status] = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=status)
    waiting = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=bizapps_tenant.sales_subscriptions[:1],
        programs=("osu_bizapps", "osa_sell"),
        status=ClaimStatus.UNDER_REVIEW,
        domain="adventure-works.example",
        customer_contact_email="dana@adventure-works.example",
    )
    claim_request_information(
        claim=waiting,
        user=reviewer,
        reason="poe_insufficient",
        message="The statement of work is not signed by the customer: add the signed copy, please.",
    )
    made[ClaimStatus.ACTION_REQUIRED] = waiting
    made[ClaimStatus.OFFICIAL] = claim_make_official(partner_a, tenant=m365_tenant, product=products["exchange-online"])
    usage_records_make(m365_tenant, products["exchange-online"], months=range(1, 13), year=2026)
    return made


def _wizard(page, taps):
    page.goto("/incentives/customer-associations/new/")
    taps.measure("wizard: customer")
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page.locator(".field-error").first).to_be_visible()
    taps.measure("wizard: customer, errors")
    page.get_by_text("Where are these?").click()
    taps.measure("wizard: customer, help open")
    _customer_step(page, BIZAPPS_CUSTOMER)
    taps.measure("wizard: activity")
    page.get_by_label("Business Applications").check()
    page.get_by_label("Usage and/or Pre-sales").check()
    taps.measure("wizard: activity, Business Applications")
    page.get_by_label("Usage", exact=True).check()
    page.get_by_role("button", name="Continue", exact=True).click()
    taps.measure("wizard: associate")
    page.get_by_label("Name", exact=True).fill("Adventure Works Sales")
    page.get_by_role("button", name="Create claim", exact=True).click()
    taps.measure("wizard: products")
    page.get_by_role("checkbox", name="Dynamics 365 Sales").check()
    taps.measure("wizard: products, a subscription to pick")
    # Every step is the same URL: each click waits for the page it asks for, or the next click (a second Back) may
    # land on the page still shown and the walk end on another step than meant (seen once under a full run's load).
    for _ in range(3):
        _go(page, page.get_by_role("button", name="Back", exact=True))
    page.get_by_label("MPN ID").select_option(M365_CUSTOMER["location"])
    page.get_by_label("Customer's domain name").fill(M365_CUSTOMER["domain"])
    page.get_by_label("Directory ID").fill(M365_CUSTOMER["directory_id"])
    _go(page, page.get_by_role("button", name="Continue", exact=True))
    page.get_by_label("Microsoft 365").check()
    _go(page, page.get_by_role("button", name="Continue", exact=True))
    page.get_by_label("Name", exact=True).fill("Northwind Traders SharePoint")
    page.get_by_role("button", name="Create claim", exact=True).click()
    page.get_by_label("SharePoint Online").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    taps.measure("wizard: contacts")
    _contacts_step(page)
    _upload_with_input(page, "statement-of-work.pdf", PDF)
    taps.measure("wizard: poe, a file")
    page.get_by_role("button", name="Continue", exact=True).click()
    taps.measure("wizard: review")


def test_tap_targets_at_least_24_px_on_every_partner_and_customer_page(page, live_server, partner_a, claims):
    page.set_viewport_size(PHONE)
    taps = Taps(page)
    for path in ("/login/", "/password-reset/", "/password-reset/sent/", "/password-reset/x/y/"):
        page.goto(path)
        taps.measure(path)
    page.goto("/login/")
    page.get_by_role("button", name="Sign in").click()
    taps.measure("sign in: errors")
    notified = claims[ClaimStatus.CUSTOMER_NOTIFIED]
    token = opt_out_token_make(submission_key=notified.submission_key, deadline=notified.opt_out_deadline)
    page.goto(f"/customer/opt-out/{token}/")
    taps.measure("customer: the request")
    page.locator(".optout-form input[type=checkbox]").first.check()
    page.locator(".optout-form button[type=submit]").click()
    taps.measure("customer: confirm opting out")
    page.locator(".confirm-form button[type=submit]").click()
    taps.measure("customer: opted out")

    browser_sign_in(page, partner_a.admin, live_server)
    page.goto("/incentives/customer-associations/")
    taps.measure("list")
    page.goto("/incentives/customer-associations/?status=needs_action")
    taps.measure("list: needs your action")
    for status, claim in claims.items():
        page.goto(f"/incentives/customer-associations/{claim.pk}/")
        if status == ClaimStatus.DRAFT:
            taps.measure("draft: the wizard")
            page.goto(f"/incentives/customer-associations/{claim.pk}/delete/")
            taps.measure("draft: delete")
            continue
        taps.measure(f"claim: {status}")
    page.goto(f"/incentives/customer-associations/{claims[ClaimStatus.ACTION_REQUIRED].pk}/")
    page.locator("details.answer-edits summary").click()
    taps.measure("claim: action_required, the edits open")
    official = claims[ClaimStatus.OFFICIAL]
    page.goto(f"/incentives/customer-associations/{official.pk}/")
    page.locator("details.protect-details summary").click()
    taps.measure("claim: official, protect open")
    # Disassociate asks first, on a page of its own (the rule book's confirmation).
    page.get_by_role("link", name="Disassociate").click()
    taps.measure("claim: official, disassociate confirmation")
    page.goto(f"/incentives/customer-associations/{official.pk}/usage/")
    taps.measure("usage")
    _wizard(page, taps)

    assert len(taps.pages) >= 35
    assert not taps.problems, taps.report()
    # What the sentence exception let through are links in sentences, never a button or a field.
    assert all(name.startswith("a") for name in taps.exempt), taps.exempt


def test_tap_targets_check_can_fail(page, live_server, partner_a):
    browser_sign_in(page, partner_a.admin, live_server)
    page.set_viewport_size(PHONE)
    page.goto("/incentives/customer-associations/")
    taps = Taps(page)
    taps.measure("list")
    assert taps.problems == {}
    # Two 12 px buttons side by side. (Styled through the CSSOM: the CSP refuses style attributes.)
    page.evaluate(
        """() => {
        const row = document.createElement('div');
        for (const text of ['a', 'b']) {
            const button = Object.assign(document.createElement('button'), {textContent: text});
            Object.assign(button.style, {all: 'unset', display: 'inline-block', width: '12px', height: '12px'});
            row.append(button);
        }
        document.querySelector('main').prepend(row);
    }"""
    )
    taps.measure("made small")
    assert [problem.split('"')[1] for problem in taps.problems["made small"]] == ["a", "b"]


def test_tap_targets_history_is_stacked_and_chart_months_apart_on_a_phone(page, live_server, partner_a, claims):
    """The claim page's history: one block per event on a phone, nothing wider than the viewport, no column
    squeezed to a letter a line; the usage chart's month labels (twelve months, in Chinese too) never overlap."""
    browser_sign_in(page, partner_a.admin, live_server)
    page.set_viewport_size(PHONE)
    claim = claims[ClaimStatus.ACTION_REQUIRED]
    page.goto(f"/incentives/customer-associations/{claim.pk}/")
    history = page.locator("#history table")
    expect(history.locator("tbody tr")).to_have_count(claim.events.count())
    result = page.evaluate(WIDE)
    assert result["scroll"] <= result["width"] and result["wide"] == [], result
    layout = history.evaluate(
        """(table) => {
        const rows = [...table.querySelectorAll('tbody tr')].map((row) => row.getBoundingClientRect());
        const cells = [...table.querySelectorAll('tbody td')].filter((td) => td.getBoundingClientRect().height)
            .map((td) => ({label: getComputedStyle(td, '::before').content, box: td.getBoundingClientRect(),
                           chars: td.innerText.length,
                           lines: Math.round(td.getBoundingClientRect().height
                                             / parseFloat(getComputedStyle(td).lineHeight))}));
        return {scrollWidth: table.scrollWidth, clientWidth: table.clientWidth, rows, cells,
                header: table.querySelector('thead').getBoundingClientRect()};
    }"""
    )
    assert layout["scrollWidth"] <= layout["clientWidth"]  # nothing scrolled inside the table
    assert layout["header"]["height"] <= 1  # the header row is hidden: each cell says what it is
    # Each event is a block of the page's width, one under the other.
    widths = {round(row["width"]) for row in layout["rows"]}
    assert len(widths) == 1 and widths.pop() > 300
    tops = [row["top"] for row in layout["rows"]]
    assert tops == sorted(tops) and len(set(tops)) == len(tops)
    labels = {cell["label"] for cell in layout["cells"]}
    assert {'"When"', '"Who"', '"What"', '"Status"'} <= labels
    # Each cell is as wide as the block (its label in its left padding): text runs at least 20 characters a line,
    # never a letter or a word a line.
    assert all(cell["box"]["width"] > 300 for cell in layout["cells"])
    assert [cell for cell in layout["cells"] if cell["lines"] > 1 + cell["chars"] / 20] == []
    # The same at 360 px, the narrowest phone SPEC §15 names.
    page.set_viewport_size({"width": 360, "height": 780})
    result = page.evaluate(WIDE)
    assert result["scroll"] <= result["width"] and result["wide"] == [], result

    official = claims[ClaimStatus.OFFICIAL]
    for language in ("en", "zh-hant"):
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
        page.set_viewport_size(PHONE)
        page.goto(f"/incentives/customer-associations/{official.pk}/usage/")
        boxes = page.locator("svg.usage-chart text[dy='1.3em']").evaluate_all(
            "(labels) => labels.map((label) => { const b = label.getBoundingClientRect(); "
            "return {text: label.textContent, left: b.left, right: b.right}; })"
        )
        assert len(boxes) >= 3, boxes
        assert boxes[-1]["text"] in ("Dec 2026", "2026年12月")
        for before, after in itertools.pairwise(boxes):
            assert before["right"] + 2 <= after["left"], (language, before, after)
        svg = page.locator("svg.usage-chart").bounding_box()
        assert boxes[0]["left"] >= svg["x"] and boxes[-1]["right"] <= svg["x"] + svg["width"] + 0.5
