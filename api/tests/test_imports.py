"""Bulk import (SPEC §16): a CSV of claims with a ZIP of their POE files becomes submissions row by row, through
the wizard's own checks, with a result per row; the same row imported twice creates nothing new."""

import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api.models import BulkImport, ImportRow
from api.services.imports import COLUMNS, bulk_import_create, bulk_import_run
from associations.tests.fixtures import make_tenant
from claims.models import Claim, ClaimStatus, PendingUpload, PoeDocument
from claims.tests.factories import PDF_BYTES


def _row(n, **changes):
    row = {
        "external_id": f"crm-{n:05d}",
        "location": "1000001",
        "domain": f"customer{n}.example",
        "directory_id": "",
        "solution_area": "microsoft_365",
        "activities": "usage",
        "name": f"Customer {n} Teams",
        "products": "microsoft-teams",
        "customer_contact_name": "Dana Whitley",
        "customer_contact_title": "IT manager",
        "customer_contact_email": f"it@customer{n}.example",
        "partner_contact_name": "Alex Kim",
        "partner_contact_email": "alex@partner-a.example",
        "poe_files": f"poe/customer-{n}.pdf",
    }
    row.update(changes)
    return row


def _files(rows, *, names):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            zf.writestr(name, PDF_BYTES)
    return (
        SimpleUploadedFile("claims.csv", out.getvalue().encode(), content_type="text/csv"),
        SimpleUploadedFile("poe.zip", archive.getvalue(), content_type="application/zip"),
    )


@pytest.fixture
def tenants(products):
    """Customers 0..n-1, each licensed for Microsoft Teams (one row each: no row finds another's claim pending)."""

    def make(count):
        made = []
        for n in range(count):
            made.append(
                make_tenant(
                    f"Customer {n}", domains=[f"customer{n}.example"], workloads=["microsoft-teams"], products=products
                )
            )
        return made

    return make


BAD = {
    3: {"directory_id": "not-a-guid"},
    50: {"products": "no-such-product"},
    101: {"customer_contact_email": "it@elsewhere.example"},
    222: {"location": "9999999"},
    333: {"poe_files": "poe/missing.pdf"},
    444: {"name": "Two\nlines"},
    555: {"solution_area": "microsoft_365", "activities": "pre_sales"},
    666: {"poe_files": ""},
    777: {"comments": "NUL \x00 here"},
    888: {"domain": "another-domain.example"},
}


@pytest.mark.slow
def test_import_1000_rows_with_10_bad_gives_990_claims_and_a_result_file_naming_the_10(
    partner_a, tenants, settings, tmp_path
):
    # Local files instead of the test bed's S3 server (two requests a row to moto would make this test minutes
    # long): the import reads and writes through default_storage whatever it is; S3 itself is the other tests'.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    settings.MEDIA_ROOT = str(tmp_path)
    made = tenants(1000)
    rows = []
    for n, tenant in enumerate(made):
        rows.append(_row(n, **{"directory_id": str(tenant.directory_id), **BAD.get(n, {})}))
    csv_file, zip_file = _files(rows, names=[f"poe/customer-{n}.pdf" for n in range(1000)])
    bulk_import = bulk_import_create(
        partner=partner_a.partner, user=partner_a.admin, csv_file=csv_file, zip_file=zip_file
    )
    assert bulk_import_run(import_id=bulk_import.pk) == 1000
    bulk_import.refresh_from_db()
    assert (bulk_import.state, bulk_import.rows_total, bulk_import.rows_done) == ("done", 1000, 1000)
    assert Claim.objects.filter(partner=partner_a.partner, status=ClaimStatus.SUBMITTED).count() == 990
    assert not Claim.objects.filter(status=ClaimStatus.DRAFT).exists()
    assert not PendingUpload.objects.exists()  # nothing left behind by the bad rows
    failed = ImportRow.objects.filter(bulk_import=bulk_import, outcome="error")
    assert sorted(row.line - 2 for row in failed) == sorted(BAD)
    assert all(row.message for row in failed)
    assert not bulk_import.csv_key and not BulkImport.objects.get().zip_key  # the files are gone
    from api.services.imports import result_rows

    result = list(result_rows(bulk_import))
    assert result[0] == ["line", "external_id", "outcome", "claim_id", "message"]
    named = {row[1] for row in result[1:] if row[2] == "error"}
    assert named == {f"crm-{n:05d}" for n in BAD}


