"""The customer's email on approval (SPEC §5/§7): partner, MPN ID, products, deadline and the signed link."""

import datetime

import pytest
import time_machine

from claims.models import ClaimStatus, EmailNotification
from claims.services import claim_approve, email_notification_send
from claims.tests.factories import claim_make
from claims.tokens import opt_out_token_read

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


def _approve_and_send(claim, reviewer, mailoutbox):
    with time_machine.travel(datetime.datetime(2026, 11, 30, 9, 0, tzinfo=UTC), tick=False):
        claim_approve(claim=claim, user=reviewer)
        notification = EmailNotification.objects.get(claim=claim, kind="customer_notified")
        assert email_notification_send(notification_id=notification.pk) is True
    (message,) = mailoutbox
    return message


def test_notify_customer_email_names_partner_products_deadline_and_link(
    partner_a, reviewer, m365_tenant, products, mailoutbox
):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.UNDER_REVIEW,
        documents=(),
    )

    message = _approve_and_send(claim, reviewer, mailoutbox)

    assert message.to == ["dana@northwindtraders.onmicrosoft.com"]
    assert message.subject == "Contoso Partners asks to be your partner of record"
    # Monday 30 Nov (04:00 in New York): Tue 1 ... Mon 7 Dec, 23:59:59 in New York, named by its city (SPEC §15).
    assert "Contoso Partners (MPN ID 1000001)" in message.body
    assert "  - Microsoft Teams" in message.body
    assert "Monday 7 December 2026, 23:59:59 New York time" in message.body
    assert "America/" not in message.body and "EST" not in message.body
    link = next(line for line in message.body.splitlines() if "/customer/opt-out/" in line).strip()
    assert link.startswith("http://127.0.0.1:8000/customer/opt-out/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    with time_machine.travel(datetime.datetime(2026, 12, 1, tzinfo=UTC)):
        key, _ = opt_out_token_read(token)
    assert key == claim.submission_key
    html = message.alternatives[0][0]
    assert f'href="{link}"' in html


def test_notify_dynamics_claim_also_emails_the_technical_contact(partner_a, reviewer, bizapps_tenant, mailoutbox):
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        status=ClaimStatus.UNDER_REVIEW,
        documents=(),
    )

    message = _approve_and_send(claim, reviewer, mailoutbox)

    assert message.to == ["dana@adventureworks.onmicrosoft.com", "toni@adventureworks.onmicrosoft.com"]
    assert f"Dynamics 365 Field Service (subscription {bizapps_tenant.field_service_subscription.subscription_id})" in (
        message.body
    )
    # Berlin: Monday 30 Nov 10:00; Tue 1 ... Mon 7 Dec 23:59:59 in Berlin, named by its city (SPEC §15).
    assert "Monday 7 December 2026, 23:59:59 Berlin time" in message.body


def test_notify_power_bi_claim_emails_only_the_customer_contact(partner_a, reviewer, bizapps_tenant, mailoutbox):
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.power_bi_subscription],
        status=ClaimStatus.UNDER_REVIEW,
        documents=(),
    )

    assert _approve_and_send(claim, reviewer, mailoutbox).to == ["dana@adventureworks.onmicrosoft.com"]
