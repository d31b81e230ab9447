"""Disputes and protection (SPEC §5, §8, §12): the partner disputes a rejection (once, within DISPUTE_DAYS), and the
partner of an official association adds proof of execution with a comment to protect it.

The reviewer decides on a disputed claim with review's three decisions (``claims.services.review``: approve, ask
for more information, reject), where a rejection of a claim that was disputed is final (``rejected_final``).
"""

from claims.models import (
    ClaimEvent,
    ClaimStatus,
)
from claims.policy import ClaimRules
from claims.services.submission import claim_poe_add
from claims.services.transitions import PartnerActionRefused, claim_event_record, claim_transition

__all__ = ["PartnerActionRefused", "claim_dispute", "claim_protect"]


def _rule_check(decision):
    """Under the row lock: the rule book's answer for the locked claim, or PartnerActionRefused with its reason."""
    if not decision:
        raise PartnerActionRefused(decision.why_not)


def claim_dispute(*, claim, user, justification, files):
    """The partner disputes a rejection with a business justification and optional POE files (SPEC §12).

    1. Store the files (``claim_poe_add``).
    2. Under the claim's row lock, the rule book (``claims.policy``) again: still ``rejected``, never disputed,
       within the window, and the user an incentives admin of its partner (PartnerActionRefused otherwise, and the
       files go again).
    3. Move it to ``disputed`` with ``disputed_at`` (set once: PostgreSQL refuses changing it after), the
       justification as the event's message, and the files as POE of the same moment.
    """

    def write(locked, now, added):
        _rule_check(ClaimRules(locked, user, now=now).dispute)
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
    one ``poe_added`` event, no status change. Refused (PartnerActionRefused) unless the rule book allows it under the
    row lock (the claim is official)."""

    def write(locked, now, added):
        _rule_check(ClaimRules(locked, user, now=now).protect)
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
