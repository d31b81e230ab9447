"""The customer's choices racing the others on PostgreSQL, with real threads and connections (SPEC §7, issue 17):
Approve now against the finalization sweep and an opt-out, Decline later against the partner's disassociation.
Exactly one outcome per item, one event each."""

import datetime

import pytest

from associations.models import Association
from claims.models import ClaimEvent, ClaimItem, ClaimStatus, EmailNotification
from claims.services import claim_disassociate, claims_finalize_due
from claims.services.customer import customer_approve, customer_decline, customer_opt_out
from claims.tests.factories import claim_make
from claims.tests.test_races import _run_together

pytestmark = pytest.mark.django_db(transaction=True)
UTC = datetime.UTC
DEADLINE = datetime.datetime(2026, 12, 10, 4, 59, 59, tzinfo=UTC)
IN_TIME = DEADLINE - datetime.timedelta(seconds=1)
LATE = DEADLINE + datetime.timedelta(seconds=1)
Action = ClaimEvent.Action


def _pairs(products):
    workloads = [p for p in products.values() if p.solution_area == "microsoft_365"]
    return [workloads[n : n + 2] for n in range(0, 10, 2)]


def test_race_approve_now_against_the_sweep_and_an_opt_out_one_outcome_per_item(partner_a, m365_tenant, products):
    seen = set()
    for first, second in _pairs(products):  # five rounds, each claim with two items of its own
        claim = claim_make(
            partner_a,
            tenant=m365_tenant,
            products=[first, second],
            status=ClaimStatus.CUSTOMER_NOTIFIED,
            opt_out_deadline=DEADLINE,
            documents=(),
        )
        opt_out_item = claim.items.get(product=second)
        # The customer approves in one tab and opts out of the second product in another, within the window,
        # while the sweep runs just after it: all three believe they may act.
        results = _run_together(
            lambda claim=claim: customer_approve(claim=claim, now=IN_TIME),
            lambda claim=claim, item=opt_out_item: customer_opt_out(claim=claim, item_ids=[item.pk], now=IN_TIME),
            lambda: claims_finalize_due(now=LATE, batch_size=1),
        )
        claim.refresh_from_db()
        assert claim.status == ClaimStatus.OFFICIAL
        events = list(claim.events.values_list("action", flat=True))
        # One move to official, by the customer or the sweep, never both.
        moves = [a for a in events if a in (Action.CUSTOMER_APPROVED, Action.FINALIZED)]
        assert len(moves) == 1, events
        # Each item: exactly one outcome: official (one association) or opted out (one event), never both.
        for item in ClaimItem.objects.filter(claim=claim).select_related("association"):
            opted_out = item.outcome == ClaimItem.Outcome.OPTED_OUT
            assert opted_out != (item.association_id is not None), item
            if item.association_id:
                assert item.association.status == Association.Status.ACTIVE
        assert events.count(Action.ITEM_OPTED_OUT) == ClaimItem.objects.filter(claim=claim, outcome="opted_out").count()
        approved = (
            ClaimItem.objects.filter(claim=claim, outcome="").count() if moves[0] == Action.CUSTOMER_APPROVED else 0
        )
        assert events.count(Action.ITEM_APPROVED) == approved
        assert EmailNotification.objects.filter(claim=claim, kind="official").count() == 1
        seen.add((moves[0], bool(results[1])))
    assert seen  # (which actor won each round is up to the scheduler)


def test_race_decline_later_against_the_partners_disassociation(partner_a, m365_tenant, products):
    for first, second in _pairs(products)[:3]:
        claim = claim_make(
            partner_a,
            tenant=m365_tenant,
            products=[first, second],
            status=ClaimStatus.CUSTOMER_NOTIFIED,
            opt_out_deadline=DEADLINE,
            documents=(),
        )
        claims_finalize_due(now=LATE)
        claim.refresh_from_db()
        item = claim.items.get(product=first)

        _run_together(
            lambda claim=claim, item=item: customer_decline(claim=claim, item_ids=[item.pk], reason="No longer."),
            lambda claim=claim: claim_disassociate(claim=claim, user=partner_a.admin, reason="Contract over"),
        )
        claim.refresh_from_db()
        assert claim.status == ClaimStatus.ENDED
        assert not Association.objects.filter(claim_item__claim=claim, status="active").exists()
        item.refresh_from_db()
        declined = item.outcome == ClaimItem.Outcome.DECLINED
        events = list(claim.events.values_list("action", flat=True))
        assert events.count(Action.ITEM_DECLINED) == int(declined)
        assert events.count(Action.DISASSOCIATED) == 1
        # The declined item's association ended by the customer, the other's by the partner.
        ends = dict(Association.objects.filter(claim_item__claim=claim).values_list("product_id", "end_reason"))
        assert ends[first.pk] == ("customer_declined" if declined else "disassociated")
        assert ends[second.pk] == "disassociated"
