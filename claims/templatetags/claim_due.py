"""What a claim waits for and by when (SPEC §12), for the claim page: ``{{ claim|claim_due }}``."""

from django import template
from django.utils import timezone

from claims.due import claim_due as _claim_due
from claims.due import due_display

register = template.Library()


@register.filter
def claim_due(claim, acts=True):
    """The words of what ``claim`` (its tenant loaded) waits for (``claims.due.due_display``), or None, its date in
    the viewer's zone; ``acts``: whether the reader acts for the partner (the rule book's ``rules.acts``)."""
    return due_display(_claim_due(claim, now=timezone.now()), acts=acts, zone=timezone.get_current_timezone())
