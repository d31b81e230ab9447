"""The list on a phone (SPEC §15), in Chromium at 390 x 844: the first claim shows on the first screen (the filters
behind one button, a one-line header), cards show no empty rows and no word twice, every control of the header,
the navigation and the list is at least 24 x 24 CSS px (WCAG 2.2 2.5.8); and on wider screens no column is
squeezed to a letter a line."""

import datetime
import os

import pytest
from django.conf import settings
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimStatus
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "/incentives/customer-associations/"
# Set PHONE_SCREENSHOTS=/some/dir to look at the list as the tests see it.
SHOTS = os.environ.get("PHONE_SCREENSHOTS")

# Every visible control in ``scope`` smaller than 24 x 24 CSS px: [(what, width, height)].
SMALL_TARGETS = """(scope) => [...document.querySelectorAll(
        `${scope} a, ${scope} button, ${scope} summary, ${scope} select, ${scope} input:not([type=hidden])`)]
    .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
    .filter((el) => !el.closest('.skip-link') && !el.classList.contains('skip-link'))
    .map((el) => {
        const box = el.getBoundingClientRect();
        return [(el.textContent || el.value || el.name || '').trim().slice(0, 40), Math.round(box.width),
                Math.round(box.height)];
    })
    .filter(([, width, height]) => width < 24 || height < 24)"""

# The text of each row of each card as a reader sees it (rows hidden by CSS left out), and the label shown beside it.
CARD_ROWS = """() => [...document.querySelectorAll('.claims-table tbody tr')].map((tr) => [...tr.children]
    .filter((td) => getComputedStyle(td).display !== 'none')
    .map((td) => [getComputedStyle(td, '::before').content.replace(/^"|"$/g, '').replace(/^none$/, ''),
                  td.innerText.trim()]))"""

NARROW_CELLS = """() => [...document.querySelectorAll('.claims-table tbody td')]
    .filter((td) => td.innerText.trim())
    .filter((td) => td.getBoundingClientRect().width < 3.5 * parseFloat(getComputedStyle(td).fontSize))
    .map((td) => `${td.dataset.label || 'name'} ${Math.round(td.getBoundingClientRect().width)}px`)"""


@pytest.fixture
def listed(partner_a, m365_tenant, products):
    """Claims of every shape a card takes: waiting on the customer (a deadline), official (nothing due), a draft
    (no submitted date, no products), rejected, under review; with long names."""
    now = datetime.datetime.now(tz=datetime.UTC)
    made = [
        claim_make(
            partner_a,
            tenant=m365_tenant,
            products=[products["exchange-online"], products["sharepoint-online"], products["microsoft-teams"]],
            status=ClaimStatus.CUSTOMER_NOTIFIED,
            name="Northwind Traders Exchange Online and SharePoint Online migration, phase two",
            opt_out_deadline=now + datetime.timedelta(days=4),
        ),
        claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.OFFICIAL),
        claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=(), name="Unfinished"),
        claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.REJECTED),
        claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]]),
    ]
    return made


def _open_list(page, live_server, partner_a, width, height=844):
    browser_sign_in(page, partner_a.admin, live_server)
    page.context.add_cookies([{"name": settings.TIME_ZONE_COOKIE_NAME, "value": "Asia/Taipei", "url": live_server.url}])
    page.set_viewport_size({"width": width, "height": height})
    page.goto(LIST)
    page.wait_for_load_state("load")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"list-{width}x{height}.png"))


