"""POE uploads: detection by content, the refusals (nothing stored), the no-JavaScript path, removal, purge,
and the pre-filled template."""

import datetime
import io
import zipfile

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from docx import Document

from claims.models import PendingUpload
from claims.services import pending_uploads_purge
from claims.tests.wizard_steps import (
    EXE,
    JPEG,
    M365_CUSTOMER,
    PDF,
    PNG,
    docx_bytes,
    msg_bytes,
    ole_bytes,
    ooxml_bytes,
    post_step,
    start,
    upload,
)
from claims.uploads import DOCX, MSG, PPTX, XLSX, detect_poe_type

OOXML = "application/vnd.openxmlformats-officedocument."


def _detect(content):
    return detect_poe_type(content[:8], io.BytesIO(content))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (docx_bytes(), DOCX),
        (ooxml_bytes("xl/workbook.xml", OOXML + "spreadsheetml.sheet.main+xml"), XLSX),
        (ooxml_bytes("ppt/presentation.xml", OOXML + "presentationml.presentation.main+xml"), PPTX),
        (msg_bytes(), MSG),
    ],
    # Named, not by their bytes: a zip's entries carry the time it was made, and pytest-xdist's workers must
    # collect the same test ids (two workers on either side of a two-second tick did not: the run stopped).
    ids=["pdf", "png", "jpeg", "docx", "xlsx", "pptx", "msg"],
)
def test_detect_poe_type_recognises_allowed_types_by_content(content, expected):
    assert _detect(content) == expected


@pytest.mark.parametrize(
    "content",
    [
        EXE,
        b"",
        b"just some text that claims to be a pdf",
        ole_bytes(["WordDocument"]),  # a Word 97 file: an OLE compound file but not a message
        ooxml_bytes("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml"),  # .docm
        b"PK\x03\x04 not really a zip",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 broken compound file",
    ],
    ids=["exe", "empty", "text", "word-97", "docm", "not-a-zip", "broken-compound-file"],
)
def test_detect_poe_type_refuses_other_content(content):
    assert _detect(content) is None


def test_detect_poe_type_keeps_file_position():
    content = docx_bytes()
    fileobj = io.BytesIO(content)
    fileobj.seek(5)
    assert detect_poe_type(content[:8], fileobj) == DOCX
    assert fileobj.tell() == 5


@pytest.fixture
def wizard_a(client_a, m365_tenant):
    """Partner A's admin with a wizard open; returns (client, submission key)."""
    return client_a, start(client_a)


def _nothing_stored(s3_objects):
    return s3_objects() == [] and not PendingUpload.objects.exists()


def test_upload_stores_pending_upload_under_generated_key(wizard_a, s3_objects, partner_a):
    client, key = wizard_a
    response = upload(client, PDF, "Statement of work.pdf")
    assert response.status_code == 201
    pending = PendingUpload.objects.get()
    assert response.json()["id"] == str(pending.pk)
    assert (pending.partner, pending.user, pending.wizard_key) == (partner_a.partner, partner_a.admin, key)
    assert (pending.original_name, pending.content_type, pending.size) == (
        "Statement of work.pdf",
        "application/pdf",
        len(PDF),
    )
    assert s3_objects() == [pending.file.name]
    assert pending.file.name.startswith("poe/") and "Statement" not in pending.file.name
    assert default_storage.open(pending.file.name).read() == PDF


def test_upload_renamed_executable_is_refused(wizard_a, s3_objects):
    response = upload(wizard_a[0], EXE, "invoice.pdf")
    assert response.status_code == 400
    assert response.json()["error"] == (
        "“invoice.pdf” is not a PDF, Word, Excel, PowerPoint, PNG, JPEG or Outlook message file. "
        "We check what the file contains, not its name."
    )
    assert _nothing_stored(s3_objects)


def test_upload_empty_file_is_refused(wizard_a, s3_objects):
    response = upload(wizard_a[0], b"", "empty.pdf")
    assert response.status_code == 400
    assert response.json()["error"] == "“empty.pdf” is empty."
    assert _nothing_stored(s3_objects)


def test_upload_file_over_limit_is_refused(wizard_a, s3_objects, settings):
    content = PDF + b"0" * (settings.POE_MAX_BYTES - len(PDF) + 1)
    response = upload(wizard_a[0], content, "big.pdf")
    assert response.status_code == 400
    assert response.json()["error"] == "“big.pdf” is larger than 10 MB: each file can be at most 10 MB."
    assert _nothing_stored(s3_objects)


