"""Bulk import (SPEC §16): a CSV of claims, one row per claim, with their POE files in a ZIP, becomes submissions
(or drafts), row by row, through the wizard's own checks and services, with a result per row.

1. ``bulk_import_create`` stores the two files (the default storage, never a web node's disk) and the import row,
   then sends the task after commit.
2. ``bulk_import_run`` (the task; one run at a time per import: a PostgreSQL advisory lock) reads the CSV and goes
   through its rows in chunks from where it stopped (``rows_done``), writing each chunk's results (ImportRow) and
   its progress; a worker that died mid-import is followed by the next sweep's run, which goes on.
3. A row's key is its ``external_id``, else a hash of the row: the claim's submission key is derived from it, so the
   same row imported twice (in this file or a later one) finds its claim and creates nothing new.
4. A row to submit is checked step by step as the wizard's last step checks a draft (no draft is left behind when
   it fails), its POE files are checked by content as any upload (``poe_check``), then ``claim_submit`` submits
   it. A row with ``action`` ``draft`` becomes a draft (the user's limit of open drafts applies).
5. The files are deleted when the import is done; the results stay.
"""

import csv
import datetime
import hashlib
import io
import logging
import posixpath
import uuid
import zipfile

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from api.jobs import task_send_on_commit
from api.models import BulkImport, ImportRow
from api.services.drafts import DraftInvalid, api_draft_create, draft_errors, step_data_merge, step_of
from associations.validators import CONTROL_CHARACTERS
from claims.models import Claim, ClaimStatus
from claims.services import PoeStorageError, claim_submit, pending_upload_create, pending_uploads_discard
from claims.services.drafts import DraftLimitReached
from claims.uploads import POE_RULES
from claims.wizard.steps import STEP_NAMES, DraftSteps

logger = logging.getLogger(__name__)

# The CSV's columns (the API's field names; lists separated by ";", subscriptions as code=ID).
COLUMNS = (
    "external_id",
    "action",
    "location",
    "domain",
    "directory_id",
    "solution_area",
    "activities",
    "name",
    "dynamics_seller_name",
    "customer_name",
    "isv_solution_name",
    "products",
    "subscriptions",
    "customer_contact_name",
    "customer_contact_title",
    "customer_contact_email",
    "technical_contact_name",
    "technical_contact_title",
    "technical_contact_email",
    "partner_contact_name",
    "partner_contact_email",
    "comments",
    "poe_files",
)
LIST_COLUMNS = ("activities", "products", "poe_files")
MAX_ROWS = 5000
MAX_CSV_BYTES = 10 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
CHUNK = 50
# Namespace of the submission keys derived from rows' keys.
ROW_NAMESPACE = uuid.UUID("6f1c1f7e-4c1b-4f0e-9d39-0c9f6b1d2a77")


class ImportRefused(Exception):
    """The files cannot be imported at all (said to the partner at the upload)."""


# --- the upload -----------------------------------------------------------------------------------------------------


