"""Claims through the API (SPEC §16): drafts, POE uploads, submit, the list, a claim with its history, the
answer, the dispute, protection, Disassociate, Copy into a new claim and usage data.

Each operation has the browser's shape (STYLE 10): the caller (a key), the claim of its partner or a 404, the rule
book (``claims.policy``: 403 for a read-only key, 409 with the reason when the claim does not allow it now), the
wizard's or the claim page's form, one service call (which asks the rule book again under the row lock).
"""

import base64
import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja import Body, File, Form, Header, Path, Query, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile
from pydantic import Field

from api import schemas
from api.idempotency import idempotent
from api.problems import ApiProblem
from api.services.drafts import (
    DraftInvalid,
    api_draft_create,
    api_draft_submit,
    api_draft_update,
    draft_uploads,
    fields_of_step_data,
)
from api.v1 import api
from claims import selectors
from claims.forms.answer import ClaimRespondForm, DisassociateForm
from claims.forms.disputes import DisputeForm, ProtectForm
from claims.models import CONTACT_FIELDS, Claim, ClaimItem, ClaimStatus
from claims.policy import ClaimRules, Refusal
from claims.services import (
    AnswerRefused,
    ClaimStatusConflict,
    PartnerActionRefused,
    PoeStorageError,
    claim_disassociate,
    claim_respond,
    pending_upload_create,
    pending_upload_delete,
)
from claims.services.disputes import claim_dispute, claim_protect
from claims.services.drafts import ClaimNotCopyable, DraftLimitReached, claim_copy_to_draft, claim_draft_delete
from claims.uploads import PoeQuotaExceeded

ID = Path(..., ge=1, le=2**63 - 1)
ERRORS = dict.fromkeys((400, 401, 403, 404, 409, 422, 429, 503), schemas.Problem)
IDEMPOTENCY_HEADER = Header(
    None,
    alias="Idempotency-Key",
    max_length=255,
    description="Your key that makes the POST safe to send again: the same answer.",  # i18n: English only (schema)
)


def _responses(ok_status, ok_schema):
    return {ok_status: ok_schema, **ERRORS}


# --- the caller, the claim, the rule book ------------------------------------------------------------------------


def _writes(request):
    """A read-write key (acting as an incentives admin who still is one), or 403."""
    if not request.auth.writes:
        raise ApiProblem(
            403,
            _("This API key only reads"),
            _("Only a read-write key of an incentives admin can do this."),
            type_="read-only-key",
        )


def _claim(request, claim_id):
    """The claim of the caller's partner, or 404 (never 403, which would confirm that it exists)."""
    claim = (
        Claim.objects.select_related("location", "tenant", "partner")
        .filter(partner=request.auth.partner, pk=claim_id)
        .first()
    )
    if claim is None:
        raise ApiProblem(404, _("Not found"), _("There is no such object of your organization."), type_="not-found")
    return claim


def _allowed(decision):
    """The rule book's refusal as the API says it: 404 not yours, 403 never yours to do, 409 not now (why)."""
    if decision:
        return decision
    if decision.refusal == Refusal.NOT_YOURS:
        raise ApiProblem(404, _("Not found"), _("There is no such object of your organization."), type_="not-found")
    if decision.refusal == Refusal.ROLE:
        raise ApiProblem(403, _("Not allowed"), decision.why_not, type_="forbidden")
    raise ApiProblem(409, _("Not possible now"), decision.why_not, type_="not-now")


def _form_problem(form, field_names=None):
    errors = []
    for field, messages in form.errors.items():
        name = (field_names or {}).get(field, field)
        errors += [(name if field != "__all__" else "request", message) for message in messages]
    return ApiProblem(422, _("The request is not valid"), "", errors=errors, type_="invalid")


def _storage_down():
    return ApiProblem(
        503,
        _("The file storage is not available"),
        _("Nothing was changed: try again in a moment."),
        type_="storage",
        headers={"Retry-After": "5"},
    )


# --- what a claim reads as ----------------------------------------------------------------------------------------


