"""A claim's page (SPEC §4, §12) and what the partner does on it: the answer to an information request,
Disassociate, and the POE downloads. The page's context and forms are built here for the other actions' error
pages too (``claims.views.disputes``)."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from associations.access import partner_required, scoped
from claims import selectors
from claims.forms.answer import ClaimRespondForm, DisassociateForm
from claims.forms.disputes import DisputeForm, ProtectForm
from claims.models import Claim, PoeDocument
from claims.policy import ADMINS_ONLY, ClaimRules, Refusal, Viewer
from claims.services import (
    AnswerRefused,
    ClaimStatusConflict,
    PartnerActionRefused,
    PoeStorageError,
    claim_disassociate,
    claim_respond,
)
from claims.services.review import ANSWER_CONTACT_FIELDS
from claims.storage import poe_download_response
from claims.templatetags.arbitration import item_notes
from claims.uploads import POE_RULES, PoeQuotaExceeded, PoeRoom


def _get_claim_for_user(request, claim_id):
    """The claim if it belongs to the user's partner; 404 otherwise (never 403, which would confirm it exists)."""
    return get_object_or_404(scoped(Claim.objects.select_related("location", "tenant"), request), pk=claim_id)


def acts_required(view):
    """Partner users who act for their company (the rule book's ``Viewer.acts``: incentives admins). A view-only
    user gets 403 before any claim is looked up, so that another partner's ids tell them nothing; the rule book
    refuses them the same (``Refusal.ROLE``) for each claim."""

    @partner_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not Viewer.of(request.user).acts:
            raise PermissionDenied(str(ADMINS_ONLY))
        return view(request, *args, **kwargs)

    return wrapper


def _refuse(request, claim, decision):
    """What a view answers when the rule book refuses (``claims.policy``): 404 for someone else's claim, 403 for
    someone who never does this (a view-only user), otherwise the claim page with the reason."""
    if decision.refusal == Refusal.NOT_YOURS:
        raise Http404("Not one of your organization's claims.")
    if decision.refusal == Refusal.ROLE:
        raise PermissionDenied(decision.why_not)
    messages.error(request, decision.why_not)
    return _form_done(request, reverse("claims:detail", args=[claim.pk]))


@require_safe
@partner_required
def claim_detail(request, claim_id):
    claim = _get_claim_for_user(request, claim_id)
    if ClaimRules(claim, request.user).continue_editing:
        return redirect("claims:draft_edit", claim.pk)  # a draft's page is the wizard (SPEC §12)
    return render(request, "claims/claim_detail.html", _claim_page(request, claim))


def _claim_page(request, claim, **extra):
    """The claim page's context: the claim, its rule book for this user (``rules``: what the page offers and says),
    and the forms the rules allow; ``extra`` (a form sent, with its errors) wins."""
    items = list(claim.items.select_related("product", "subscription"))
    documents = list(claim.documents.all())
    events = list(claim.events.select_related("user"))
    rules = ClaimRules(claim, request.user, events=events)
    # Per-item decisions (SPEC §8): a rejected item shows the reviewer's note beside its reason.
    notes = item_notes(events)
    for item in items:
        item.outcome_note = notes.get(item.pk, "")
    return {
        "claim": claim,
        "rules": rules,
        "items": items,
        # A Decision column only once a product ended while the claim went on (SPEC §8).
        "item_decisions": any(item.outcome for item in items),
        "products": sorted({item.product for item in items}, key=lambda p: (p.sort_order, p.name)),
        "documents": documents,
        "events": events,
        "notice": selectors.notice_delivery_for_page(claim, events),
        "poe_rules": POE_RULES,
        **_claim_forms(claim, rules, items, documents),
        **extra,
    }


@require_safe
@partner_required
def poe_download(request, claim_id, document_id):
    """A POE file of one of the partner's claims, through a short-lived link, always as an attachment."""
    claim = _get_claim_for_user(request, claim_id)
    document = get_object_or_404(PoeDocument, claim=claim, pk=document_id)
    return poe_download_response(document)


def _lifecycle_error_page(request, claim, errors, **posted):
    """The claim page again, with the errors where the partner acted (nothing was saved); ``posted``: the form
    sent, with its errors, by its name in the page (``answer_form``, ``dispute_form``, ``protect_form``)."""
    context = _claim_page(request, claim, lifecycle_errors=errors, **posted)
    return render(request, "claims/claim_detail.html", context, status=400)


def _form_errors(form):
    return [error for errors in form.errors.values() for error in errors]


