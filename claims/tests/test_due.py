"""Deadlines in sight (SPEC §12): what each open claim waits for, by when, whose turn, and the business days left;
on the list and the claim page, in English and Traditional Chinese; the navigation's "Needs your action" count.

US tenants use America/New_York, German ones Europe/Berlin; each case worked out by hand against a calendar
(2026: Thanksgiving is Thursday 26 November in the US; 25 and 26 December are holidays in Germany).
"""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from claims.deadlines import business_day_add, business_days_between
from claims.due import CUSTOMER, PARTNER, REVIEWER, due_display, due_for
from claims.models import ClaimStatus
from claims.services import claim_counts_compact
from claims.tests.factories import claim_make
from claims.tests.wizard_steps import make_claim

UTC = datetime.UTC
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LIST = reverse("claims:list")


def _due(status, *, now, country="US", time_zone=NEW_YORK, **dates):
    values = {
        "status_changed_at": None,
        "disputed_at": None,
        "response_deadline": None,
        "opt_out_deadline": None,
        "draft_saved_at": None,
    }
    values.update(dates)
    return due_for(now=now, country=country, time_zone=time_zone, status=status, **values)


# --- business days between two dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (datetime.date(2026, 11, 30), datetime.date(2026, 12, 7), 5),  # Mon -> next Mon: Tue..Fri, Mon
        (datetime.date(2026, 12, 4), datetime.date(2026, 12, 7), 1),  # Fri -> Mon: the weekend does not count
        (datetime.date(2026, 11, 25), datetime.date(2026, 11, 30), 2),  # Wed -> Mon: Thanksgiving skipped (Fri, Mon)
        (datetime.date(2026, 12, 7), datetime.date(2026, 12, 7), 0),  # the same day
        (datetime.date(2026, 12, 8), datetime.date(2026, 12, 7), 0),  # past: never negative
    ],
)
def test_due_business_days_between(start, end, expected):
    assert business_days_between(start, end, country="US") == expected


def test_due_business_days_between_undoes_business_day_add():
    start = datetime.date(2026, 12, 18)
    for count in range(1, 30):
        for country in ("US", "DE", "TW", None):
            assert (
                business_days_between(start, business_day_add(start, count, country=country), country=country) == count
            )


def test_due_business_days_with_no_country_are_weekdays():
    # Christmas is a weekday like any other when the tenant (and so its country) is unknown.
    assert business_days_between(datetime.date(2026, 12, 24), datetime.date(2026, 12, 28), country=None) == 2
    assert business_days_between(datetime.date(2026, 12, 24), datetime.date(2026, 12, 28), country="DE") == 1


# --- what is due, per status ----------------------------------------------------------------------------------------


def test_due_submitted_waits_for_the_reviewer_five_business_days():
    # Submitted Monday 30 November 2026, 10:00 in New York: due Monday 7 December, 23:59:59 local.
    changed = datetime.datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    due = _due(ClaimStatus.SUBMITTED, now=changed, status_changed_at=changed)
    assert (due.kind, due.waiting_on) == ("review", REVIEWER)
    assert due.at == datetime.datetime(2026, 12, 7, 23, 59, 59, tzinfo=NEW_YORK)
    assert (due.days_left, due.today, due.overdue) == (5, False, False)


def test_due_under_review_skips_the_tenants_holidays():
    # Answered Wednesday 25 November: Thanksgiving skipped. Fri 27 (1), Mon 30 (2), Tue 1 (3), Wed 2 (4), Thu 3 (5).
    changed = datetime.datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    now = datetime.datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday
    due = _due(ClaimStatus.UNDER_REVIEW, now=now, status_changed_at=changed)
    assert due.date == datetime.date(2026, 12, 3)
    assert due.days_left == 4  # Mon, Tue, Wed, Thu


def test_due_review_day_taken_in_the_tenants_time_zone():
    # 23:30 UTC on Tuesday 1 December is Wednesday 00:30 in Berlin: the window counts from Wednesday.
    changed = datetime.datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    due = _due(ClaimStatus.UNDER_REVIEW, now=changed, country="DE", time_zone=BERLIN, status_changed_at=changed)
    assert due.at == datetime.datetime(2026, 12, 9, 23, 59, 59, tzinfo=BERLIN)
    assert due.days_left == 5
    # 23:30 UTC on Tuesday 8 December is already Wednesday 9 in Berlin: due today, not yet overdue.
    later = _due(
        ClaimStatus.UNDER_REVIEW,
        now=datetime.datetime(2026, 12, 8, 23, 30, tzinfo=UTC),
        country="DE",
        time_zone=BERLIN,
        status_changed_at=changed,
    )
    assert (later.days_left, later.today, later.overdue) == (0, True, False)
    # 23:00 UTC on Wednesday 9 is Thursday in Berlin: overdue.
    past = _due(
        ClaimStatus.UNDER_REVIEW,
        now=datetime.datetime(2026, 12, 9, 23, 0, tzinfo=UTC),
        country="DE",
        time_zone=BERLIN,
        status_changed_at=changed,
    )
    assert (past.days_left, past.today, past.overdue) == (0, False, True)


