"""Drafts through the API (SPEC §12, §16): made, changed, deleted, given POE and submitted as the wizard does (its own
step forms, ``api.services.drafts``)."""

import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from ninja import File, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile

from api import schemas
from api.endpoints.common import (
    ERRORS,
    ID,
    IDEMPOTENCY_HEADER,
    allowed,
    claim_detail,
    claim_of,
    responses_with,
    storage_down,
    upload_out,
    writes_required,
)
from api.idempotency import idempotent
from api.problems import ApiProblem
from api.services.drafts import (
    DraftInvalid,
    api_draft_create,
    api_draft_submit,
    api_draft_update,
)
from api.v1 import api
from claims.models import ClaimStatus
from claims.policy import ClaimRules
from claims.services import (
    PoeStorageError,
    pending_upload_create,
    pending_upload_delete,
)
from claims.services.drafts import DraftLimitReached, claim_draft_delete

# --- drafts -------------------------------------------------------------------------------------------------------


def _draft_invalid(exc):
    return ApiProblem(422, _("The draft is not valid"), "", errors=exc.errors, type_="invalid")


@api.post("/claims", response=responses_with(201, schemas.ClaimDetail), url_name="claims_create", tags=["drafts"])
@decorate_view(idempotent)
def claims_create(request, payload: schemas.DraftCreate, idempotency_key: str | None = IDEMPOTENCY_HEADER):
    """Start a draft, as the wizard's first Continue: MPN ID, domain name and Directory ID, and any of the other
    steps' fields (each step given is checked as the wizard checks it)."""
    writes_required(request)
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
    return Status(201, claim_detail(request, claim))


@api.patch(
    "/claims/{claim_id}", response=responses_with(200, schemas.ClaimDetail), url_name="claim_update", tags=["drafts"]
)
def claim_update(request, payload: schemas.ClaimFields, claim_id: int = ID):
    """Change a draft's fields (those sent; the others stay). Each step touched is checked as the wizard does."""
    writes_required(request)
    claim = claim_of(request, claim_id)
    allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
    try:
        saved = api_draft_update(claim=claim, fields=payload.model_dump(exclude_unset=True))
    except DraftInvalid as exc:
        raise _draft_invalid(exc) from None
    if not saved:
        raise ApiProblem(409, _("Not possible now"), _("This customer association is no longer a draft."))
    claim.refresh_from_db()
    return claim_detail(request, claim)


@api.delete("/claims/{claim_id}", response={204: None, **ERRORS}, url_name="claim_delete", tags=["drafts"])
def claim_delete(request, claim_id: int = ID):
    """Delete a draft with its uploaded files."""
    writes_required(request)
    claim = claim_of(request, claim_id)
    allowed(ClaimRules(claim, request.auth.viewer).delete_draft)
    if not claim_draft_delete(partner=claim.partner, claim_id=claim.pk):
        raise ApiProblem(409, _("Not possible now"), _("This customer association is no longer a draft."))
    return Status(204, None)


@api.post(
    "/claims/{claim_id}/poe", response=responses_with(201, schemas.UploadOut), url_name="draft_poe_add", tags=["drafts"]
)
@decorate_view(idempotent)
def draft_poe_add(
    request, file: File[UploadedFile], claim_id: int = ID, idempotency_key: str | None = IDEMPOTENCY_HEADER
):
    """Upload one proof of execution file to a draft (checked by content, as the wizard's drop zone)."""
    writes_required(request)
    claim = claim_of(request, claim_id)
    allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
    try:
        upload = pending_upload_create(
            partner=claim.partner, user=request.auth.user, wizard_key=str(claim.submission_key), uploaded_file=file
        )
    except DjangoValidationError as exc:
        raise ApiProblem(422, _("The file was refused"), "", errors=[("file", m) for m in exc.messages]) from None
    except PoeStorageError:
        raise storage_down() from None
    return Status(201, upload_out(upload))


@api.delete(
    "/claims/{claim_id}/poe/{upload_id}", response={204: None, **ERRORS}, url_name="draft_poe_delete", tags=["drafts"]
)
def draft_poe_delete(request, upload_id: uuid.UUID, claim_id: int = ID):
    """Remove an uploaded file from a draft."""
    writes_required(request)
    claim = claim_of(request, claim_id)
    allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
    if not pending_upload_delete(partner=claim.partner, wizard_key=str(claim.submission_key), upload_id=upload_id):
        raise ApiProblem(404, _("Not found"), _("There is no such object of your organization."), type_="not-found")
    return Status(204, None)


@api.post(
    "/claims/{claim_id}/submit",
    response=responses_with(200, schemas.ClaimDetail),
    url_name="draft_submit",
    tags=["drafts"],
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
    writes_required(request)
    claim = claim_of(request, claim_id)
    if claim.status == ClaimStatus.DRAFT:
        allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
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
                raise storage_down() from None
    elif claim.status == ClaimStatus.EXPIRED:
        allowed(ClaimRules(claim, request.auth.viewer).continue_editing)
    try:
        submitted = api_draft_submit(claim=claim, user=request.auth.user)
    except DraftInvalid as exc:
        raise _draft_invalid(exc) from None
    except PoeStorageError as exc:
        raise ApiProblem(409, _("The file storage is not available"), str(exc), type_="storage") from None
    return claim_detail(request, submitted.claim)
