"""Finalization and ends: claims past their opt-out deadline become official (SPEC §5, §6), and associations
end (the partner disassociates, another partner's claim replaces them, their subscription ends)."""

from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from associations.models import Association, Subscription
from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, EmailNotification, item_key, item_keys_q
from claims.policy import ClaimRules, Refusal
from claims.services.items import item_keys_lock
from claims.services.notifications import outbox_add
from claims.services.transitions import (
    ClaimStatusConflict,
    PartnerActionRefused,
    claim_transition,
    claims_transition,
)


def associations_end(*, ids, reason, now, message=""):
    """End the associations ``ids`` (locked by the caller) with ``reason`` and ``message``, at ``now``."""
    if ids:
        Association.objects.filter(pk__in=ids).update(
            status=Association.Status.ENDED, ended_at=now, end_reason=reason, end_message=message
        )


def _claims_end_without_associations(*, association_ids, action, reason, now):
    """Official claims whose associations are now all ended become ``ended``.

    Returns (the ids among ``association_ids`` that came from a claim, those whose claim stays official).
    """
    rows = list(ClaimItem.objects.filter(association_id__in=association_ids).values_list("association_id", "claim_id"))
    claim_ids = sorted({c for _, c in rows})
    ending = list(
        Claim.objects.select_for_update()
        .filter(pk__in=claim_ids, status=ClaimStatus.OFFICIAL)
        .exclude(items__association__status=Association.Status.ACTIVE)
        .values_list("pk", flat=True)
    )
    claims_transition(
        claim_ids=ending,
        old_status=ClaimStatus.OFFICIAL,
        to=ClaimStatus.ENDED,
        actor=ClaimEvent.Actor.SYSTEM,
        action=action,
        reason=reason,
        now=now,
    )
    ended = set(ending)
    return {a for a, _ in rows}, {a for a, c in rows if c not in ended}


def _claims_finalize_locked(claim_ids, *, now, actor=ClaimEvent.Actor.SYSTEM, action=ClaimEvent.Action.FINALIZED):
    """Make the locked claims official (see ``claims_finalize_due``; the customer's Approve now, ``actor`` and
    ``action`` the customer's: ``claims.services.customer``): a fixed number of statements a chunk.

    1. Read the claims' items with their claim's partner, location and tenant (one query, plain tuples: model
       instances cost more than the writes), and take the advisory locks of their item keys.
    2. Move the claims to official through the shared transition helpers (one UPDATE, history and outbox rows).
    3. End the holders of the same keys: another partner's association is replaced, the same partner's imported
       Microsoft 365 (legacy) one is reassociated.
    4. Insert one Association per item and link the item to it (``_associations_create_for_items``).
    5. A claim left with no active association ends; the replaced partners are told.
    """
    items = list(
        # The items that go on (SPEC §7, §8): none a reviewer rejected or the customer opted out of.
        ClaimItem.objects.going_on()
        .filter(claim_id__in=claim_ids)
        .order_by()
        .annotate(
            key_tenant_id=Coalesce("tenant_id", "claim__tenant_id"),
            partner_id=F("claim__partner_id"),
            location_id=F("claim__location_id"),
        )
        .values_list(
            "pk",
            "claim_id",
            "program",
            "key_tenant_id",
            "product_id",
            "subscription_id",
            "partner_id",
            "location_id",
            named=True,
        )
    )
    order = {claim_id: n for n, claim_id in enumerate(claim_ids)}
    items.sort(key=lambda i: (order[i.claim_id], i.pk))
    partner_of = {item.claim_id: item.partner_id for item in items}

    keys = [item_key(i.program, i.key_tenant_id, i.product_id, i.subscription_id) for i in items]
    item_keys_lock(keys)

    claims_transition(
        claim_ids=claim_ids,
        old_status=ClaimStatus.CUSTOMER_NOTIFIED,
        to=ClaimStatus.OFFICIAL,
        actor=actor,
        action=action,
        now=now,
    )

    # Within a batch, of two claims for one key the one finalized last (latest deadline) wins.
    winner_for_key = {}
    for item, key in zip(items, keys, strict=True):
        winner_for_key[key] = item.claim_id

    # Holders of the same keys: another partner's active association is replaced; an imported Microsoft 365
    # (legacy) one of the same partner is superseded by this claim.
    replaced, reassociated, winner_of = [], [], {}
    rows = (
        Association.objects.select_for_update()
        .filter(
            item_keys_q(items, lambda i: i.key_tenant_id),
            status__in=[Association.Status.ACTIVE, Association.Status.LEGACY],
        )
        .values_list("pk", "program", "tenant_id", "product_id", "subscription_id", "partner_id", "status")
    )
    for pk, program, tenant_id, product_id, subscription_id, partner_id, status in rows:
        winner = winner_for_key.get(item_key(program, tenant_id, product_id, subscription_id))
        if winner is None:
            continue  # the superset filter matched a key nobody in this batch claims
        if partner_id == partner_of[winner]:
            if status == Association.Status.LEGACY:
                reassociated.append(pk)
            else:
                replaced.append(pk)
        else:
            replaced.append(pk)
            winner_of[pk] = winner
    associations_end(ids=replaced, reason=Association.EndReason.REPLACED, now=now)
    associations_end(ids=reassociated, reason=Association.EndReason.REASSOCIATED, now=now)

    won = [winner_for_key[key] == item.claim_id for item, key in zip(items, keys, strict=True)]
    created = _associations_create_for_items(items, won=won, now=now)
    for item, key, association_id, item_won in zip(items, keys, created, won, strict=True):
        if not item_won:
            replaced.append(association_id)
            if partner_of[winner_for_key[key]] != item.partner_id:
                winner_of[association_id] = winner_for_key[key]

    # The replaced partners are told: a claim left with nothing becomes "ended" (that email says why);
    # otherwise, and for imported associations, a "replaced" email names the item.
    from_claims, still_official = _claims_end_without_associations(
        association_ids=replaced, action=ClaimEvent.Action.REPLACED, reason=Association.EndReason.REPLACED, now=now
    )
    outbox_add(
        [
            (winner, EmailNotification.Kind.REPLACED, pk, None)
            for pk, winner in winner_of.items()
            if pk in still_official or pk not in from_claims
        ]
    )
    return len(claim_ids)


