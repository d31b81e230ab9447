"""Template helpers for the claim page's dispute block (SPEC §12)."""

from django import template
from django.utils import timezone

from claims.deadlines import dispute_deadline
from claims.models import ClaimStatus

register = template.Library()


@register.simple_tag
def dispute_window(claim):
    """Where a claim stands for a dispute: ``deadline`` (end of the window, for a rejected claim), ``open`` (it can
    be disputed now), ``already`` (it was disputed once), ``closed`` (rejected, and it can no longer be disputed:
    the 30 days ended, or the rejection is final; the page offers "Copy into a new claim" then)."""
    if claim.status == ClaimStatus.REJECTED_FINAL:
        return {"deadline": None, "open": False, "already": True, "closed": True}
    if claim.status != ClaimStatus.REJECTED:
        return {"deadline": None, "open": False, "already": claim.disputed_at is not None, "closed": False}
    deadline = dispute_deadline(claim.status_changed_at, time_zone=claim.time_zone)
    is_open = claim.disputed_at is None and timezone.now() <= deadline
    return {"deadline": deadline, "open": is_open, "already": claim.disputed_at is not None, "closed": not is_open}
