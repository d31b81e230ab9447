"""The outbox in admin: it opens on the emails that need a person (failed, stuck in sending) with their last
error, attempts and next attempt; **Send again** puts them back on the schedule, due now; **Mark as sent**."""

import datetime

import pytest
from django.utils import timezone

from associations.tests.fixtures import reviewer_login
from claims.models import ClaimStatus, EmailNotification
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/claims/emailnotification/"


@pytest.fixture
def outbox(partner_a, m365_tenant, products):
    """One row in each situation, on one claim."""
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.ENDED,
        name="Northwind Yammer",
        documents=(),
    )
    later = timezone.now() + datetime.timedelta(hours=3)
    make = EmailNotification.objects.create
    return {
        "failed": make(
            claim=claim, kind="rejected", state="failed", attempts=14, last_error="Gave up after 14 attempts: 451"
        ),
        "stuck": make(claim=claim, kind="official", state="sending", attempts=1),
        "retrying": make(claim=claim, kind="ended", attempts=3, next_attempt_at=later, last_error="(421, b'Busy')"),
        "new": make(claim=claim, kind="action_required"),
        "sent": make(claim=claim, kind="opted_out", state="sent", attempts=1, sent_at=timezone.now()),
    }


def _listed(response):
    return sorted(obj.pk for obj in response.context["cl"].result_list)


def test_email_admin_opens_on_failed_and_stuck_emails_with_their_error(client, reviewer, outbox):
    reviewer_login(client, reviewer)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert _listed(response) == sorted([outbox["failed"].pk, outbox["stuck"].pk])
    page = response.content.decode()
    assert "Gave up after 14 attempts: 451" in page
    assert "Needs attention (failed or stuck in sending)" in page


def test_email_admin_waiting_to_retry_shows_the_next_attempt(client, reviewer, outbox):
    reviewer_login(client, reviewer)

    response = client.get(CHANGELIST, {"delivery": "retrying"})

    assert _listed(response) == [outbox["retrying"].pk]
    assert "(421, b&#x27;Busy&#x27;)" in response.content.decode()
    assert _listed(client.get(CHANGELIST, {"delivery": "all"})) == sorted(row.pk for row in outbox.values())


def test_email_admin_send_again_puts_rows_back_on_the_schedule_due_now(
    client, reviewer, outbox, django_capture_on_commit_callbacks
):
    reviewer_login(client, reviewer)
    chosen = [outbox[name].pk for name in ("failed", "stuck", "retrying", "new", "sent")]
    before = timezone.now()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            f"{CHANGELIST}?delivery=all", {"action": "requeue_selected", "_selected_action": chosen}, follow=True
        )

    assert "3 email(s) queued again." in response.content.decode()
    rows = {name: EmailNotification.objects.get(pk=row.pk) for name, row in outbox.items()}
    # Failed and stuck start a fresh schedule; the one waiting is due now with its attempts; new and sent stay.
    assert [(rows[n].state, rows[n].attempts) for n in ("failed", "stuck", "retrying", "new", "sent")] == [
        ("pending", 0),
        ("pending", 0),
        ("pending", 3),
        ("pending", 0),
        ("sent", 1),
    ]
    for name in ("failed", "stuck", "retrying"):
        assert before <= rows[name].next_attempt_at <= timezone.now()
    assert rows["failed"].last_error == "Gave up after 14 attempts: 451"  # kept until it is sent
    assert len(callbacks) == 1  # one wake-up for the rows; no countdown, no chain of its own


def test_email_admin_send_again_then_the_sweep_sends_it_once(client, reviewer, outbox, mailoutbox):
    from claims.services import emails_send_due

    reviewer_login(client, reviewer)
    client.post(CHANGELIST, {"action": "requeue_selected", "_selected_action": [outbox["failed"].pk]})

    assert emails_send_due() == 2  # the failed one, and the new one that was due anyway
    assert emails_send_due() == 0
    failed = EmailNotification.objects.get(pk=outbox["failed"].pk)
    assert (failed.state, failed.attempts, failed.last_error) == ("sent", 1, "")
    assert sorted(m.subject for m in mailoutbox) == [
        "Action required on your claim “Northwind Yammer”",
        "Your claim “Northwind Yammer” was rejected",
    ]


def test_email_admin_mark_sent_only_for_stuck_rows(client, reviewer, outbox):
    reviewer_login(client, reviewer)

    response = client.post(
        CHANGELIST,
        {"action": "mark_sent_selected", "_selected_action": [outbox["stuck"].pk, outbox["failed"].pk]},
        follow=True,
    )

    assert "1 email(s) marked as sent." in response.content.decode()
    stuck = EmailNotification.objects.get(pk=outbox["stuck"].pk)
    assert (stuck.state, stuck.sent_at is not None) == ("sent", True)
    assert EmailNotification.objects.get(pk=outbox["failed"].pk).state == "failed"


def test_email_admin_change_page_is_read_only(client, reviewer, outbox):
    reviewer_login(client, reviewer)

    page = client.get(f"{CHANGELIST}{outbox['retrying'].pk}/change/").content.decode()

    for field in ("state", "attempts", "next_attempt_at", "message_id", "last_error"):
        assert f'name="{field}"' not in page
    response = client.post(f"{CHANGELIST}{outbox['retrying'].pk}/change/", {"state": "sent"})
    assert EmailNotification.objects.get(pk=outbox["retrying"].pk).state == "pending"
    assert response.status_code in (200, 302)
