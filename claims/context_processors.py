"""The navigation's "Needs your action" count (SPEC §12), on every page of a partner user."""

import logging

from django.db import DatabaseError
from django.utils.functional import cached_property

from associations.access import get_membership
from claims import selectors
from claims.due import NEEDS_ACTION
from claims.models import ClaimStatus
from claims.policy import Viewer

logger = logging.getLogger(__name__)


class NeedsAction:
    """The count of the partner's claims waiting for them (ClaimStatus.needs_action: action required, drafts).

    Read when the template asks, at most once per request: from the per-status counters (one query, by the
    partner's index), or free on the list page, whose view already read them (``request.claim_status_counts``).
    """

    def __init__(self, request, partner):
        self._request = request
        self._partner = partner

    @cached_property
    def count(self):
        counts = getattr(self._request, "claim_status_counts", None)
        if counts is None:
            try:
                counts = selectors.claim_status_counts(partner=self._partner)
            except DatabaseError as exc:
                # A badge is no reason for an error page (a page rendered after its own write failed, say):
                # the link stays, without its number.
                logger.warning("Needs your action count not read: %r", exc)
                return None
            self._request.claim_status_counts = counts
        return sum(counts.get(status, 0) for status in ClaimStatus.needs_action())


def needs_action(request):
    """``needs_action`` (the count) for the partner users who act on claims (incentives admins); a view-only user's
    company may have claims waiting, none of them waiting for that user (the list says "Waiting for your company"
    instead). ``needs_action_filter``: whether the page is the list filtered to those claims."""
    user = getattr(request, "user", None)
    membership = get_membership(user) if user is not None else None
    if membership is None:
        return {}
    context = {"needs_action_filter": request.GET.get("status") == NEEDS_ACTION}
    if Viewer.of(user).acts:
        context["needs_action"] = NeedsAction(request, membership.partner)
    return context
