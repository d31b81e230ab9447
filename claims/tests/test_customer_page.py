"""The customer's voice (SPEC §7, issue 17): approve now, opt out per product, decline later, on the signed link's
page; every choice a POST, idempotent, recorded per item with the customer as actor."""

import datetime
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from associations.models import Association
from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, EmailNotification
from claims.services import claims_finalize_due
from claims.tasks import email_notifications_send_task, emails_send_due_task
from claims.tests.factories import claim_make, usage_records_make
from claims.tokens import opt_out_token_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
DEADLINE = datetime.datetime(2026, 12, 3, 4, 59, 59, tzinfo=UTC)
BEFORE = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
Action = ClaimEvent.Action


@pytest.fixture(autouse=True)
def _before_deadline():
    with time_machine.travel(BEFORE, tick=False):
        yield


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    """Awaiting the customer: Microsoft Teams (place 1) and Yammer (place 2)."""
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE,
    )


def _url(claim):
    return reverse(
        "customer_opt_out", args=[opt_out_token_make(submission_key=claim.submission_key, deadline=DEADLINE)]
    )


def _same(first, second):
    """The same page but for the CSRF tokens, masked anew in every response."""
    strip = lambda content: re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)  # noqa: E731
    return strip(first.content) == strip(second.content)


def _history(claim):
    return list(claim.events.order_by("pk").values_list("actor", "action", "old_value"))


def _partner_emails(claim):
    return list(
        EmailNotification.objects.filter(claim=claim).exclude(kind="customer_notified").values_list("kind", flat=True)
    )


def _outcomes(claim):
    return dict(ClaimItem.objects.filter(claim=claim).values_list("product__code", "outcome"))


def test_customer_page_explains_the_request_in_plain_words(client, claim):
    page = client.get(_url(claim)).content.decode()

    for text in [
        "Contoso Partners asks to be your partner of record",
        "What is a partner of record?",
        "no access to your data, your users or your settings",
        "What Contoso Partners will see",
        "the number of active users and paid licenses of these products in Northwind Traders",
        "If you do nothing",
        "Wednesday 2 December 2026, 23:59:59 New York time",
        "Microsoft Teams",
        "Yammer",
        "Microsoft 365 workload",
        "Questions about this request? Contact Contoso Partners",
        "Pat Partner",  # the partner's contact, quoted in the details block
    ]:
        assert text in page, text
    assert 'value="approve"' in page and 'value="opt_out"' in page
    assert not ClaimEvent.objects.exists()


def test_customer_approve_now_makes_it_official_at_once_per_item(client, claim):
    response = client.post(_url(claim), {"action": "approve"})

    assert response.status_code == 200
    assert "You approved the request" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OFFICIAL
    assert set(Association.objects.filter(status="active").values_list("product__code", flat=True)) == {
        "microsoft-teams",
        "yammer",
    }
    assert _history(claim) == [
        ("customer", Action.CUSTOMER_APPROVED, ""),
        ("customer", Action.ITEM_APPROVED, "Microsoft Teams"),
        ("customer", Action.ITEM_APPROVED, "Yammer"),
    ]
    move = claim.events.get(action=Action.CUSTOMER_APPROVED)
    assert (move.old_status, move.new_status, move.user) == ("customer_notified", "official", None)
    assert _partner_emails(claim) == ["official"]


def test_customer_opt_out_asks_first_and_writes_nothing_until_confirmed(client, claim):
    response = client.post(_url(claim), {"action": "opt_out", "item": ["2"]})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Opt out of these products?" in page
    assert "This is final" in page
    assert "The other products go on" in page and "Microsoft Teams" in page
    assert 'name="confirm" value="1"' in page
    assert not ClaimEvent.objects.exists()
    assert _outcomes(claim) == {"microsoft-teams": "", "yammer": ""}


