"""Decisions per item (SPEC §7, §8): one or more items of a claim end while the claim goes on with the others.

A reviewer rejects some items and approves the rest, the customer opts out of some before the deadline or ends
some after they became official: each is ``claim_items_end`` with its outcome. What happens to the claim (the move
when no item is left, an Association to end) is the caller's: this writes the items' outcome and their history.
"""

import hashlib

from django.db import connection, transaction
from django.utils import timezone

from claims.history import item_outcomes_data
from claims.models import Claim, ClaimEvent, ClaimItem
from claims.services.transitions import claim_event_record

ACTION_FOR_OUTCOME = {
    ClaimItem.Outcome.REJECTED: ClaimEvent.Action.ITEM_REJECTED,
    ClaimItem.Outcome.OPTED_OUT: ClaimEvent.Action.ITEM_OPTED_OUT,
    ClaimItem.Outcome.DECLINED: ClaimEvent.Action.ITEM_DECLINED,
}


def item_name(item):
    """An item as the history and the customer's page name it: its product, and its subscription if any."""
    if item.subscription_id:
        return f"{item.product.name} · {item.subscription.subscription_id}"
    return item.product.name


def claim_items_end(
    *, claim, item_ids, outcome, actor, user=None, reason="", message="", now=None, reason_is_code=True
):
    """End the items ``item_ids`` of ``claim`` with ``outcome`` (a ``ClaimItem.Outcome`` other than going on).

    1. Under the claim's row lock (callers racing on its items queue here), take those of the items that still go
       on: an item another actor ended meanwhile keeps its outcome (PostgreSQL refuses to change one anyway).
    2. Write their outcome, ``reason`` and the moment in one UPDATE.
    3. One history row per item (``ITEM_REJECTED``, ``ITEM_OPTED_OUT``, ``ITEM_DECLINED``) by ``actor``, with the
       reason and ``message``, the item's name as its ``old_value`` (what the history shows), and the item's outcome
       in its data (``claims_history_verify`` compares it).

    Returns the items it ended (ClaimItems with their product, each with ``event``: its history row), in id order;
    none when every one had ended.
    """
    outcome = ClaimItem.Outcome(outcome)
    if outcome == ClaimItem.Outcome.GOING_ON:
        raise ValueError("An item ends with an outcome.")
    now = now or timezone.now()
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        items = list(
            ClaimItem.objects.going_on()
            .filter(claim_id=locked.pk, pk__in=list(item_ids))
            .select_related("product", "subscription")
            .order_by("pk")
        )
        if not items:
            return []
        ClaimItem.objects.filter(pk__in=[item.pk for item in items]).update(
            outcome=outcome, outcome_reason=reason, outcome_at=now
        )
        for item in items:
            item.outcome, item.outcome_reason, item.outcome_at = outcome, reason, now
            item.event = claim_event_record(
                claim=locked,
                actor=actor,
                user=user,
                action=ACTION_FOR_OUTCOME[outcome],
                # A reviewer's reason is a code of a list; a customer's is their own words, kept as the message.
                reason=reason[:60] if reason_is_code else "",
                message=message,
                old_value=item_name(item),
                data=item_outcomes_data([item], outcome),
                created_at=now,
            )
    return items


def item_keys_lock(keys):
    """Serialise writers of the same item keys (PostgreSQL advisory locks, in a fixed order: no deadlocks), until
    the transaction ends.

    Two runs finalizing competing claims for one workload in different batches would otherwise both see no
    active association and the second would fail on the partial unique constraint; two reviewers approving
    competing claims at once would each see the other's still under review and neither would be asked to confirm
    (``claims.services.review.claim_approve``).
    """
    if not keys:
        return
    numbers = sorted(
        {int.from_bytes(hashlib.blake2b(repr(k).encode(), digest_size=8).digest(), "big", signed=True) for k in keys}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) AS keys", [numbers]
        )