def _summary(claim):
    return {
        "id": claim.pk,
        "name": claim.name,
        "status": claim.status,
        "status_label": str(ClaimStatus(claim.status).label),
        "domain": claim.domain,
        "directory_id": str(claim.directory_id),
        "solution_area": claim.solution_area,
        "activities": list(claim.activities or []),
        "submitted_at": None if claim.status in ClaimStatus.never_submitted() else claim.submitted_at,
        "status_changed_at": claim.status_changed_at,
        "opt_out_deadline": claim.opt_out_deadline,
        "response_deadline": claim.response_deadline,
        "competing": claim.competing,
    }


def _fields(claim, items):
    if claim.status == ClaimStatus.DRAFT:
        saved = claim.draft_data if isinstance(claim.draft_data, dict) else {}
        return fields_of_step_data(saved.get("step_data") if isinstance(saved.get("step_data"), dict) else {})
    fields = {name: getattr(claim, name) or None for name in CONTACT_FIELDS}
    fields.update(
        location=claim.location.mpn_id,
        domain=claim.domain,
        directory_id=str(claim.directory_id),
        solution_area=claim.solution_area or None,
        activities=list(claim.activities or []) or None,
        name=claim.name or None,
        dynamics_seller_name=claim.dynamics_seller_name or None,
        customer_name=claim.customer_name or None,
        isv_solution_name=claim.isv_solution_name or None,
        products=list(dict.fromkeys(item.product.code for item in items)) or None,
        subscriptions={
            item.product.code: str(item.subscription.subscription_id)
            for item in items
            if item.subscription_id and item.product.is_dynamics
        }
        or None,
        comments=claim.comments or None,
    )
    return fields


def _actions(rules):
    answer = rules.answer
    dispute = rules.dispute
    return {
        "continue_editing": bool(rules.continue_editing),
        "delete": bool(rules.delete_draft),
        "submit": bool(rules.continue_editing),
        "answer": bool(answer),
        "answer_until": answer.until,
        "answer_edits": sorted(str(edit) for edit in answer.edits) if answer else [],
        "dispute": bool(dispute),
        "dispute_until": dispute.until,
        "protect": bool(rules.protect),
        "disassociate": bool(rules.disassociate),
    }


def _detail(request, claim):
    items = list(claim.items.select_related("product", "subscription"))
    events = list(claim.events.all())
    rules = ClaimRules(claim, request.auth.viewer, events=events)
    return {
        **_summary(claim),
        "data": _fields(claim, items),
        "items": [
            {
                "id": item.pk,
                "program": item.program,
                "product": item.product.code,
                "product_name": item.product.name,
                "subscription_id": str(item.subscription.subscription_id) if item.subscription_id else None,
                "outcome": item.outcome,
                "official": item.association_id is not None and claim.status == ClaimStatus.OFFICIAL,
            }
            for item in items
        ],
        "documents": [
            {
                "id": document.pk,
                "name": document.original_name,
                "content_type": document.content_type,
                "size": document.size,
                "uploaded_at": document.uploaded_at,
            }
            for document in claim.documents.all()
        ],
        "uploads": [_upload(upload) for upload in draft_uploads(claim)] if claim.status == ClaimStatus.DRAFT else [],
        "history": [
            {
                "id": event.pk,
                "created_at": event.created_at,
                "actor": event.actor,
                "action": event.action,
                "old_status": event.old_status,
                "new_status": event.new_status,
                "reason": event.reason,
                "message": event.message,
                "field": event.field,
                "old_value": event.old_value,
                "new_value": event.new_value,
            }
            for event in events
        ],
        "actions": _actions(rules),
    }


def _upload(upload):
    return {
        "id": str(upload.pk),
        "name": upload.original_name,
        "content_type": upload.content_type,
        "size": upload.size,
    }


# --- the list -------------------------------------------------------------------------------------------------------


