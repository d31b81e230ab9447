"""The reviewer's desk in Chromium (SPEC §8, §15): a typical claim's review page fits two screens at 1,366 by 900, the
queue's columns that matter are on screen at 1,366 px, both pages pass axe-core in English and Traditional Chinese
and neither scrolls sideways on a 390 px phone."""

import datetime

import pytest
from django.utils import timezone

from associations.tests.fixtures import browser_sign_in
from claims.models import Claim, ClaimEvent, ClaimStatus
from claims.tests.factories import PDF_BYTES, claim_make
from claims.tests.test_accessibility import _axe
from claims.tests.test_phone_layout import OVERFLOW

pytestmark = pytest.mark.django_db(transaction=True)
QUEUE = "/admin/claims/claim/"


@pytest.fixture
def typical(partner_a, partner_b, reviewer, m365_tenant, products):
    """A typical claim under review: 3 items, 4 POE files, 8 history rows, a competing claim of another partner."""
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"], products["microsoft-teams"], products["exchange-online"]],
        status=ClaimStatus.UNDER_REVIEW,
        competing=True,
        name="Northwind collaboration rollout",
        comments="Rolled out Teams, Exchange and Yammer to 400 users.\nWorkshops in March.",
        documents=[(f"statement-of-work-{n}.pdf", PDF_BYTES) for n in range(1, 5)],
    )
    claim_make(
        partner_b,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        name="Fabrikam Yammer adoption",
    )
    start = claim.submitted_at - datetime.timedelta(days=6)
    rows = [
        ("partner", partner_a.admin, "submitted", "", "submitted", "", ""),
        ("system", None, "validated", "submitted", "under_review", "", ""),
        (
            "reviewer",
            reviewer,
            "information_requested",
            "under_review",
            "action_required",
            "poe_insufficient",
            "Please add the signed statement of work.",
        ),
        ("partner", partner_a.admin, "changed", "", "", "", ""),
        ("partner", partner_a.admin, "changed", "", "", "", ""),
        (
            "partner",
            partner_a.admin,
            "responded",
            "action_required",
            "under_review",
            "",
            "Signed statement of work attached.",
        ),
        ("reviewer", reviewer, "information_requested", "under_review", "action_required", "other", "Which workshops?"),
        ("partner", partner_a.admin, "responded", "action_required", "under_review", "", "Workshops in March."),
    ]
    changes = iter(
        [("customer_contact_name", "Dana Customer", "Dana Whitley"), ("partner_contact_name", "Pat", "Alex")]
    )
    for n, (actor, user, action, old, new, reason, message) in enumerate(rows):
        field, old_value, new_value = next(changes) if action == "changed" else ("", "", "")
        ClaimEvent.objects.create(
            claim=claim,
            actor=actor,
            user=user,
            action=action,
            old_status=old,
            new_status=new,
            reason=reason,
            message=message,
            field=field,
            old_value=old_value,
            new_value=new_value,
            created_at=start + datetime.timedelta(hours=n * 5),
        )
    return claim


def test_review_desk_review_page_fits_two_screens_and_the_queue_its_columns(
    browser, live_server, typical, reviewer, partner_b, m365_tenant, products
):
    # A row like the demo's: a longer name, the other partner, overdue (the widest due date).
    other = claim_make(
        partner_b,
        tenant=m365_tenant,
        products=[products["sharepoint-online"]],
        status=ClaimStatus.UNDER_REVIEW,
        name="Demo · competing, under review (Fabrikam)",
    )
    Claim.objects.filter(pk=other.pk).update(due_at=timezone.now() - datetime.timedelta(days=2))
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    try:
        browser_sign_in(page, reviewer, live_server)
        page.goto(f"/admin/claims/claim/{typical.pk}/change/")
        assert page.locator(".review-history tbody tr").count() == 8
        assert page.locator(".review-poe li").count() == 4
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= 2 * 900, f"the review page is {height} px tall"
        # The history's one-word cells ("Submitted", "Responded") on one line, never broken inside the word.
        broken = page.evaluate(
            "[...document.querySelectorAll('.review-history tbody td')].filter(td => !/\\s/.test(td.innerText.trim()))"
            ".filter(td => { const range = document.createRange(); range.selectNodeContents(td);"
            " return range.getClientRects().length > 1; }).map(td => td.innerText)"
        )
        assert broken == [], f"words broken in the history: {broken}"

        # A decision page's Cancel is a button like the one beside it: as tall, on the same line.
        page.goto(f"/admin/claims/claim/{typical.pk}/reject/")
        button = page.locator(".submit-row input[type=submit]").bounding_box()
        cancel = page.locator(".submit-row .cancel-link").bounding_box()
        assert abs(cancel["height"] - button["height"]) <= 1 and abs(cancel["y"] - button["y"]) <= 1, (button, cancel)

        page.goto(QUEUE)
        for column in (
            "number_display",
            "name",
            "partner",
            "customer_display",
            "items_display",
            "status_display",
            "competing_display",
            "review_due_display",
        ):
            box = page.locator(f"th.column-{column}").bounding_box()
            assert box is not None and box["x"] + box["width"] <= 1366, column
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        # On screen, not only on the page: the list's table scrolls sideways inside its own box (Django's
        # `.results`), which would hide its last columns (Competing, Review due) with the admin's sidebars open.
        results = page.evaluate(
            "(() => { const box = document.querySelector('#result_list').parentElement;"
            " return [box.scrollWidth, box.clientWidth]; })()"
        )
        assert results[0] <= results[1], f"the queue's table is {results[0]} px wide in a box of {results[1]} px"
    finally:
        context.close()


def test_review_desk_queue_and_review_page_pass_axe_in_both_languages_and_fit_a_phone(
    browser, live_server, typical, reviewer
):
    found = []
    for locale in ("en", "zh-TW"):
        context = browser.new_context(base_url=live_server.url, locale=locale)
        page = context.new_page()
        try:
            browser_sign_in(page, reviewer, live_server)
            for where, url in [
                ("queue", QUEUE),
                ("queue, every claim", f"{QUEUE}?queue=all"),
                ("review page", f"/admin/claims/claim/{typical.pk}/change/"),
                ("approve", f"/admin/claims/claim/{typical.pk}/approve/"),
                ("reject", f"/admin/claims/claim/{typical.pk}/reject/"),
            ]:
                for width, height in ((1366, 900), (390, 844)):
                    page.set_viewport_size({"width": width, "height": height})
                    page.goto(url)
                    found += [f"[{locale} {width}px] {line}" for line in _axe(page, live_server, where)]
                    if where == "queue, every claim" and width == 1366 and locale == "zh-TW":
                        # The admin's JavaScript counter, from our djangojs catalog (Django's: 「2 中 1 個被選」).
                        page.locator("input.action-select").first.check()
                        counter = page.locator(".action-counter").inner_text()
                        if counter != "已選擇 1 個，共 2 個":  # noqa: RUF001 (Chinese punctuation)
                            found.append(f"[{locale}] the action counter reads {counter!r}")
                    if width == 390:
                        sizes = page.evaluate(OVERFLOW)
                        if max(sizes["doc"], sizes["body"]) > sizes["width"]:
                            found.append(f"[{locale}] {where} scrolls sideways at 390 px: {sizes}")
        finally:
            context.close()

    assert found == [], "\n".join(found)
