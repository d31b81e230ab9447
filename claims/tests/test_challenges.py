"""The challenge notice (SPEC §8): when another partner's claim for the same item passes validation, the partner that
has it awaiting the customer or official is emailed once (never the rival's name), may add POE through the protect
flow, and the reviewer sees that POE marked as added after the challenge."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from associations.models import UserPreference
from associations.tests.fixtures import make_partner, make_user
from claims.models import ClaimEvent, ClaimStatus, EmailNotification, PoeDocument
from claims.policy import ClaimRules
from claims.services import challenges, claim_validate, emails_send_due
from claims.tasks import claim_challenges_notify_task
from claims.tests.factories import claim_make, claim_make_official

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(partner_a, m365_tenant, products):
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"], products["microsoft-teams"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        name="Contoso collaboration",
        challenges_checked_at=timezone.now(),  # as its validation left it: it challenged nobody
    )


def _challenge(partner_b, m365_tenant, products, django_capture_on_commit_callbacks, code="yammer"):
    """Partner B's claim for the item, validated: returns it and the challenge tasks its validation sent."""
    rival = claim_make(partner_b, tenant=m365_tenant, products=[products[code]], name="Fabrikam Yammer")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert claim_validate(claim_id=rival.pk) == ClaimStatus.UNDER_REVIEW
    sent = [c.keywords for c in callbacks if c.args and c.args[0] == "claim_challenges_notify_task"]
    return rival, sent


def test_challenge_notice_sent_once_when_the_task_runs_twice(
    holder, partner_b, m365_tenant, products, django_capture_on_commit_callbacks, mailoutbox
):
    rival, sent = _challenge(partner_b, m365_tenant, products, django_capture_on_commit_callbacks)
    assert sent == [{"claim_ids": [rival.pk]}]

    for _ in range(2):  # a redelivered task, or two workers
        claim_challenges_notify_task(**sent[0])
    emails_send_due()
    emails_send_due()

    event = holder.events.get(action=ClaimEvent.Action.CHALLENGED)
    assert event.data == {"challenge": {"claim": rival.pk, "items": [holder.items.get(product__code="yammer").pk]}}
    row = EmailNotification.objects.get(claim=holder, kind="challenged")
    assert (row.event, row.state) == (event, "sent")
    (message,) = mailoutbox
    assert message.to == ["claims@partner-a.example"]
    subject = "Another partner claims products of “Contoso collaboration”: you may add proof of execution"
    assert message.subject == subject
    assert "  - Yammer\n" in message.body and "Microsoft Teams" not in message.body
    assert "which is awaiting the customer" in message.body
    assert f"/incentives/customer-associations/{holder.pk}/#protect" in message.body
    for text in (message.body, message.alternatives[0][0]):
        assert "Fabrikam" not in text and "2000001" not in text
    # The holder's partner may protect its claim now (the rule book), and reads the challenge in its history.
    holder.refresh_from_db()
    assert holder.competing is True
    assert ClaimRules(holder, holder.created_by).protect


def test_challenge_notice_second_challenger_is_a_second_challenge(
    holder, partner_b, m365_tenant, products, django_capture_on_commit_callbacks, mailoutbox
):
    _first, sent = _challenge(partner_b, m365_tenant, products, django_capture_on_commit_callbacks)
    claim_challenges_notify_task(**sent[0])
    partner_c = make_partner("Tailspin Advisors", mpn_ids=["3000001"], email_domain="partner-c.example")
    _second, sent = _challenge(partner_c, m365_tenant, products, django_capture_on_commit_callbacks)
    claim_challenges_notify_task(**sent[0])
    claim_challenges_notify_task(**sent[0])

    assert holder.events.filter(action=ClaimEvent.Action.CHALLENGED).count() == 2
    assert EmailNotification.objects.filter(claim=holder, kind="challenged").count() == 2


def test_challenge_notice_to_an_official_holder_in_zh_hant(
    partner_a, partner_b, m365_tenant, products, django_capture_on_commit_callbacks, mailoutbox
):
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["exchange-online"])
    UserPreference.objects.create(user=make_user(official.partner_contact_email), language="zh-hant")
    mailoutbox.clear()
    _rival, sent = _challenge(partner_b, m365_tenant, products, django_capture_on_commit_callbacks, "exchange-online")

    claim_challenges_notify_task(**sent[0])
    emails_send_due()

    (message,) = [m for m in mailoutbox if "#protect" in m.body]
    assert message.subject == f"另一個合作夥伴宣告了「{official.name}」的產品：您可以新增執行證明"  # noqa: RUF001
    assert "另一個合作夥伴宣告了您已生效的客戶關聯" in message.body
    assert "Fabrikam" not in message.body