class ListQuery(schemas.In):
    status: schemas.StatusValue | None = None
    q: str | None = Field(
        default=None,
        max_length=200,
        description="Search, as the list page's.",  # i18n: English only (schema)
    )
    cursor: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=100)


def _cursor_make(claim_id):
    return base64.urlsafe_b64encode(f"c{claim_id}".encode()).decode().rstrip("=")


def _cursor_read(cursor):
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value = int(text[1:]) if text.startswith("c") else None
    except (ValueError, UnicodeDecodeError):
        value = None
    if value is None or not 0 < value < 2**63:
        raise ApiProblem(422, _("The request is not valid"), "", errors=[("cursor", _("This cursor is not valid."))])
    return value


@api.get("/claims", response=_responses(200, schemas.ClaimPage), url_name="claims_list", tags=["claims"])
def claims_list(request, query: Query[ListQuery]):
    """Your organization's claims, newest first, filtered as the list page filters them. Paged by ``cursor``: the
    order is the claims' creation, so a page never repeats or skips a claim while new ones are added."""
    claims = selectors.claim_list(partner=request.auth.partner, search=query.q or "", status=query.status or "")
    claims = claims.order_by("-id")
    if query.cursor:
        claims = claims.filter(id__lt=_cursor_read(query.cursor))
    page = list(claims[: query.limit + 1])
    more = len(page) > query.limit
    page = page[: query.limit]
    return {"items": [_summary(claim) for claim in page], "next_cursor": _cursor_make(page[-1].pk) if more else None}


@api.get("/claims/{claim_id}", response=_responses(200, schemas.ClaimDetail), url_name="claim_get", tags=["claims"])
def claim_get(request, claim_id: int = ID):
    """One claim: its fields, items, POE files, history (newest first) and what the key may do to it now."""
    return _detail(request, _claim(request, claim_id))


# --- drafts -------------------------------------------------------------------------------------------------------


def _draft_invalid(exc):
    return ApiProblem(422, _("The draft is not valid"), "", errors=exc.errors, type_="invalid")


@api.post("/claims", response=_responses(201, schemas.ClaimDetail), url_name="claims_create", tags=["drafts"])
@decorate_view(idempotent)
def claims_create(request, payload: schemas.DraftCreate, idempotency_key: str | None = IDEMPOTENCY_HEADER):
    """Start a draft, as the wizard's first Continue: MPN ID, domain name and Directory ID, and any of the other
    steps' fields (each step given is checked as the wizard checks it)."""
    _writes(request)
    try:
        claim = api_draft_create(
            partner=request.auth.partner, user=request.auth.user, fields=payload.model_dump(exclude_unset=True)
        )
    except DraftInvalid as exc:
        raise _draft_invalid(exc) from None
    except DraftLimitReached:
        raise ApiProblem(
            409, _("Too many drafts"), _("Submit or delete some of your drafts first."), type_="drafts"
        ) from None
    return Status(201, _detail(request, claim))


@api.patch(
    "/claims/{claim_id}", response=_responses(200, schemas.ClaimDetail), url_name="claim_update", tags=["drafts"]
)
def claim_update(request, payload: schemas.ClaimFields, claim_id: int = ID):
    """Change a draft's fields (those sent; the others stay). Each step touched is checked as the wizard does."""
    _writes(request)
    claim = _claim(request, claim_id)
    _allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
    try:
        saved = api_draft_update(claim=claim, fields=payload.model_dump(exclude_unset=True))
    except DraftInvalid as exc:
        raise _draft_invalid(exc) from None
    if not saved:
        raise ApiProblem(409, _("Not possible now"), _("This customer association is no longer a draft."))
    claim.refresh_from_db()
    return _detail(request, claim)


@api.delete("/claims/{claim_id}", response={204: None, **ERRORS}, url_name="claim_delete", tags=["drafts"])
def claim_delete(request, claim_id: int = ID):
    """Delete a draft with its uploaded files."""
    _writes(request)
    claim = _claim(request, claim_id)
    _allowed(ClaimRules(claim, request.auth.viewer).delete_draft)
    if not claim_draft_delete(partner=claim.partner, claim_id=claim.pk):
        raise ApiProblem(409, _("Not possible now"), _("This customer association is no longer a draft."))
    return Status(204, None)


