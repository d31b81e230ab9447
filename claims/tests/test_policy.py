"""The rule book (SPEC §17, claims.policy): for every role (partner A's incentives admin, its view-only incentives
user, a reviewer, partner B's admin), every status and, where one applies, inside and outside its window (the
answer's 5 business days, the dispute's 30 days), what each may do to a claim; each row asked of the rule book and
tried through its view, which must agree (the action happens, or it is refused with 403, 404 or the claim page and
nothing changes). Also: what the claim page offers each of them, the words a view-only user reads, and no status
string comparisons in any template.

The expected table below is written out by hand from SPEC §5 and §12, not derived from claims.policy.
"""

import datetime
import re
import subprocess
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from associations.tests.fixtures import reviewer_login
from claims.models import Claim, ClaimEvent, ClaimStatus
from claims.policy import ANSWER_EDITS, NOTICE_CORRECTION_EDITS, ClaimRules, Refusal, Viewer
from claims.tests.factories import PDF_BYTES, claim_make

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
S = ClaimStatus

# Every claim below is written at T0 (a Tuesday, 15:00 UTC; the tenant is in New York) and looked at a day later
# ("inside" its window), or past its window's end ("outside": the answer is due 7 days after T0, the dispute's 30
# days end on 31 December at 23:59:59 New York time).
T0 = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=datetime.UTC)
INSIDE = T0 + datetime.timedelta(days=1)
OUTSIDE = {
    S.ACTION_REQUIRED: T0 + datetime.timedelta(days=8),
    S.REJECTED: datetime.datetime(2027, 1, 2, tzinfo=datetime.UTC),
}

STATES = [
    (S.DRAFT, None),
    (S.SUBMITTED, None),
    (S.UNDER_REVIEW, None),
    (S.ACTION_REQUIRED, "inside"),
    (S.ACTION_REQUIRED, "outside"),
    (S.CUSTOMER_NOTIFIED, None),
    (S.OFFICIAL, None),
    (S.OPTED_OUT, None),
    (S.REJECTED, "inside"),
    (S.REJECTED, "outside"),
    (S.DISPUTED, None),
    (S.REJECTED_FINAL, None),
    (S.EXPIRED, None),
    (S.ENDED, None),
]
assert {status for status, _ in STATES} == set(S.values)

ROLES = ["admin", "viewer", "reviewer", "other"]

# What the claim's partner admin may do, in which (status, window).
PARTNER_ACTIONS = {
    "continue_editing": {(S.DRAFT, None)},
    "delete_draft": {(S.DRAFT, None)},
    "answer": {(S.ACTION_REQUIRED, "inside")},
    "dispute": {(S.REJECTED, "inside")},
    "protect": {(S.OFFICIAL, None)},
    "disassociate": {(S.OFFICIAL, None)},
    "copy": {(S.REJECTED, "outside"), (S.REJECTED_FINAL, None), (S.EXPIRED, None)},
}
# What a reviewer may decide, in which status (whatever the window).
REVIEWER_ACTIONS = {
    "approve": {S.UNDER_REVIEW, S.DISPUTED},
    "request_information": {S.UNDER_REVIEW, S.DISPUTED},
    "reject": {S.UNDER_REVIEW, S.ACTION_REQUIRED, S.DISPUTED},
}
ACTIONS = [*PARTNER_ACTIONS, *REVIEWER_ACTIONS]


def expected(role, state, action):
    if action in PARTNER_ACTIONS:
        return role == "admin" and state in PARTNER_ACTIONS[action]
    return role == "reviewer" and state[0] in REVIEWER_ACTIONS[action]


def _at(state):
    status, window = state
    return OUTSIDE[status] if window == "outside" else INSIDE


@pytest.fixture
def world(partner_a, partner_b, reviewer, m365_tenant, products):
    """The four people, a way to sign them in (``login()``: a client each, signed in now: sessions end, and the
    tests travel in time) and a maker of fresh claims of partner A."""
    users = {"admin": partner_a.admin, "viewer": partner_a.viewer, "reviewer": reviewer, "other": partner_b.admin}

    def login():
        clients = {role: Client() for role in ("admin", "viewer", "other")}
        for role, client in clients.items():
            client.force_login(users[role])
        clients["reviewer"] = reviewer_login(Client(), reviewer)
        return clients

    def make(state):
        status, _window = state
        with time_machine.travel(T0, tick=False):
            return claim_make(
                partner_a,
                tenant=m365_tenant,
                products=[] if status in S.never_submitted() else [products["yammer"]],
                status=status,
                documents=(),
            )

    return {"login": login, "users": users, "make": make}


# --- each action through its view: (method, url, data), and whether it happened -------------------------------


