import logging

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe
from django_ratelimit import ALL
from django_ratelimit.core import is_ratelimited

from associations.access import admin_role_required, partner_required, scoped
from associations.models import Product
from claims import exports as claims_exports
from claims import selectors
from claims.charts import usage_chart
from claims.due import NEEDS_ACTION, claim_due, due_display
from claims.forms_disputes import DisputeForm, ProtectForm
from claims.forms_lifecycle import ClaimRespondForm, DisassociateForm
from claims.models import Claim, ClaimItem, ClaimStatus, OptOutWindow, PoeDocument
from claims.services import (
    AnswerRefused,
    ClaimStatusConflict,
    OptOutResult,
    PoeStorageError,
    claim_disassociate,
    claim_opt_out,
    claim_respond,
    pending_upload_create,
    pending_upload_delete,
)
from claims.services.drafts import claim_copyable
from claims.services.review import ANSWER_CONTACT_FIELDS
from claims.storage import poe_download_response
from claims.tokens import TokenExpired, TokenInvalid, opt_out_token_read
from claims.uploads import POE_TYPES, PoeQuotaExceeded, PoeRoom, poe_template_docx
from claims.wizard import ClaimWizard, claim_wizard_for, wizard_submission_key

CLAIMS_PER_PAGE = 25
# What a row of the list shows (the tenant's country gives the time zone of the deadline).
LIST_COLUMNS = [
    "name",
    "domain",
    "solution_area",
    "activities",
    "status",
    "submitted_at",
    "opt_out_deadline",
    "tenant__country",
    # What is due (claims.due), computed from the row: no query per row.
    "status_changed_at",
    "disputed_at",
    "response_deadline",
    "draft_saved_at",
]


def _get_claim_for_user(request, claim_id):
    """The claim if it belongs to the user's partner; 404 otherwise (never 403, which would confirm it exists)."""
    return get_object_or_404(scoped(Claim.objects.select_related("location", "tenant"), request), pk=claim_id)


@require_safe
@partner_required
def claim_list(request):
    search = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    status = status if status in ClaimStatus.values or status == NEEDS_ACTION else ""
    sort = request.GET.get("sort", selectors.CLAIM_DEFAULT_SORT)
    if sort.lstrip("-") not in selectors.CLAIM_SORTS:
        sort = selectors.CLAIM_DEFAULT_SORT
    claims = selectors.claim_list(partner=request.partner, search=search, status=status, sort=sort)
    if request.GET.get("format") == "csv":
        return claims_exports.claims_csv(claims)

    # Kept on the request: the navigation's "Needs your action" count reads it (claims.context_processors).
    counts = request.claim_status_counts = selectors.claim_status_counts(partner=request.partner)
    total = sum(counts.values())
    needs_action = sum(counts.get(value, 0) for value in ClaimStatus.needs_action())
    # Without a search the counters give the page count; a search pages by "previous / next" (no COUNT).
    known = None if search else (needs_action if status == NEEDS_ACTION else counts.get(status, 0) if status else total)
    # The page reads only the columns it shows, and its products as plain values (_list_rows).
    claims = claims.only(*LIST_COLUMNS).prefetch_related(None)
    page = selectors.claim_page(claims, number=request.GET.get("page"), per_page=CLAIMS_PER_PAGE, count=known)
    rows = _list_rows(page.object_list, request.membership.can_manage_claims)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": rows,
        "search": search,
        "status": status,
        "sort": sort,
        "total": total,
        "needs_action_total": needs_action,
        "status_counts": [(value, label, counts.get(value, 0)) for value, label in ClaimStatus.choices],
        "query": query.urlencode(),
        "sort_links": _sort_links(request, sort),
        "csv_query": _with(request, format="csv", page=None),
        "can_manage": request.membership.can_manage_claims,
    }
    return render(request, "claims/claim_list.html", context)


