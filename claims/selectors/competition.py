"""Arbitration (SPEC §8): which other partners' claims and associations compete with a claim for its items, and which
of its items an approval would take from a partner who already has them awaiting the customer or official.

A competitor shares an item key (``claims.items.item_key``) with one of the claim's items that still go on: another
partner's submitted claim that is open or official (with an item of that key that goes on), or another partner's
active association (imported ones included). Read-only; a fixed number of queries per claim.
"""

import dataclasses

from django.db.models.functions import Coalesce

from associations.models import Association
from claims.models import Claim, ClaimItem, ClaimStatus, item_key, item_keys_q

# The statuses in which another claim already has its items: approving ours for the same item takes them from it.
HOLDING = (ClaimStatus.CUSTOMER_NOTIFIED, ClaimStatus.OFFICIAL)
# The statuses in which another partner's claim competes: still open, or official.
COMPETING = (*ClaimStatus.open(), ClaimStatus.OFFICIAL)


@dataclasses.dataclass(frozen=True)
class Competitor:
    """Another partner's claim that competes with ours: ``items``, its items sharing a key with ours; ``ours``, the ids
    of our items they compete for; ``holds``: it has them awaiting the customer or official."""

    claim: Claim
    items: list
    ours: frozenset

    @property
    def holds(self):
        return self.claim.status in HOLDING


def _going_on(claim, items=None):
    items = list(items) if items is not None else list(claim.items.going_on().select_related("product"))
    return [item for item in items if not item.outcome]


def _keys(claim, items):
    return {item_key(i.program, i.tenant_id or claim.tenant_id, i.product_id, i.subscription_id): i for i in items}


def competing_claims(claim, *, items=None):
    """The other partners' claims competing with ``claim`` (``Competitor``s), the newest submission first.
    ``items``: the claim's items when the caller has them (their ``outcome`` read: only those that go on count)."""
    items = _going_on(claim, items)
    if not items or claim.tenant_id is None:
        return []
    ours = _keys(claim, items)
    rows = (
        ClaimItem.objects.going_on()
        .filter(item_keys_q(items, lambda i: i.tenant_id or claim.tenant_id), claim__status__in=COMPETING)
        .exclude(claim__partner_id=claim.partner_id)
        .annotate(key_tenant_id=Coalesce("tenant_id", "claim__tenant_id"))
        .select_related("claim__partner", "claim__location", "product", "subscription")
        .order_by("-claim__submitted_at", "claim_id", "pk")
    )
    found = {}
    for row in rows:
        mine = ours.get(item_key(row.program, row.key_tenant_id, row.product_id, row.subscription_id))
        if mine is None:
            continue  # the superset filter matched a key that is not ours
        found.setdefault(row.claim_id, (row.claim, []))[1].append((row, mine.pk))
    return [
        Competitor(claim=other, items=[row for row, _ in pairs], ours=frozenset(pk for _, pk in pairs))
        for other, pairs in found.values()
    ]


def competing_associations(claim, *, items=None):
    """Other partners' active associations for ``claim``'s items that no claim made (imported ones): [(association,
    our item)]. Those a claim made are that claim's (``competing_claims``)."""
    items = _going_on(claim, items)
    if not items or claim.tenant_id is None:
        return []
    ours = _keys(claim, items)
    rows = (
        Association.objects.active()
        .filter(item_keys_q(items, lambda i: i.tenant_id or claim.tenant_id), claim_item__isnull=True)
        .exclude(partner_id=claim.partner_id)
        .select_related("partner", "product", "subscription")
        .order_by("pk")
    )
    found = []
    for association in rows:
        mine = ours.get(
            item_key(association.program, association.tenant_id, association.product_id, association.subscription_id)
        )
        if mine is not None:
            found.append((association, mine))
    return found


def contested_items(claim, *, items=None, item_ids=None):
    """Of ``claim``'s items that go on (only ``item_ids`` when given), those that another partner's claim already has
    awaiting the customer or official, or that another partner's imported association holds: approving them asks
    the reviewer to confirm, with a reason (SPEC §8). Returns {our item id: [the competitors' claims or
    associations]}."""
    items = _going_on(claim, items)
    if item_ids is not None:
        wanted = set(item_ids)
        items = [item for item in items if item.pk in wanted]
    contested = {}
    for competitor in competing_claims(claim, items=items):
        if competitor.holds:
            for pk in competitor.ours:
                contested.setdefault(pk, []).append(competitor.claim)
    for association, mine in competing_associations(claim, items=items):
        contested.setdefault(mine.pk, []).append(association)
    return contested