def test_upload_at_limit_is_accepted(wizard_a, settings):
    content = PDF + b"0" * (settings.POE_MAX_BYTES - len(PDF))
    assert upload(wizard_a[0], content, "just-fits.pdf").status_code == 201


def test_upload_sixth_file_is_refused(wizard_a, s3_objects):
    client, _key = wizard_a
    for number in range(5):
        assert upload(client, PDF, f"proof-{number}.pdf").status_code == 201
    stored = s3_objects()
    response = upload(client, PNG, "sixth.png")
    assert response.status_code == 400
    assert response.json()["error"] == "You can upload at most 5 files. Remove one before adding “sixth.png”."
    assert s3_objects() == stored and len(stored) == 5
    assert PendingUpload.objects.count() == 5


def test_upload_name_with_parent_path_is_refused(wizard_a, s3_objects):
    response = upload(wizard_a[0], PDF, "proof.pdf", name="../../etc/proof.pdf")
    assert response.status_code == 400
    assert (
        response.json()["error"]
        == "“../../etc/proof.pdf” is a path, not a file name. Rename the file and upload it again."
    )
    assert _nothing_stored(s3_objects)


def test_upload_without_file_is_refused(wizard_a, s3_objects):
    response = wizard_a[0].post(reverse("claims:poe_upload"))
    assert response.status_code == 400
    assert response.json()["error"] == "Choose a file to upload."


def test_upload_without_open_wizard_is_refused(client_a, s3_objects):
    response = upload(client_a, PDF)
    assert response.status_code == 409
    assert _nothing_stored(s3_objects)


def test_upload_get_is_not_allowed(wizard_a):
    assert wizard_a[0].get(reverse("claims:poe_upload")).status_code == 405


def test_upload_incentives_user_gets_403(client, partner_a, s3_objects):
    client.force_login(partner_a.viewer)
    assert upload(client, PDF).status_code == 403
    assert _nothing_stored(s3_objects)


def test_upload_reviewer_without_partner_gets_404(client, reviewer, s3_objects):
    client.force_login(reviewer)
    assert upload(client, PDF).status_code == 404


def test_upload_delete_removes_object_and_row(wizard_a, s3_objects):
    client, _key = wizard_a
    delete_url = upload(client, PDF).json()["delete_url"]
    response = client.post(delete_url)
    assert response.status_code == 200
    assert _nothing_stored(s3_objects)
    assert client.post(delete_url).status_code == 404


def test_upload_delete_of_another_partners_upload_is_404(wizard_a, client, partner_b, s3_objects):
    client_b = client.__class__()
    client_b.force_login(partner_b.admin)
    start(client_b)
    delete_url = upload(client_b, PDF).json()["delete_url"]
    assert wizard_a[0].post(delete_url).status_code == 404
    assert PendingUpload.objects.count() == 1 and len(s3_objects()) == 1


def _walk_to_poe(client, products):
    post_step(client, "customer", M365_CUSTOMER)
    post_step(client, "activity", {"solution_area": "microsoft_365"})
    post_step(client, "associate", {"name": "No JS"})
    post_step(client, "products", {"products": [str(products["microsoft-teams"].pk)]})
    from claims.tests.wizard_steps import CONTACTS

    response = post_step(client, "contacts", CONTACTS)
    assert response.context["wizard"]["steps"].current == "poe"
    return response


def test_poe_step_without_javascript_stores_posted_files(wizard_a, products, s3_objects):
    client, key = wizard_a
    _walk_to_poe(client, products)
    data = {"claim_wizard-current_step": "poe", "poe-files": [io.BytesIO(PDF), io.BytesIO(docx_bytes())]}
    data["poe-files"][0].name, data["poe-files"][1].name = "a.pdf", "b.docx"
    response = client.post(reverse("claims:create"), data)
    assert response.context["wizard"]["steps"].current == "review"
    assert sorted(PendingUpload.objects.values_list("original_name", "wizard_key")) == [("a.pdf", key), ("b.docx", key)]
    assert len(s3_objects()) == 2


