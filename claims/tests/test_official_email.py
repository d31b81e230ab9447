"""The partner hears when a claim becomes official (SPEC §5: the partner contact on ``official``), once.

Real processes: a Celery worker consuming Redis and an SMTP server on loopback. The finalization beat job runs twice
(two beats, or a beat and a retry); the claim becomes official once and its partner contact gets one email, in the
language the contact saved, with the claim's and the usage data's links.
"""

import datetime

import pytest
from django.utils import timezone

from associations.models import UserPreference
from associations.tests.fixtures import make_user
from claims.models import ClaimEvent, ClaimStatus, EmailNotification
from claims.tests.factories import claim_make
from claims.tests.test_fault_smtp import _worker_idle
from cpor.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp_worker(smtp_server, monkeypatch, request):
    """The worker, sending through the test's SMTP server (it reads TEST_EMAIL_URL, see cpor/test_settings.py)."""
    smtp_server.reset()
    monkeypatch.setenv("TEST_EMAIL_URL", smtp_server.url)
    yield request.getfixturevalue("celery_worker")
    smtp_server.reset()


def test_official_email_sent_once_to_the_partner_contact_when_the_task_runs_twice(
    smtp_worker, smtp_server, partner_a, m365_tenant, products
):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=timezone.now() - datetime.timedelta(minutes=1),
    )
    contact = make_user(claim.partner_contact_email)
    UserPreference.objects.create(user=contact, language="zh-hant")

    for _ in range(2):
        app.send_task("claims.tasks.claims_finalize_due_task")  # what beat sends every 30 seconds
    _worker_idle()
    app.send_task("claims.tasks.emails_send_due_task")  # a sweep after the wake-up changes nothing
    _worker_idle()

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OFFICIAL
    assert claim.events.filter(action=ClaimEvent.Action.FINALIZED).count() == 1
    row = EmailNotification.objects.get(claim=claim, kind="official")
    assert (row.state, row.attempts) == ("sent", 1)
    official = [message for message in smtp_server.messages if message["Message-ID"] == row.message_id]
    assert len(official) == 1 and len(smtp_server.messages) == 1
    (message,) = official
    assert message["To"] == "claims@partner-a.example"
    assert message["Subject"] == f"您的宣告「{claim.name}」已生效"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Microsoft Teams" in text and "Yammer" in text
    assert f"/incentives/customer-associations/{claim.pk}/usage/" in text
