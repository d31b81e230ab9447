"""Template helpers for the lifecycle panel."""

from django import template

register = template.Library()


@register.filter
def reason_label(code):
    """The words for a reason code stored on a ClaimEvent (information request or rejection)."""
    from claims.services import InformationReason, RejectionReason

    for choices in (InformationReason, RejectionReason):
        if code in choices.values:
            return choices(code).label
    return code