def test_due_disputed_counts_from_the_dispute():
    rejected = datetime.datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    disputed = datetime.datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    due = _due(ClaimStatus.DISPUTED, now=disputed, status_changed_at=rejected, disputed_at=disputed)
    assert (due.kind, due.waiting_on) == ("review", REVIEWER)
    assert due.date == datetime.date(2026, 12, 7)


def test_due_action_required_is_the_stored_answer_deadline():
    deadline = datetime.datetime(2026, 12, 8, 4, 59, 59, tzinfo=UTC)  # Monday 7 December, 23:59:59 in New York
    now = datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # Thursday
    due = _due(ClaimStatus.ACTION_REQUIRED, now=now, response_deadline=deadline)
    assert (due.kind, due.waiting_on) == ("answer", PARTNER)
    assert due.at == datetime.datetime(2026, 12, 7, 23, 59, 59, tzinfo=NEW_YORK)
    assert due.days_left == 2  # Friday, Monday


def test_due_customer_notified_is_the_stored_opt_out_deadline():
    deadline = datetime.datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in Berlin
    now = datetime.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    due = _due(ClaimStatus.CUSTOMER_NOTIFIED, now=now, country="DE", time_zone=BERLIN, opt_out_deadline=deadline)
    assert (due.kind, due.waiting_on, due.days_left) == ("customer", CUSTOMER, 1)
    assert due.date == datetime.date(2026, 12, 1)


def test_due_rejected_may_be_disputed_for_thirty_days_then_nothing():
    # Rejected Monday 2 November 2026, 10:00 in New York: disputable until 2 December, 23:59:59 there.
    rejected = datetime.datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    due = _due(ClaimStatus.REJECTED, now=rejected, status_changed_at=rejected)
    assert (due.kind, due.waiting_on) == ("dispute", PARTNER)
    assert due.at == datetime.datetime(2026, 12, 2, 23, 59, 59, tzinfo=NEW_YORK)
    last_day = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert _due(ClaimStatus.REJECTED, now=last_day, status_changed_at=rejected).today
    after = datetime.datetime(2026, 12, 3, 5, 0, tzinfo=UTC)  # midnight in New York
    assert _due(ClaimStatus.REJECTED, now=after, status_changed_at=rejected) is None
    # Disputed once already: nothing more to dispute.
    assert _due(ClaimStatus.REJECTED, now=rejected, status_changed_at=rejected, disputed_at=rejected) is None


def test_due_draft_expires_thirty_days_after_its_last_save():
    saved = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    # No tenant yet: UTC, weekends only.
    due = _due(ClaimStatus.DRAFT, now=saved, country=None, time_zone=UTC, draft_saved_at=saved)
    assert (due.kind, due.waiting_on) == ("draft", PARTNER)
    assert due.at == datetime.datetime(2026, 12, 20, 12, 0, tzinfo=UTC)  # a Sunday
    assert due.days_left == 20  # four whole weeks of weekdays (no country: Thanksgiving is one of them)
    later = _due(
        ClaimStatus.DRAFT, now=saved + datetime.timedelta(days=31), country=None, time_zone=UTC, draft_saved_at=saved
    )
    assert later.overdue and later.days_left == 0


@pytest.mark.parametrize(
    "status",
    [ClaimStatus.OFFICIAL, ClaimStatus.OPTED_OUT, ClaimStatus.REJECTED_FINAL, ClaimStatus.EXPIRED, ClaimStatus.ENDED],
)
def test_due_nothing_in_the_other_statuses(status):
    moment = datetime.datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert (
        _due(
            status,
            now=moment,
            status_changed_at=moment,
            response_deadline=moment,
            opt_out_deadline=moment,
            draft_saved_at=moment,
        )
        is None
    )


def test_due_display_words_never_negative():
    changed = datetime.datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    with translation.override("en"):
        words = due_display(_due(ClaimStatus.SUBMITTED, now=changed, status_changed_at=changed))
        assert words["date"] == "2026-12-07"
        assert words["left"] == "5 business days left"
        assert words["waiting"] == "Waiting for the reviewer"
        assert words["who"] == "reviewer"
        one = due_display(
            _due(ClaimStatus.SUBMITTED, now=changed + datetime.timedelta(days=7), status_changed_at=changed)
        )
        assert (one["left"], one["state"]) == ("due today", "today")
        late = due_display(
            _due(ClaimStatus.SUBMITTED, now=changed + datetime.timedelta(days=8), status_changed_at=changed)
        )
        assert (late["left"], late["state"]) == ("overdue", "overdue")
        before = due_display(
            _due(ClaimStatus.SUBMITTED, now=changed + datetime.timedelta(days=5), status_changed_at=changed)
        )
        assert before["left"] == "1 business day left"
    with translation.override("zh-hant"):
        words = due_display(_due(ClaimStatus.SUBMITTED, now=changed, status_changed_at=changed))
        assert words["left"] == "剩餘 5 個工作天"
        assert words["waiting"] == "等候審核中"
        assert due_display(None) is None