def test_customer_opt_out_per_item_ends_only_the_chosen_items_and_the_claim_goes_on(client, claim):
    response = client.post(_url(claim), {"action": "opt_out", "item": ["2"], "confirm": "1"})

    assert response.status_code == 200
    assert "You opted out of Yammer. Contoso Partners has been told." in response.content.decode()
    assert _outcomes(claim) == {"microsoft-teams": "", "yammer": "opted_out"}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED
    assert _history(claim) == [("customer", Action.ITEM_OPTED_OUT, "Yammer")]
    assert _partner_emails(claim) == ["items_opted_out"]

    # The partner is told which: one email, however often the outbox's tasks run.
    row = EmailNotification.objects.get(claim=claim, kind="items_opted_out")
    email_notifications_send_task(notification_ids=[row.pk])
    email_notifications_send_task(notification_ids=[row.pk])
    emails_send_due_task()
    assert len(mail.outbox) == 1
    assert "Yammer" in mail.outbox[0].body and "The claim goes on with:\n  - Microsoft Teams" in mail.outbox[0].body

    # The rest goes on: the deadline makes Teams official, and only Teams.
    assert claims_finalize_due(now=DEADLINE + datetime.timedelta(seconds=1)) == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OFFICIAL
    assert list(Association.objects.values_list("product__code", flat=True)) == ["microsoft-teams"]


def test_customer_opt_out_of_every_item_ends_the_request(client, claim):
    response = client.post(_url(claim), {"action": "opt_out", "item": ["1", "2"], "confirm": "1"})

    assert "You opted out" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT
    assert _outcomes(claim) == {"microsoft-teams": "opted_out", "yammer": "opted_out"}
    assert [action for _, action, _ in _history(claim)] == [Action.ITEM_OPTED_OUT, Action.ITEM_OPTED_OUT, "opted_out"]
    assert _partner_emails(claim) == ["opted_out"]


@pytest.mark.parametrize(
    "data",
    [
        {"action": "approve"},
        {"action": "opt_out", "item": ["2"], "confirm": "1"},
        {"action": "opt_out", "item": ["1", "2"], "confirm": "1"},
    ],
    ids=["approve", "opt-out-one", "opt-out-all"],
)
def test_customer_each_action_replayed_gives_the_same_page_and_no_second_event(client, claim, data):
    first = client.post(_url(claim), data)
    events, emails = claim.events.count(), _partner_emails(claim)

    second = client.post(_url(claim), data)

    assert second.status_code == first.status_code == 200
    assert _same(first, second)
    assert claim.events.count() == events
    assert _partner_emails(claim) == emails


@pytest.fixture
def official(client, claim, m365_tenant, products):
    """The claim approved by its customer: Teams and Yammer official, with usage data of both."""
    client.post(_url(claim), {"action": "approve"})
    emails_send_due_task()  # the official email
    mail.outbox.clear()
    usage_records_make(m365_tenant, products["microsoft-teams"])
    usage_records_make(m365_tenant, products["yammer"])
    claim.refresh_from_db()
    return claim


def test_customer_decline_later_is_offered_on_the_same_link(client, official):
    page = client.get(_url(official)).content.decode()

    assert "Contoso Partners is your partner of record" in page
    assert 'value="decline"' in page
    assert 'value="approve"' not in page


def test_customer_decline_later_ends_exactly_the_chosen_associations(client, official, partner_a):
    teams, yammer = (official.items.get(product__code=code) for code in ("microsoft-teams", "yammer"))
    confirm = client.post(_url(official), {"action": "decline", "item": ["2"]})
    assert "End the association for these products?" in confirm.content.decode()
    assert 'name="reason"' in confirm.content.decode()
    events = official.events.count()

    response = client.post(
        _url(official), {"action": "decline", "item": ["2"], "confirm": "1", "reason": "In-house now."}
    )

    assert response.status_code == 200
    assert "You ended the association for Yammer." in response.content.decode()
    teams.refresh_from_db()
    yammer.refresh_from_db()
    assert (teams.association.status, yammer.association.status) == ("active", "ended")
    assert (yammer.association.end_reason, yammer.association.end_message) == ("customer_declined", "In-house now.")
    assert (yammer.outcome, yammer.outcome_reason) == ("declined", "In-house now.")
    new = list(official.events.order_by("pk")[events:])
    assert [(e.actor, e.action, e.old_value, e.message) for e in new] == [
        ("customer", Action.ITEM_DECLINED, "Yammer", "In-house now.")
    ]
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL

    # The partner is emailed once, however often the tasks run.
    row = EmailNotification.objects.get(claim=official, kind="items_declined")
    for _ in range(2):
        email_notifications_send_task(notification_ids=[row.pk])
        emails_send_due_task()
    assert [m.to for m in mail.outbox] == [[official.partner_contact_email]]
    assert "Yammer" in mail.outbox[0].body and "In-house now." in mail.outbox[0].body

    # Usage data stops being shown from then on: Yammer's is gone from the partner's page, Teams' stays.
    client.force_login(partner_a.admin)
    usage = client.get(reverse("claims:usage", args=[official.pk])).content.decode()
    assert "Microsoft Teams" in usage and "Yammer" not in usage


