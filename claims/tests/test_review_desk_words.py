"""The reviewer's desk in Traditional Chinese (SPEC §8, §15): no English of ours on the admin pages a reviewer
opens (the queue, a claim's review page, the decision pages), Taiwan's words where Django's catalog has others, and
the partner's wording ("your company") never shown to reviewers."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse

from claims.models import ClaimEvent, ClaimStatus
from claims.tests.factories import claim_make
from cpor.i18n_scan import BRAND_NAMES, english_runs
from cpor.tests.test_i18n_chinese import ALLOW, page_text

pytestmark = pytest.mark.django_db
CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po"
# Names and codes of the data, which stay as they are.
NAMES = [*ALLOW, *BRAND_NAMES, "Contoso Yammer", "Fabrikam Yammer", "Add the SOW.", "Rolled out.", "CPOR", "MPN", "PoE"]


@pytest.fixture
def desk(partner_a, partner_b, reviewer, m365_tenant, products):
    mine = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"], products["microsoft-teams"]],
        status=ClaimStatus.UNDER_REVIEW,
        competing=True,
        name="Contoso Yammer",
        comments="Rolled out.",
    )
    claim_make(
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
        message="Add the SOW.",
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
    return mine


def _our_english(text):
    """The English of our catalog (and of Django's that we word again) left in ``text``: each msgid that appears as
    a phrase of its own, and every run of two English words (names aside)."""
    found = []
    plain = text
    for name in sorted(NAMES, key=len, reverse=True):
        plain = plain.replace(name, " · ")
    for entry in polib.pofile(str(CATALOG)):
        msgid = entry.msgid
        if not re.fullmatch(r"[A-Za-z][A-Za-z' ]+[A-Za-z]", msgid) or msgid in NAMES:
            continue
        if re.search(rf"(?<![\w@.-]){re.escape(msgid)}(?![\w@.-])", plain):
            found.append(msgid)
    return sorted(set(found + english_runs(text, NAMES)))


def test_review_desk_admin_pages_in_traditional_chinese_have_no_english_of_ours(reviewer_client, desk):
    reviewer_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hant"
    pages = {
        "queue": "/admin/claims/claim/",
        "queue, every claim": "/admin/claims/claim/?queue=all",
        "review page": reverse("admin:claims_claim_change", args=[desk.pk]),
        "approve": reverse("admin:claims_claim_approve", args=[desk.pk]),
        "request information": reverse("admin:claims_claim_request_information", args=[desk.pk]),
        "reject": reverse("admin:claims_claim_reject", args=[desk.pk]),
    }
    found = {}
    for where, url in pages.items():
        response = reviewer_client.get(url)
        assert response.status_code == 200, where
        html = response.content.decode()
        assert 'lang="zh-hant"' in html.lower(), where
        english = _our_english(page_text(html))
        if english:
            found[where] = english

    assert found == {}


def test_review_desk_django_words_are_taiwans(reviewer_client, desk):
    reviewer_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hant"

    text = page_text(reviewer_client.get("/admin/claims/claim/?queue=all").content.decode())

    assert "篩選" in text
    assert "已選擇 0 個，共 2 個" in text  # noqa: RUF001 (Django's: 「2 中 0 個被選取」)
    for mainland in ("過濾", "當前", "被選"):
        assert mainland not in text
    # One word for review on the whole desk (審核佇列, 審核期限, 審核者): the status too, never 「檢閱中」.
    assert "審核中" in text and "檢閱" not in text


def test_review_desk_reviewers_never_read_the_partners_wording(reviewer_client, desk):
    reviewer_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hant"

    text = page_text(reviewer_client.get(reverse("admin:claims_claim_change", args=[desk.pk])).content.decode())

    assert "合作夥伴連絡人" in text
    assert "貴公司" not in text