def csv_rows(data):
    """The CSV's rows as dicts of its known columns; ImportRefused when it cannot be read as such."""
    if len(data) > MAX_CSV_BYTES:
        raise ImportRefused(_("The CSV file is larger than 10 MB."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(_("The CSV file must be UTF-8 text.")) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "location" not in [name.strip() for name in reader.fieldnames]:
        raise ImportRefused(_("The CSV file needs a header row with the columns of the template (location, …)."))
    rows = []
    try:
        for row in reader:
            rows.append({(key or "").strip(): (value if isinstance(value, str) else "") for key, value in row.items()})
            if len(rows) > MAX_ROWS:
                raise ImportRefused(_("A CSV file may hold at most %(max)s rows.") % {"max": f"{MAX_ROWS:,}"})
    except csv.Error as exc:
        raise ImportRefused(_("The CSV file cannot be read: %(problem)s") % {"problem": exc}) from None
    if not rows:
        raise ImportRefused(_("The CSV file has no rows."))
    return rows


def bulk_import_create(*, partner, user, csv_file, zip_file=None):
    """Check that the CSV can be read, store it (and the ZIP), and queue the import. ImportRefused otherwise."""
    data = csv_file.read(MAX_CSV_BYTES + 1)
    rows = csv_rows(data)
    if zip_file is not None:
        try:
            with zipfile.ZipFile(zip_file) as archive:
                if len(archive.infolist()) > MAX_ZIP_MEMBERS:
                    raise ImportRefused(_("The ZIP file holds too many files."))
        except zipfile.BadZipFile:
            raise ImportRefused(_("The ZIP file cannot be read.")) from None
        zip_file.seek(0)
    folder = f"imports/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"
    csv_key = default_storage.save(f"{folder}/claims.csv", io.BytesIO(data))
    zip_key = default_storage.save(f"{folder}/poe.zip", zip_file) if zip_file is not None else ""
    with transaction.atomic():
        bulk_import = BulkImport.objects.create(
            partner=partner,
            created_by=user,
            file_name=(getattr(csv_file, "name", "") or "claims.csv")[:255],
            csv_key=csv_key,
            zip_key=zip_key,
            rows_total=len(rows),
        )
        task_send_on_commit("api.tasks.bulk_import_run_task", import_id=bulk_import.pk)
    return bulk_import


# --- one row ------------------------------------------------------------------------------------------------------


def row_key(row):
    external = (row.get("external_id") or "").strip()
    if external:
        return external[:100]
    canonical = "\x1f".join(f"{name}={(row.get(name) or '').strip()}" for name in COLUMNS)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _fields(row):
    fields = {}
    for name in COLUMNS:
        if name in ("external_id", "action", "poe_files"):
            continue
        value = (row.get(name) or "").strip()
        if not value:
            continue
        if name in LIST_COLUMNS:
            fields[name] = [part.strip() for part in value.split(";") if part.strip()]
        elif name == "subscriptions":
            pairs = [part.split("=", 1) for part in value.split(";") if "=" in part]
            fields[name] = {code.strip(): subscription.strip() for code, subscription in pairs}
        else:
            fields[name] = value
    return fields


class Archive:
    """The ZIP's POE files by name (a member's full path, or its file name when that is unambiguous), each read
    with a cap: never more than the POE rules' size of one file."""

    def __init__(self, fileobj):
        self.zip = zipfile.ZipFile(fileobj) if fileobj is not None else None
        self.members = {}
        names = {}
        for info in self.zip.infolist() if self.zip else []:
            if info.is_dir():
                continue
            self.members[info.filename] = info
            names.setdefault(posixpath.basename(info.filename), []).append(info)
        for name, infos in names.items():
            if len(infos) == 1:
                self.members.setdefault(name, infos[0])

    def file(self, name):
        info = self.members.get(name) or self.members.get(name.lstrip("/"))
        if info is None:
            raise ValidationError(_("“%(name)s” is not in the ZIP file.") % {"name": name})
        if info.file_size > POE_RULES.max_bytes:
            raise ValidationError(_("“%(name)s” is larger than a POE file may be.") % {"name": name})
        with self.zip.open(info) as member:
            data = member.read(POE_RULES.max_bytes + 1)
        if len(data) > POE_RULES.max_bytes:
            raise ValidationError(_("“%(name)s” is larger than a POE file may be.") % {"name": name})
        return SimpleUploadedFile(posixpath.basename(info.filename), data)


def _row_import(*, bulk_import, row, archive):
    """(outcome, claim id or None, message) of one row."""
    key = row_key(row)
    if any(CONTROL_CHARACTERS.search(value or "") for value in row.values()):
        return ImportRow.Outcome.ERROR, None, _("The row contains control characters, such as NUL.")
    partner, user = bulk_import.partner, bulk_import.created_by
    submission_key = uuid.uuid5(ROW_NAMESPACE, f"{partner.pk}:{key}")
    existing = Claim.objects.filter(partner=partner, submission_key=submission_key).only("pk", "status").first()
    if existing is not None and existing.status != ClaimStatus.DRAFT:
        return ImportRow.Outcome.ALREADY, existing.pk, ""
    action = (row.get("action") or "submit").strip().lower()
    if action not in ("submit", "draft"):
        return ImportRow.Outcome.ERROR, None, _("action: submit or draft.")
    try:
        fields = _fields(row)
        if action == "draft":
            if existing is not None:
                return ImportRow.Outcome.ALREADY, existing.pk, ""
            claim = api_draft_create(partner=partner, user=user, fields=fields, submission_key=submission_key)
            return ImportRow.Outcome.DRAFT, claim.pk, ""
        return _row_submit(partner=partner, user=user, key=submission_key, fields=fields, row=row, archive=archive)
    except DraftInvalid as exc:
        return ImportRow.Outcome.ERROR, None, "; ".join(f"{field}: {message}" for field, message in exc.errors)
    except DraftLimitReached:
        return ImportRow.Outcome.ERROR, None, _("You have too many drafts open: submit or delete some first.")
    except PoeStorageError as exc:
        return ImportRow.Outcome.ERROR, None, str(exc)


def _row_submit(*, partner, user, key, fields, row, archive):
    """Check every step but the POE as the wizard's last step does, then store the row's POE files (checked by
    content), then submit. Nothing is left behind when a step fails."""
    step_data, _touched = step_data_merge({}, fields)
    steps = DraftSteps(partner=partner, step_data=step_data, wizard_key=str(key))
    before_poe = [step for step in STEP_NAMES if step not in ("poe", "review")]
    errors = [(step, _("This step is not filled in yet.")) for step in before_poe if step not in step_data]
    errors += draft_errors(steps, before_poe)
    if errors:
        raise DraftInvalid(errors)
    names = [part.strip() for part in (row.get("poe_files") or "").split(";") if part.strip()]
    if not names:
        raise DraftInvalid([("poe_files", _("Add at least one proof of execution file."))])
    if len(names) > POE_RULES.max_files:
        raise DraftInvalid([("poe_files", _("You can upload at most %(max)s files.") % {"max": POE_RULES.max_files})])
    pending_uploads_discard(partner=partner, wizard_key=str(key))  # a run that died before submitting it
    stored = set()
    try:
        for name in names:
            if archive is None:
                raise ValidationError(_("“%(name)s” is not in the ZIP file.") % {"name": name})
            upload = pending_upload_create(
                partner=partner, user=user, wizard_key=str(key), uploaded_file=archive.file(name)
            )
            stored.add(upload.file.name)
    except ValidationError as exc:
        pending_uploads_discard(partner=partner, wizard_key=str(key))
        raise DraftInvalid([("poe_files", message) for message in exc.messages]) from None
    # The POE and review steps now (their uploads exist); the steps checked above keep their forms.
    steps.step_data = {
        **step_data,
        "poe": step_of("poe", {}),
        "review": step_data.get("review") or step_of("review", {}),
    }
    for step in ("poe", "review"):
        steps._forms.pop(step, None)
    data = steps.merged()
    if data is None:
        pending_uploads_discard(partner=partner, wizard_key=str(key))
        raise DraftInvalid(draft_errors(steps, STEP_NAMES) or [("poe_files", _("This draft is not complete."))])
    # The files were stored just now: claim_submit need not ask the storage whether they exist.
    claim = claim_submit(user=user, partner=partner, data=data, submission_key=key, just_stored=stored)
    return ImportRow.Outcome.SUBMITTED, claim.pk, ""


# --- the run ------------------------------------------------------------------------------------------------------


def _lock(import_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, import_id])
        return cursor.fetchone()[0]


def _unlock(import_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, import_id])


