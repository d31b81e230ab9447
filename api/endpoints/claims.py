"""Claims through the API (SPEC §16): drafts, POE uploads, submit, the list, a claim with its history, the
answer, the dispute, protection, Disassociate, Copy into a new claim and usage data.

Each operation has the browser's shape (STYLE 10): the caller (a key), the claim of its partner or a 404, the rule
book (``claims.policy``: 403 for a read-only key, 409 with the reason when the claim does not allow it now), the
wizard's or the claim page's form, one service call (which asks the rule book again under the row lock).
"""

import base64

from django.db.models import Prefetch
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja import Body, File, Form, Query, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile
from pydantic import Field

from api import schemas
from api.endpoints.common import (
    ID,
    IDEMPOTENCY_HEADER,
    allowed,
    claim_detail,
    claim_of,
    claim_summary,
    form_problem,
    partner_action_problems,
    responses_with,
    writes_required,
)
from api.idempotency import idempotent
from api.problems import ApiProblem
from api.v1 import api
from claims import selectors
from claims.forms.answer import ClaimRespondForm, DisassociateForm
from claims.forms.disputes import DisputeForm, ProtectForm
from claims.models import Claim, ClaimItem, ClaimStatus
from claims.policy import ClaimRules
from claims.services import (
    AnswerRefused,
    ClaimStatusConflict,
    claim_disassociate,
    claim_respond,
)
from claims.services.disputes import claim_dispute, claim_protect
from claims.services.drafts import ClaimNotCopyable, DraftLimitReached, claim_copy_to_draft

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


@api.get("/claims", response=responses_with(200, schemas.ClaimPage), url_name="claims_list", tags=["claims"])
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
    return {
        "items": [claim_summary(claim) for claim in page],
        "next_cursor": _cursor_make(page[-1].pk) if more else None,
    }


@api.get("/claims/{claim_id}", response=responses_with(200, schemas.ClaimDetail), url_name="claim_get", tags=["claims"])
def claim_get(request, claim_id: int = ID):
    """One claim: its fields, items, POE files, history (newest first) and what the key may do to it now."""
    return claim_detail(request, claim_of(request, claim_id))


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
    "/claims/{claim_id}/answer",
    response=responses_with(200, schemas.ClaimDetail),
    url_name="claim_answer",
    tags=["claims"],
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
    writes_required(request)
    claim = claim_of(request, claim_id)
    answer = allowed(ClaimRules(claim, request.auth.viewer).answer)
    data = MultiValueDict()
    for name, value in form.dict(exclude_none=True).items():
        data.setlist(name, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    bound = ClaimRespondForm(data, _files(files), claim=claim, answer=answer)
    if not bound.is_valid():
        raise form_problem(bound)
    cleaned = bound.cleaned_data
    try:
        with partner_action_problems():
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
    except AnswerRefused as exc:
        raise ApiProblem(
            422, _("The request is not valid"), "", errors=[("customer_contact_email", str(exc))]
        ) from None
    claim.refresh_from_db()
    return claim_detail(request, claim)


class DisputeForm_(schemas.In):
    justification: str = Field(max_length=5000)


class ProtectForm_(schemas.In):
    comment: str = Field(max_length=5000)


@api.post(
    "/claims/{claim_id}/dispute",
    response=responses_with(200, schemas.ClaimDetail),
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
    writes_required(request)
    claim = claim_of(request, claim_id)
    allowed(ClaimRules(claim, request.auth.viewer).dispute)
    bound = DisputeForm({"justification": form.justification}, _files(files))
    if not bound.is_valid():
        raise form_problem(bound)
    with partner_action_problems():
        claim_dispute(
            claim=claim,
            user=request.auth.user,
            justification=bound.cleaned_data["justification"],
            files=bound.cleaned_data["checked"],
        )
    claim.refresh_from_db()
    return claim_detail(request, claim)


@api.post(
    "/claims/{claim_id}/protect",
    response=responses_with(200, schemas.ClaimDetail),
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
    writes_required(request)
    claim = claim_of(request, claim_id)
    allowed(ClaimRules(claim, request.auth.viewer).protect)
    bound = ProtectForm({"comment": form.comment}, _files(files))
    if not bound.is_valid():
        raise form_problem(bound)
    with partner_action_problems():
        claim_protect(
            claim=claim,
            user=request.auth.user,
            comment=bound.cleaned_data["comment"],
            files=bound.cleaned_data["checked"],
        )
    claim.refresh_from_db()
    return claim_detail(request, claim)


class ReasonIn(schemas.In):
    reason: str = Field(max_length=1000)


@api.post(
    "/claims/{claim_id}/disassociate",
    response=responses_with(200, schemas.ClaimDetail),
    url_name="claim_disassociate",
    tags=["claims"],
)
@decorate_view(idempotent)
def claim_disassociate_op(
    request, payload: Body[ReasonIn], claim_id: int = ID, idempotency_key: str | None = IDEMPOTENCY_HEADER
):
    """End an official association, with a reason: final, and its usage data is no longer shown."""
    writes_required(request)
    claim = claim_of(request, claim_id)
    allowed(ClaimRules(claim, request.auth.viewer).disassociate)
    bound = DisassociateForm({"reason": payload.reason})
    if not bound.is_valid():
        raise form_problem(bound)
    try:
        with partner_action_problems():
            claim_disassociate(claim=claim, user=request.auth.user, reason=bound.cleaned_data["reason"])
    except ClaimStatusConflict:
        raise ApiProblem(409, _("Not possible now"), _("Only an official association can be ended.")) from None
    claim.refresh_from_db()
    return claim_detail(request, claim)


@api.post(
    "/claims/{claim_id}/copy", response=responses_with(201, schemas.ClaimDetail), url_name="claim_copy", tags=["claims"]
)
@decorate_view(idempotent)
def claim_copy(request, claim_id: int = ID, idempotency_key: str | None = IDEMPOTENCY_HEADER):
    """Copy a claim that can no longer move on into a new draft (its POE is not copied)."""
    writes_required(request)
    claim = claim_of(request, claim_id)
    allowed(ClaimRules(claim, request.auth.viewer).copy)
    try:
        draft = claim_copy_to_draft(claim=claim, user=request.auth.user)
    except ClaimNotCopyable as exc:
        raise ApiProblem(409, _("Not possible now"), str(exc)) from None
    except DraftLimitReached:
        raise ApiProblem(
            409, _("Too many drafts"), _("Submit or delete some of your drafts first."), type_="drafts"
        ) from None
    return Status(201, claim_detail(request, draft))


@api.get(
    "/claims/{claim_id}/usage",
    response=responses_with(200, list[schemas.UsageMonth]),
    url_name="claim_usage",
    tags=["claims"],
)
def claim_usage(request, claim_id: int = ID):
    """The customer's monthly usage of an official association's products (SPEC §5)."""
    claim = claim_of(request, claim_id)
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
