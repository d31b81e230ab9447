"""The reviewer's desk (SPEC §8): the queue by review due date with its numbers, and the compact review page."""

import datetime
import re
import zoneinfo
from html import unescape

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from associations.tests.fixtures import reviewer_login
from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus
from claims.tests.factories import claim_make
from claims.tests.test_demo_claims import NOW, demo_claims, demo_seed

pytestmark = pytest.mark.django_db
QUEUE = "/admin/claims/claim/"
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _at(day, hour=10):
    return datetime.datetime(2026, 12, day, hour, tzinfo=NEW_YORK)


def _under_review(partner, tenant, product, since, name):
    claim = claim_make(
        partner,
        tenant=tenant,
        products=[product],
        status=ClaimStatus.UNDER_REVIEW,
        name=name,
        documents=(),
        status_changed_at=since,
        submitted_at=since,
    )
    claim.refresh_from_db()
    return claim


def test_review_desk_queue_orders_by_review_due_and_counts_across_a_weekend_and_a_holiday(
    client, reviewer, partner_a, partner_b, m365_tenant, products
):
    # A US customer: Friday 25 December 2026 is Christmas Day, then a weekend.
    friday = _under_review(partner_a, m365_tenant, products["yammer"], _at(18), "Friday's")
    thursday = _under_review(partner_b, m365_tenant, products["exchange-online"], _at(17), "Thursday's")
    monday = _under_review(partner_a, m365_tenant, products["microsoft-teams"], _at(21), "Monday's")
    claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["sharepoint-online"]],
        status=ClaimStatus.OFFICIAL,
        name="Official",
    )
    # Five business days: Friday's skips the weekend and Christmas (Monday 28th, not Friday 25th).
    assert friday.due_at.astimezone(NEW_YORK).date() == datetime.date(2026, 12, 28)
    assert thursday.due_at.astimezone(NEW_YORK).date() == datetime.date(2026, 12, 24)
    assert monday.due_at.astimezone(NEW_YORK).date() == datetime.date(2026, 12, 29)
    with time_machine.travel(_at(28, 15), tick=False):
        reviewer_client = reviewer_login(client, reviewer)  # the reviewer's session lasts 12 hours
        reviewer_client.cookies[settings.TIME_ZONE_COOKIE_NAME] = "America/New_York"  # the reviewer's zone
        response = reviewer_client.get("/admin/", follow=True)

    assert response.redirect_chain[-1][0] == QUEUE  # the admin opens on the queue
    assert [c.name for c in response.context["cl"].result_list] == ["Thursday's", "Friday's", "Monday's"]
    numbers = response.context["review_numbers"]
    assert (numbers.waiting, numbers.due_today, numbers.overdue) == (3, 1, 1)
    page = response.content.decode()
    assert re.search(r'id="numbers-overdue"[^>]*>1<', page)
    assert page.count('class="due-overdue">') == 2  # the row and the number
    assert page.count('class="due-today">') == 1
    # In the reviewer's zone, the date and the time each kept whole in the narrow column.
    assert '<span class="nowrap">2026-12-24</span> <span class="nowrap">23:59</span>' in page

    # The next day (Tuesday 29th) Friday's is overdue too, Monday's due today; "Overdue" lists both late ones.
    with time_machine.travel(_at(29, 9), tick=False):
        reviewer_login(client, reviewer)
        response = reviewer_client.get(QUEUE, {"queue": "overdue"})
    numbers = response.context["review_numbers"]
    assert (numbers.waiting, numbers.due_today, numbers.overdue) == (3, 1, 2)
    assert [c.name for c in response.context["cl"].result_list] == ["Thursday's", "Friday's"]


def test_review_desk_numbers_decided_this_week_and_median(reviewer, partner_a, m365_tenant, products):
    from claims.selectors.review import review_numbers
    from claims.services import claim_approve, claim_request_information

    with time_machine.travel(_at(21, 9), tick=False):  # Monday
        one, two = (
            claim_make(partner_a, tenant=m365_tenant, products=[products[code]], status=ClaimStatus.UNDER_REVIEW)
            for code in ("yammer", "exchange-online")
        )
        for claim in (one, two):
            ClaimEvent.objects.create(claim=claim, actor="partner", action="submitted", new_status="submitted")
    with time_machine.travel(_at(22, 9), tick=False):  # a day later
        claim_approve(claim=one, user=reviewer)
    with time_machine.travel(_at(24, 9), tick=False):  # three days later
        claim_request_information(claim=two, user=reviewer, reason="poe_insufficient", message="More, please.")
    with time_machine.travel(_at(24, 12), tick=False):
        numbers = review_numbers(now=_at(24, 12), zone=NEW_YORK)
        next_week = review_numbers(now=_at(29, 12), zone=NEW_YORK)

    assert numbers.decided_this_week == 2
    assert numbers.median_days == 2.0
    assert next_week.decided_this_week == 0


