"""Drafts (SPEC §12): continue editing (the wizard, resumed), delete a draft, and Copy into a new claim.

The views of the claim list and page are in ``claims.views``; these are the draft's own.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from associations.access import scoped
from claims.models import Claim
from claims.policy import ClaimRules, Refusal
from claims.services.drafts import ClaimNotCopyable, DraftLimitReached, claim_copy_to_draft, claim_draft_delete
from claims.views.detail import _refuse, acts_required
from claims.wizard import ClaimWizard, draft_limit_page

# GET /customer-associations/<id>/edit/ opens the draft in this session at its saved step (ClaimWizard.get);
# its POSTs are the wizard's, whichever URL they reach.
claim_draft_edit = ClaimWizard.as_view()


@require_http_methods(["GET", "HEAD", "POST"])
@acts_required
def claim_draft_delete_view(request, claim_id):
    """GET asks to confirm; POST deletes the draft, its uploads and their files. Only the partner's own drafts, by
    an incentives admin (the rule book; a view-only user gets 403): anything else is a 404 (a submitted claim has no
    delete page; it is never deleted, and PostgreSQL refuses it too)."""
    claim = get_object_or_404(scoped(Claim.objects.select_related("tenant"), request), pk=claim_id)
    decision = ClaimRules(claim, request.user).delete_draft
    if not decision:
        if decision.refusal == Refusal.STATUS:
            raise Http404("Not a draft.")
        return _refuse(request, claim, decision)
    if request.method != "POST":
        return render(request, "claims/draft_delete.html", {"claim": claim})
    if claim_draft_delete(partner=request.partner, claim_id=claim.pk):
        messages.success(request, gettext("The draft was deleted."))
    return redirect("claims:list")


@require_POST
@acts_required
def claim_copy_view(request, claim_id):
    """Copy into a new claim: a new draft with what was entered on this claim (not its POE), opened at step 1."""
    claim = get_object_or_404(scoped(Claim.objects.select_related("location", "tenant"), request), pk=claim_id)
    decision = ClaimRules(claim, request.user).copy
    if not decision:
        return _refuse(request, claim, decision)
    try:
        draft = claim_copy_to_draft(claim=claim, user=request.user)
    except ClaimNotCopyable:
        messages.error(request, gettext("This claim cannot be copied into a new claim."))
        return redirect("claims:detail", claim.pk)
    except DraftLimitReached:
        return draft_limit_page(request)
    messages.info(
        request,
        gettext("This new claim is a copy. The proof of execution is not copied: add it again."),
    )
    return redirect("claims:draft_edit", draft.pk)