@api.post(
    "/claims/{claim_id}/poe", response=_responses(201, schemas.UploadOut), url_name="draft_poe_add", tags=["drafts"]
)
@decorate_view(idempotent)
def draft_poe_add(
    request, file: File[UploadedFile], claim_id: int = ID, idempotency_key: str | None = IDEMPOTENCY_HEADER
):
    """Upload one proof of execution file to a draft (checked by content, as the wizard's drop zone)."""
    _writes(request)
    claim = _claim(request, claim_id)
    _allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
    try:
        upload = pending_upload_create(
            partner=claim.partner, user=request.auth.user, wizard_key=str(claim.submission_key), uploaded_file=file
        )
    except DjangoValidationError as exc:
        raise ApiProblem(422, _("The file was refused"), "", errors=[("file", m) for m in exc.messages]) from None
    except PoeStorageError:
        raise _storage_down() from None
    return Status(201, _upload(upload))


@api.delete(
    "/claims/{claim_id}/poe/{upload_id}", response={204: None, **ERRORS}, url_name="draft_poe_delete", tags=["drafts"]
)
def draft_poe_delete(request, upload_id: uuid.UUID, claim_id: int = ID):
    """Remove an uploaded file from a draft."""
    _writes(request)
    claim = _claim(request, claim_id)
    _allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
    if not pending_upload_delete(partner=claim.partner, wizard_key=str(claim.submission_key), upload_id=upload_id):
        raise ApiProblem(404, _("Not found"), _("There is no such object of your organization."), type_="not-found")
    return Status(204, None)


@api.post(
    "/claims/{claim_id}/submit", response=_responses(200, schemas.ClaimDetail), url_name="draft_submit", tags=["drafts"]
)
@decorate_view(idempotent)
def draft_submit(
    request,
    claim_id: int = ID,
    files: File[list[UploadedFile]] = None,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
):
    """Submit a draft (with more POE files, if sent as ``files``): every step is checked as the wizard's last
    step checks them; then automatic validation runs (poll the claim, or receive the webhooks)."""
    _writes(request)
    claim = _claim(request, claim_id)
    if claim.status == ClaimStatus.DRAFT:
        _allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
        for upload in files or []:
            try:
                pending_upload_create(
                    partner=claim.partner,
                    user=request.auth.user,
                    wizard_key=str(claim.submission_key),
                    uploaded_file=upload,
                )
            except DjangoValidationError as exc:
                raise ApiProblem(
                    422, _("The file was refused"), "", errors=[("files", m) for m in exc.messages]
                ) from None
            except PoeStorageError:
                raise _storage_down() from None
    elif claim.status == ClaimStatus.EXPIRED:
        _allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
    try:
        submitted = api_draft_submit(claim=claim, user=request.auth.user)
    except DraftInvalid as exc:
        raise _draft_invalid(exc) from None
    except PoeStorageError as exc:
        raise ApiProblem(409, _("The file storage is not available"), str(exc), type_="storage") from None
    return _detail(request, submitted.claim)


# --- the claim's life -----------------------------------------------------------------------------------------------


class AnswerForm(schemas.In):
    comment: str | None = Field(default=None, max_length=5000)
    location: str | None = Field(
        default=None,
        max_length=10,
        description="Another of your MPN IDs.",  # i18n: English only (schema)
    )
    remove_items: list[int] | None = Field(
        default=None,
        description="Item ids to remove (never all).",  # i18n: English only (schema)
    )
    customer_contact_name: str | None = Field(default=None, max_length=200)
    customer_contact_title: str | None = Field(default=None, max_length=200)
    customer_contact_email: str | None = Field(default=None, max_length=254)
    technical_contact_name: str | None = Field(default=None, max_length=200)
    technical_contact_title: str | None = Field(default=None, max_length=200)
    technical_contact_email: str | None = Field(default=None, max_length=254)
    partner_contact_name: str | None = Field(default=None, max_length=200)
    partner_contact_email: str | None = Field(default=None, max_length=254)