# --- on the pages -------------------------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # Thursday 3 December, 10:00 in New York


def _text(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def waiting(partner_a, m365_tenant, products):
    """Answer due Monday 7 December 2026, 23:59:59 in New York."""
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.ACTION_REQUIRED,
        response_deadline=datetime.datetime(2026, 12, 8, 4, 59, 59, tzinfo=UTC),
        name="Answer me",
    )


@pytest.fixture
def reviewing(partner_a, bizapps_tenant):
    """In Germany, under review since Tuesday 24 November: due Tuesday 1 December, overdue on 3 December."""
    return claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        status=ClaimStatus.UNDER_REVIEW,
        status_changed_at=datetime.datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        name="Reviewer is late",
    )


def test_due_list_shows_date_days_left_and_whose_turn(client_a, partner_a, waiting, reviewing, settings):
    client_a.cookies[settings.TIME_ZONE_COOKIE_NAME] = "America/New_York"  # the viewer's zone (SPEC §15)
    with time_machine.travel(NOW, tick=False):
        client_a.force_login(partner_a.admin)  # a session of that day (they end after 8 idle hours)
        html = client_a.get(LIST).content.decode()
    text = _text(html)
    assert re.search(r'<th scope="col"><a href="\?sort=due">Due</a></th>', html)  # sortable now
    assert "Due 2026-12-07 · 2 business days left Waiting for your answer" in text
    assert "Due 2026-12-01 · overdue Waiting for the reviewer" in text
    assert '<time datetime="2026-12-07T23:59:59-05:00">2026-12-07</time>' in html
    assert "due-partner" in html and "due-reviewer due-overdue" in html


def test_due_list_in_traditional_chinese(client_a, partner_a, waiting, reviewing, settings):
    client_a.cookies[settings.TIME_ZONE_COOKIE_NAME] = "America/New_York"
    with time_machine.travel(NOW, tick=False):
        client_a.force_login(partner_a.admin)
        html = client_a.get(LIST, headers={"accept-language": "zh-TW"}).content.decode()
    text = _text(html)
    assert "到期日 2026-12-07 · 剩餘 2 個工作天 等待您的回覆" in text
    assert "到期日 2026-12-01 · 已逾期 等候審核中" in text
    assert "business day" not in text and "Waiting for" not in text


def test_due_claim_page_near_the_status(client_a, partner_a, waiting, settings):
    client_a.cookies[settings.TIME_ZONE_COOKIE_NAME] = "America/New_York"
    with time_machine.travel(NOW, tick=False):
        client_a.force_login(partner_a.admin)
        html = client_a.get(reverse("claims:detail", args=[waiting.pk])).content.decode()
        zh = client_a.get(reverse("claims:detail", args=[waiting.pk]), headers={"accept-language": "zh-TW"})
    status_at, due_at = html.index('id="claim-status"'), html.index('id="claim-due"')
    assert status_at < due_at < html.index('id="history"')
    assert "Due 2026-12-07 · 2 business days left Waiting for your answer" in _text(html)
    assert "到期日 2026-12-07 · 剩餘 2 個工作天 等待您的回覆" in _text(zh.content.decode())


def test_due_claim_page_of_a_final_claim_shows_none(client_a, partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.OPTED_OUT)
    html = client_a.get(reverse("claims:detail", args=[claim.pk])).content.decode()
    assert 'id="claim-due"' not in html


def test_due_list_query_count_flat_with_every_kind_of_due(
    client_a, partner_a, m365_tenant, bizapps_tenant, products, django_assert_max_num_queries
):
    now = datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    kinds = [
        {"status": ClaimStatus.SUBMITTED},
        {"status": ClaimStatus.UNDER_REVIEW},
        {"status": ClaimStatus.ACTION_REQUIRED, "response_deadline": now + datetime.timedelta(days=2)},
        {
            "status": ClaimStatus.CUSTOMER_NOTIFIED,
            "customer_notified_at": now,
            "opt_out_deadline": now + datetime.timedelta(days=2),
        },
        {"status": ClaimStatus.REJECTED},
        {"status": ClaimStatus.DISPUTED, "disputed_at": now},
        {"status": ClaimStatus.DRAFT},
    ]
    for number in range(28):
        tenant = m365_tenant if number % 2 else bizapps_tenant
        make_claim(partner_a, tenant, [products["yammer"]], name=f"D{number}", **kinds[number % len(kinds)])
    with time_machine.travel(now, tick=False):
        client_a.force_login(partner_a.admin)
        with django_assert_max_num_queries(12):
            response = client_a.get(LIST)
    rows = response.context["rows"]
    assert len(rows) == 25
    assert all(cells["due"] for _claim, cells in rows)


