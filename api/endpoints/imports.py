"""Bulk import through the API (SPEC §16): upload a CSV and a ZIP of POE files, then follow its progress and read
each row's result."""

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import File, Path, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile

from api import schemas
from api.endpoints.common import ERRORS, IDEMPOTENCY_HEADER, writes_required
from api.idempotency import idempotent
from api.models import BulkImport, ImportRow
from api.problems import ApiProblem
from api.services.imports import ImportRefused, bulk_import_create, result_rows
from api.v1 import api
from claims.exports import csv_row

ID = Path(..., ge=1, le=2**63 - 1)


def _import(request, import_id):
    found = BulkImport.objects.filter(partner=request.auth.partner, pk=import_id).first()
    if found is None:
        raise ApiProblem(404, _("Not found"), _("There is no such object of your organization."), type_="not-found")
    return found


def _out(request, bulk_import):
    done = bulk_import.state == BulkImport.State.DONE
    return {
        "id": bulk_import.pk,
        "state": bulk_import.state,
        "file_name": bulk_import.file_name,
        "rows_total": bulk_import.rows_total,
        "rows_done": bulk_import.rows_done,
        "error": bulk_import.error,
        "created_at": bulk_import.created_at,
        "finished_at": bulk_import.finished_at,
        "result_url": request.build_absolute_uri(f"/api/v1/imports/{bulk_import.pk}/result.csv") if done else None,
    }


@api.post("/imports", response={202: schemas.ImportOut, **ERRORS}, url_name="imports_create", tags=["imports"])
@decorate_view(idempotent)
def imports_create(
    request,
    csv: File[UploadedFile],
    poe: File[UploadedFile] = None,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
):
    """Import claims from a CSV (``csv``: one row per claim, the columns of the template) with their POE files in a
    ZIP (``poe``). Rows are imported by a background job: follow ``rows_done``, then read the results."""
    writes_required(request)
    try:
        bulk_import = bulk_import_create(
            partner=request.auth.partner, user=request.auth.user, csv_file=csv, zip_file=poe
        )
    except ImportRefused as refused:
        raise ApiProblem(422, _("The files cannot be imported"), str(refused), type_="invalid") from None
    return Status(202, _out(request, bulk_import))


@api.get("/imports/{import_id}", response={200: schemas.ImportOut, **ERRORS}, url_name="import_get", tags=["imports"])
def import_get(request, import_id: int = ID):
    """An import's progress."""
    return _out(request, _import(request, import_id))


@api.get(
    "/imports/{import_id}/rows",
    response={200: list[schemas.ImportRowOut], **ERRORS},
    url_name="import_rows",
    tags=["imports"],
)
def import_rows(request, import_id: int = ID):
    """Each row's result so far: its line, key, outcome (submitted, draft, already, error), claim and message."""
    bulk_import = _import(request, import_id)
    return [
        {"line": r.line, "row_key": r.row_key, "outcome": r.outcome, "claim_id": r.claim_id, "message": r.message}
        for r in ImportRow.objects.filter(bulk_import=bulk_import).order_by("line")
    ]


@api.get("/imports/{import_id}/result.csv", url_name="import_result", include_in_schema=False)
def import_result(request, import_id: int = ID):
    """The result file (CSV): each row's line, key, outcome, claim id and message."""
    bulk_import = _import(request, import_id)
    response = HttpResponse(
        "".join(csv_row(cells) for cells in result_rows(bulk_import)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(True, f"import-{bulk_import.pk}-result.csv")
    return response
