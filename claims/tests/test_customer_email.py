"""The customer's notice reads as Partner Center's would (SPEC §7, issue 17): who asks and what for in the sender's
name and the subject, the products in customer words, what the partner will see, the deadline on the customer's
clock named by its city, one button; plain-text and HTML parts; in the tenant's language. The outbox's delivery
mechanics (VERP envelope, the window starting at SMTP 250) are unchanged."""

import datetime
import re
from email.utils import parseaddr

import pytest
from django.core import mail

from claims.emails import customer_notified_email
from claims.models import ClaimStatus, EmailNotification
from claims.services import emails_send_due
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
DEADLINE = datetime.datetime(2026, 12, 3, 4, 59, 59, tzinfo=datetime.UTC)


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE,
    )


def test_customer_email_says_who_asks_and_what_for(claim):
    message = customer_notified_email(claim)
    html = message.alternatives[0][0]

    name, address = parseaddr(message.message()["From"])
    assert (name, address) == ("Contoso Partners via Partner Center", "no-reply@cpor.example")
    assert "CPOR" not in name and "CPOR" not in message.subject
    assert message.subject == "Contoso Partners asks to be your partner of record"
    for part in (message.body, html):
        assert "Microsoft Teams" in part and "Yammer" in part
        assert "What is a partner of record?" in part
        assert "the number of active users and paid licenses of these products in Northwind Traders" in part
        assert "Wednesday 2 December 2026, 23:59:59 New York time" in part
        assert "CPOR claims" not in part
    # One button: the one link to the customer's page.
    assert len(re.findall(r"<a href=", html)) == 1
    assert message.alternatives[0][1] == "text/html"


def test_customer_email_in_the_tenants_language(claim, m365_tenant):
    m365_tenant.country = "TW"
    m365_tenant.save(update_fields=["country"])
    claim.tenant.refresh_from_db()

    message = customer_notified_email(claim)

    name, _address = parseaddr(message.message()["From"])
    assert name == "Contoso Partners（透過合作夥伴中心）"  # noqa: RUF001 (zh-Hant punctuation)
    assert message.subject == "Contoso Partners 要求成為您的記錄合作夥伴"
    assert "什麼是記錄合作夥伴？" in message.body  # noqa: RUF001
    assert "台北時間" in message.body and "台北時間" in message.alternatives[0][0]


def test_customer_email_sent_through_the_outbox_keeps_verp_and_shows_the_sender_name(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        notice="pending",
    )

    assert emails_send_due() == 1

    (sent,) = mail.outbox
    assert sent.from_email.startswith("bounces+")  # the envelope sender names the row (VERP)
    assert parseaddr(sent.message()["From"])[0] == "Contoso Partners via Partner Center"
    row = EmailNotification.objects.get(claim=claim, kind="customer_notified")
    claim.refresh_from_db()
    assert row.state == "sent" and claim.opt_out_deadline is not None  # accepted: the window started