def test_challenge_notice_nobody_when_nothing_is_held(
    partner_a, partner_b, m365_tenant, products, django_capture_on_commit_callbacks
):
    # Partner A's claim for Yammer is only under review: both compete, neither holds it yet.
    claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    _rival, sent = _challenge(partner_b, m365_tenant, products, django_capture_on_commit_callbacks)

    assert claim_challenges_notify_task(**sent[0]) == []
    assert not ClaimEvent.objects.filter(action=ClaimEvent.Action.CHALLENGED).exists()
    assert not EmailNotification.objects.filter(kind="challenged").exists()


def test_challenge_poe_added_after_is_marked_for_the_reviewer(
    client, reviewer_client, partner_a, holder, partner_b, m365_tenant, products, django_capture_on_commit_callbacks
):
    before = holder.documents.get()
    PoeDocument.objects.filter(pk=before.pk).update(uploaded_at=timezone.now() - datetime.timedelta(days=3))
    rival, sent = _challenge(partner_b, m365_tenant, products, django_capture_on_commit_callbacks)
    claim_challenges_notify_task(**sent[0])
    after = PoeDocument.objects.create(
        claim=holder,
        file=before.file.name,
        original_name="renewed-sow.pdf",
        content_type="application/pdf",
        size=before.size,
        sha256=before.sha256,
        uploaded_at=timezone.now() + datetime.timedelta(seconds=1),
    )

    marks = dict(PoeDocument.objects.with_challenge_mark().filter(claim=holder).values_list("pk", "after_challenge"))
    assert marks == {before.pk: False, after.pk: True}
    page = reviewer_client.get(reverse("admin:claims_claim_compare", args=[rival.pk, holder.pk])).content.decode()
    assert page.count("Added after the challenge") == 1
    # The holder's side (second): the newest first, the mark on it only.
    newest = page.index("renewed-sow.pdf")
    assert newest < page.index("Added after the challenge") < page.index("proof.pdf", newest)
    # The partner's own history says it in words, without the rival.
    client.force_login(partner_a.admin)
    history = client.get(reverse("claims:detail", args=[holder.pk])).content.decode()
    assert "Another partner claimed products of this claim: a reviewer decides" in history
    assert "Fabrikam" not in history


def test_challenge_protect_rule_only_while_challenged(partner_a, m365_tenant, products):
    quiet = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.CUSTOMER_NOTIFIED
    )
    assert not ClaimRules(quiet, partner_a.admin).protect
    quiet.competing = True
    assert ClaimRules(quiet, partner_a.admin).protect
    assert not ClaimRules(quiet, partner_a.viewer).protect


def test_challenge_lost_task_is_sent_again_from_postgresql(
    holder, partner_a, partner_b, m365_tenant, products, django_capture_on_commit_callbacks, monkeypatch
):
    quiet = claim_make(partner_a, tenant=m365_tenant, products=[products["exchange-online"]])
    claim_validate(claim_id=quiet.pk)
    rival, _lost = _challenge(partner_b, m365_tenant, products, django_capture_on_commit_callbacks)
    quiet.refresh_from_db()
    rival.refresh_from_db()
    assert quiet.challenges_checked_at is not None  # challenges nobody
    assert rival.challenges_checked_at is None
    requeued = []
    monkeypatch.setattr(challenges, "task_send", lambda name, **kwargs: requeued.append((name, kwargs)))
    later = timezone.now() + datetime.timedelta(minutes=3)

    assert challenges.claims_requeue_challenges(now=timezone.now()) == 0  # not yet: its task may be on its way
    assert challenges.claims_requeue_challenges(now=later) == 1
    assert requeued == [("claim_challenges_notify_task", {"claim_ids": [rival.pk]})]

    claim_challenges_notify_task(**requeued[0][1])
    rival.refresh_from_db()
    assert rival.challenges_checked_at is not None
    assert holder.events.filter(action=ClaimEvent.Action.CHALLENGED).count() == 1
    assert challenges.claims_requeue_challenges(now=later) == 0
