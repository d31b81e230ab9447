"""The challenge notice (SPEC §8): when another partner's claim for the same items passes validation, the partner who
already has them awaiting the customer or official is told once (never who challenges) and may add POE to protect
them (``claims.services.disputes.claim_protect``) until the reviewer decides.

A challenge is one (holder's claim, challenging claim) pair. It is recorded as a ``challenged`` event on the holder's
claim, whose ``data`` names the challenging claim and the holder's items it wants (``{"challenge": {"claim": id,
"items": [ids]}}``: the reviewer's, never shown to the partner), and its email belongs to that event (the outbox's
one email per event). The event is written under the holder's row lock after looking for one of the same pair, so a
task run twice, or two at once, writes one event and one email. The reviewer sees the POE added since
(``PoeDocument.objects.with_challenge_mark``).
"""

import datetime

from django.db import transaction
from django.utils import timezone

from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification
from claims.selectors.competition import HOLDING, competing_claims
from claims.services.jobs import task_send
from claims.services.notifications import outbox_add
from claims.services.transitions import claim_event_record

# The challenging claim's statuses in which it challenges: validated and not decided against.
CHALLENGING = [status for status in ClaimStatus.open() if status != ClaimStatus.SUBMITTED]
# Challengers per requeued task.
CHALLENGE_BATCH = 200


def claim_challenges_notify(*, claim_ids):
    """Tell the holders challenged by the claims ``claim_ids`` (those still challenging: validated, open and
    competing), once per (holder, challenger), then mark the claims checked (``challenges_checked_at``: the
    requeue job leaves them alone). Returns the ids of the holders' claims told now."""
    claim_ids = list(claim_ids)
    told = []
    challengers = Claim.objects.filter(pk__in=list(claim_ids), competing=True, status__in=CHALLENGING).order_by("pk")
    for challenger in challengers.select_related("tenant"):
        for competitor in competing_claims(challenger):
            if competitor.holds and _holder_tell(
                holder_id=competitor.claim.pk,
                challenger_id=challenger.pk,
                item_ids=sorted(item.pk for item in competitor.items),
            ):
                told.append(competitor.claim.pk)
    Claim.objects.filter(pk__in=claim_ids, challenges_checked_at__isnull=True).update(
        challenges_checked_at=timezone.now()
    )
    return told


def claims_requeue_challenges(*, older_than=datetime.timedelta(minutes=2), now=None, limit=1000):
    """Send the challenge task again for challengers whose task never ran (a lost broker, a dead worker): validated,
    competing, still challenging and not checked a while after their last move. Returns how many were waiting."""
    now = now or timezone.now()
    ids = list(
        Claim.objects.filter(
            competing=True,
            challenges_checked_at__isnull=True,
            status_changed_at__lt=now - older_than,
            status__in=CHALLENGING,
        )
        .order_by("status_changed_at")
        .values_list("pk", flat=True)[:limit]
    )
    for start in range(0, len(ids), CHALLENGE_BATCH):
        task_send("claim_challenges_notify_task", claim_ids=ids[start : start + CHALLENGE_BATCH])
    return len(ids)


def _holder_tell(*, holder_id, challenger_id, item_ids):
    """The ``challenged`` event and its email, unless this pair has one already or the holder moved on."""
    with transaction.atomic():
        holder = Claim.objects.select_for_update().filter(pk=holder_id, status__in=HOLDING).first()
        if holder is None:
            return False
        if ClaimEvent.objects.filter(
            claim_id=holder_id, action=ClaimEvent.Action.CHALLENGED, data__challenge__claim=challenger_id
        ).exists():
            return False
        event = claim_event_record(
            claim=holder,
            actor=ClaimEvent.Actor.SYSTEM,
            action=ClaimEvent.Action.CHALLENGED,
            data={"challenge": {"claim": challenger_id, "items": item_ids}},
        )
        outbox_add([(holder.pk, EmailNotification.Kind.CHALLENGED, None, event.pk)])
    return True
