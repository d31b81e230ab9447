"""What a walk of the customer's link found (issue 17's "Checked by"): the customer's page names what the customer
did as their own doing and says since when an association is official to the minute; the partner's official email
says whether the customer approved it or the time to opt out passed."""

import datetime

import pytest
import time_machine
from django.conf import settings
from django.core import mail

from claims.services import claims_finalize_due
from claims.tasks import emails_send_due_task
from claims.tests.test_customer_page import BEFORE, DEADLINE, _url, claim  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _before_deadline():
    with time_machine.travel(BEFORE, tick=False):
        yield


def _official_email():
    emails_send_due_task()
    (message,) = [m for m in mail.outbox if "is official" in m.subject]
    return message.body + message.alternatives[0][0]


def test_official_email_says_the_customer_approved_when_they_did(client, claim):  # noqa: F811
    client.post(_url(claim), {"action": "approve"})

    body = _official_email()

    assert body.count("The customer approved your customer association") == 2  # plain text and HTML
    assert "did not opt out" not in body and "time to opt out has passed" not in body


def test_official_email_says_the_time_to_opt_out_passed_at_the_deadline(client, claim):  # noqa: F811
    assert claims_finalize_due(now=DEADLINE + datetime.timedelta(seconds=1)) == 1

    body = _official_email()

    assert body.count("The customer's time to opt out has passed: your customer association") == 2
    assert "approved" not in body


def test_customer_page_names_what_the_customer_did_as_their_own(client, claim):  # noqa: F811
    page = client.post(_url(claim), {"action": "opt_out", "item": ["2"], "confirm": "1"}).content.decode()
    assert 'Yammer</span> <span class="muted">You opted out</span>' in page
    assert "The customer opted out" not in page

    client.post(_url(claim), {"action": "approve"})
    page = client.get(_url(claim)).content.decode()
    # Since when, to the minute (the approval at 12:00:00 UTC), not to the second of a sweep's run.
    assert (
        "Contoso Partners has been your organization's partner of record for the products below since Monday "
        "30 November 2026, 07:00 New York time, and sees their usage." in page
    )

    page = client.post(_url(claim), {"action": "decline", "item": ["1"], "confirm": "1"}).content.decode()
    assert 'Microsoft Teams</span> <span class="muted">You ended it</span>' in page
    assert "The customer ended it" not in page


def test_customer_page_in_chinese_says_the_same(client, claim):  # noqa: F811
    client.post(_url(claim), {"action": "opt_out", "item": ["2"], "confirm": "1"})
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hant"

    page = client.get(_url(claim)).content.decode()

    assert "您已選擇退出</span>" in page and "客戶已選擇退出" not in page


@pytest.mark.browser
def test_customer_email_fits_a_phone(browser, claim):  # noqa: F811
    """The notice's HTML on a 390 px phone's mail app: scaled to the device (its viewport), the long link to copy
    wrapped, nothing wider than the screen, the button at least 24 px high."""
    from claims.emails import customer_notified_email

    html = customer_notified_email(claim).alternatives[0][0]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.set_content(html)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        button = page.get_by_role("link", name="Review the request").bounding_box()
        assert button["height"] >= 24 and button["x"] + button["width"] <= 390
    finally:
        context.close()


def test_customer_page_says_other_products_go_on_only_when_there_are_others(client, claim):  # noqa: F811
    page = client.get(_url(claim)).content.decode()
    assert "The other products go on. You confirm on the next page." in page
    assert "<dt>Opt-out deadline</dt><dd>Wednesday 2 December 2026, 23:59:59 New York time</dd>" in page

    client.post(_url(claim), {"action": "opt_out", "item": ["2"], "confirm": "1"})
    page = client.get(_url(claim)).content.decode()
    assert "The other products go on" not in page and ">You confirm on the next page.</p>" in page

    client.post(_url(claim), {"action": "approve"})
    page = client.get(_url(claim)).content.decode()  # official: Teams alone can be ended
    assert "The other products stay official" not in page and ">You confirm on the next page.</p>" in page


def test_customer_page_in_chinese_uses_full_width_brackets_around_the_domain(client, claim):  # noqa: F811
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hant"

    page = client.get(_url(claim)).content.decode()

    assert "<dd>Northwind Traders（northwindtraders.<wbr>onmicrosoft.<wbr>com）</dd>" in page  # noqa: RUF001
