"""What every operation on claims shares (SPEC §16): the caller's key, the claim of its partner or a 404, the rule
book's refusals as problem details, and what a claim reads as."""

import contextlib

from django.utils.translation import gettext as _
from ninja import Header, Path

from api import schemas
from api.problems import ApiProblem
from api.services.drafts import (
    draft_uploads,
    fields_of_step_data,
)
from claims.models import CONTACT_FIELDS, Claim, ClaimStatus
from claims.policy import ClaimRules, Refusal
from claims.services import PartnerActionRefused, PoeStorageError
from claims.uploads import PoeQuotaExceeded

ID = Path(..., ge=1, le=2**63 - 1)
ERRORS = dict.fromkeys((400, 401, 403, 404, 409, 422, 429, 503), schemas.Problem)
IDEMPOTENCY_HEADER = Header(
    None,
    alias="Idempotency-Key",
    max_length=255,
    description="Your key that makes the POST safe to send again: the same answer.",  # i18n: English only (schema)
)


def responses_with(ok_status, ok_schema):
    return {ok_status: ok_schema, **ERRORS}


# --- the caller, the claim, the rule book ------------------------------------------------------------------------


def writes_required(request):
    """A read-write key (acting as an incentives admin who still is one), or 403."""
    if not request.auth.writes:
        raise ApiProblem(
            403,
            _("This API key only reads"),
            _("Only a read-write key of an incentives admin can do this."),
            type_="read-only-key",
        )


def claim_of(request, claim_id):
    """The claim of the caller's partner, or 404 (never 403, which would confirm that it exists)."""
    claim = (
        Claim.objects.select_related("location", "tenant", "partner")
        .filter(partner=request.auth.partner, pk=claim_id)
        .first()
    )
    if claim is None:
        raise ApiProblem(404, _("Not found"), _("There is no such object of your organization."), type_="not-found")
    return claim


def allowed(decision):
    """The rule book's refusal as the API says it: 404 not yours, 403 never yours to do, 409 not now (why)."""
    if decision:
        return decision
    if decision.refusal == Refusal.NOT_YOURS:
        raise ApiProblem(404, _("Not found"), _("There is no such object of your organization."), type_="not-found")
    if decision.refusal == Refusal.ROLE:
        raise ApiProblem(403, _("Not allowed"), decision.why_not, type_="forbidden")
    raise ApiProblem(409, _("Not possible now"), decision.why_not, type_="not-now")


def form_problem(form, field_names=None):
    errors = []
    for field, messages in form.errors.items():
        name = (field_names or {}).get(field, field)
        errors += [(name if field != "__all__" else "request", message) for message in messages]
    return ApiProblem(422, _("The request is not valid"), "", errors=errors, type_="invalid")


def storage_down():
    return ApiProblem(
        503,
        _("The file storage is not available"),
        _("Nothing was changed: try again in a moment."),
        type_="storage",
        headers={"Retry-After": "5"},
    )


@contextlib.contextmanager
def partner_action_problems():
    """A partner's action with files (answer, dispute, protect) or without (disassociate), refused as a problem:
    the rule book's refusal under the claim's lock (409), a POE quota (422, at ``files``), the file storage (503)."""
    try:
        yield
    except PartnerActionRefused as refused:
        raise ApiProblem(409, _("Not possible now"), refused.message) from None
    except PoeQuotaExceeded as exc:
        raise ApiProblem(422, _("The file was refused"), "", errors=[("files", m) for m in exc.messages]) from None
    except PoeStorageError:
        raise storage_down() from None


# --- what a claim reads as ----------------------------------------------------------------------------------------


def claim_summary(claim):
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


def claim_detail(request, claim):
    items = list(claim.items.select_related("product", "subscription"))
    events = list(claim.events.all())
    rules = ClaimRules(claim, request.auth.viewer, events=events)
    return {
        **claim_summary(claim),
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
        "uploads": [upload_out(upload) for upload in draft_uploads(claim)] if claim.status == ClaimStatus.DRAFT else [],
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


def upload_out(upload):
    return {
        "id": str(upload.pk),
        "name": upload.original_name,
        "content_type": upload.content_type,
        "size": upload.size,
    }
