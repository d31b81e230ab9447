"""Per-item decisions and arbitration in words (SPEC §8): how an item of a claim ended, and why, for the partner's
claim page, the emails and the reviewer's pages."""

from django import template
from django.utils.translation import gettext

from claims.models import ClaimEvent, ClaimItem

from .lifecycle import reason_label

register = template.Library()


def outcome_reason(item):
    """Why ``item`` ended, in words: a reviewer's rejection reason by its label; a customer's words as written."""
    if not item.outcome_reason:
        return ""
    if item.outcome == ClaimItem.Outcome.REJECTED:
        return str(reason_label(item.outcome_reason, True))
    return item.outcome_reason


@register.filter
def item_outcome(item):
    """ "Going on", or how the item ended and why: "Rejected by the reviewer: The proof of execution does not support
    the claim"."""
    label = str(ClaimItem.Outcome(item.outcome).label)
    reason = outcome_reason(item)
    if not reason:
        return label
    return gettext("%(outcome)s: %(reason)s") % {"outcome": label, "reason": reason}


def item_notes(events):
    """{item id: the reviewer's note} of the items a reviewer rejected, from a claim's history (its ``item_rejected``
    events, whose data names the item)."""
    notes = {}
    for event in events:
        if event.action == ClaimEvent.Action.ITEM_REJECTED and event.message:
            for item_id in (event.data or {}).get("item_outcomes", {}):
                notes.setdefault(int(item_id), event.message)
    return notes
