"""The claim page's History in plain words, and one time zone per page, stated once (SPEC §12)."""

import datetime
import re

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from claims.models import ClaimEvent, ClaimStatus
from claims.services import claim_transition
from claims.tests.wizard_steps import make_claim

pytestmark = pytest.mark.django_db

SUBMITTED = datetime.datetime(2026, 1, 15, 15, 0, tzinfo=datetime.UTC)  # 10:00 in New York (EST)
# The viewer's zone (SPEC §15), named by its city; here the viewer is in New York as the customer is.
ZONE_NOTE = "Times on this page are in New York time (your time zone)."
ZONE_NOTE_ZH = "此頁面上的時間均為紐約時間（您的時區）。"  # noqa: RUF001 (zh-Hant punctuation)


@pytest.fixture
def answered_claim(partner_a, m365_tenant, products, reviewer):
    """A claim whose history has every kind of row: partner, system, reviewer, a reason, a message, a legacy code."""
    with time_machine.travel(SUBMITTED, tick=False):  # the submission row make_claim writes is dated then
        claim = make_claim(
            partner_a,
            m365_tenant,
            [products["microsoft-teams"]],
            status=ClaimStatus.ACTION_REQUIRED,
            name="Northwind Teams",
            submitted_at=SUBMITTED,
            response_deadline=SUBMITTED + datetime.timedelta(days=7),
        )
    rows = [
        {"actor": "system", "action": "validated", "old_status": "submitted", "new_status": "under_review"},
        {
            "actor": "reviewer",
            "user": reviewer,
            "action": "information_requested",
            "old_status": "under_review",
            "new_status": "action_required",
            "reason": "poe_insufficient",
            "message": "Please add the signed statement of work.",
        },
        # A row written by an older version with an action this one has no label for.
        {"actor": "partner", "user": partner_a.admin, "action": "contacts_changed", "message": "Nancy → Nora"},
    ]
    for minutes, row in enumerate(rows, start=1):
        ClaimEvent.objects.create(claim=claim, created_at=SUBMITTED + datetime.timedelta(minutes=minutes), **row)
    return claim