# --- Needs your action ----------------------------------------------------------------------------------------------


def _count_queries(queries):
    return [q["sql"] for q in queries if "claims_partnerclaimcount" in q["sql"]]


@pytest.fixture
def needing(partner_a, partner_b, m365_tenant, products):
    now = datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    for number in range(2):
        make_claim(
            partner_a,
            m365_tenant,
            [products["yammer"]],
            name=f"Asked {number}",
            status=ClaimStatus.ACTION_REQUIRED,
            response_deadline=now + datetime.timedelta(days=3),
        )
    make_claim(partner_a, m365_tenant, [products["yammer"]], name="My draft", status=ClaimStatus.DRAFT)
    make_claim(partner_a, m365_tenant, [products["yammer"]], name="Waiting on the reviewer")
    make_claim(
        partner_b,
        m365_tenant,
        [products["yammer"]],
        name="Fabrikam asked",
        status=ClaimStatus.ACTION_REQUIRED,
        response_deadline=now + datetime.timedelta(days=3),
    )
    claim_counts_compact()  # some counted in the counters, the rest in the delta log
    make_claim(partner_a, m365_tenant, [products["microsoft-teams"]], name="Late draft", status=ClaimStatus.DRAFT)


def test_needs_action_navigation_count_and_link(client_a, needing, partner_a):
    with CaptureQueriesContext(connection) as queries:
        # A submitted claim's page (a draft's page sends its admin on to Continue editing).
        html = client_a.get(reverse("claims:detail", args=[partner_a.partner.claims.get(name="Asked 0").pk]))
    html = html.content.decode()
    nav = html[html.index('class="sidenav"') : html.index("</nav>")]
    assert f'href="{LIST}?status=needs_action"' in nav
    assert '<span class="badge" aria-hidden="true">4</span>' in nav
    assert '<span class="visually-hidden">4 claims need your action</span>' in nav
    assert len(_count_queries(queries.captured_queries)) == 1


def test_needs_action_count_costs_no_query_more_on_the_list(client_a, needing):
    with CaptureQueriesContext(connection) as queries:
        response = client_a.get(LIST)
    assert len(_count_queries(queries.captured_queries)) == 1  # the list's own status counts, shared
    html = response.content.decode()
    assert '<span class="badge" aria-hidden="true">4</span>' in html


def test_needs_action_filter_lists_drafts_and_action_required(client_a, needing):
    response = client_a.get(LIST, {"status": "needs_action"})
    names = sorted(claim.name for claim, _cells in response.context["rows"])
    assert names == ["Asked 0", "Asked 1", "Late draft", "My draft"]
    html = response.content.decode()
    assert 'data-status="needs_action">Needs your action <strong>4</strong>' in html
    nav = html[html.index('class="sidenav"') : html.index("</nav>")]
    assert nav.count('aria-current="page"') == 1
    assert re.search(r'class="needs-action" aria-current="page"', nav)
    assert "Page 1 of 1 · 4 claims" in _text(html)
    # The export follows the same filter.
    csv = b"".join(client_a.get(LIST, {"status": "needs_action", "format": "csv"}).streaming_content).decode()
    assert "My draft" in csv and "Waiting on the reviewer" not in csv


def test_needs_action_badge_in_traditional_chinese_and_one_claim(client_a, partner_a, m365_tenant, products):
    make_claim(partner_a, m365_tenant, [products["yammer"]], name="My draft", status=ClaimStatus.DRAFT)
    en = client_a.get(LIST).content.decode()
    assert '<span class="visually-hidden">1 claim needs your action</span>' in en
    zh = client_a.get(LIST, headers={"accept-language": "zh-TW"}).content.decode()
    assert "需要您處理" in zh
    assert '<span class="visually-hidden">有 1 筆宣告需要您處理</span>' in zh


def test_needs_action_none_no_badge(client_a, partner_a):
    html = client_a.get(LIST).content.decode()
    assert "Needs your action" in html
    assert 'class="badge"' not in html
    assert "need your action" not in html


def test_needs_action_not_for_reviewers(reviewer_client):
    with CaptureQueriesContext(connection) as queries:
        response = reviewer_client.get(LIST)
    assert response.status_code == 404
    assert "Needs your action" not in response.content.decode()
    assert _count_queries(queries.captured_queries) == []