def _list_rows(claims, can_manage=False):
    """[(claim, cells)] for the list's rows, every cell ready to print.

    Measured at 200,000 claims: 25 rows of ``date`` filters, ``{% timezone %}`` blocks and ``{% url %}`` took
    longer to render than the page's SQL, and prefetching items as model instances longer than their query. The
    products are one query of plain values; the cells are formatted here, as the template's filters did.
    """
    products = {}
    items = ClaimItem.objects.filter(claim__in=claims).order_by("product__sort_order", "product__name")
    for claim_id, name in items.values_list("claim_id", "product__name"):
        names = products.setdefault(claim_id, [])
        if name not in names:
            names.append(name)
    rows = []
    now = timezone.now()
    for claim in claims:
        cells = {
            "url": reverse("claims:detail", args=[claim.pk]),
            "solution_area": claim.get_solution_area_display(),
            "activities": claim.get_activities_display(),
            "products": ", ".join(products.get(claim.pk, [])),
            "status": claim.get_status_display(),
            **claims_exports.list_dates(claim),
            "due": due_display(claim_due(claim, now=now)),
        }
        if claim.status == ClaimStatus.DRAFT:
            cells.update(_draft_cells(claim, can_manage))
        rows.append((claim, cells))
    return rows


def _draft_cells(claim, can_manage):
    """A draft's row (no submitted date: ``list_dates``), for those who may manage claims with Continue editing and
    Delete draft."""
    cells = {}
    if can_manage:
        cells["url"] = reverse("claims:draft_edit", args=[claim.pk])
        cells["delete_url"] = reverse("claims:draft_delete", args=[claim.pk])
        cells["draft_actions"] = True
    return cells


def _with(request, **changes):
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


def _sort_links(request, current):
    """For each sortable column: the query string that sorts by it (toggling direction), and its state."""
    links = {}
    for column in selectors.CLAIM_SORTS:
        if current == column:
            links[column] = {"query": _with(request, sort=f"-{column}", page=None), "state": "ascending"}
        elif current == f"-{column}":
            links[column] = {"query": _with(request, sort=column, page=None), "state": "descending"}
        else:
            links[column] = {"query": _with(request, sort=column, page=None), "state": ""}
    return links


@require_safe
@partner_required
def claim_detail(request, claim_id):
    claim = _get_claim_for_user(request, claim_id)
    if claim.status == ClaimStatus.DRAFT and request.membership.can_manage_claims:
        return redirect("claims:draft_edit", claim.pk)  # a draft's page is the wizard (SPEC §12)
    context = _claim_page(
        claim, poe_types=POE_TYPES, can_copy=request.membership.can_manage_claims and claim_copyable(claim)
    )
    return render(request, "claims/claim_detail.html", context)


def _claim_page(claim, **extra):
    """The claim page's context and the forms its status offers; ``extra`` (a form sent, with its errors) wins."""
    items = list(claim.items.select_related("product", "subscription"))
    documents = list(claim.documents.all())
    events = list(claim.events.select_related("user"))
    return {
        "claim": claim,
        "items": items,
        "products": sorted({item.product for item in items}, key=lambda p: (p.sort_order, p.name)),
        "documents": documents,
        "events": events,
        "notice": selectors.notice_delivery_for_page(claim, events),
        **_claim_forms(claim, items, documents, events),
        **extra,
    }


@require_safe
@partner_required
def poe_download(request, claim_id, document_id):
    """A POE file of one of the partner's claims, through a short-lived link, always as an attachment."""
    claim = _get_claim_for_user(request, claim_id)
    document = get_object_or_404(PoeDocument, claim=claim, pk=document_id)
    return poe_download_response(document)


claim_wizard = ClaimWizard.as_view()


