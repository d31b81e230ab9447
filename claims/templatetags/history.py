"""A claim's history in plain words (SPEC §12): who, what, the status change, the reason, in the reader's language."""

from django import template
from django.utils.translation import gettext

from claims.models import ClaimEvent, ClaimStatus

from .lifecycle import reason_label

register = template.Library()


def _humanize(code):
    # A code written before its label existed (the action field has no choices, so legacy rows stay readable):
    # words rather than "Information_requested".
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@register.filter
def history_actor(event):
    """Who acted. A partner user by name (or email); the reviewer's identity never reaches the partner."""
    if event.actor == ClaimEvent.Actor.PARTNER and event.user_id:
        return event.user.get_full_name() or event.user.email or event.user.get_username()
    if event.actor in ClaimEvent.Actor.values:
        return ClaimEvent.Actor(event.actor).label
    return _humanize(event.actor) if event.actor else gettext("System")


@register.filter
def history_action(code):
    """What happened: the action's label, or the humanized code of an action unknown to this version."""
    if code in ClaimEvent.Action.values:
        return ClaimEvent.Action(code).label
    return _humanize(code or "")


@register.filter
def status_label(code):
    """A status code as the partner reads it elsewhere on the page."""
    if code in ClaimStatus.values:
        return ClaimStatus(code).label
    return _humanize(code or "")


@register.filter
def history_reason(code):
    """A reason code's words; an unknown one humanized rather than shown raw."""
    label = reason_label(code)
    return _humanize(label) if label == code else label