def test_import_the_same_rows_again_create_nothing_new(partner_a, tenants):
    made = tenants(3)
    rows = [_row(n, directory_id=str(t.directory_id)) for n, t in enumerate(made)]
    names = [f"poe/customer-{n}.pdf" for n in range(3)]
    first = bulk_import_create(
        partner=partner_a.partner,
        user=partner_a.admin,
        csv_file=_files(rows, names=names)[0],
        zip_file=_files(rows, names=names)[1],
    )
    bulk_import_run(import_id=first.pk)
    again = bulk_import_create(
        partner=partner_a.partner,
        user=partner_a.admin,
        csv_file=_files(rows, names=names)[0],
        zip_file=_files(rows, names=names)[1],
    )
    bulk_import_run(import_id=again.pk)
    assert Claim.objects.count() == 3
    assert list(ImportRow.objects.filter(bulk_import=again).values_list("outcome", flat=True)) == ["already"] * 3
    first_claims = list(ImportRow.objects.filter(bulk_import=first).order_by("line").values_list("claim_id", flat=True))
    again_claims = list(ImportRow.objects.filter(bulk_import=again).order_by("line").values_list("claim_id", flat=True))
    assert first_claims == again_claims


def test_import_a_second_run_of_the_same_import_goes_on_where_it_stopped(partner_a, tenants):
    made = tenants(2)
    rows = [_row(n, directory_id=str(t.directory_id)) for n, t in enumerate(made)]
    csv_file, zip_file = _files(rows, names=[f"poe/customer-{n}.pdf" for n in range(2)])
    bulk_import = bulk_import_create(
        partner=partner_a.partner, user=partner_a.admin, csv_file=csv_file, zip_file=zip_file
    )
    bulk_import_run(import_id=bulk_import.pk)
    assert bulk_import_run(import_id=bulk_import.pk) == 0  # done: nothing again
    assert ImportRow.objects.count() == 2


def test_import_through_the_api_and_the_page_then_its_rows_and_result(client, partner_a, key_a, tenants):
    from api.tests.conftest import ApiClient

    made = tenants(2)
    rows = [_row(0, directory_id=str(made[0].directory_id)), _row(1, directory_id="bad")]
    csv_file, zip_file = _files(rows, names=["poe/customer-0.pdf"])
    api = ApiClient(client, key_a)
    answer = api.post("/imports", files={"csv": csv_file, "poe": zip_file}, headers={"Idempotency-Key": "imp-1"})
    assert answer.status_code == 202, answer.content
    import_id = answer.json()["id"]
    assert answer.json()["state"] == "queued" and answer.json()["result_url"] is None
    bulk_import_run(import_id=import_id)
    assert api.get(f"/imports/{import_id}").json()["state"] == "done"
    outcomes = [(row["line"], row["outcome"]) for row in api.get(f"/imports/{import_id}/rows").json()]
    assert outcomes == [(2, "submitted"), (3, "error")]
    result = api.get(f"/imports/{import_id}/result.csv")
    assert result.status_code == 200 and b"crm-00001,error" in result.content
    client.force_login(partner_a.admin)
    csv_file, zip_file = _files(rows, names=["poe/customer-0.pdf"])
    page = client.post("/incentives/integrations/imports/", {"csv": csv_file, "poe": zip_file})
    assert page.status_code == 302 and "/incentives/integrations/imports/" in page["Location"]
    refused = client.post("/incentives/integrations/imports/", {"csv": SimpleUploadedFile("x.csv", b"\xff\xfe")})
    assert refused.status_code == 400 and "UTF-8" in refused.content.decode()


def test_import_does_not_ask_the_storage_again_for_the_files_a_row_has_just_stored(partner_a, tenants, monkeypatch):
    from django.core.files.storage import default_storage

    made = tenants(2)
    rows = [_row(n, directory_id=str(t.directory_id)) for n, t in enumerate(made)]
    csv_file, zip_file = _files(rows, names=[f"poe/customer-{n}.pdf" for n in range(2)])
    bulk_import = bulk_import_create(
        partner=partner_a.partner, user=partner_a.admin, csv_file=csv_file, zip_file=zip_file
    )
    storage = type(default_storage._wrapped)
    asked = []

    def exists(self, name):
        asked.append(name)
        return original(self, name)

    original = storage.exists
    monkeypatch.setattr(storage, "exists", exists)
    assert bulk_import_run(import_id=bulk_import.pk) == 2
    documents = list(PoeDocument.objects.order_by("pk").values_list("file", flat=True))
    assert len(documents) == 2
    # Once each, as the storage chose the name (it never overwrites), not again before the claim was submitted.
    assert sorted(asked) == sorted(documents)
