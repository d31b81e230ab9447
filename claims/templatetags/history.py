"""A claim's history in plain words (SPEC §12): who, what, the status change, the reason, in the reader's language.

A partner's change (an answer's edits, ``ClaimEvent.Action.CHANGED``) reads "Changed <field>: <old> → <new>" with
the field's label, never its column name; a removed product "Removed product: <name>".
"""

from django import template
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from claims.models import DRAFT_DAYS, ClaimEvent, ClaimStatus
from claims.vocabulary import APPROVED_OVER_COMPETING

from .lifecycle import reason_label

register = template.Library()

# The words of each field a partner may change while answering (SPEC §12), by the name the change is recorded
# under (a column, with or without its "_id", or what it stands for).
FIELD_LABELS = {
    "location": _("MPN ID"),
    "location_id": _("MPN ID"),
    "mpn_id": _("MPN ID"),
    "customer_contact_name": _("Customer contact name"),
    "customer_contact_title": _("Customer contact title"),
    "customer_contact_email": _("Customer contact email"),
    "technical_contact_name": _("Technical contact name"),
    "technical_contact_title": _("Technical contact title"),
    "technical_contact_email": _("Technical contact email"),
    "partner_contact_name": _("Your company's contact name"),
    "partner_contact_email": _("Your company's contact email"),
    "comments": _("Comments"),
    "product": _("Product"),
    "products": _("Product"),
    "item": _("Product"),
}
# The same fields in the reviewer's words (SPEC §8): a reviewer never reads the partner's "your company".
REVIEWER_FIELD_LABELS = {
    "partner_contact_name": _("Partner contact name"),
    "partner_contact_email": _("Partner contact email"),
}
# ``audience`` of the filters below: the reviewers' admin (the partner's page passes none).
REVIEWERS = "reviewers"
# Products are removed while answering, never added or changed (SPEC §12).
REMOVED_FIELDS = {"product", "products", "item"}


def _humanize(code):
    # A code written before its label existed (the action field has no choices, so legacy rows stay readable):
    # words rather than "Information_requested".
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@register.filter
def history_actor(event, audience=""):
    """Who acted. A partner user by name (or email); the reviewer's identity never reaches the partner, while
    reviewers (``audience`` "reviewers") read which reviewer it was."""
    if event.actor == ClaimEvent.Actor.PARTNER and event.user_id:
        return _user_name(event.user)
    if event.actor == ClaimEvent.Actor.REVIEWER and event.user_id and audience == REVIEWERS:
        role = ClaimEvent.Actor.REVIEWER.label
        return gettext("%(role)s (%(name)s)") % {"role": role, "name": _user_name(event.user)}
    if event.actor in ClaimEvent.Actor.values:
        return ClaimEvent.Actor(event.actor).label
    return _humanize(event.actor) if event.actor else gettext("System")


def _user_name(user):
    return user.get_full_name() or user.email or user.get_username()


@register.filter
def history_action(code):
    """What happened: the action's label, or the humanized code of an action unknown to this version."""
    if code in ClaimEvent.Action.values:
        return ClaimEvent.Action(code).label
    return _humanize(code or "")


def field_label(field, audience=""):
    label = (REVIEWER_FIELD_LABELS.get(field) if audience == REVIEWERS else None) or FIELD_LABELS.get(field)
    return str(label) if label is not None else _humanize(field)


@register.filter
def history_what(event, audience=""):
    """What happened, as a sentence: a change with its field and values, the lifecycle's new events in plain
    words; any other action by its label (``history_action``). The message is shown beside it."""
    action = event.action
    if action == ClaimEvent.Action.CHANGED and event.field:
        if event.field in REMOVED_FIELDS and not event.new_value:
            return gettext("Removed product: %(name)s") % {"name": event.old_value}
        return gettext("Changed %(field)s: %(old)s → %(new)s") % {
            "field": field_label(event.field, audience),
            "old": event.old_value or "—",
            "new": event.new_value or "—",
        }
    if action == ClaimEvent.Action.POE_ADDED:
        if event.new_value:
            return gettext("Added proof of execution: %(name)s") % {"name": event.new_value}
        return gettext("Added proof of execution")
    if action == ClaimEvent.Action.DISPUTED:
        return gettext("Disputed the rejection")
    if action == ClaimEvent.Action.DISPUTE_REJECTED:
        return gettext("Rejected the dispute")
    if action == ClaimEvent.Action.CHALLENGED:
        # Never who challenges (SPEC §8): the partner reads this row too.
        return gettext("Another partner claimed products of this claim: a reviewer decides")
    if action == ClaimEvent.Action.EXPIRED:
        return gettext("The draft expired after %(days)s days untouched") % {"days": DRAFT_DAYS}
    if action in ITEM_WORDS and event.old_value:
        return str(ITEM_WORDS[action]) % {"name": event.old_value}
    return history_action(action)


# One item's end or approval (SPEC §7, §8), with the item's name (``claims.services.items``).
ITEM_WORDS = {
    ClaimEvent.Action.ITEM_REJECTED: _("Product rejected: %(name)s"),
    ClaimEvent.Action.ITEM_OPTED_OUT: _("Customer opted out of %(name)s"),
    ClaimEvent.Action.ITEM_DECLINED: _("Customer ended the association for %(name)s"),
    ClaimEvent.Action.ITEM_APPROVED: _("Customer approved %(name)s"),
}


@register.filter
def status_label(code):
    """A status code as the partner reads it elsewhere on the page."""
    if code in ClaimStatus.values:
        return ClaimStatus(code).label
    return _humanize(code or "")


# The events whose reason is a rejection's (the others with a reason are information requests).
REJECTION_ACTIONS = {
    ClaimEvent.Action.REJECTED,
    ClaimEvent.Action.NO_RESPONSE,
    ClaimEvent.Action.VALIDATION_FAILED,
    ClaimEvent.Action.DISPUTE_REJECTED,
    ClaimEvent.Action.ITEM_REJECTED,
}


@register.filter
def history_reason(event):
    """An event's reason in words, from the list its action used; an unknown one humanized rather than shown raw."""
    if event.action == ClaimEvent.Action.APPROVED and event.reason == APPROVED_OVER_COMPETING:
        return gettext("Approved over another partner's claim or association, confirmed by the reviewer")
    label = reason_label(event.reason, event.action in REJECTION_ACTIONS)
    return _humanize(label) if label == event.reason else label
