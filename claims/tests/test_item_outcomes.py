"""Decisions per item (SPEC §7, §8): an item ends with an outcome (rejected, opted out, declined) while its claim
goes on with the others; the outcome is written once, recorded per item in the history, and what goes on is what
finalization, availability and the customer's notice read."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from associations.models import Association
from claims.emails import customer_notified_email
from claims.history import claim_content
from claims.models import ClaimEvent, ClaimItem, ClaimStatus
from claims.selectors import product_availability
from claims.services import claims_finalize_due
from claims.services.items import claim_items_end
from claims.services.transitions import claim_event_record
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 12, 10, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def notified(partner_a, m365_tenant, products):
    """A claim awaiting the customer for Teams and Yammer, its deadline passed, with its submission's snapshot in
    its history (as the wizard's submit writes it)."""
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=NOW - datetime.timedelta(minutes=1),
        documents=(),
    )
    claim_event_record(
        claim=claim,
        actor=ClaimEvent.Actor.SYSTEM,
        action=ClaimEvent.Action.APPROVED,
        new_status=ClaimStatus.CUSTOMER_NOTIFIED,
        data={"snapshot": claim_content(claim, list(claim.items.all()), [])},
    )
    return claim


def _item(claim, code):
    return claim.items.get(product__code=code)


def test_item_outcomes_end_only_the_chosen_items_with_one_event_each(notified, partner_a):
    yammer = _item(notified, "yammer")

    ended = claim_items_end(
        claim=notified, item_ids=[yammer.pk], outcome="opted_out", actor="customer", reason="", message="Not Yammer."
    )

    assert [item.pk for item in ended] == [yammer.pk]
    assert sorted(notified.items.values_list("product__code", "outcome")) == [
        ("microsoft-teams", ""),
        ("yammer", "opted_out"),
    ]
    assert yammer.__class__.objects.get(pk=yammer.pk).outcome_at is not None
    event = notified.events.get(action=ClaimEvent.Action.ITEM_OPTED_OUT)
    assert (event.actor, event.message) == ("customer", "Not Yammer.")
    assert event.data == {"item_outcomes": {str(yammer.pk): "opted_out"}}
    notified.refresh_from_db()
    assert notified.status == ClaimStatus.CUSTOMER_NOTIFIED  # the claim goes on with Teams


def test_item_outcomes_second_call_changes_nothing(notified):
    yammer = _item(notified, "yammer")
    claim_items_end(claim=notified, item_ids=[yammer.pk], outcome="opted_out", actor="customer")
    events = notified.events.count()

    again = claim_items_end(claim=notified, item_ids=[yammer.pk], outcome="rejected", actor="reviewer")

    assert again == []
    assert ClaimItem.objects.get(pk=yammer.pk).outcome == "opted_out"
    assert notified.events.count() == events


def test_item_outcomes_postgres_keeps_an_outcome_once_written(notified):
    yammer = _item(notified, "yammer")
    claim_items_end(claim=notified, item_ids=[yammer.pk], outcome="opted_out", actor="customer")

    for change in ({"outcome": "rejected"}, {"outcome": ""}, {"outcome_reason": "other words"}):
        with pytest.raises(IntegrityError, match="already ended"), transaction.atomic():
            ClaimItem.objects.filter(pk=yammer.pk).update(**change)
    with pytest.raises(IntegrityError, match="claimitem_outcome_known_and_dated"), transaction.atomic():
        ClaimItem.objects.filter(pk=_item(notified, "microsoft-teams").pk).update(outcome="opted_out")


def test_item_outcomes_finalization_makes_only_the_items_that_go_on_official(notified):
    claim_items_end(claim=notified, item_ids=[_item(notified, "yammer").pk], outcome="opted_out", actor="customer")

    assert claims_finalize_due(now=NOW) == 1

    notified.refresh_from_db()
    assert notified.status == ClaimStatus.OFFICIAL
    assert list(Association.objects.values_list("product__code", flat=True)) == ["microsoft-teams"]
    assert _item(notified, "yammer").association_id is None


def test_item_outcomes_an_ended_item_no_longer_pends_for_other_partners(notified, partner_b, m365_tenant, products):
    yammer = products["yammer"]

    def status():
        statuses, _subscriptions, _own = product_availability(
            partner=partner_b.partner,
            tenant=m365_tenant,
            solution_area="microsoft_365",
            activities=["usage"],
            products=[yammer],
            subscriptions={},
        )
        return statuses[yammer.pk]

    before = status()
    claim_items_end(claim=notified, item_ids=[_item(notified, "yammer").pk], outcome="opted_out", actor="customer")

    assert (before, status()) == ("pending", "free")


def test_item_outcomes_customer_notice_names_only_the_items_that_go_on(notified):
    claim_items_end(claim=notified, item_ids=[_item(notified, "yammer").pk], outcome="rejected", actor="reviewer")

    message = customer_notified_email(notified)

    assert "Microsoft Teams" in message.body
    assert "Yammer" not in message.body


def test_item_outcomes_verify_reads_them_and_names_an_outcome_changed_behind_its_back(notified, owner_db):
    claim_items_end(claim=notified, item_ids=[_item(notified, "yammer").pk], outcome="opted_out", actor="customer")
    out = io.StringIO()
    call_command("claims_history_verify", stdout=out)
    assert "every claim as its history says" in out.getvalue()

    teams = _item(notified, "microsoft-teams")
    with owner_db.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE claims_claimitem SET outcome = 'opted_out', outcome_at = now() WHERE id = %s", [teams.pk]
        )
    owner_db.commit()

    with pytest.raises(Exception, match=rf"item {teams.pk} outcome"):
        call_command("claims_history_verify", stdout=io.StringIO())