def _associations_create_for_items(items, *, won, now):
    """Insert one claim Association per item (active where ``won``, else ended as replaced) and set each item's
    ``association``; returns the new ids in the order of ``items``.

    One statement does both: the ids are drawn from the table's sequence first, so the INSERT and
    the UPDATE of the items agree on them without relying on the order of RETURNING rows. (bulk_create plus
    bulk_update took most of finalization's time: bulk_update builds one CASE branch per item.)
    """
    if not items:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH new AS (
                SELECT nextval(pg_get_serial_sequence('associations_association', 'id')) AS id, v.*
                FROM unnest(%(item)s::bigint[], %(partner)s::bigint[], %(location)s::bigint[], %(program)s::text[],
                            %(tenant)s::bigint[], %(product)s::bigint[], %(subscription)s::bigint[], %(won)s::boolean[])
                     AS v(item_id, partner_id, location_id, program, tenant_id, product_id, subscription_id, won)
            ), inserted AS (
                INSERT INTO associations_association (id, partner_id, location_id, program, tenant_id, product_id,
                                                      subscription_id, status, source, started_at, ended_at,
                                                      end_reason, end_message)
                SELECT id, partner_id, location_id, program, tenant_id, product_id, subscription_id,
                       CASE WHEN won THEN %(active)s ELSE %(ended)s END, %(source)s, %(now)s,
                       CASE WHEN won THEN NULL ELSE %(now)s::timestamptz END,
                       CASE WHEN won THEN '' ELSE %(replaced)s END, ''
                FROM new
            )
            UPDATE claims_claimitem AS item SET association_id = new.id
            FROM new WHERE item.id = new.item_id
            RETURNING item.id, new.id
            """,
            {
                "item": [i.pk for i in items],
                "partner": [i.partner_id for i in items],
                "location": [i.location_id for i in items],
                "program": [i.program for i in items],
                "tenant": [i.key_tenant_id for i in items],
                "product": [i.product_id for i in items],
                "subscription": [i.subscription_id for i in items],
                "won": won,
                "active": Association.Status.ACTIVE,
                "ended": Association.Status.ENDED,
                "source": Association.Source.CLAIM,
                "replaced": Association.EndReason.REPLACED,
                "now": now,
            },
        )
        association_of = dict(cursor.fetchall())
    return [association_of[item.pk] for item in items]


def claims_finalize_due(*, now=None, batch_size=500):
    """Make every ``customer_notified`` claim past its opt-out deadline official (a beat job).

    Only a claim whose customer's notice was delivered has a deadline (``claims.services.notices``): one still
    waiting for delivery is never taken, and PostgreSQL refuses the move for a claim without a delivered notice
    (migration 0013), whoever asks.

    Chunks of ``batch_size`` claims, each taken with ``select_for_update(skip_locked=True)`` in its own
    transaction: two runs at once take disjoint chunks, and a customer opting out holds the row lock, so
    exactly one of them acts. Writes are set-based (one UPDATE, bulk inserts). Returns how many became official.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Claim.objects.select_for_update(skip_locked=True)
                .filter(status=ClaimStatus.CUSTOMER_NOTIFIED, opt_out_deadline__isnull=False, opt_out_deadline__lt=now)
                .order_by("opt_out_deadline", "pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                _claims_finalize_locked(ids, now=now)
        total += len(ids)
        if len(ids) < batch_size:
            return total


def claim_disassociate(*, claim, user, reason):
    """The partner ends an official claim's associations (SPEC §5 ``ended``). Under the claim's row lock the rule book
    is asked again (``claims.policy``: official, and ``user`` an incentives admin of its partner): a claim moved
    meanwhile is ClaimStatusConflict, anything else it refuses PartnerActionRefused; nothing is written then."""
    reason = reason.strip()
    now = timezone.now()
    with transaction.atomic():
        locked = Claim.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=claim.pk)
        decision = ClaimRules(locked, user, now=now).disassociate
        if decision.refusal == Refusal.STATUS:
            raise ClaimStatusConflict(claim_id=claim.pk, current=locked.status, to=ClaimStatus.ENDED)
        if not decision:
            raise PartnerActionRefused(decision.why_not)
        claim_transition(
            claim=claim,
            to=ClaimStatus.ENDED,
            actor=ClaimEvent.Actor.PARTNER,
            user=user,
            action=ClaimEvent.Action.DISASSOCIATED,
            reason=Association.EndReason.DISASSOCIATED,
            message=reason,
            from_statuses=[ClaimStatus.OFFICIAL],
        )
        ids = list(
            Association.objects.select_for_update()
            .filter(claim_item__claim_id=claim.pk, status=Association.Status.ACTIVE)
            .values_list("pk", flat=True)
        )
        associations_end(ids=ids, reason=Association.EndReason.DISASSOCIATED, now=now, message=reason)
    return claim


def associations_end_expired(*, today=None, batch_size=500):
    """End active associations whose subscription has ended (imported Dynamics 365 / Power BI ones, and those
    from claims); a claim left with no active association becomes ``ended``."""
    today = today or timezone.localdate()
    now = timezone.now()
    total = 0
    expired = Q(subscription__isnull=False) & (
        ~Q(subscription__state=Subscription.State.ACTIVE) | Q(subscription__end_date__lt=today)
    )
    counted = Q(source=Association.Source.CLAIM) | Q(product__is_dynamics=True) | Q(product__code="power-bi-pro")
    while True:
        with transaction.atomic():
            ids = list(
                Association.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(expired, counted, status=Association.Status.ACTIVE)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            associations_end(ids=ids, reason=Association.EndReason.SUBSCRIPTION_ENDED, now=now)
            _claims_end_without_associations(
                association_ids=ids,
                action=ClaimEvent.Action.SUBSCRIPTION_ENDED,
                reason=Association.EndReason.SUBSCRIPTION_ENDED,
                now=now,
            )
        total += len(ids)
        if len(ids) < batch_size:
            return total