def _pdf():
    return SimpleUploadedFile("more.pdf", PDF_BYTES, content_type="application/pdf")


def _request(action, claim):
    partner = {
        "continue_editing": ("get", "claims:draft_edit", {}),
        "delete_draft": ("post", "claims:draft_delete", {}),
        "answer": ("post", "claims:respond", {"comment": "Here is the signed SOW."}),
        "dispute": ("post", "claims:dispute", {"justification": "The customer signed the SOW."}),
        "protect": ("post", "claims:protect", {"comment": "Quarterly review.", "files": [_pdf()]}),
        "disassociate": ("post", "claims:disassociate", {"reason": "Moved in-house.", "confirm": "1"}),
        "copy": ("post", "claims:copy", {}),
        "approve": ("post", "admin:claims_claim_approve", {}),
        "request_information": (
            "post",
            "admin:claims_claim_request_information",
            {"reason": "other", "message": "More."},
        ),
        "reject": ("post", "admin:claims_claim_reject", {"reason": "other", "message": ""}),
    }
    method, name, data = partner[action]
    return method, reverse(name, args=[claim.pk]), data


def _snapshot(claim):
    row = Claim.objects.filter(pk=claim.pk).values_list("status", flat=True).first()
    return {
        "status": row,
        "events": ClaimEvent.objects.filter(claim_id=claim.pk).count(),
        "drafts": Claim.objects.filter(status=S.DRAFT).count(),
    }


def _happened(action, before, after, response):
    """Whether the action did what it does (from the database, or for Continue editing the wizard's page)."""
    if action == "continue_editing":
        return response.status_code == 200
    if action == "delete_draft":
        return after["status"] is None
    if action == "copy":
        return after["drafts"] == before["drafts"] + 1
    if action in ("protect", "request_information"):
        return after["events"] > before["events"] and (action == "protect" or after["status"] == S.ACTION_REQUIRED)
    moved_to = {
        "answer": {S.UNDER_REVIEW},
        "dispute": {S.DISPUTED},
        "disassociate": {S.ENDED},
        "approve": {S.CUSTOMER_NOTIFIED},
        "reject": {S.REJECTED, S.REJECTED_FINAL},
    }[action]
    return after["status"] != before["status"] and after["status"] in moved_to


# The status a refused request answers with, by who asks (a partner URL, an admin URL).
REFUSED_CODES = {
    ("viewer", "partner"): {403},  # a view-only user never acts: 403 before any claim is looked up
    ("other", "partner"): {404},  # another partner's claim does not exist for them
    ("reviewer", "partner"): {404},  # reviewers have no partner pages
    ("admin", "partner"): {302, 404},  # the claim page with the reason (a non-draft has no delete page: 404)
    ("reviewer", "admin"): {302, 404},  # the claim's admin page with the reason (a draft is none of theirs: 404)
    ("admin", "admin"): {302},  # partner users are sent to the admin's sign-in
    ("viewer", "admin"): {302},
    ("other", "admin"): {302},
}


@pytest.mark.parametrize(("status", "window"), STATES, ids=[f"{s}-{w or 'any'}" for s, w in STATES])
def test_rule_book_table_role_status_window_and_every_view_agrees(world, status, window):
    state = (status, window)
    shared = world["make"](state)
    with time_machine.travel(_at(state), tick=False):
        clients = world["login"]()
    for role in ROLES:
        viewer = Viewer.of(world["users"][role])
        for action in ACTIONS:
            want = expected(role, state, action)
            claim = world["make"](state) if want else shared
            with time_machine.travel(_at(state), tick=False):
                decision = getattr(ClaimRules(claim, viewer), action)
                row = f"{role} {action} on {status}/{window}"
                assert bool(decision) is want, row
                if not want:
                    assert decision.why_not, row
                    if role == "other":
                        assert decision.refusal == Refusal.NOT_YOURS, row
                    elif role == "viewer" and expected("admin", state, action):
                        assert decision.refusal == Refusal.ROLE, row  # what the company may do, said to a viewer
                # The view agrees.
                before = _snapshot(claim)
                method, url, data = _request(action, claim)
                response = getattr(clients[role], method)(url, data)
                after = _snapshot(claim)
            happened = _happened(action, before, after, response)
            assert happened is want, f"{row}: the view answered {response.status_code}"
            if want:
                assert response.status_code in (200, 302), row
            else:
                kind = "partner" if action in PARTNER_ACTIONS else "admin"
                assert response.status_code in REFUSED_CODES[role, kind], f"{row}: {response.status_code}"
                assert after == before, row


