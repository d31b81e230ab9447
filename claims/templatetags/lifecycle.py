"""Template helpers for the lifecycle panel."""

from django import template

from claims import reasons
from claims.models import InformationReason, RejectionReason

register = template.Library()


@register.filter
def reason_label(code, rejection=False):
    """The words for a reason code stored on a ClaimEvent (information request or rejection). Both lists have
    some of the same codes (``poe_insufficient``, ``other``): ``rejection`` says which list the event used."""
    for choices in (RejectionReason, InformationReason) if rejection else (InformationReason, RejectionReason):
        if code in choices.values:
            return choices(code).label
    return code


@register.filter
def rejection_reason(text):
    """A stored rejection reason (English) in the reader's language (claims.reasons)."""
    return reasons.reason_display(text)
