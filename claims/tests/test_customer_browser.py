"""The customer's page in Chromium (SPEC §7, §15, issue 17): on a 390 px phone in zh-TW a customer opts out of one
product and approves the other now; axe-core finds nothing on any state of the page, in English and in zh-TW."""

import datetime

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from associations.models import Association
from associations.tests.fixtures import make_tenant
from claims.models import ClaimItem, ClaimStatus
from claims.tests.factories import claim_make
from claims.tests.test_accessibility import _axe, _go
from claims.tokens import opt_out_token_make

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = {"width": 390, "height": 844}
# The page fits the phone: nothing wider than the viewport.
WIDTH = "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"


@pytest.fixture
def taiwan(products):
    return make_tenant(
        "Relecloud Taiwan",
        domains=["relecloudtw.onmicrosoft.com"],
        country="TW",
        workloads=[code for code, p in products.items() if p.solution_area == "microsoft_365"],
        products=products,
    )


def _link(claim):
    token = opt_out_token_make(submission_key=claim.submission_key, deadline=claim.opt_out_deadline)
    return f"/customer/opt-out/{token}/"


def _claim(partner_a, tenant, products, codes):
    return claim_make(
        partner_a,
        tenant=tenant,
        products=[products[code] for code in codes],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        documents=(),
    )


def test_customer_browser_phone_zh_tw_opts_out_of_one_product_and_approves_the_other(
    browser, live_server, partner_a, products, taiwan
):
    claim = _claim(partner_a, taiwan, products, ["microsoft-teams", "yammer"])
    context = browser.new_context(base_url=live_server.url, locale="zh-TW", viewport=PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(_link(claim))
        expect(page.get_by_role("heading", level=1)).to_have_text("Contoso Partners 要求成為您的記錄合作夥伴")
        expect(page.locator("main")).to_contain_text("台北時間")
        assert page.evaluate(WIDTH) <= PHONE["width"]

        # Opt out of Yammer: a confirmation that says what it means first.
        page.locator(".optout-form").get_by_label("Yammer").check()
        _go(page, page.get_by_role("button", name="選擇退出", exact=True))
        expect(page.get_by_role("heading", level=1)).to_have_text("要選擇退出這些產品嗎？")  # noqa: RUF001
        expect(page.locator("main")).to_contain_text("此動作為最終決定")
        assert page.evaluate(WIDTH) <= PHONE["width"]
        _go(page, page.get_by_role("button", name="是，選擇退出"))  # noqa: RUF001
        expect(page.get_by_role("status")).to_contain_text("您已選擇退出 Yammer")

        # Approve the rest now.
        _go(page, page.get_by_role("button", name="立即核准"))
        expect(page.get_by_role("status")).to_contain_text("您已核准此要求")
        expect(page.get_by_role("heading", level=1)).to_have_text("Contoso Partners 是您的記錄合作夥伴")
        assert page.evaluate(WIDTH) <= PHONE["width"]
    finally:
        context.close()

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OFFICIAL
    outcomes = dict(ClaimItem.objects.filter(claim=claim).values_list("product__code", "outcome"))
    assert outcomes == {"microsoft-teams": "", "yammer": "opted_out"}
    assert list(Association.objects.filter(status="active").values_list("product__code", flat=True)) == [
        "microsoft-teams"
    ]


def _every_state(page, live_server, link, deadline_passed_link, single_link):
    """axe on each state of the page, walked as a customer would: awaiting, an error, the opt-out's confirmation,
    after opting out of one, after approving (official: Decline later), the decline's confirmation, after ending
    one, ended; then past the deadline, opted out of everything, and a link that is not valid."""
    found = []
    check = lambda where: found.extend(_axe(page, live_server, where))  # noqa: E731
    page.goto(link)
    check("awaiting")
    _go(page, page.locator(".optout-form button[type=submit]"))  # no product chosen
    expect(page.locator(".form-error")).to_be_visible()
    check("opt-out without a product")
    page.goto(link)
    page.locator(".optout-form input[type=checkbox]").nth(2).check()
    _go(page, page.locator(".optout-form button[type=submit]"))
    check("confirm opt-out")
    _go(page, page.locator(".confirm-form button[type=submit]"))
    check("after opt-out")
    _go(page, page.locator(".approve-form button[type=submit]"))
    check("after approve")
    page.goto(link)
    check("official: decline later")
    page.locator(".decline-form input[type=checkbox]").first.check()
    _go(page, page.locator(".decline-form button[type=submit]"))
    check("confirm decline")
    page.locator("#customer-reason").fill("We manage it ourselves now.")
    _go(page, page.locator(".confirm-form button[type=submit]"))
    check("after decline")
    page.locator(".decline-form input[type=checkbox]").first.check()
    _go(page, page.locator(".decline-form button[type=submit]"))
    _go(page, page.locator(".confirm-form button[type=submit]"))
    expect(page.locator("h1")).to_be_visible()
    check("ended")
    page.goto(deadline_passed_link)
    check("deadline passed")
    page.goto(single_link)
    page.locator(".optout-form input[type=checkbox]").check()
    _go(page, page.locator(".optout-form button[type=submit]"))
    check("confirm opting out of everything")
    _go(page, page.locator(".confirm-form button[type=submit]"))
    expect(page.get_by_role("status")).to_be_visible()
    check("opted out")
    page.goto("/customer/opt-out/not-a-valid-token/")
    check("bad link")
    return found


def test_customer_browser_every_state_has_no_axe_violation_in_both_languages(
    browser, live_server, partner_a, products, m365_tenant, taiwan
):
    found, walked = [], []
    for locale, tenant in (("en", m365_tenant), ("zh-TW", taiwan)):
        claim = _claim(partner_a, tenant, products, ["exchange-online", "sharepoint-online", "yammer"])
        late = claim_make(
            partner_a,
            tenant=tenant,
            products=[products["microsoft-teams"]],
            status=ClaimStatus.CUSTOMER_NOTIFIED,
            opt_out_deadline=datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC),
            documents=(),
        )
        single = _claim(partner_a, tenant, products, ["onedrive-for-business"])
        cache.clear()  # each language's walk within the page's per-client limit (30 a minute)
        context = browser.new_context(base_url=live_server.url, locale=locale, viewport=PHONE)
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            lines = _every_state(page, live_server, _link(claim), _link(late), _link(single))
        finally:
            context.close()
        found.extend(f"[{locale}] {line}" for line in lines)
        walked.append(claim)

    assert found == [], "\n".join(found)
    # The states were really walked: each claim was approved, then all its associations ended by the customer.
    for claim in walked:
        claim.refresh_from_db()
        assert claim.status == ClaimStatus.ENDED
        outcomes = sorted(ClaimItem.objects.filter(claim=claim).values_list("outcome", flat=True))
        assert outcomes == ["declined", "declined", "opted_out"]
