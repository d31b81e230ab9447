"""The list sorted by what each claim waits for, by when (SPEC §4, §12): Claim.due_at, stored by the services, is the
moment the page shows; the sort is one index range; the current sort is shown (aria-sort and an arrow)."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from claims import selectors
from claims.due import claim_due
from claims.models import Claim, ClaimStatus
from claims.services import claim_approve, claim_reject, claim_request_information, claims_finalize_due
from claims.services.drafts import claim_draft_update
from claims.services.due import claims_due_lapse
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
URL = reverse("claims:list")
UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def dues(partner_a, m365_tenant, products):
    """One claim per kind of due, made a week apart so that their order is plain, and one with nothing due."""

    def make(name, status, **dates):
        yammer = [products["yammer"]]
        return claim_make(partner_a, tenant=m365_tenant, products=yammer, status=status, name=name, **dates)

    with time_machine.travel(NOW, tick=False):
        return {
            "answer": make("Answer", ClaimStatus.ACTION_REQUIRED, response_deadline=NOW + datetime.timedelta(days=2)),
            "customer": make(
                "Customer",
                ClaimStatus.CUSTOMER_NOTIFIED,
                customer_notified_at=NOW,
                opt_out_deadline=NOW + datetime.timedelta(days=9),
            ),
            # Under review since today: due 5 business days later (Tuesday 8 December, New York).
            "review": make("Review", ClaimStatus.UNDER_REVIEW, status_changed_at=NOW),
            "draft": make("Draft", ClaimStatus.DRAFT, draft_saved_at=NOW - datetime.timedelta(days=10), documents=()),
            "official": make("Official", ClaimStatus.OFFICIAL),
        }


def _names(response):
    return [claim.name for claim, _cells in response.context["rows"]]


def test_list_sort_by_due_soonest_first_and_nothing_due_last(client_a, dues):
    with time_machine.travel(NOW, tick=False):
        client_a.force_login(dues["answer"].created_by)
        ascending = _names(client_a.get(URL, {"sort": "due"}))
        descending = _names(client_a.get(URL, {"sort": "-due"}))
    # Answer 3 Dec, review 8 Dec, customer 10 Dec, draft 21 Dec (30 days after its save), official: nothing.
    assert ascending == ["Answer", "Review", "Customer", "Draft", "Official"]
    assert descending == ascending[::-1]


def test_list_due_stored_is_the_moment_the_page_shows_through_a_claims_life(dues, reviewer, mailoutbox):
    def check(claim):
        claim.refresh_from_db()
        due = claim_due(claim, now=timezone.now())
        assert claim.due_at == (due.at if due else None), claim.status

    with time_machine.travel(NOW, tick=False):
        for claim in dues.values():
            check(claim)
        review = dues["review"]
        claim_request_information(claim=review, user=reviewer, reason="poe_insufficient", message="More, please.")
        check(review)
        claim_reject(claim=dues["answer"], user=reviewer, reason="poe_insufficient")
        check(dues["answer"])  # rejected: the dispute window's end is due
        draft = dues["draft"]
        claim_draft_update(partner=draft.partner, submission_key=draft.submission_key, draft_data={"step": "x"})
        check(draft)
        assert draft.due_at == NOW + datetime.timedelta(days=30)
    customer = dues["customer"]
    with time_machine.travel(customer.opt_out_deadline + datetime.timedelta(minutes=1), tick=False):
        claims_finalize_due()
        check(customer)
        assert customer.status == ClaimStatus.OFFICIAL and customer.due_at is None


def test_list_due_of_an_approved_claim_starts_with_its_delivered_notice(partner_a, m365_tenant, products, reviewer):
    from claims.models import EmailNotification
    from claims.services import email_notification_send

    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    with time_machine.travel(NOW, tick=False):
        claim_approve(claim=claim, user=reviewer)
        claim.refresh_from_db()
        assert claim.due_at is None  # awaiting the customer, but no window before the notice is delivered
        notice = EmailNotification.objects.get(claim=claim, kind="customer_notified")
        assert email_notification_send(notification_id=notice.pk) is True
    claim.refresh_from_db()
    assert claim.opt_out_deadline is not None and claim.due_at == claim.opt_out_deadline


def test_list_due_of_a_rejection_lapses_with_its_dispute_window(partner_a, m365_tenant, products):
    with time_machine.travel(NOW, tick=False):
        old = claim_make(
            partner_a,
            tenant=m365_tenant,
            products=[products["yammer"]],
            status=ClaimStatus.REJECTED,
            status_changed_at=NOW - datetime.timedelta(days=40),
        )
        fresh = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.REJECTED)
        assert old.__class__.objects.get(pk=old.pk).due_at < NOW  # stored until the sweep
        assert claims_due_lapse() == 1
        assert claims_due_lapse() == 0  # a second run changes nothing
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.due_at is None
    assert fresh.due_at == claim_due(fresh, now=NOW).at


def test_list_due_sort_is_an_index_range(partner_a, dues):
    query = selectors.claim_list(partner=partner_a.partner, sort="due")[:25]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "claim_partner_due" in plan, plan


@pytest.mark.parametrize(
    ("sort", "column", "state", "arrow"),
    [
        ("due", "Due", "ascending", "▲"),
        ("-due", "Due", "descending", "▼"),
        ("name", "Claim name", "ascending", "▲"),
        (None, "Submitted", "descending", "▼"),  # the default sort: newest submitted first
    ],
)
def test_list_current_sort_is_shown(client_a, dues, sort, column, state, arrow):
    html = client_a.get(URL, {"sort": sort} if sort else {}).content.decode()
    headers = re.findall(r'<th scope="col"( aria-sort="(\w+)" class="sorted")?>(.*?)</th>', html)
    sorted_headers = [(aria, re.sub(r"<[^>]+>", "", text)) for _, aria, text in headers if aria]
    assert sorted_headers == [(state, f"{column} {arrow}")]
    # The arrow is for the eye; aria-sort tells screen readers.
    assert f'<span class="sort-indicator" aria-hidden="true"> {arrow}</span>' in html
    # The phone's sort control shows it too.
    assert re.search(rf'<option value="{sort or "-submitted"}" selected>', html)


def test_list_due_sort_in_traditional_chinese(client_a, dues):
    html = client_a.get(URL, {"sort": "due"}, headers={"accept-language": "zh-TW"}).content.decode()
    assert re.search(r'<th scope="col" aria-sort="ascending" class="sorted"><a href="[^"]+">到期日', html)
    assert "到期日，遞增" in html  # noqa: RUF001 (zh-Hant punctuation)


def test_list_due_stored_for_every_claim_of_a_batch(partner_a, m365_tenant, products):
    """claims_transition moves batches (validation, the answer deadline sweep): each claim gets its own due."""
    made = [
        claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.SUBMITTED)
        for _ in range(3)
    ]
    Claim.objects.filter(pk__in=[c.pk for c in made]).update(due_at=None)
    from claims.models import ClaimEvent
    from claims.services import claims_transition

    claims_transition(
        claim_ids=[c.pk for c in made],
        old_status=ClaimStatus.SUBMITTED,
        to=ClaimStatus.UNDER_REVIEW,
        actor=ClaimEvent.Actor.SYSTEM,
        action=ClaimEvent.Action.VALIDATED,
    )
    for claim in made:
        claim.refresh_from_db()
        assert claim.due_at == claim_due(claim, now=timezone.now()).at
