"""The claim page's dispute and protect actions (SPEC §12): the partner disputes a rejection (once, within the
window) and adds proof of execution to an official association. Same shape as ``claims.views``: the claim or a
404, the rule book (``claims.policy``: 403 for a view-only user, the claim page with the reason when the claim does
not allow it), a form, one service call, then the claim page; a form with errors shows the claim page again (400)
with them at the fields. Both forms send their files through the shared drop zone (SPEC §13): its XHR post is
answered with the claim page's address as JSON (``_form_done``), a plain post with a redirect.
"""

from django.contrib import messages
from django.urls import reverse
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_POST

from claims.forms.disputes import DisputeForm, ProtectForm
from claims.policy import ClaimRules
from claims.services import PoeStorageError
from claims.services.disputes import PartnerActionRefused, claim_dispute, claim_protect
from claims.uploads import PoeQuotaExceeded
from claims.views.detail import _form_done, _get_claim_for_user, _lifecycle_error_page, _refuse, acts_required

STORAGE_DOWN = gettext_noop("The file storage is not available. Nothing was sent: try again in a moment.")


def _claim_page(request, claim, **posted):
    """The claim page again (status 400) with the posted form's errors at its fields, nothing saved."""
    return _lifecycle_error_page(request, claim, [], **posted)


@require_POST
@acts_required
def claim_dispute_view(request, claim_id):
    """The partner disputes a rejection with a business justification and optional POE files."""
    claim = _get_claim_for_user(request, claim_id)
    detail = reverse("claims:detail", args=[claim.pk])
    decision = ClaimRules(claim, request.user).dispute
    if not decision:
        return _refuse(request, claim, decision)
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
        return _form_done(request, detail)
    except PoeQuotaExceeded as refused:  # more files than the claim can still take: nothing was sent
        form.add_error("files", refused)
        return _claim_page(request, claim, dispute_form=form)
    except PoeStorageError:
        form.add_error("files", gettext(STORAGE_DOWN))
        return _claim_page(request, claim, dispute_form=form)
    messages.success(request, gettext("Your dispute was sent to the reviewer."))
    return _form_done(request, detail)


# The justification's own message, at the field, keeping the text, instead of the middleware's page.
claim_dispute_view.control_characters_allowed = frozenset({"justification"})


@require_POST
@acts_required
def claim_protect_view(request, claim_id):
    """The partner of an official association adds POE files with a comment (no status change)."""
    claim = _get_claim_for_user(request, claim_id)
    detail = reverse("claims:detail", args=[claim.pk])
    decision = ClaimRules(claim, request.user).protect
    if not decision:
        return _refuse(request, claim, decision)
    form = ProtectForm(request.POST, request.FILES)
    if not form.is_valid():
        return _claim_page(request, claim, protect_form=form)
    try:
        claim_protect(
            claim=claim, user=request.user, comment=form.cleaned_data["comment"], files=form.cleaned_data["checked"]
        )
    except PartnerActionRefused as refused:
        messages.error(request, refused.message)
        return _form_done(request, detail)
    except PoeQuotaExceeded as refused:
        form.add_error("files", refused)
        return _claim_page(request, claim, protect_form=form)
    except PoeStorageError:
        form.add_error("files", gettext(STORAGE_DOWN))
        return _claim_page(request, claim, protect_form=form)
    messages.success(request, gettext("Your proof of execution was added to the association."))
    return _form_done(request, detail)


claim_protect_view.control_characters_allowed = frozenset({"comment"})