def test_poe_step_without_javascript_refuses_bad_file_on_the_step(wizard_a, products, s3_objects):
    client, _key = wizard_a
    _walk_to_poe(client, products)
    bad = io.BytesIO(EXE)
    bad.name = "tool.pdf"
    response = client.post(reverse("claims:create"), {"claim_wizard-current_step": "poe", "poe-files": [bad]})
    assert response.context["wizard"]["steps"].current == "poe"
    assert "“tool.pdf” is not a PDF" in response.content.decode()
    assert _nothing_stored(s3_objects)


def test_poe_step_requires_a_file(wizard_a, products):
    client, _key = wizard_a
    _walk_to_poe(client, products)
    response = post_step(client, "poe", {})
    assert response.context["wizard"]["steps"].current == "poe"
    assert "Add at least one proof of execution file." in response.content.decode()


def test_poe_step_remove_button_without_javascript(wizard_a, products, s3_objects):
    client, _key = wizard_a
    _walk_to_poe(client, products)
    upload_id = upload(client, PDF).json()["id"]
    response = post_step(client, "poe", {}, remove_upload=upload_id)
    assert response.context["wizard"]["steps"].current == "poe"
    assert _nothing_stored(s3_objects)


def test_poe_template_is_prefilled_docx_attachment(wizard_a, products, partner_a, m365_tenant):
    client, _key = wizard_a
    _walk_to_poe(client, products)
    response = client.get(reverse("claims:poe_template"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="proof-of-execution-template.docx"'
    assert zipfile.is_zipfile(io.BytesIO(response.content))
    document = Document(io.BytesIO(response.content))
    cells = {row.cells[0].text: row.cells[1].text for row in document.tables[0].rows}
    assert cells == {
        "Partner": "Contoso Partners",
        "MPN ID": "1000001",
        "Customer": "Northwind Traders",
        "Domain name": "northwindtraders.example",
        "Directory ID": "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d",
        "Product(s)": "Microsoft Teams",
    }


def test_poe_template_incentives_user_gets_403(client, partner_a):
    client.force_login(partner_a.viewer)
    assert client.get(reverse("claims:poe_template")).status_code == 403


def test_pending_uploads_purge_deletes_abandoned_uploads_only(partner_a, s3_objects):
    def pending(name, created_at):
        row = PendingUpload(
            partner=partner_a.partner,
            user=partner_a.admin,
            wizard_key="k",
            original_name=name,
            content_type="application/pdf",
            size=len(PDF),
            sha256="0" * 64,
            created_at=created_at,
        )
        row.file.save(name, ContentFile(PDF), save=False)
        row.save()
        return row

    now = datetime.datetime(2026, 11, 24, 12, tzinfo=datetime.UTC)
    old = pending("old.pdf", now - datetime.timedelta(days=1, seconds=1))
    fresh = pending("fresh.pdf", now - datetime.timedelta(hours=23))
    with time_machine.travel(now, tick=False):
        assert pending_uploads_purge(older_than=datetime.timedelta(days=1)) == 1
        assert pending_uploads_purge(older_than=datetime.timedelta(days=1)) == 0
    assert list(PendingUpload.objects.all()) == [fresh]
    assert s3_objects() == [fresh.file.name]
    assert not default_storage.exists(old.file.name)


def test_upload_storage_outage_is_retryable_and_leaves_nothing(wizard_a, s3_objects, settings):
    from claims.tests.test_submit import _dead_storage

    live = settings.STORAGES
    settings.STORAGES = _dead_storage(settings)
    response = upload(wizard_a[0], PDF, "proof.pdf")
    settings.STORAGES = live

    assert response.status_code == 503
    assert response.json()["error"] == "The file storage is not available. Try again in a moment."
    assert _nothing_stored(s3_objects)


def test_upload_row_is_committed_before_the_object_is_written(wizard_a, s3_objects, monkeypatch):
    # If the process died between the two writes, the purge job must still find the object: so the row that
    # names it has to exist first.
    seen = []
    save = default_storage.save

    def spy(name, content, **kwargs):
        seen.append(PendingUpload.objects.filter(file=name).exists())
        return save(name, content, **kwargs)

    monkeypatch.setattr(default_storage, "save", spy)
    response = upload(wizard_a[0], PDF, "proof.pdf")

    assert response.status_code == 201
    assert seen == [True]
    assert s3_objects() == [PendingUpload.objects.get().file.name]
