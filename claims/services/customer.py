"""The customer's choices (SPEC §7): approve now, opt out of some or all items, end official ones later.

Whoever holds the claim's signed link acts as the customer (``ClaimEvent.Actor.CUSTOMER``). Each choice takes the
claim's row lock first, asks the rule book again (``claims.policy.CustomerRules``) on what it reads under the lock,
and then writes through the shared paths: items end through ``claim_items_end`` (PostgreSQL keeps an outcome once),
status moves through the one transition write, Approve now through finalization's own code. The finalization sweep,
the partner's disassociation and a reviewer's decision take the same row lock, so of two actors racing on an item
exactly one decides it, and a choice made twice (a replayed POST) finds it done: ``ALREADY``, nothing written.
"""

import dataclasses
from enum import StrEnum

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext

from associations.models import Association
from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, EmailNotification
from claims.policy import CustomerRules
from claims.services.finalization import _claims_finalize_locked, associations_end
from claims.services.items import claim_items_end, item_name
from claims.services.notifications import outbox_add
from claims.services.transitions import claim_event_record, claims_transition

CUSTOMER = ClaimEvent.Actor.CUSTOMER


class CustomerResult(StrEnum):
    DONE = "done"  # done now
    ALREADY = "already"  # done before (a replay): nothing written
    REFUSED = "refused"  # not allowed now: ``why_not`` says why


@dataclasses.dataclass(frozen=True)
class CustomerOutcome:
    result: CustomerResult
    why_not: str = ""

    def __bool__(self):
        return self.result != CustomerResult.REFUSED


def customer_items(claim_id):
    """The claim's items in the order the page lists them (by id), with their product, subscription and
    association."""
    return list(
        ClaimItem.objects.filter(claim_id=claim_id)
        .select_related("product", "subscription", "association")
        .order_by("pk")
    )


def customer_claim_prefetch(queryset):
    """``queryset`` of claims with what the customer's page and choices read."""
    items = ClaimItem.objects.select_related("product", "subscription", "association").order_by("pk")
    return queryset.select_related("partner", "location", "tenant").prefetch_related(Prefetch("items", queryset=items))


def _locked(claim):
    locked = Claim.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=claim.pk)
    return locked, customer_items(locked.pk)


def customer_approve(*, claim, now=None):
    """Approve now: the items that go on become official at once, as the sweep would make them at the deadline
    (finalization's own code: the associations, replaced holders, the partner's email), the move recorded as the
    customer's (``CUSTOMER_APPROVED``) with one ``ITEM_APPROVED`` row per item. An official claim: ``ALREADY``."""
    now = now or timezone.now()
    with transaction.atomic():
        locked, items = _locked(claim)
        rules = CustomerRules(locked, items, now=now)
        if locked.status == ClaimStatus.OFFICIAL:
            return CustomerOutcome(CustomerResult.ALREADY)
        decision = rules.approve_now
        if not decision:
            return CustomerOutcome(CustomerResult.REFUSED, decision.why_not)
        _claims_finalize_locked([locked.pk], now=now, actor=CUSTOMER, action=ClaimEvent.Action.CUSTOMER_APPROVED)
        for item in rules.going_on:
            claim_event_record(
                claim=locked,
                actor=CUSTOMER,
                action=ClaimEvent.Action.ITEM_APPROVED,
                old_value=item_name(item),
                created_at=now,
            )
    return CustomerOutcome(CustomerResult.DONE)


def _unchangeable():
    return CustomerOutcome(CustomerResult.REFUSED, gettext("None of the chosen products can be changed any more."))


def _chosen(items, item_ids):
    wanted = {int(pk) for pk in item_ids}
    return [item for item in items if item.pk in wanted]


def customer_opt_out(*, claim, item_ids, now=None):
    """Opt out of the items ``item_ids`` (ids of the claim's items) before the deadline: they end (``opted_out``,
    one history row each) and the claim goes on with the others, the partner told which (one email); opting out
    of every item that went on moves the claim to ``opted_out`` (its own email). Items already opted out of:
    ``ALREADY``."""
    now = now or timezone.now()
    with transaction.atomic():
        locked, items = _locked(claim)
        chosen = _chosen(items, item_ids)
        if not chosen:
            return _unchangeable()
        if all(item.outcome == ClaimItem.Outcome.OPTED_OUT for item in chosen):
            return CustomerOutcome(CustomerResult.ALREADY)
        rules = CustomerRules(locked, items, now=now)
        decision = rules.opt_out
        if not decision:
            return CustomerOutcome(CustomerResult.REFUSED, decision.why_not)
        ended = claim_items_end(
            claim=locked,
            item_ids=[item.pk for item in chosen if not item.outcome],
            outcome=ClaimItem.Outcome.OPTED_OUT,
            actor=CUSTOMER,
            now=now,
        )
        if not ended:
            return _unchangeable()
        if len(ended) == len(rules.going_on):
            claims_transition(
                claim_ids=[locked.pk],
                old_status=ClaimStatus.CUSTOMER_NOTIFIED,
                to=ClaimStatus.OPTED_OUT,
                actor=CUSTOMER,
                action=ClaimEvent.Action.OPTED_OUT,
                now=now,
            )
        else:
            outbox_add([(locked.pk, EmailNotification.Kind.ITEMS_OPTED_OUT, None, ended[0].event.pk)])
    return CustomerOutcome(CustomerResult.DONE)


def customer_decline(*, claim, item_ids, reason="", now=None):
    """Decline later: end the official associations of the items ``item_ids``, with the customer's optional
    ``reason``. Each item ends (``declined``, one history row each: "Customer ended the association") and its
    association ends (``customer_declined``): the partner no longer sees its usage from now on. Ending the last
    one moves the claim to ``ended`` (its email); otherwise the partner is told which (one email). Items already
    declined: ``ALREADY``."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        locked, items = _locked(claim)
        chosen = _chosen(items, item_ids)
        if not chosen:
            return _unchangeable()
        if all(item.outcome == ClaimItem.Outcome.DECLINED for item in chosen):
            return CustomerOutcome(CustomerResult.ALREADY)
        rules = CustomerRules(locked, items, now=now)
        decision = rules.decline
        if not decision:
            return CustomerOutcome(CustomerResult.REFUSED, decision.why_not)
        declinable = {item.pk for item in rules.declinable}
        association_ids = list(
            Association.objects.select_for_update()
            .filter(
                pk__in=[item.association_id for item in chosen if item.pk in declinable],
                status=Association.Status.ACTIVE,
            )
            .values_list("pk", flat=True)
        )
        ended = claim_items_end(
            claim=locked,
            item_ids=[item.pk for item in chosen if item.association_id in association_ids],
            outcome=ClaimItem.Outcome.DECLINED,
            actor=CUSTOMER,
            reason=reason,
            message=reason,
            now=now,
            reason_is_code=False,
        )
        if not ended:
            return _unchangeable()
        associations_end(
            ids=[item.association_id for item in ended],
            reason=Association.EndReason.CUSTOMER_DECLINED,
            now=now,
            message=reason,
        )
        if len(ended) == len(rules.declinable):
            claims_transition(
                claim_ids=[locked.pk],
                old_status=ClaimStatus.OFFICIAL,
                to=ClaimStatus.ENDED,
                actor=CUSTOMER,
                action=ClaimEvent.Action.CUSTOMER_DECLINED,
                message=reason,
                now=now,
            )
        else:
            outbox_add([(locked.pk, EmailNotification.Kind.ITEMS_DECLINED, None, ended[0].event.pk)])
    return CustomerOutcome(CustomerResult.DONE)