def _text(html):
    """What a reader sees: the markup without tags and attributes, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _history(html):
    return html[html.index('id="history"') :]


def _get(client, claim, **headers):
    client.cookies[settings.TIME_ZONE_COOKIE_NAME] = "America/New_York"
    with time_machine.travel(SUBMITTED + datetime.timedelta(days=1), tick=False):
        response = client.get(reverse("claims:detail", args=[claim.pk]), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_history_display_rows_in_plain_words(client_a, partner_a, reviewer, answered_claim):
    html = _get(client_a, answered_claim)
    history = _text(_history(html))
    codes = ["information_requested", "Information_requested", "Validation_failed", "under_review", "contacts_changed"]
    for code in codes:
        assert code not in history, code
    assert not re.search(r"[A-Za-z]+_[a-z]+", history)  # no code of any kind
    for text in [
        "Submitted",  # the partner's submission row
        partner_a.admin.email,  # who, for the partner's own people
        "System Validated Submitted → Under review",
        "Reviewer Information requested Under review → Partner action required",
        "Reason: The proof of execution does not show the activity",
        "Please add the signed statement of work.",
        f"{partner_a.admin.email} Contacts changed Nancy → Nora",  # a legacy code, humanized
    ]:
        assert text in history, text
    # The reviewer's identity never reaches the partner.
    assert reviewer.email not in html


def test_history_display_one_time_zone_stated_once(client_a, answered_claim):
    html = _get(client_a, answered_claim)
    assert html.count(ZONE_NOTE) == 1
    assert html.count("Times on this page are in") == 1
    text = _text(html)
    # Every time on the page (facts, lifecycle panel, history) is in that zone, with no abbreviation or zone name:
    # the note says it once.
    assert not re.findall(r"\d{1,2}:\d{2}(?::\d{2})? ([A-Z]{2,5}|[+-]\d{2})\b", text)
    assert "2026-01-15 10:00" in text  # submitted, in the facts and the first history row
    assert re.findall(r"2026-01-15 (\d{2}:\d{2})", _text(_history(html))) == [
        "10:03",
        "10:02",
        "10:01",
        "10:00",
    ]
    # The answer's deadline, in the facts and the lifecycle panel, also on the customer's clock.
    assert "2026-01-22 10:00 (10:00 New York time)" in text
    assert "Thursday 22 January 2026, 10:00 (10:00 New York time)" in text
    assert "UTC" not in text and "America/" not in html


def test_history_display_in_traditional_chinese(client_a, answered_claim):
    html = _get(client_a, answered_claim, accept_language="zh-TW")
    history = _text(_history(html))
    assert '<html lang="zh-Hant">' in html
    assert html.count(ZONE_NOTE_ZH) == 1
    assert "審核者 已要求提供資訊 審核中 → 需要合作夥伴動作" in history
    assert "原因： 執行證明未顯示該活動" in history  # noqa: RUF001
    assert "Information requested" not in history
    assert "Under review" not in history


# --- the lifecycle's new events (SPEC §12): changes with old and new values, POE added, disputes, expiry -----------


@pytest.fixture
def disputed_life(partner_a, m365_tenant, products, reviewer):
    """A claim that went through every new kind of event: answered with edits, rejected, disputed, rejected again."""
    with time_machine.travel(SUBMITTED, tick=False):
        claim = make_claim(
            partner_a,
            m365_tenant,
            [products["microsoft-teams"]],
            status=ClaimStatus.REJECTED_FINAL,
            name="Disputed Teams",
            submitted_at=SUBMITTED,
            disputed_at=SUBMITTED + datetime.timedelta(minutes=6),
        )
    admin = partner_a.admin
    rows = [
        {"actor": "partner", "user": admin, "action": "changed", "field": "location", "old_value": "1000001",
         "new_value": "1000002"},
        {"actor": "partner", "user": admin, "action": "changed", "field": "customer_contact_name",
         "old_value": "Nancy", "new_value": "Nora"},
        {"actor": "partner", "user": admin, "action": "changed", "field": "technical_contact_email",
         "old_value": "", "new_value": "toni@northwindtraders.example"},
        {"actor": "partner", "user": admin, "action": "changed", "field": "product", "old_value": "Yammer"},
        {"actor": "partner", "user": admin, "action": "poe_added", "message": "The signed statement of work."},
        {"actor": "partner", "user": admin, "action": "disputed", "old_status": "rejected", "new_status": "disputed",
         "message": "The customer confirmed the engagement by email."},
        {"actor": "reviewer", "user": reviewer, "action": "dispute_rejected", "old_status": "disputed",
         "new_status": "rejected_final", "reason": "not_eligible"},
    ]  # fmt: skip
    for minutes, row in enumerate(rows, start=1):
        ClaimEvent.objects.create(claim=claim, created_at=SUBMITTED + datetime.timedelta(minutes=minutes), **row)
    return claim


def test_history_display_changes_and_disputes_in_plain_words(client_a, partner_a, reviewer, disputed_life):
    html = _get(client_a, disputed_life)
    history = _text(_history(html))
    who = partner_a.admin.email
    for text in [
        f"{who} Changed MPN ID: 1000001 → 1000002",
        f"{who} Changed Customer contact name: Nancy → Nora",
        f"{who} Changed Technical contact email: — → toni@northwindtraders.example",
        f"{who} Removed product: Yammer",
        f"{who} Added proof of execution The signed statement of work.",
        f"{who} Disputed the rejection Rejected → Disputed The customer confirmed the engagement by email.",
        "Reviewer Rejected the dispute Disputed → Rejected (final) Reason: The activity is not eligible",
    ]:
        assert text in history, text
    assert not re.search(r"[A-Za-z]+_[a-z]+", history)  # no column name, no code
    assert "location" not in history
    assert reviewer.email not in html


def test_history_display_changes_in_traditional_chinese(client_a, disputed_life):
    html = _get(client_a, disputed_life, accept_language="zh-TW")
    history = _text(_history(html))
    for text in [
        "已變更MPN 識別碼：1000001 → 1000002",  # noqa: RUF001 (zh-Hant punctuation)
        "已變更客戶連絡人姓名：Nancy → Nora",  # noqa: RUF001 (zh-Hant punctuation)
        "已移除產品：Yammer",  # noqa: RUF001 (zh-Hant punctuation)
        "已新增執行證明",
        "已對拒絕提出爭議 已拒絕 → 有爭議",
        "審核者 已駁回爭議 有爭議 → 已拒絕（最終）",  # noqa: RUF001 (zh-Hant punctuation)
    ]:
        assert text in history, text
    assert "Changed" not in history and "Disputed" not in history


def test_history_display_expired_draft(client_a, partner_a, m365_tenant, products):
    with time_machine.travel(SUBMITTED, tick=False):
        claim = make_claim(partner_a, m365_tenant, [products["yammer"]], status=ClaimStatus.DRAFT, name="Forgotten")
        # A draft has no events; its expiry is the first, written by the one status write.
        claim_transition(claim=claim, to=ClaimStatus.EXPIRED, actor="system", action=ClaimEvent.Action.EXPIRED)
    history = _text(_history(_get(client_a, claim)))
    assert "System The draft expired after 30 days untouched Draft → Expired" in history
    zh = _text(_history(_get(client_a, claim, accept_language="zh-TW")))
    assert "系統 草稿已 30 天未變更，已過期 草稿 → 已過期" in zh  # noqa: RUF001 (zh-Hant punctuation)


def test_history_display_rejection_reason_from_the_rejection_list(client_a, partner_a, m365_tenant, products, reviewer):
    """Both reason lists have ``poe_insufficient``: an information request reads the request's words and a
    rejection the rejection's."""
    with time_machine.travel(SUBMITTED, tick=False):
        claim = make_claim(
            partner_a, m365_tenant, [products["microsoft-teams"]], status=ClaimStatus.REJECTED, submitted_at=SUBMITTED
        )
    for minutes, (action, new_status) in enumerate(
        [("information_requested", "action_required"), ("rejected", "rejected")], start=1
    ):
        ClaimEvent.objects.create(
            claim=claim,
            created_at=SUBMITTED + datetime.timedelta(minutes=minutes),
            actor="reviewer",
            user=reviewer,
            action=action,
            new_status=new_status,
            reason="poe_insufficient",
        )
    history = _text(_history(_get(client_a, claim)))
    assert "Reason: The proof of execution does not show the activity" in history  # the request
    assert "Reason: The proof of execution does not support the claim" in history  # the rejection
