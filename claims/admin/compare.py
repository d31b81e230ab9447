"""Arbitration in admin (SPEC §8): two competing claims side by side, both partners' items, POE (the newest first,
with upload dates, short-lived download links and the mark of POE added after a challenge), history in plain words
and contacts, with each claim's decisions (the rule book's). A view on ClaimAdmin (``ArbitrationAdminMixin``), under
the admin's site, permissions and look: ``/admin/claims/claim/<id>/compare/<other id>/``.
"""

import dataclasses

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext

from claims.models import ClaimEvent, ClaimItem, PoeDocument
from claims.policy import ClaimRules
from claims.selectors.competition import competing_claims


@dataclasses.dataclass(frozen=True)
class Side:
    """One claim of the comparison, with what the page shows of it."""

    claim: object
    items: list
    documents: list
    events: list
    rules: ClaimRules
    shared: frozenset  # ids of its items that the other claim competes for


class ArbitrationAdminMixin:
    """For ClaimAdmin: the side-by-side view (``compare_view``) and its URL."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:claim_id>/compare/<int:other_id>/", view(self.compare_view), name="claims_claim_compare"),
            *super().get_urls(),
        ]

    def _side(self, request, claim_id):
        claims = self.get_queryset(request).select_related("partner", "location", "tenant")
        claims = claims.prefetch_related(
            Prefetch("items", queryset=ClaimItem.objects.select_related("product", "subscription", "association")),
            Prefetch(
                "documents",
                queryset=PoeDocument.objects.with_challenge_mark().order_by("-uploaded_at", "-id"),
                to_attr="documents_newest_first",
            ),
            Prefetch("events", queryset=ClaimEvent.objects.select_related("user").defer("data")),
        )
        claim = claims.filter(pk=claim_id).first()
        if claim is None:
            raise Http404(gettext("No claim with this number is open to review."))
        return claim

    def compare_view(self, request, claim_id, other_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if claim_id == other_id:
            raise Http404(gettext("Compare a claim with another claim."))
        claims = [self._side(request, claim_id), self._side(request, other_id)]
        sides = []
        for claim, other in (claims, claims[::-1]):
            items = list(claim.items.all())
            competitor = next(
                (c for c in competing_claims(other, items=other.items.all()) if c.claim.pk == claim.pk), None
            )
            sides.append(
                Side(
                    claim=claim,
                    items=items,
                    documents=claim.documents_newest_first,
                    events=list(claim.events.all()),
                    rules=ClaimRules(claim, request.user),
                    shared=frozenset(item.pk for item in competitor.items) if competitor else frozenset(),
                )
            )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Compare %(claim)s and %(other)s")
            % {"claim": claims[0].number, "other": claims[1].number},
            "original": claims[0],
            "sides": sides,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/claims/claim/compare.html", context)