def test_customer_decline_of_the_last_association_ends_the_claim(client, official, partner_a):
    response = client.post(_url(official), {"action": "decline", "item": ["1", "2"], "confirm": "1"})

    assert "This association has ended" in response.content.decode()
    official.refresh_from_db()
    assert official.status == ClaimStatus.ENDED
    assert not Association.objects.filter(status="active").exists()
    move = official.events.get(new_status="ended")
    assert (move.actor, move.action) == ("customer", Action.CUSTOMER_DECLINED)
    assert _partner_emails(official) == ["official", "ended"]
    emails_send_due_task()
    ended = [m for m in mail.outbox if "has ended" in m.subject]
    assert len(ended) == 1 and "the customer ended the association" in ended[0].body

    # The link now says so, and a replay changes nothing.
    events = official.events.count()
    again = client.post(_url(official), {"action": "decline", "item": ["1", "2"], "confirm": "1"})
    assert _same(response, again)
    assert official.events.count() == events

    client.force_login(partner_a.admin)
    assert client.get(reverse("claims:usage", args=[official.pk])).status_code == 410


@pytest.mark.parametrize("items", [["2"], ["1", "2"]], ids=["one", "all"])
def test_customer_decline_replayed_gives_the_same_page_and_no_second_event(client, official, items):
    data = {"action": "decline", "item": items, "confirm": "1", "reason": "Done."}
    first = client.post(_url(official), data)
    events, emails = official.events.count(), _partner_emails(official)

    second = client.post(_url(official), data)

    assert _same(first, second)
    assert (official.events.count(), _partner_emails(official)) == (events, emails)


def test_customer_choice_without_products_says_so_on_the_page(client, claim):
    response = client.post(_url(claim), {"action": "opt_out", "confirm": "1"})

    assert response.status_code == 400
    assert "Choose at least one product." in response.content.decode()
    assert not ClaimEvent.objects.exists()


@pytest.mark.parametrize(
    "data",
    [{}, {"action": "nonsense"}, {"action": "opt_out", "item": ["9"]}, {"action": "decline", "item": ["x"]}],
    ids=["nothing", "unknown-action", "unknown-item", "bad-item"],
)
def test_customer_bad_posts_get_a_clear_page_and_change_nothing(client, claim, data):
    response = client.post(_url(claim), data)

    assert response.status_code == 400
    assert 'class="form-error"' in response.content.decode()
    assert not ClaimEvent.objects.exists()


def test_customer_after_the_deadline_nothing_is_offered_and_nothing_acts(client, claim):
    with time_machine.travel(DEADLINE + datetime.timedelta(seconds=1), tick=False):
        page = client.get(_url(claim))
        post = client.post(_url(claim), {"action": "approve"})

    assert page.status_code == 200
    assert "The time to answer has passed" in page.content.decode()
    assert 'value="approve"' not in page.content.decode()
    assert post.status_code == 409
    assert not ClaimEvent.objects.exists()


def test_customer_decline_not_offered_before_official(client, claim):
    response = client.post(_url(claim), {"action": "decline", "item": ["1"], "confirm": "1"})

    assert response.status_code == 409
    assert "There is no active association left to end." in response.content.decode()
    assert not ClaimEvent.objects.exists()


def test_customer_link_of_a_partner_ended_claim_shows_the_ended_page(client, official, partner_a):
    from claims.services import claim_disassociate

    claim_disassociate(claim=official, user=partner_a.admin, reason="Contract over")

    page = client.get(_url(official))
    post = client.post(_url(official), {"action": "decline", "item": ["1"], "confirm": "1"})

    assert "This association has ended" in page.content.decode()
    assert post.status_code == 409
    assert not ClaimItem.objects.filter(claim=official).exclude(outcome="").exists()


def test_customer_page_in_the_tenants_language(client, claim, m365_tenant):
    m365_tenant.country = "TW"
    m365_tenant.save(update_fields=["country"])

    page = client.get(_url(Claim.objects.get(pk=claim.pk))).content.decode()

    assert "台北時間" in page
    assert "什麼是記錄合作夥伴" in page