LOCK_CLASS = 1_600_016  # the advisory lock namespace of bulk imports


def bulk_import_run(*, import_id):
    """Import the rows not done yet of one import (see the module's docstring); returns how many it did now."""
    if not _lock(import_id):
        return 0  # another worker runs it
    try:
        return _run_locked(import_id)
    finally:
        _unlock(import_id)


def _run_locked(import_id):
    bulk_import = (
        BulkImport.objects.select_related("partner", "created_by")
        .filter(pk=import_id, state__in=[BulkImport.State.QUEUED, BulkImport.State.RUNNING])
        .first()
    )
    if bulk_import is None:
        return 0
    BulkImport.objects.filter(pk=import_id).update(state=BulkImport.State.RUNNING)
    try:
        with default_storage.open(bulk_import.csv_key) as handle:
            rows = csv_rows(handle.read())
        zip_handle = default_storage.open(bulk_import.zip_key) if bulk_import.zip_key else None
    except (ImportRefused, OSError) as exc:
        _finish(bulk_import, state=BulkImport.State.FAILED, error=str(exc))
        return 0
    done = 0
    try:
        archive = Archive(zip_handle) if zip_handle is not None else None
        imported = set(ImportRow.objects.filter(bulk_import=bulk_import).values_list("line", flat=True))
        for start in range(0, len(rows), CHUNK):
            results = []
            for offset, row in enumerate(rows[start : start + CHUNK]):
                line = start + offset + 2  # the header is line 1
                if line in imported:
                    continue
                outcome, claim_id, message = _row_import(bulk_import=bulk_import, row=row, archive=archive)
                results.append(
                    ImportRow(
                        bulk_import=bulk_import,
                        line=line,
                        row_key=row_key(row),
                        outcome=outcome,
                        claim_id=claim_id,
                        message=message,
                    )
                )
            ImportRow.objects.bulk_create(results, ignore_conflicts=True)
            done += len(results)
            BulkImport.objects.filter(pk=import_id).update(
                rows_total=len(rows), rows_done=min(len(rows), start + CHUNK)
            )
    finally:
        if zip_handle is not None:
            zip_handle.close()
    _finish(bulk_import, state=BulkImport.State.DONE)
    return done


def _finish(bulk_import, *, state, error=""):
    BulkImport.objects.filter(pk=bulk_import.pk).update(
        state=state, error=error, finished_at=timezone.now(), csv_key="", zip_key=""
    )
    for key in (bulk_import.csv_key, bulk_import.zip_key):
        if key:
            try:
                default_storage.delete(key)
            except Exception:  # a file left behind is deleted by nobody else: log it
                logger.exception("Bulk import %s: could not delete %s", bulk_import.pk, key)


def bulk_imports_resume(*, older_than_seconds=60):
    """Send the run task again for imports still unfinished a while after their last progress (a worker died)."""
    cutoff = timezone.now() - datetime.timedelta(seconds=older_than_seconds)
    ids = list(
        BulkImport.objects.filter(
            state__in=[BulkImport.State.QUEUED, BulkImport.State.RUNNING], created_at__lt=cutoff
        ).values_list("pk", flat=True)[:20]
    )
    for import_id in ids:
        task_send_on_commit("api.tasks.bulk_import_run_task", import_id=import_id)
    return len(ids)


def result_rows(bulk_import):
    """The result file's rows: line, key, outcome, claim id, message."""
    yield ["line", "external_id", "outcome", "claim_id", "message"]
    for row in ImportRow.objects.filter(bulk_import=bulk_import).order_by("line").iterator():
        yield [row.line, row.row_key, row.outcome, row.claim_id or "", row.message]