def test_rule_book_answer_edits_and_the_notice_correction(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=S.ACTION_REQUIRED)
    ClaimEvent.objects.create(
        claim=claim,
        actor=ClaimEvent.Actor.REVIEWER,
        action=ClaimEvent.Action.INFORMATION_REQUESTED,
        old_status=S.UNDER_REVIEW,
        new_status=S.ACTION_REQUIRED,
        reason="poe_insufficient",
    )
    answer = ClaimRules(claim, partner_a.admin).answer
    assert answer and answer.edits == ANSWER_EDITS and not answer.notice_correction
    assert answer.until == claim.response_deadline

    # The system's request after an undeliverable notice: the contacts (and a comment) only.
    ClaimEvent.objects.create(
        claim=claim,
        actor=ClaimEvent.Actor.SYSTEM,
        action=ClaimEvent.Action.INFORMATION_REQUESTED,
        old_status=S.CUSTOMER_NOTIFIED,
        new_status=S.ACTION_REQUIRED,
        reason="notice_undeliverable",
    )
    answer = ClaimRules(claim, partner_a.admin).answer
    assert answer.notice_correction and answer.edits == NOTICE_CORRECTION_EDITS
    assert answer.may("contacts") and not answer.may("poe") and not answer.may("location")
    # A view-only user is told what the company may do (the same request), never offered it.
    viewer_answer = ClaimRules(claim, partner_a.viewer).answer
    assert not viewer_answer and viewer_answer.for_admins and viewer_answer.notice_correction


def test_rule_book_dispute_says_until_when_and_why_not(partner_a, m365_tenant, products):
    with time_machine.travel(T0, tick=False):
        claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=S.REJECTED)
    end = datetime.datetime(2027, 1, 1, 4, 59, 59, tzinfo=datetime.UTC)  # 31 December, 23:59:59 in New York
    with time_machine.travel(INSIDE, tick=False):
        assert ClaimRules(claim, partner_a.admin).dispute.until == end == claim.dispute_window().until
    with time_machine.travel(OUTSIDE[S.REJECTED], tick=False):
        refused = ClaimRules(claim, partner_a.admin).dispute
        assert (refused.refusal, refused.until) == (Refusal.WINDOW, end)
        assert refused.why_not == "The 30 days to dispute this rejection ended on Dec. 31, 2026."
    claim.disputed_at = T0  # disputed once already
    assert ClaimRules(claim, partner_a.admin, now=INSIDE).dispute.done_once


def test_rule_book_reject_is_final_once_disputed(partner_a, reviewer, m365_tenant, products):
    disputed = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=S.DISPUTED)
    review = claim_make(partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status=S.UNDER_REVIEW)
    assert ClaimRules(disputed, reviewer).reject.final and not ClaimRules(review, reviewer).reject.final
    assert [name for name, _ in ClaimRules(disputed, reviewer).decisions] == [
        "approve",
        "request_information",
        "reject",
    ]
    # Partner users decide nothing in review.
    assert ClaimRules(review, partner_a.admin).decisions == []


def test_rule_book_reviewers_never_see_drafts(partner_a, reviewer, m365_tenant):
    draft = claim_make(partner_a, tenant=m365_tenant, status=S.DRAFT, documents=())
    rules = ClaimRules(draft, reviewer)
    assert rules.role == "nobody" and not rules.continue_editing and not rules.reject


# --- what the claim page offers each of them ---------------------------------------------------------------------

# The action each page element stands for, as its URL name (none of them may be offered when refused).
PAGE_ACTIONS = {
    "answer": "claims:respond",
    "dispute": "claims:dispute",
    "protect": "claims:protect",
    "disassociate": "claims:disassociate",
    "copy": "claims:copy",
}


@pytest.mark.parametrize(("status", "window"), [s for s in STATES if s[0] != S.DRAFT])
def test_rule_book_claim_page_offers_exactly_what_is_allowed(world, status, window):
    claim = world["make"]((status, window))
    for role in ("admin", "viewer"):
        with time_machine.travel(_at((status, window)), tick=False):
            page = world["login"]()[role].get(reverse("claims:detail", args=[claim.pk])).content.decode()
        for action, name in PAGE_ACTIONS.items():
            offered = reverse(name, args=[claim.pk]) in page
            assert offered is expected(role, (status, window), action), f"{role} sees {action} on {status}/{window}"


def test_rule_book_banner_only_where_editing_is_over(world):
    banner = "Once you submit your customer association, you can't edit it."
    for state, shown in [
        ((S.ACTION_REQUIRED, "inside"), False),  # the answer offers edits
        ((S.ACTION_REQUIRED, "outside"), True),
        ((S.UNDER_REVIEW, None), True),
        ((S.OFFICIAL, None), True),
        ((S.EXPIRED, None), False),  # never submitted
    ]:
        claim = world["make"](state)
        with time_machine.travel(_at(state), tick=False):
            page = world["login"]()["admin"].get(reverse("claims:detail", args=[claim.pk])).content.decode()
        assert "claim-status" in page and (banner in page) is shown, state
    # A draft's page (the viewer's: an admin gets the wizard) never says it.
    draft = world["make"]((S.DRAFT, None))
    with time_machine.travel(INSIDE, tick=False):
        page = world["login"]()["viewer"].get(reverse("claims:detail", args=[draft.pk])).content.decode()
    assert "claim-status" in page and banner not in page


