"""The claim page's dispute and protect actions (SPEC §12): the partner disputes a rejection (once, within the
window) and adds proof of execution to an official association. Same shape as ``claims.views``: the claim or a
404, a form, one service call, a redirect; a form with errors shows the claim page again with them at the fields.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_POST

from associations.access import admin_role_required
from claims.forms_disputes import DisputeForm, ProtectForm
from claims.models import ClaimStatus
from claims.services import PoeStorageError
from claims.services.disputes import PartnerActionRefused, claim_dispute, claim_dispute_refusal, claim_protect
from claims.uploads import POE_TYPES
from claims.views import _get_claim_for_user

STORAGE_DOWN = gettext_noop("The file storage is not available. Nothing was sent: try again in a moment.")


def _claim_page(request, claim, **forms):
    """The claim page again (as ``claims.views.claim_detail`` shows it) with a form's errors, nothing saved."""
    items = list(claim.items.select_related("product", "subscription"))
    context = {
        "claim": claim,
        "items": items,
        "products": sorted({item.product for item in items}, key=lambda p: (p.sort_order, p.name)),
        "documents": list(claim.documents.all()),
        "events": list(claim.events.select_related("user")),
        "poe_types": POE_TYPES,
        **forms,
    }
    return render(request, "claims/claim_detail.html", context, status=400)


@require_POST
@admin_role_required
def claim_dispute_view(request, claim_id):
    """The partner disputes a rejection with a business justification and optional POE files."""
    claim = _get_claim_for_user(request, claim_id)
    refusal = claim_dispute_refusal(claim)
    if refusal:
        messages.error(request, refusal)
        return redirect("claims:detail", claim_id=claim.pk)
    form = DisputeForm(request.POST, request.FILES)
    if not form.is_valid():
        return _claim_page(request, claim, dispute_form=form)
    try:
        claim_dispute(
            claim=claim,
            user=request.user,
            justification=form.cleaned_data["justification"],
            files=form.cleaned_data["checked"],
        )
    except PartnerActionRefused as refused:  # moved or disputed meanwhile (another tab, another admin)
        messages.error(request, refused.message)
        return redirect("claims:detail", claim_id=claim.pk)
    except PoeStorageError:
        form.add_error("files", gettext(STORAGE_DOWN))
        return _claim_page(request, claim, dispute_form=form)
    messages.success(request, gettext("Your dispute was sent to the reviewer."))
    return redirect("claims:detail", claim_id=claim.pk)


# The justification's own message, at the field, keeping the text, instead of the middleware's page.
claim_dispute_view.control_characters_allowed = frozenset({"justification"})


@require_POST
@admin_role_required
def claim_protect_view(request, claim_id):
    """The partner of an official association adds POE files with a comment (no status change)."""
    claim = _get_claim_for_user(request, claim_id)
    if claim.status != ClaimStatus.OFFICIAL:
        messages.error(request, gettext("Proof of execution can be added only to an official association."))
        return redirect("claims:detail", claim_id=claim.pk)
    form = ProtectForm(request.POST, request.FILES)
    if not form.is_valid():
        return _claim_page(request, claim, protect_form=form)
    try:
        claim_protect(
            claim=claim, user=request.user, comment=form.cleaned_data["comment"], files=form.cleaned_data["checked"]
        )
    except PartnerActionRefused as refused:
        messages.error(request, refused.message)
        return redirect("claims:detail", claim_id=claim.pk)
    except PoeStorageError:
        form.add_error("files", gettext(STORAGE_DOWN))
        return _claim_page(request, claim, protect_form=form)
    messages.success(request, gettext("Your proof of execution was added to the association."))
    return redirect("claims:detail", claim_id=claim.pk)


claim_protect_view.control_characters_allowed = frozenset({"comment"})