@require_POST
@admin_role_required
def poe_upload(request):
    """The wizard's XHR upload: one file, checked and stored as a PendingUpload of the current wizard run."""
    wizard_key = wizard_submission_key(request)
    if wizard_key is None:
        message = gettext("Your claim session has expired. Start the customer association again.")
        return JsonResponse({"error": message}, status=409)
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return JsonResponse({"error": gettext("Choose a file to upload.")}, status=400)
    try:
        upload = pending_upload_create(
            partner=request.partner,
            user=request.user,
            wizard_key=wizard_key,
            uploaded_file=uploaded,
            display_name=request.POST.get("name") or None,
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    except PoeStorageError as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse(
        {
            "id": str(upload.pk),
            "name": upload.original_name,
            "size": upload.size,
            "type": POE_TYPES[upload.content_type],
            "delete_url": reverse("claims:poe_upload_delete", args=[upload.pk]),
        },
        status=201,
    )


# cpor.middleware.RequestInputMiddleware refuses control characters in posted fields with a page of its own,
# except the fields a view names here: "name" is the browser's file name, which poe_display_name reduces to its
# printable characters.
poe_upload.control_characters_allowed = frozenset({"name"})


@require_POST
@admin_role_required
def poe_upload_delete(request, upload_id):
    wizard_key = wizard_submission_key(request)
    if wizard_key is None or not pending_upload_delete(
        partner=request.partner, wizard_key=wizard_key, upload_id=upload_id
    ):
        raise Http404("No such upload in this claim.")
    return JsonResponse({"deleted": True})


@require_safe
@admin_role_required
def poe_template(request):
    """The POE template as a DOCX, pre-filled with what this wizard run knows about the claim."""
    summary = claim_wizard_for(request).summary()
    tenant = summary.get("tenant")
    location = summary.get("location")
    products = summary.get("products") or []
    content = poe_template_docx(
        partner_name=request.partner.name,
        mpn_id=location.mpn_id if location else "",
        customer_name=tenant.name if tenant else "",
        domain=summary.get("domain", ""),
        directory_id=summary.get("directory_id", ""),
        products=[product.name for product in products if isinstance(product, Product)],
    )
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    response["Content-Disposition"] = 'attachment; filename="proof-of-execution-template.docx"'
    return response


# --- Lifecycle (issue #4): the partner's answer, disassociate, usage data; the customer's opt-out page -----------


def _lifecycle_error_page(request, claim, errors, *, comment="", disassociate_reason="", **posted):
    """The claim page again, with the errors where the partner acted (nothing was saved); ``posted``: the form
    sent, with its errors, by its name in the page (``answer_form``, ``dispute_form``, ``protect_form``)."""
    context = _claim_page(
        claim, lifecycle_errors=errors, lifecycle_comment=comment, lifecycle_reason=disassociate_reason, **posted
    )
    return render(request, "claims/claim_detail.html", context, status=400)


def _form_errors(form):
    return [error for errors in form.errors.values() for error in errors]


def _claim_forms(claim, items, documents, events):
    """The claim page's forms its status offers (SPEC §12), empty: the answer to an information request, the dispute
    of a rejection, more POE for an official association. With any of them, ``poe_room``: what the claim (holding
    ``documents``) can still take of its POE quota."""
    status = claim.status
    answer = None
    if status == ClaimStatus.ACTION_REQUIRED:
        answer = ClaimRespondForm(claim=claim, items=items, request_event=selectors.request_current_in(claim, events))
    forms = {
        "answer_form": answer,
        "dispute_form": DisputeForm() if status == ClaimStatus.REJECTED else None,
        "protect_form": ProtectForm() if status == ClaimStatus.OFFICIAL else None,
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
@admin_role_required
def claim_respond_view(request, claim_id):
    """The partner answers a reviewer's information request: a comment, more POE files and the edits allowed
    while the claim waits (MPN ID, fewer products, contacts). Errors are shown at their fields on the claim page,
    with what was typed."""
    claim = _get_claim_for_user(request, claim_id)
    detail = reverse("claims:detail", args=[claim.pk])
    if claim.status != ClaimStatus.ACTION_REQUIRED:
        messages.error(request, gettext("This claim is not waiting for your answer."))
        return _form_done(request, detail)
    form = ClaimRespondForm(request.POST, request.FILES, claim=claim)
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


@require_POST
@admin_role_required
def claim_disassociate_view(request, claim_id):
    """End an official claim's associations, with a reason."""
    claim = _get_claim_for_user(request, claim_id)
    if claim.status != ClaimStatus.OFFICIAL:
        messages.error(request, gettext("Only an official association can be ended."))
        return redirect("claims:detail", claim_id=claim.pk)
    form = DisassociateForm(request.POST)
    if not form.is_valid():
        reason = form.data.get("reason", "")
        return _lifecycle_error_page(request, claim, _form_errors(form), disassociate_reason=reason)
    try:
        claim_disassociate(claim=claim, user=request.user, reason=form.cleaned_data["reason"])
    except ClaimStatusConflict:
        messages.error(request, gettext("Only an official association can be ended."))
        return redirect("claims:detail", claim_id=claim.pk)
    messages.success(request, gettext("The association has ended."))
    return redirect("claims:detail", claim_id=claim.pk)


claim_disassociate_view.control_characters_allowed = frozenset({"reason"})


def _official_claim_for_user(request, claim_id):
    """Usage data exists only for the partner's own official claims: 404 before (and for anyone else)."""
    items = ClaimItem.objects.select_related("product", "association").filter(association__status="active")
    return get_object_or_404(
        scoped(Claim.objects.select_related("location", "tenant"), request)
        .filter(status=ClaimStatus.OFFICIAL)
        .prefetch_related(Prefetch("items", queryset=items)),
        pk=claim_id,
    )


def _association_ended(request, claim_id):
    """A usage link kept after the partner's own association ended: 410 Gone with a page that says when, instead of
    a bare 404 (SPEC §15). None for any other claim, which stays a 404 (anyone else's claim looks absent)."""
    claim = scoped(Claim.objects.all(), request).filter(status=ClaimStatus.ENDED, pk=claim_id).first()
    if claim is None:
        return None
    return render(request, "claims/association_ended.html", {"claim": claim}, status=410)


@require_safe
@partner_required
def claim_usage_view(request, claim_id):
    if (ended := _association_ended(request, claim_id)) is not None:
        return ended
    claim = _official_claim_for_user(request, claim_id)
    usage = selectors.claim_usage(claim=claim)
    series = [
        {"product": product, "records": records, "chart": usage_chart(records)} for product, records in usage.items()
    ]
    context = {"claim": claim, "series": series}
    return render(request, "claims/usage.html", context)


@require_safe
@partner_required
def claim_usage_csv_view(request, claim_id):
    if (ended := _association_ended(request, claim_id)) is not None:
        return ended
    claim = _official_claim_for_user(request, claim_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"usage-{claim.pk}.csv")
    claims_exports.usage_csv_write(response, claim)
    return response


# Per client (behind the configured proxies, cpor/clientip.py): enough for a person clicking around, too few to
# guess tokens. Per link: a customer and their mail scanners open it a few times; many addresses hammering one link
# are stopped too. Checked in that order, so one client's junk never counts against a real customer's link.
OPT_OUT_CLIENT_RATE = "30/m"
OPT_OUT_LINK_RATE = "20/m"
logger = logging.getLogger(__name__)


def _opt_out_limited(request, token):
    """Whether this request to the customer's page is over a limit (per client, then per link).

    Fails open: django-ratelimit lets the cache's own errors through (redis's ConnectionError when Redis is down),
    and a customer must never get a 500 for that: the request goes through and the failure is logged.
    """
    try:
        return is_ratelimited(
            request, group="customer-opt-out", key="ip", rate=OPT_OUT_CLIENT_RATE, method=ALL, increment=True
        ) or is_ratelimited(
            request,
            group="customer-opt-out-link",
            key=lambda group, request: token,
            rate=OPT_OUT_LINK_RATE,
            method=ALL,
            increment=True,
        )
    except Exception as exc:  # each cache backend raises its own client's errors
        logger.warning("Opt-out rate limit not checked, request let through: the cache failed (%r)", exc)
        return False


def customer_opt_out(request, token):
    """The customer's page (SPEC §7): no login; GET shows the request, only POST opts out."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    if _opt_out_limited(request, token):
        return render(request, "claims/optout_limited.html", status=429)
    try:
        key, expires = opt_out_token_read(token)
    except TokenExpired:
        return render(request, "claims/optout_expired.html", status=410)
    except TokenInvalid:
        return render(request, "claims/optout_invalid.html", status=404)
    claim = (
        Claim.objects.select_related("partner", "location", "tenant")
        .prefetch_related("items__product")
        .filter(submission_key=key)
        .first()
    )
    if claim is None or claim.opt_out_deadline is None or int(claim.opt_out_deadline.timestamp()) != expires:
        return render(request, "claims/optout_invalid.html", status=404)
    # In the tenant's language, as the email (SPEC §15), unless the visitor chose one (the switch's cookie).
    language = request.LANGUAGE_CODE
    if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES and claim.tenant is not None:
        language = claim.tenant.language
    with translation.override(language):
        request.LANGUAGE_CODE = language
        response = _customer_opt_out_page(request, claim)
    response.headers["Content-Language"] = language  # LocaleMiddleware keeps the view's
    return response


def _customer_opt_out_page(request, claim):
    context = {
        "claim": claim,
        "products": sorted({i.product for i in claim.items.all()}, key=lambda p: (p.sort_order, p.name)),
    }
    if request.method == "POST":
        result = claim_opt_out(claim=claim)
        if result == OptOutResult.CLOSED:
            return render(request, "claims/optout_closed.html", context, status=409)
        return render(request, "claims/optout_done.html", context)
    window = claim.opt_out_window()
    if window == OptOutWindow.OPTED_OUT:
        return render(request, "claims/optout_done.html", context)
    if window == OptOutWindow.CLOSED:
        return render(request, "claims/optout_closed.html", context)
    return render(request, "claims/optout_confirm.html", context)