def _files(files):
    return MultiValueDict({"files": list(files or [])})


@api.post(
    "/claims/{claim_id}/answer", response=_responses(200, schemas.ClaimDetail), url_name="claim_answer", tags=["claims"]
)
@decorate_view(idempotent)
def claim_answer(
    request,
    form: Form[AnswerForm],
    claim_id: int = ID,
    files: File[list[UploadedFile]] = None,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
):
    """Answer a reviewer's information request (SPEC §12): a comment, more POE (``files``) and the edits the
    request allows (``actions.answer_edits``): another MPN ID, fewer products, the contacts. A field not sent keeps
    the claim's value."""
    _writes(request)
    claim = _claim(request, claim_id)
    answer = _allowed(ClaimRules(claim, request.auth.viewer).answer)
    data = MultiValueDict()
    for name, value in form.dict(exclude_none=True).items():
        data.setlist(name, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    bound = ClaimRespondForm(data, _files(files), claim=claim, answer=answer)
    if not bound.is_valid():
        raise _form_problem(bound)
    cleaned = bound.cleaned_data
    try:
        claim_respond(
            claim=claim,
            user=request.auth.user,
            comment=cleaned.get("comment", ""),
            files=cleaned["checked"],
            location=cleaned.get("location"),
            contacts=cleaned["contacts"],
            remove_items=cleaned["remove_items"],
        )
    except ClaimStatusConflict:
        raise ApiProblem(409, _("Not possible now"), _("This claim is no longer waiting for your answer.")) from None
    except PoeQuotaExceeded as exc:
        raise ApiProblem(422, _("The file was refused"), "", errors=[("files", m) for m in exc.messages]) from None
    except AnswerRefused as exc:
        raise ApiProblem(
            422, _("The request is not valid"), "", errors=[("customer_contact_email", str(exc))]
        ) from None
    except PoeStorageError:
        raise _storage_down() from None
    claim.refresh_from_db()
    return _detail(request, claim)


class DisputeForm_(schemas.In):
    justification: str = Field(max_length=5000)


class ProtectForm_(schemas.In):
    comment: str = Field(max_length=5000)


@api.post(
    "/claims/{claim_id}/dispute",
    response=_responses(200, schemas.ClaimDetail),
    url_name="claim_dispute",
    tags=["claims"],
)
@decorate_view(idempotent)
def claim_dispute_op(
    request,
    form: Form[DisputeForm_],
    claim_id: int = ID,
    files: File[list[UploadedFile]] = None,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
):
    """Dispute a rejection, once, within 30 days, with a business justification and optional POE (``files``)."""
    _writes(request)
    claim = _claim(request, claim_id)
    _allowed(ClaimRules(claim, request.auth.viewer).dispute)
    bound = DisputeForm({"justification": form.justification}, _files(files))
    if not bound.is_valid():
        raise _form_problem(bound)
    try:
        claim_dispute(
            claim=claim,
            user=request.auth.user,
            justification=bound.cleaned_data["justification"],
            files=bound.cleaned_data["checked"],
        )
    except PartnerActionRefused as refused:
        raise ApiProblem(409, _("Not possible now"), refused.message) from None
    except PoeQuotaExceeded as exc:
        raise ApiProblem(422, _("The file was refused"), "", errors=[("files", m) for m in exc.messages]) from None
    except PoeStorageError:
        raise _storage_down() from None
    claim.refresh_from_db()
    return _detail(request, claim)


@api.post(
    "/claims/{claim_id}/protect",
    response=_responses(200, schemas.ClaimDetail),
    url_name="claim_protect",
    tags=["claims"],
)
@decorate_view(idempotent)
def claim_protect_op(
    request,
    form: Form[ProtectForm_],
    files: File[list[UploadedFile]],
    claim_id: int = ID,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
):
    """Add POE (``files``) with a comment to an official association, to protect it."""
    _writes(request)
    claim = _claim(request, claim_id)
    _allowed(ClaimRules(claim, request.auth.viewer).protect)
    bound = ProtectForm({"comment": form.comment}, _files(files))
    if not bound.is_valid():
        raise _form_problem(bound)
    try:
        claim_protect(
            claim=claim,
            user=request.auth.user,
            comment=bound.cleaned_data["comment"],
            files=bound.cleaned_data["checked"],
        )
    except PartnerActionRefused as refused:
        raise ApiProblem(409, _("Not possible now"), refused.message) from None
    except PoeQuotaExceeded as exc:
        raise ApiProblem(422, _("The file was refused"), "", errors=[("files", m) for m in exc.messages]) from None
    except PoeStorageError:
        raise _storage_down() from None
    claim.refresh_from_db()
    return _detail(request, claim)


class ReasonIn(schemas.In):
    reason: str = Field(max_length=1000)


@api.post(
    "/claims/{claim_id}/disassociate",
    response=_responses(200, schemas.ClaimDetail),
    url_name="claim_disassociate",
    tags=["claims"],
)
@decorate_view(idempotent)
def claim_disassociate_op(
    request, payload: Body[ReasonIn], claim_id: int = ID, idempotency_key: str | None = IDEMPOTENCY_HEADER
):
    """End an official association, with a reason: final, and its usage data is no longer shown."""
    _writes(request)
    claim = _claim(request, claim_id)
    _allowed(ClaimRules(claim, request.auth.viewer).disassociate)
    bound = DisassociateForm({"reason": payload.reason})
    if not bound.is_valid():
        raise _form_problem(bound)
    try:
        claim_disassociate(claim=claim, user=request.auth.user, reason=bound.cleaned_data["reason"])
    except ClaimStatusConflict:
        raise ApiProblem(409, _("Not possible now"), _("Only an official association can be ended.")) from None
    except PartnerActionRefused as refused:
        raise ApiProblem(409, _("Not possible now"), refused.message) from None
    claim.refresh_from_db()
    return _detail(request, claim)


@api.post(
    "/claims/{claim_id}/copy", response=_responses(201, schemas.ClaimDetail), url_name="claim_copy", tags=["claims"]
)
@decorate_view(idempotent)
def claim_copy(request, claim_id: int = ID, idempotency_key: str | None = IDEMPOTENCY_HEADER):
    """Copy a claim that can no longer move on into a new draft (its POE is not copied)."""
    _writes(request)
    claim = _claim(request, claim_id)
    _allowed(ClaimRules(claim, request.auth.viewer).copy)
    try:
        draft = claim_copy_to_draft(claim=claim, user=request.auth.user)
    except ClaimNotCopyable as exc:
        raise ApiProblem(409, _("Not possible now"), str(exc)) from None
    except DraftLimitReached:
        raise ApiProblem(
            409, _("Too many drafts"), _("Submit or delete some of your drafts first."), type_="drafts"
        ) from None
    return Status(201, _detail(request, draft))


@api.get(
    "/claims/{claim_id}/usage",
    response=_responses(200, list[schemas.UsageMonth]),
    url_name="claim_usage",
    tags=["claims"],
)
def claim_usage(request, claim_id: int = ID):
    """The customer's monthly usage of an official association's products (SPEC §5)."""
    claim = _claim(request, claim_id)
    if claim.status != ClaimStatus.OFFICIAL:
        raise ApiProblem(
            409, _("Not possible now"), _("Usage data is shown only for an official association."), type_="not-now"
        )
    items = ClaimItem.objects.select_related("product", "association").filter(association__status="active")
    claim = Claim.objects.prefetch_related(Prefetch("items", queryset=items)).get(pk=claim.pk)
    usage = selectors.claim_usage(claim=claim)
    return [
        {
            "product": product.code,
            "month": record.month,
            "active_users": record.active_users,
            "paid_units": record.paid_units,
        }
        for product, records in usage.items()
        for record in records
    ]
