"""End to end with the real Celery worker on Redis: submit, validation, approval in admin, the customer's email and
link, time travel past the deadline, finalization, official, Association rows, usage data."""

import datetime
import email
import email.policy
import re

import pytest
from django.conf import settings
from django.test import Client

from associations.models import Association, UsageRecord
from associations.tests.fixtures import reviewer_login
from claims.models import Claim, ClaimStatus, EmailNotification
from claims.services import claims_finalize_due
from claims.tasks import claim_validate_task
from claims.tests.factories import claim_make
from conftest import _wait_for


def _status(claim):
    return Claim.objects.values_list("status", flat=True).get(pk=claim.pk)


def _messages(mail_dir):
    if not mail_dir.exists():
        return []
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(mail_dir.glob("*.eml"))
    ]


def _text(message):
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.django_db(transaction=True)
def test_lifecycle_submit_to_official_with_real_worker(celery_worker, partner_a, reviewer, m365_tenant, products):
    mail_dir = celery_worker.mail_dir
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"], products["yammer"]], name="Northwind M365"
    )

    # 1. Submitted: the wizard enqueues validation after commit; the worker runs it.
    claim_validate_task.delay(claim_id=claim.pk)
    _wait_for(lambda: _status(claim) == ClaimStatus.UNDER_REVIEW, seconds=30, what="validation")

    # 2. The reviewer approves through the admin's list action.
    reviewer_client = reviewer_login(Client(), reviewer)
    response = reviewer_client.post(
        "/admin/claims/claim/", {"action": "approve_selected", "_selected_action": [claim.pk]}
    )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED
    assert claim.events.get(action="approved").user == reviewer

    # 3. The worker sends the customer's email, with the signed link.
    _wait_for(lambda: len(_messages(mail_dir)) == 1, seconds=30, what="the customer's email")
    (notice,) = _messages(mail_dir)
    assert notice["To"] == "dana@northwindtraders.onmicrosoft.com"
    assert notice["Subject"] == "Contoso Partners asks to be your partner of record"
    text = _text(notice)
    for expected in ["Contoso Partners (MPN ID 1000001)", "Microsoft Teams", "Yammer", "23:59:59"]:
        assert expected in text
    assert notice.get_body(preferencelist=("html",)) is not None
    link = re.search(re.escape(settings.SITE_URL) + r"(/customer/opt-out/[^/\s]+/)", text).group(1)
    # The worker writes the message, then marks the row sent and starts the opt-out window in one transaction
    # (claims.services.notices): wait for it rather than read between the two.
    _wait_for(
        lambda: EmailNotification.objects.get(claim=claim).state == "sent", seconds=30, what="the notice marked sent"
    )
    claim.refresh_from_db()
    assert claim.customer_notified_at is not None and claim.opt_out_deadline is not None

    # 4. The customer opens the link (no login) and does not opt out.
    page = Client().get(link)
    assert page.status_code == 200
    assert "Opt out" in page.content.decode()

    # 5. Time travel past the deadline: the beat job's service makes the claim official.
    assert claims_finalize_due(now=claim.opt_out_deadline + datetime.timedelta(seconds=1)) == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OFFICIAL
    associations = Association.objects.filter(claim_item__claim=claim).order_by("product__sort_order")
    assert [(a.product.code, a.partner_id, a.status) for a in associations] == [
        ("microsoft-teams", partner_a.partner.pk, "active"),
        ("yammer", partner_a.partner.pk, "active"),
    ]
    _wait_for(lambda: len(_messages(mail_dir)) == 2, seconds=30, what="the partner's official email")
    official = [m for m in _messages(mail_dir) if m["To"] == "claims@partner-a.example"]
    assert official[0]["Subject"] == "Your claim “Northwind M365” is official"

    # 6. The partner sees the usage data.
    UsageRecord.objects.create(
        tenant=m365_tenant,
        product=products["yammer"],
        month=datetime.date(2026, 10, 1),
        active_users=321,
        paid_units=400,
    )
    partner_client = Client()
    partner_client.force_login(partner_a.admin)
    usage = partner_client.get(f"/incentives/customer-associations/{claim.pk}/usage/")
    assert usage.status_code == 200
    assert "321" in usage.content.decode()
