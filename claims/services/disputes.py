"""Disputes and protection (SPEC §5, §8, §12): the partner disputes a rejection (once, within DISPUTE_DAYS), and the
partner of an official association adds proof of execution with a comment to protect it.

The reviewer decides on a disputed claim with review's three decisions (``claims.services.review``: approve, ask
for more information, reject), where a rejection of a claim that was disputed is final (``rejected_final``).
"""

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from claims.deadlines import dispute_deadline
from claims.models import (
    ClaimEvent,
    ClaimStatus,
)
from claims.services.submission import claim_poe_add
from claims.services.transitions import claim_event_record, claim_transition


class PartnerActionRefused(Exception):
    """The claim does not allow what the partner asked (any more): ``message`` says why, in plain words."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def claim_dispute_deadline(claim):
    """When a ``rejected`` claim's dispute window ends (its rejection is its last status change)."""
    return dispute_deadline(claim.status_changed_at, time_zone=claim.time_zone)


def claim_dispute_refusal(claim, now=None):
    """Why ``claim`` cannot be disputed now, or None when it can: rejected, never disputed, within the window."""
    if claim.status != ClaimStatus.REJECTED:
        return gettext("Only a rejected claim can be disputed.")
    if claim.disputed_at is not None:
        return gettext("This claim was disputed once already: a rejection can be disputed only once.")
    deadline = claim_dispute_deadline(claim)
    if (now or timezone.now()) > deadline:
        return gettext("The 30 days to dispute this rejection ended on %(date)s.") % {
            "date": date_format(deadline, "DATE_FORMAT")
        }
    return None


def claim_dispute(*, claim, user, justification, files):
    """The partner disputes a rejection with a business justification and optional POE files (SPEC §12).

    1. Store the files (``claim_poe_add``).
    2. Under the claim's row lock: still ``rejected``, never disputed, within the window (PartnerActionRefused
       otherwise, and the files go again).
    3. Move it to ``disputed`` with ``disputed_at`` (set once: PostgreSQL refuses changing it after), the
       justification as the event's message, and the files as POE of the same moment.
    """

    def write(locked, now, added):
        refusal = claim_dispute_refusal(locked, now)
        if refusal:
            raise PartnerActionRefused(refusal)
        claim_transition(
            claim=locked,
            to=ClaimStatus.DISPUTED,
            actor=ClaimEvent.Actor.PARTNER,
            user=user,
            action=ClaimEvent.Action.DISPUTED,
            message=justification.strip(),
            changes={"disputed_at": now},
            data=added,
            from_statuses=[ClaimStatus.REJECTED],
        )

    locked = claim_poe_add(claim=claim, user=user, files=files, write=write, key_prefix="dispute")
    claim.status, claim.status_changed_at, claim.disputed_at = (
        locked.status,
        locked.status_changed_at,
        locked.disputed_at,
    )
    return claim


def claim_protect(*, claim, user, comment, files):
    """The partner of an official association adds POE with a comment to protect it (SPEC §8, §12): POE rows and
    one ``poe_added`` event, no status change. Refused (PartnerActionRefused) unless the claim is official."""

    def write(locked, now, added):
        if locked.status != ClaimStatus.OFFICIAL:
            raise PartnerActionRefused(gettext("Proof of execution can be added only to an official association."))
        claim_event_record(
            claim=locked,
            actor=ClaimEvent.Actor.PARTNER,
            user=user,
            action=ClaimEvent.Action.POE_ADDED,
            message=comment.strip(),
            data=added,
            created_at=now,
        )

    claim_poe_add(claim=claim, user=user, files=files, write=write, key_prefix="protect")
    return claim
