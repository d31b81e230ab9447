"""A claim's review page (SPEC §8): one compact, read-only page that fits two screens at 1,366 by 900 for a typical
claim. Items with their availability, the competing claims and associations (each linked to its page), the POE
newest first with where each came from and its short-lived link, the contacts, the partner's changes old → new,
the comments and the dispute's justification as text, and the history in the partner page's words
(``claims.templatetags.history``) with the reviewer's identity. The decision buttons are the rule book's
(``claims.admin.decisions``). A handful of queries, whatever the claim.
"""

from django.utils import timezone
from django.utils.translation import gettext

from claims.models import ClaimEvent
from claims.selectors import notice_delivery_for_page
from claims.selectors.review import claim_rivals, poe_sources, review_due_state

REVIEW_PAGE_TEMPLATE = "admin/claims/claim/review.html"


class ReviewPageMixin:
    """For ClaimAdmin: the review page's context, and no form fields nor inlines to build."""

    change_form_template = REVIEW_PAGE_TEMPLATE

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A review, never a form to change (Django's title: "Change claim").
        extra_context = {"title": gettext("Review the claim"), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_inlines(self, request, obj):
        return []  # the page lists items, POE and history itself (review.html), in fewer queries

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["review"] = claim_review(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


def claim_review(claim):
    """What the review page shows of ``claim`` (its partner, location and tenant loaded): five queries, six with a
    customer's notice."""
    items = list(claim.items.select_related("product", "subscription"))
    events = list(claim.events.select_related("user"))
    documents = sorted(claim.documents.with_challenge_mark(), key=lambda d: (d.uploaded_at, d.pk), reverse=True)
    sources = poe_sources(events)
    for document in documents:
        document.source = sources.get(document.pk, "submission")
    rivals, availability = claim_rivals(claim, items)
    for item in items:
        item.availability = availability.get(item.pk, "")
    justification = next((e for e in events if e.action == ClaimEvent.Action.DISPUTED), None)
    now = timezone.now()
    due = claim.review_window(now)
    return {
        "items": items,
        "documents": documents,
        "events": events,
        "changes": [e for e in events if e.action == ClaimEvent.Action.CHANGED and e.field],
        "rivals": rivals,
        "justification": justification.message if justification else "",
        "notice": notice_delivery_for_page(claim, events),
        "due": due,
        "due_state": review_due_state(due.until, now=now, zone=timezone.get_current_timezone()) if due else "",
    }