def _claim_forms(claim, rules, items, documents):
    """The claim page's forms the rule book allows this user (SPEC §12), empty: the answer to an information
    request (with the edits it may make), the dispute of a rejection, more POE for an official association. With any
    of them, ``poe_room``: what the claim (holding ``documents``) can still take of its POE quota."""
    forms = {
        "answer_form": ClaimRespondForm(claim=claim, items=items, answer=rules.answer) if rules.answer else None,
        "dispute_form": DisputeForm() if rules.dispute else None,
        "protect_form": ProtectForm() if rules.protect else None,
    }
    if any(forms.values()):
        # Said at each form's drop zone; counted from the page's own list of the claim's files (no query).
        forms["poe_room"] = PoeRoom.left(files=len(documents), size=sum(document.size for document in documents))
    return forms


def _form_done(request, url):
    """Where a claim-page form goes when it is done: a redirect, or for the uploader's XHR post
    (static/js/poe-dropzone.js) the address as JSON, which it opens (a followed redirect would use up the
    message shown there)."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"location": url})
    return redirect(url)


@require_POST
@acts_required
def claim_respond_view(request, claim_id):
    """The partner answers a reviewer's information request: a comment, more POE files and the edits allowed
    while the claim waits (MPN ID, fewer products, contacts). Errors are shown at their fields on the claim page,
    with what was typed."""
    claim = _get_claim_for_user(request, claim_id)
    detail = reverse("claims:detail", args=[claim.pk])
    answer = ClaimRules(claim, request.user).answer
    if not answer:
        return _refuse(request, claim, answer)
    form = ClaimRespondForm(request.POST, request.FILES, claim=claim, answer=answer)
    if not form.is_valid():
        return _lifecycle_error_page(request, claim, [], answer_form=form)
    data = form.cleaned_data
    try:
        claim_respond(
            claim=claim,
            user=request.user,
            comment=data["comment"],
            files=data["checked"],
            location=data["location"],
            contacts=data["contacts"],
            remove_items=data["remove_items"],
        )
    except ClaimStatusConflict:
        messages.error(request, gettext("This claim is no longer waiting for your answer."))
        return _form_done(request, detail)
    except PoeQuotaExceeded as refused:  # more files than the claim can still take: nothing was sent
        form.add_error("files", refused)
        return _lifecycle_error_page(request, claim, [], answer_form=form)
    except AnswerRefused as refused:
        form.add_error("customer_contact_email" if form.notice_correction else None, str(refused))
        return _lifecycle_error_page(request, claim, [], answer_form=form)
    except PoeStorageError:
        form.add_error(None, gettext("The file storage is not available. Nothing was sent: try again in a moment."))
        return _lifecycle_error_page(request, claim, [], answer_form=form)
    if form.notice_correction:
        messages.success(request, gettext("Thank you. The notice is being sent to the customer contact's new address."))
    else:
        messages.success(request, gettext("Thank you. Your answer was sent to the reviewer."))
    return _form_done(request, detail)


# The comment's and the contacts' own messages, at the field, keeping the text (ClaimRespondForm), instead of the
# middleware's page.
claim_respond_view.control_characters_allowed = frozenset({"comment", *ANSWER_CONTACT_FIELDS})


@require_http_methods(["GET", "HEAD", "POST"])
@acts_required
def claim_disassociate_view(request, claim_id):
    """Disassociate asks first (SPEC §5 ``ended``, §12): GET shows what ends (the items, the usage data no longer
    shown, that it cannot be undone) with the reason to give; a POST of that page (``confirm``) ends the claim's
    associations. A POST without ``confirm`` (a form from before this page, a crafted post) only asks."""
    claim = _get_claim_for_user(request, claim_id)
    decision = ClaimRules(claim, request.user).disassociate
    if not decision:
        return _refuse(request, claim, decision)
    if request.method != "POST":
        return _disassociate_page(request, claim, DisassociateForm())
    form = DisassociateForm(request.POST)
    if not form.is_valid():
        return _disassociate_page(request, claim, form, status=400)
    if not request.POST.get("confirm"):
        return _disassociate_page(request, claim, form)
    try:
        claim_disassociate(claim=claim, user=request.user, reason=form.cleaned_data["reason"])
    except ClaimStatusConflict:
        messages.error(request, gettext("Only an official association can be ended."))
        return redirect("claims:detail", claim_id=claim.pk)
    except PartnerActionRefused as refused:  # the rule book again, under the row lock
        messages.error(request, refused.message)
        return redirect("claims:detail", claim_id=claim.pk)
    messages.success(request, gettext("The association has ended."))
    return redirect("claims:detail", claim_id=claim.pk)


def _disassociate_page(request, claim, form, status=200):
    items = list(claim.items.select_related("product", "subscription"))
    return render(
        request, "claims/disassociate_confirm.html", {"claim": claim, "items": items, "form": form}, status=status
    )


claim_disassociate_view.control_characters_allowed = frozenset({"reason"})