@pytest.fixture
def disputed(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.DISPUTED, name="Disputed one"
    )
    ClaimEvent.objects.create(
        claim=claim,
        actor="partner",
        user=partner_a.admin,
        action="disputed",
        old_status="rejected",
        new_status="disputed",
        message="<script>alert('x')</script>\nSecond line",
    )
    return claim


def test_review_desk_review_page_shows_the_justification_as_text(reviewer_client, disputed):
    response = reviewer_client.get(reverse("admin:claims_claim_change", args=[disputed.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br>Second line" in page


def test_review_desk_review_page_links_competing_claims_and_names_poe_sources(
    reviewer_client, reviewer, partner_a, partner_b, m365_tenant, products, django_assert_max_num_queries
):
    mine = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"], products["microsoft-teams"]],
        status=ClaimStatus.UNDER_REVIEW,
        competing=True,
        name="Contoso Yammer",
    )
    rival = claim_make(
        partner_b,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        name="Fabrikam Yammer",
    )
    ClaimEvent.objects.create(
        claim=mine,
        actor="reviewer",
        user=reviewer,
        action="information_requested",
        old_status="under_review",
        new_status="action_required",
        reason="poe_insufficient",
    )
    ClaimEvent.objects.create(
        claim=mine,
        actor="partner",
        user=partner_a.admin,
        action="changed",
        field="partner_contact_name",
        old_value="Pat",
        new_value="Alex",
    )

    reviewer_client.get(reverse("admin:claims_claim_change", args=[rival.pk]))  # the session's first request
    with django_assert_max_num_queries(12):  # SPEC §11's bar (12 a page), whatever the claim's items, POE and history
        response = reviewer_client.get(reverse("admin:claims_claim_change", args=[mine.pk]))

    page = unescape(response.content.decode())
    assert reverse("admin:claims_claim_change", args=[rival.pk]) in page
    assert "In another partner's open claim" in page
    assert "with the submission" in page
    assert "Changed Partner contact name: Pat → Alex" in page
    assert "Your company" not in page
    assert f"Reviewer ({reviewer.email})" in page or "Reviewer (" in page
    assert "The proof of execution does not show the activity" in page


@pytest.fixture
def seeded(db, tmp_path):
    """The demo's claims by name, seeded for this test alone (the module's other tests make their own data)."""
    demo_seed(tmp_path)
    return demo_claims()


def test_review_desk_demo_has_two_partners_competing_for_one_workload(seeded, client):
    from django.contrib.auth import get_user_model

    holder = seeded["Demo · competing, awaiting customer"]
    rival = seeded["Demo · competing, under review (Fabrikam)"]
    assert (holder.status, rival.status) == (ClaimStatus.CUSTOMER_NOTIFIED, ClaimStatus.UNDER_REVIEW)
    assert holder.partner != rival.partner and rival.competing
    # The holder's one workload, which the rival claims too, and one more that nobody holds: the rival's Approve page
    # decides product by product, only the first needing the reviewer's reason.
    held = {(i.tenant_id, i.product_id) for i in holder.items.all()}
    contested = {(i.tenant_id, i.product_id) for i in rival.items.filter(competing=True)}
    free = [(i.tenant_id, i.product_id) for i in rival.items.filter(competing=False)]
    assert contested == held and len(free) == 1 and free[0] not in held
    assert not ClaimItem.objects.filter(tenant_id=free[0][0], product_id=free[0][1]).exclude(claim=rival).exists()
    reviewer = get_user_model().objects.get(email="reviewer@cpor.example")

    with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
        reviewer_login(client, reviewer)
        queue = client.get(QUEUE).content.decode()
        page = client.get(reverse("admin:claims_claim_change", args=[rival.pk])).content.decode()

    assert reverse("admin:claims_claim_change", args=[rival.pk]) in queue
    assert reverse("admin:claims_claim_change", args=[holder.pk]) in page  # the competing claim, linked


def test_review_desk_queue_costs_the_same_queries_for_3_and_12_claims(
    reviewer_client, partner_a, m365_tenant, products
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    workloads = [p for p in products.values() if p.solution_area == "microsoft_365"]

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert reviewer_client.get(QUEUE).status_code == 200
        return len(captured)

    for product in workloads[:3]:
        claim_make(partner_a, tenant=m365_tenant, products=[product], status=ClaimStatus.UNDER_REVIEW)
    queries()  # the session's first request writes it
    few = queries()
    for n, product in enumerate(workloads[3:]):
        claim_make(partner_a, tenant=m365_tenant, products=[product, workloads[n]], status=ClaimStatus.SUBMITTED)

    assert queries() == few


def test_review_desk_decision_pages_have_the_admins_breadcrumbs_and_cancel(
    reviewer_client, partner_a, m365_tenant, products
):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    review = reverse("admin:claims_claim_change", args=[claim.pk])

    for name in ("approve", "request_information", "reject"):
        page = reviewer_client.get(reverse(f"admin:claims_claim_{name}", args=[claim.pk])).content.decode()
        assert '<ol class="breadcrumbs">' in page, name
        assert f'<li><a href="{review}">{claim.name}</a></li>' in page, name
        assert f'<a class="button cancel-link" href="{review}">Cancel</a>' in page, name


def test_review_desk_history_list_reads_in_words_not_codes(reviewer_client, reviewer, partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    ClaimEvent.objects.create(
        claim=claim,
        actor="reviewer",
        user=reviewer,
        action="information_requested",
        old_status="under_review",
        new_status="action_required",
        reason="poe_insufficient",
    )

    page = unescape(reviewer_client.get("/admin/claims/claimevent/").content.decode())

    assert "Information requested" in page and "The proof of execution does not show the activity" in page
    assert f"Reviewer ({reviewer.email})" in page
    assert ">information_requested<" not in page and ">poe_insufficient<" not in page


def test_review_desk_pages_with_times_name_the_reviewers_zone_once(
    reviewer_client, partner_a, partner_b, m365_tenant, products, settings
):
    """The queue, the review page and the side-by-side view show times in the reviewer's zone and say which, once
    (SPEC §15), in the zone's own words ("Taipei time"), with the way to change it."""
    holder = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.CUSTOMER_NOTIFIED
    )
    rival = claim_make(partner_b, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    reviewer_client.cookies[settings.TIME_ZONE_COOKIE_NAME] = "Asia/Taipei"
    for url in (
        reverse("admin:claims_claim_changelist"),
        reverse("admin:claims_claim_change", args=[rival.pk]),
        reverse("admin:claims_claim_compare", args=[rival.pk, holder.pk]),
    ):
        page = reviewer_client.get(url).content.decode()
        assert page.count('id="time-zone-note"') == 1, url
        assert "Times on this page are in Taipei time (your time zone)." in page, url
        assert f'href="{reverse("preferences")}"' in page, url


def test_review_desk_queue_marks_review_due_as_its_order(reviewer_client, partner_a, m365_tenant, products):
    """The list's headings mark the order it is in (review due first, then claim number), not the model's own."""
    claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    response = reviewer_client.get(QUEUE)
    columns = response.context["cl"].get_ordering_field_columns()
    names = response.context["cl"].list_display
    assert [(names[index], order) for index, order in columns.items()] == [
        ("review_due_display", "asc"),
        ("number_display", "asc"),
    ]
    assert re.search(
        r'<th scope="col" class="sortable column-review_due_display sorted ascending">', response.content.decode()
    )


def test_review_desk_queue_sorts_only_as_an_index_reads(reviewer_client, partner_a, partner_b, m365_tenant, products):
    """Number and review due are the sortable columns (an index serves them at any size); an address asking for
    another column (a name, the customer) keeps the queue's order, and its heading has no sort link."""
    yammer = [products["yammer"]]
    first = claim_make(partner_b, tenant=m365_tenant, products=yammer, status=ClaimStatus.UNDER_REVIEW, name="Zulu")
    second = claim_make(partner_a, tenant=m365_tenant, products=yammer, status=ClaimStatus.UNDER_REVIEW, name="Alpha")
    Claim.objects.filter(pk=first.pk).update(due_at=timezone.now() + datetime.timedelta(days=1))
    Claim.objects.filter(pk=second.pk).update(due_at=timezone.now() + datetime.timedelta(days=2))

    def listed(**params):
        response = reviewer_client.get(QUEUE, params)
        return [claim.pk for claim in response.context["cl"].result_list], response.content.decode()

    queue_order, page = listed()
    assert queue_order == [first.pk, second.pk]
    assert listed(o="2")[0] == listed(o="4")[0] == listed(o="-3")[0] == queue_order  # name, customer, partner
    assert listed(o="-8")[0] == [second.pk, first.pk]  # review due, latest first
    assert listed(o="-1")[0] == [second.pk, first.pk]  # claim number, newest first
    assert re.search(r'<th scope="col" class="column-customer_display">', page)
    assert re.search(r'<th scope="col" class="sortable column-number_display', page)