def test_list_phone_first_claim_on_the_first_screen(page, live_server, partner_a, listed):
    _open_list(page, live_server, partner_a, 390)

    header = page.locator("header.topbar").bounding_box()
    assert header["height"] <= 50, header  # one line
    tools = page.locator("details.list-tools")
    expect(tools).not_to_have_attribute("open", "")
    expect(page.locator(".status-counts")).to_be_hidden()
    first = page.locator(".claims-table tbody tr").first.bounding_box()
    assert first["y"] >= 0 and first["y"] + first["height"] <= 844, first
    # The filters open from the keyboard, and close again.
    page.locator("details.list-tools > summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".status-counts")).to_be_visible()
    expect(page.get_by_label("Sort by")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator(".status-counts")).to_be_hidden()


def test_list_phone_cards_show_no_empty_rows_and_no_word_twice(page, live_server, partner_a, listed):
    _open_list(page, live_server, partner_a, 390)

    cards = page.evaluate(CARD_ROWS)
    assert len(cards) == len(listed)
    for rows in cards:
        assert all(text for _label, text in rows), [label for label, text in rows if not text]  # no row without a value
        labels = [label for label, _text in rows if label]  # the name and the due line have none
        texts = " ".join(f"{label} {text}" for label, text in rows)
        assert texts.count("Due") <= 1, rows  # "Due … Due 2027-01-06" was the card's due row
        assert len(labels) == len(set(labels)), rows
    waiting = next(rows for rows in cards if "migration, phase two" in rows[0][1])
    assert any(text.startswith("Due ") and "Waiting for the customer" in text for _label, text in waiting)
    assert waiting[0][1].endswith(listed[0].number)  # the claim number under its name


@pytest.mark.parametrize("width", [390, 360, 1280])
def test_list_phone_every_control_of_the_header_navigation_and_list_is_24_px(
    page, live_server, partner_a, listed, width
):
    _open_list(page, live_server, partner_a, width)
    if width < 761:
        page.locator("details.list-tools > summary").click()  # its controls too
    expect(page.locator(".status-counts")).to_be_visible()

    small = {scope: page.evaluate(SMALL_TARGETS, scope) for scope in ("header", "nav.sidenav", "main")}
    assert small == {"header": [], "nav.sidenav": [], "main": []}
    # Sign out, the language switch and Settings, as the testers measured them.
    for name in ("Sign out", "繁體中文", "Settings"):
        box = page.locator("header.topbar").get_by_text(name, exact=True).bounding_box()
        assert box["width"] >= 24 and box["height"] >= 24, (name, box)


def test_list_phone_wizard_cancel_is_24_px(page, live_server, partner_a, listed):
    _open_list(page, live_server, partner_a, 390)
    page.goto("/incentives/customer-associations/new/")
    box = page.get_by_role("link", name="Cancel").bounding_box()
    assert box["width"] >= 24 and box["height"] >= 24, box


@pytest.mark.parametrize("width", [1280, 1024, 800])
def test_list_phone_no_column_a_letter_wide_on_wider_screens(page, live_server, partner_a, listed, width):
    _open_list(page, live_server, partner_a, width, height=900)

    assert page.evaluate(NARROW_CELLS) == []
    # Wide enough for a table: the filters are open at once (static/js/list-tools.js), the sort shown.
    expect(page.locator(".status-counts")).to_be_visible()
    expect(page.locator('th[aria-sort="descending"] .sort-indicator')).to_have_text("▼")


def test_list_phone_check_can_fail(page, live_server, partner_a, listed):
    """The checks above catch a tiny control and a squeezed column."""
    _open_list(page, live_server, partner_a, 1024, height=900)
    page.evaluate("document.querySelector('header .account-link').style.cssText = 'padding:0;min-height:0;min-width:0'")
    # The table forced into 400 px, as a page without the columns' minimum widths would squeeze it.
    page.evaluate(
        """() => {
            const cells = document.querySelectorAll('.claims-table td, .claims-table th');
            cells.forEach((cell) => { cell.style.minWidth = '0'; });
            const table = document.querySelector('.claims-table');
            table.style.tableLayout = 'fixed';
            table.style.width = '400px';
        }"""
    )
    assert page.evaluate(SMALL_TARGETS, "header")
    assert page.evaluate(NARROW_CELLS)