def test_rule_book_view_only_user_waits_for_the_company_never_for_themselves(world):
    waiting = world["make"]((S.ACTION_REQUIRED, "inside"))
    world["make"]((S.DRAFT, None))
    with time_machine.travel(INSIDE, tick=False):
        clients = world["login"]()
        viewer, admin = clients["viewer"], clients["admin"]
        page = viewer.get(reverse("claims:detail", args=[waiting.pk])).content.decode()
        listed = viewer.get(reverse("claims:list")).content.decode()
        admin_list = admin.get(reverse("claims:list")).content.decode()
    assert "Waiting for your company&#x27;s answer" in page and "Waiting for your answer" not in page
    assert "Waiting for your company" in listed
    for words in ("Needs your action", "Waiting for you:", "Waiting for your answer"):
        assert words not in listed and words not in page, words
    # The incentives admin is the one who acts: the navigation's count and the list's words are theirs.
    assert 'class="needs-action"' in admin_list and "Needs your action" in admin_list
    assert 'class="needs-action"' not in listed


# --- no status string comparisons in templates --------------------------------------------------------------------

TEMPLATE_STATUS_COMPARISON = r"status *(==|!=) *['\"]|status in ['\"(\[]"


def test_rule_book_no_template_compares_status_strings():
    """Templates read the rule book (``rules``) instead: the issue's grep prints nothing."""
    hits = subprocess.run(
        ["git", "grep", "-nE", TEMPLATE_STATUS_COMPARISON, "--", "templates/*.html"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert hits.returncode == 1 and hits.stdout == ""  # git grep: 1 is "nothing found"


def test_rule_book_template_status_check_can_fail():
    pattern = re.compile(TEMPLATE_STATUS_COMPARISON)
    for line in ('{% if claim.status == "official" %}', "{% if original.status != 'draft' %}", "status in ('a',)"):
        assert pattern.search(line), line
    assert not pattern.search("{% if rules.stage.official %}")


# --- the services ask again, under the claim's row lock --------------------------------------------------------


def test_rule_book_services_ask_again_under_the_row_lock(partner_a, partner_b, m365_tenant, products):
    """Called directly (as an API or a stale page would), each partner service refuses what the rule book refuses
    for the locked claim: a view-only user, another partner's admin, a claim past its window; nothing is written."""
    from claims.services import AnswerRefused, PartnerActionRefused, claim_disassociate, claim_respond
    from claims.services.disputes import claim_dispute, claim_protect
    from claims.uploads import poe_check

    def pdf():
        upload = SimpleUploadedFile("more.pdf", PDF_BYTES)
        return [(upload, poe_check(upload))]

    with time_machine.travel(T0, tick=False):
        official = claim_make(
            partner_a, tenant=m365_tenant, products=[products["yammer"]], status=S.OFFICIAL, documents=()
        )
        rejected = claim_make(partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status=S.REJECTED)
        waiting = claim_make(
            partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], status=S.ACTION_REQUIRED
        )
    events = ClaimEvent.objects.count()
    with time_machine.travel(INSIDE, tick=False):
        for user in (partner_a.viewer, partner_b.admin):
            with pytest.raises(PartnerActionRefused):
                claim_disassociate(claim=official, user=user, reason="Done.")
            with pytest.raises(PartnerActionRefused):
                claim_protect(claim=official, user=user, comment="More.", files=pdf())
            with pytest.raises(PartnerActionRefused):
                claim_dispute(claim=rejected, user=user, justification="Why.", files=[])
            with pytest.raises(AnswerRefused):
                claim_respond(claim=waiting, user=user, comment="Here.", files=[])
    with time_machine.travel(OUTSIDE[S.REJECTED], tick=False), pytest.raises(PartnerActionRefused) as refused:
        claim_dispute(claim=rejected, user=partner_a.admin, justification="Late.", files=[])
    assert refused.value.message == "The 30 days to dispute this rejection ended on Dec. 31, 2026."
    assert ClaimEvent.objects.count() == events
    statuses = dict(Claim.objects.filter(pk__in=[official.pk, rejected.pk, waiting.pk]).values_list("pk", "status"))
    assert statuses == {official.pk: S.OFFICIAL, rejected.pk: S.REJECTED, waiting.pk: S.ACTION_REQUIRED}
    assert not official.documents.exists()
