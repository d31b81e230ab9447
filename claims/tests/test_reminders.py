"""The reminder email one business day before an answer is due (SPEC §12): at 09:00 in the tenant's time zone on
the business day before the due day, once per information request however often the sweep runs."""

import datetime

import pytest
import time_machine

from associations.models import UserPreference
from associations.tests.fixtures import make_user
from claims.models import EmailNotification
from claims.services import claim_request_information, claim_respond, emails_send_due
from claims.services.reminders import answer_reminder_at, answer_reminders_send, business_day_before
from claims.tasks import answer_reminders_send_task
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
NEW_YORK = datetime.timezone(datetime.timedelta(hours=-5))
# Monday 30 November 2026, 09:00 in New York: the request. Due Monday 7 December, 23:59:59 EST (5 business days);
# reminded Friday 4 December from 09:00 EST (14:00 UTC).
REQUESTED = datetime.datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
REMIND = datetime.datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
SECOND = datetime.timedelta(seconds=1)


@pytest.fixture
def waiting(partner_a, m365_tenant, products, reviewer):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status="under_review")
    with time_machine.travel(REQUESTED, tick=False):
        claim_request_information(
            claim=claim, user=reviewer, reason="poe_insufficient", message="Please add the signed SOW."
        )
    claim.refresh_from_db()
    return claim


def _reminders(claim):
    return list(EmailNotification.objects.filter(claim=claim, kind="answer_reminder").order_by("pk"))


def _run(at, task=answer_reminders_send):
    with time_machine.travel(at, tick=False):
        return task()


def test_reminders_business_day_before_skips_weekends_and_holidays():
    assert business_day_before(datetime.date(2026, 12, 7), country="US") == datetime.date(2026, 12, 4)
    # Christmas Day (a Friday in 2026) is no business day: the day before Monday 28 December is Thursday the 24th.
    assert business_day_before(datetime.date(2026, 12, 28), country="US") == datetime.date(2026, 12, 24)
    assert business_day_before(datetime.date(2026, 12, 2), country="US") == datetime.date(2026, 12, 1)


def test_reminders_time_is_nine_in_the_tenant_time_zone(waiting, m365_tenant):
    assert waiting.response_deadline == datetime.datetime(2026, 12, 7, 23, 59, 59, tzinfo=NEW_YORK)
    at = answer_reminder_at(waiting.response_deadline, country="US", time_zone=m365_tenant.time_zone)
    assert at == REMIND


def test_reminders_queued_once_in_the_window_however_often_the_task_runs(waiting, mailoutbox):
    assert _run(REMIND - SECOND) == 0
    assert _reminders(waiting) == []

    assert _run(REMIND, answer_reminders_send_task) == 1
    assert _run(REMIND + datetime.timedelta(minutes=15), answer_reminders_send_task) == 0
    assert _run(REMIND + datetime.timedelta(days=3), answer_reminders_send_task) == 0
    (row,) = _reminders(waiting)
    request = waiting.events.get(action="information_requested")
    assert row.event_id == request.pk

    with time_machine.travel(REMIND, tick=False):
        assert emails_send_due(ids=[row.pk]) == 1
        assert emails_send_due(ids=[row.pk]) == 0
    (message,) = mailoutbox
    assert message.to == ["claims@partner-a.example"]
    assert message.subject == f"Reminder: your answer on “{waiting.name}” is due Monday 7 December"
    assert "Your answer is due by Monday 7 December 2026, 23:59:59 New York time." in message.body
    assert "Please add the signed SOW." in message.body
    assert f"/incentives/customer-associations/{waiting.pk}/" in message.body
    html, _mime = message.alternatives[0]
    assert "<strong>Monday 7 December 2026, 23:59:59 New York time</strong>" in html


def test_reminders_none_after_the_deadline_or_once_answered(waiting, partner_a, mailoutbox):
    assert _run(waiting.response_deadline + SECOND) == 0

    with time_machine.travel(REMIND - datetime.timedelta(days=1), tick=False):
        claim_respond(claim=waiting, user=partner_a.admin, comment="Here.", files=[])
    assert _run(REMIND) == 0 and _reminders(waiting) == []


def test_reminders_queued_then_answered_before_sending_sends_nothing(waiting, partner_a, mailoutbox):
    assert _run(REMIND) == 1
    with time_machine.travel(REMIND, tick=False):
        claim_respond(claim=waiting, user=partner_a.admin, comment="Here.", files=[])
        emails_send_due()

    (row,) = _reminders(waiting)
    row.refresh_from_db()
    assert row.state == "sent"
    assert [message.subject for message in mailoutbox if message.subject.startswith("Reminder")] == []


def test_reminders_a_second_request_gets_its_own_reminder(waiting, partner_a, reviewer):
    assert _run(REMIND) == 1
    with time_machine.travel(REMIND + datetime.timedelta(hours=1), tick=False):
        claim_respond(claim=waiting, user=partner_a.admin, comment="Here.", files=[])
        claim_request_information(claim=waiting, user=reviewer, reason="other", message="One more thing.")
    waiting.refresh_from_db()
    # Friday 4 December: due Friday 11 December, reminded Thursday 10 December at 09:00 EST.
    assert waiting.response_deadline == datetime.datetime(2026, 12, 11, 23, 59, 59, tzinfo=NEW_YORK)
    second_remind = datetime.datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
    assert _run(second_remind - SECOND) == 0
    assert _run(second_remind) == 1
    assert _run(second_remind) == 0

    first, second = _reminders(waiting)
    requests = list(waiting.events.filter(action="information_requested").order_by("pk"))
    assert [first.event_id, second.event_id] == [request.pk for request in requests]


def test_reminders_in_the_contacts_saved_language(waiting, mailoutbox):
    contact = make_user(waiting.partner_contact_email)
    UserPreference.objects.create(user=contact, language="zh-hant")

    _run(REMIND)
    with time_machine.travel(REMIND, tick=False):
        emails_send_due(ids=[row.pk for row in _reminders(waiting)])

    (message,) = mailoutbox
    assert "提醒" in message.subject
    assert "紐約時間 2026年12月7日" in message.body  # the zone named by its city, in zh-Hant (SPEC §15)
