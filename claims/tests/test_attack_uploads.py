"""The upload attacks of issue #8 (SPEC §14 "Uploads"): each hostile file through the sniffer (bytes read and
memory measured, not time) and through the three real upload paths, the wizard's XHR upload, the wizard's
no-JavaScript POE step and the partner's answer; and the downloads, as partner and as reviewer, under the
extension of the type found by content, always as attachments."""

import html
import io
import json
import random
import tracemalloc
import urllib.request
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.urls import reverse

from associations.tests.fixtures import reviewer_login
from claims.models import ClaimStatus, PendingUpload, PoeDocument
from claims.services import claim_request_information
from claims.sniff import OLE_MAX_READ, SNIFF_MAX_READ, Refusal, poe_sniff
from claims.tests import attack_files
from claims.tests.factories import claim_make
from claims.tests.wizard_steps import CONTACTS, M365_CUSTOMER, PDF, docx_bytes, post_step, start, submit
from claims.uploads import DOCX, MSG, XLSX, poe_display_name

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


@pytest.fixture(scope="session")
def zip_bomb():
    return attack_files.zip_bomb()


class CountingFile(io.BytesIO):
    """A file that counts the bytes read from it."""

    consumed = 0

    def read(self, size=-1):
        data = super().read(size)
        self.consumed += len(data)
        return data


def _sniff_measured(content):
    """(verdict: a MIME type or the Refusal's code, bytes read, peak bytes allocated while sniffing)."""
    fileobj = CountingFile(content)
    tracemalloc.start()
    try:
        verdict = poe_sniff(fileobj)
    except Refusal as refusal:
        verdict = refusal.code
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return verdict, fileobj.consumed, peak


# --- The sniffer: caps on what a file can make a web worker read and inflate ----------------------------------


def test_sniff_zip_bomb_is_refused_before_inflating_anything(zip_bomb):
    assert len(zip_bomb) < 1.1 * MB
    verdict, consumed, peak = _sniff_measured(zip_bomb)
    assert verdict == "too_complex"
    # The end record and the central directory: the 1 GiB member is never opened.
    assert consumed < 100 * 1024
    assert peak < 1 * MB


def test_sniff_zip_whose_directory_lies_about_a_members_size_inflates_at_most_that_size():
    content = attack_files.lying_bomb()  # declares 1,000,000 bytes, holds 64 MiB
    verdict, consumed, peak = _sniff_measured(content)
    assert verdict == "too_complex"  # the stream goes on past the declared size: one byte more is enough
    assert consumed < 200 * 1024
    assert peak < 3 * MB


def test_sniff_zip_member_declaring_1000_bytes_over_a_1_gib_stream_is_refused_after_a_chunk(monkeypatch):
    content = attack_files.gigabyte_stream_declared_small()
    assert len(content) < 1.1 * MB
    inflated = []
    decompressobj = zlib.decompressobj

    class Counting:
        """zlib's decompressor, counting what it gives."""

        def __init__(self, *args):
            self._inner = decompressobj(*args)

        def decompress(self, data, max_length=0):
            out = self._inner.decompress(data, max_length)
            inflated.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr("claims.sniff.zlib.decompressobj", Counting)

    verdict, consumed, peak = _sniff_measured(content)

    assert verdict == "too_complex"
    # Its end record, directory, two local headers and one chunk of the stream: a few kilobytes of the megabyte.
    assert consumed < 200 * 1024
    # [Content_Types].xml, then 1,001 bytes of word/document.xml: one more than it declares.
    assert sum(inflated) < 2000 and inflated[-1] == 1001
    assert peak < 3 * MB


def test_sniff_zip_whose_entries_overlap_is_refused_without_inflating_them():
    content = attack_files.overlapping_entries()
    verdict, consumed, _peak = _sniff_measured(content)
    assert verdict == "too_complex"
    assert consumed < 200 * 1024


def test_sniff_deflated_docx_inflates_every_member_and_is_a_document():
    import zipfile

    out = io.BytesIO(docx_bytes())
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/noise.xml", random.Random(14).randbytes(4 * MB))  # deflates to 4 MB
    verdict, consumed, peak = _sniff_measured(out.getvalue())
    assert verdict == DOCX
    assert 4 * MB < consumed < 5 * MB  # every compressed byte read once, inflated a chunk at a time
    assert peak < 3 * MB


def test_sniff_zip_declaring_an_absurd_inflated_total_is_refused():
    assert _sniff_measured(attack_files.declared_huge())[0] == "too_complex"


@pytest.mark.parametrize("lie", [False, True], ids=["honest-end-record", "end-record-claims-2-entries"])
def test_sniff_zip_with_more_than_1000_entries_is_refused(lie):
    verdict, consumed, peak = _sniff_measured(attack_files.many_entries(1001, lie_in_end_record=lie))
    assert verdict == "too_complex"
    assert consumed < 200 * 1024 and peak < 2 * MB


def test_sniff_zip_with_1000_entries_is_a_document():
    assert _sniff_measured(attack_files.many_entries(1000))[0] == DOCX


def test_sniff_honest_10_mb_docx_reads_its_directory_only():
    import zipfile

    out = io.BytesIO(docx_bytes())
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("word/media/image1.png", bytes(range(256)) * (9 * MB // 256), zipfile.ZIP_STORED)
    content = out.getvalue()
    assert 9 * MB < len(content) <= 10 * MB
    verdict, consumed, _peak = _sniff_measured(content)
    assert verdict == DOCX
    assert consumed < 150 * 1024


def test_sniff_compound_file_whose_directory_fills_the_file_is_refused_within_its_budget():
    content = attack_files.compound_file(["__properties_version1.0"], directory_sectors=4096)  # 2 MB of directory
    verdict, consumed, peak = _sniff_measured(content)
    assert verdict == "too_complex"
    assert consumed <= OLE_MAX_READ + 2048
    assert peak < 4 * MB


def test_sniff_compound_file_claiming_more_fat_than_the_file_is_refused_from_its_header():
    content = attack_files.compound_file(["__properties_version1.0"], fat_sectors_claimed=100_000)
    verdict, consumed, _peak = _sniff_measured(content)
    assert verdict == "too_complex"
    assert consumed < 4096


def test_sniff_outlook_message_with_3000_property_streams_is_a_message():
    verdict, consumed, _peak = _sniff_measured(attack_files.outlook_message(3000))
    assert verdict == MSG
    assert consumed <= SNIFF_MAX_READ


@pytest.mark.parametrize(
    ("content", "code", "kind"),
    [
        (attack_files.macro_docx(), "macros", DOCX),
        (attack_files.macro_docx(declared=False), "macros", DOCX),
        (attack_files.macro_xlsx(), "macros", XLSX),
        (attack_files.pdf_with_docx(), "polyglot", None),
        (attack_files.jpeg_with_zip(), "polyglot", None),
        (attack_files.pdf_with_hta(), "polyglot", None),
    ],
    ids=["docm-content-type", "docx-with-vbaProject.bin", "xlsm", "pdf+docx", "jpeg+zip", "pdf+hta"],
)
def test_sniff_refuses_macro_documents_and_polyglots(content, code, kind):
    with pytest.raises(Refusal) as refused:
        poe_sniff(io.BytesIO(content))
    assert (refused.value.code, refused.value.kind) == (code, kind)


def test_sniff_pdf_whose_bytes_merely_contain_a_zip_signature_is_a_pdf():
    # Compressed streams hold any four bytes now and then: only an end record that points back at a central
    # directory, as zipfile reads it, makes a PDF an archive too.
    content = PDF[:-6] + b"stream\nPK\x05\x06" + bytes(range(256)) * 4 + b"\nendstream\n%%EOF\n"
    assert poe_sniff(io.BytesIO(content)) == "application/pdf"


# --- Names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override: would display as invoiceexe.pdf
        ("\u2067report\u2069\u200f.pdf", "report.pdf"),  # isolates and a right-to-left mark
        ("Cafe\u0301 menu.pdf", "Café menu.pdf"),  # NFC
        ("  proof\u00a0of\u3000work.pdf . ", "proof of work.pdf"),  # other spaces, trailing dots and spaces
    ],
)
def test_poe_display_name_cleans_invisible_characters(name, shown):
    assert poe_display_name(name) == shown


@pytest.mark.parametrize("name", ["proof\x00.pdf", "proof\n.pdf", "proof\x1b[31m.pdf", "proof\x85.pdf"])
def test_poe_display_name_refuses_control_characters(name):
    with pytest.raises(ValidationError, match="contains control characters") as refused:
        poe_display_name(name)
    assert refused.value.code == "control_name"


def test_poe_display_name_shortens_long_names_keeping_the_extension():
    shown = poe_display_name("a" * 400 + ".pdf")
    assert len(shown) == 255 and shown.endswith("a.pdf")


# --- The three upload paths ----------------------------------------------------------------------------------


def _multipart(fields, files):
    """A multipart body written by hand, so file names reach the server byte for byte (Django's test client
    would strip their directories)."""
    boundary = "cpor-attack-boundary"
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    for key, filename, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class UploadPath:
    """One of the three ways a partner uploads POE files; ``send`` posts files the way that path does and
    returns (HTTP status, names stored, the error text shown)."""

    def __init__(self, kind, client, claim=None):
        self.kind, self.client, self.claim = kind, client, claim

    def stored(self):
        if self.kind == "answer":
            return list(
                PoeDocument.objects.filter(claim=self.claim, in_response=True).values_list("original_name", flat=True)
            )
        return list(PendingUpload.objects.order_by("created_at").values_list("original_name", flat=True))

    def send(self, *files):
        errors, status = [], None
        if self.kind == "xhr":
            for name, content in files:  # the uploader sends one request per file, with its name as a field
                body, content_type = _multipart({"name": name}, [("file", name, content)])
                response = self.client.post(reverse("claims:poe_upload"), body, content_type=content_type)
                status = response.status_code
                if status != 201:
                    errors.append(response.json()["error"])
        else:
            url, fields, field = (
                (reverse("claims:respond", args=[self.claim.pk]), {"comment": "Attached."}, "files")
                if self.kind == "answer"
                else (reverse("claims:create"), {"claim_wizard-current_step": "poe"}, "poe-files")
            )
            body, content_type = _multipart(fields, [(field, name, content) for name, content in files])
            response = self.client.post(url, body, content_type=content_type)
            status = response.status_code
            errors.append(html.unescape(response.content.decode()))
        return status, self.stored(), " ".join(errors)


@pytest.fixture
def waiting(partner_a, m365_tenant, products, reviewer):
    """A claim of partner A waiting for the partner's answer."""
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_request_information(claim=claim, user=reviewer, reason="poe_insufficient", message="Add the signed SOW.")
    claim.refresh_from_db()
    return claim


def _walk_to_poe(client, products):
    key = start(client)
    post_step(client, "customer", M365_CUSTOMER)
    post_step(client, "activity", {"solution_area": "microsoft_365"})
    post_step(client, "associate", {"name": "Attack"})
    post_step(client, "products", {"products": [str(products["microsoft-teams"].pk)]})
    assert post_step(client, "contacts", CONTACTS).context["wizard"]["steps"].current == "poe"
    return key


@pytest.fixture(params=["xhr", "step", "answer"])
def path(request, client_a, products, m365_tenant):
    if request.param == "answer":
        return UploadPath("answer", client_a, request.getfixturevalue("waiting"))
    _walk_to_poe(client_a, products)
    return UploadPath(request.param, client_a)


# Each attack: (file name, a function that builds the file, what the refusal says after the quoted name).
REFUSALS = {
    "zip-bomb": ("bomb.docx", None, "has too many parts or expands to too much data to be opened safely"),
    "lying-zip": ("lies.docx", attack_files.lying_bomb, "has too many parts or expands to too much data"),
    "gigabyte-stream": (
        "deck.docx",
        attack_files.gigabyte_stream_declared_small,
        "has too many parts or expands to too much data",
    ),
    "1001-parts": ("parts.docx", attack_files.many_entries, "has too many parts or expands to too much data"),
    "docm-as-docx": ("report.docx", attack_files.macro_docx, "is a Word document with macros"),
    "vba-in-docx": (
        "report.docx",
        lambda: attack_files.macro_docx(declared=False),
        "is a Word document with macros. We do not accept files that can run code: save it without macros "
        "(.docx) and upload it again.",
    ),
    "xlsm-as-xlsx": ("book.xlsx", attack_files.macro_xlsx, "is an Excel workbook with macros"),
    "pdf+docx": ("invoice.pdf", attack_files.pdf_with_docx, "starts like a PDF or an image but also contains"),
    "pdf+hta": ("invoice.hta", attack_files.pdf_with_hta, "starts like a PDF or an image but also contains"),
    "msg-directory-bomb": (
        "mail.msg",
        lambda: attack_files.compound_file(["__properties_version1.0"], directory_sectors=4096),
        "has too many parts or expands to too much data",
    ),
    "10-mb-plus-1": ("big.pdf", lambda: PDF + b"0" * (10 * MB - len(PDF) + 1), "is larger than 10 MB"),
}


@pytest.mark.parametrize("attack", list(REFUSALS))
def test_upload_attack_is_refused_with_its_message_and_nothing_stored(path, attack, zip_bomb, s3_objects):
    name, content, message = REFUSALS[attack]
    before = s3_objects()
    status, stored, shown = path.send((name, zip_bomb if content is None else content()))
    assert status in {"xhr": {400}, "step": {200}, "answer": {400}}[path.kind]
    assert f"“{name}” {message}" in shown
    assert stored == [] and s3_objects() == before


def test_upload_zip_bomb_keeps_the_web_worker_small(path, zip_bomb):
    tracemalloc.start()
    try:
        _status, stored, shown = path.send(("bomb.docx", zip_bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "too much data" in shown and stored == []
    # The request body itself is ~1 MB, and the test client holds copies of it; inflating would take 1 GiB.
    assert peak < 32 * MB


@pytest.mark.parametrize(
    ("name", "stored_as"),
    [
        ("invoice.hta", "invoice.hta.pdf"),
        ("invoice.PDF", "invoice.PDF"),
        ("statement", "statement.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe.pdf"),
        ("x" * 300 + ".hta", "x" * 247 + ".hta.pdf"),  # cut to 255 characters, both extensions kept
    ],
)
def test_upload_is_stored_under_the_extension_of_its_content(path, name, stored_as, s3_objects):
    status, stored, _shown = path.send((name, PDF))
    assert status in (201, 200, 302)
    assert stored == [stored_as]
    assert len(stored_as) <= 255


def test_upload_nul_in_the_name_is_refused_or_dropped_never_stored(path, s3_objects):
    status, stored, shown = path.send(("proof\x00.hta", PDF))
    if path.kind == "xhr":
        # The XHR uploader sends the name as a field of its own: refused with a message.
        assert status == 400 and "contains control characters, which a file name cannot have" in shown
        assert stored == []
    else:
        # A form's file name goes through Django's multipart parser, which drops unprintable characters.
        assert stored == ["proof.hta.pdf"]


def test_upload_path_as_name_is_refused_or_reduced_to_its_last_part(path, s3_objects):
    status, stored, shown = path.send(("../../etc/proof.hta", PDF), ("..\\..\\boot.ini", PDF))
    if path.kind == "xhr":
        assert status == 400 and "is a path, not a file name" in shown and stored == []
    else:
        assert stored == ["proof.hta.pdf", "boot.ini.pdf"]


def test_upload_of_exactly_10_mb_is_accepted(path, s3_objects):
    content = PDF + b"0" * (10 * MB - len(PDF))
    _status, stored, _shown = path.send(("exact.pdf", content))
    assert stored == ["exact.pdf"]


def test_upload_sixth_file_is_refused(path, s3_objects):
    files = [(f"proof-{number}.pdf", PDF) for number in range(6)]
    status, stored, shown = path.send(*files)
    if path.kind == "answer":  # one answer, six files: refused as a whole
        assert status == 400 and "You can add at most 5 files to an answer." in shown and stored == []
    else:
        assert "You can upload at most 5 files. Remove one before adding “proof-5.pdf”." in shown
        assert stored == [f"proof-{number}.pdf" for number in range(5)]
        assert len(s3_objects()) == 5


# --- Downloads, as partner and as reviewer ---------------------------------------------------------------------


def _presigned(response):
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    with urllib.request.urlopen(response["Location"], timeout=10) as download:
        served = (download.headers["Content-Disposition"], download.headers["Content-Type"])
    return (query["response-content-disposition"][0], query["response-content-type"][0]), served


def _downloads(client, reviewer, document):
    """What the partner's and the reviewer's download links serve: [(disposition, type) of the link, of S3]."""
    partner = _presigned(client.get(reverse("claims:poe_download", args=[document.claim_id, document.pk])))
    reviewer_login(client, reviewer)
    admin = _presigned(client.get(reverse("admin:claims_claim_poe", args=[document.claim_id, document.pk])))
    return list(partner + admin)


def test_download_of_wizard_upload_ends_in_the_extension_of_its_content(
    client_a, products, m365_tenant, reviewer, s3_objects
):
    key = _walk_to_poe(client_a, products)
    assert UploadPath("xhr", client_a).send(("invoice.hta", PDF))[0] == 201
    assert post_step(client_a, "poe", {}).context["wizard"]["steps"].current == "review"
    assert submit(client_a, key).status_code == 302
    document = PoeDocument.objects.get()
    assert (document.original_name, document.content_type) == ("invoice.hta.pdf", "application/pdf")
    expected = ('attachment; filename="invoice.hta.pdf"', "application/pdf")
    assert _downloads(client_a, reviewer, document) == [expected] * 4


def test_download_of_answer_upload_ends_in_the_extension_of_its_content(client_a, waiting, reviewer, s3_objects):
    status, stored, _shown = UploadPath("answer", client_a, waiting).send(("sow\u202excod.hta", docx_bytes()))
    assert status == 302 and stored == ["sowxcod.hta.docx"]
    document = PoeDocument.objects.get(in_response=True)
    expected = ('attachment; filename="sowxcod.hta.docx"', DOCX)
    assert _downloads(client_a, reviewer, document) == [expected] * 4


@pytest.mark.parametrize(
    ("original_name", "content_type", "served"),
    [
        ("invoice.hta", "application/pdf", ('attachment; filename="invoice.hta.pdf"', "application/pdf")),
        ("page.html", "text/html", ('attachment; filename="page.html.bin"', "application/octet-stream")),
        ("a/../b\u202eexe.pdf", "application/pdf", ('attachment; filename="a_.._bexe.pdf"', "application/pdf")),
    ],
)
def test_download_of_a_row_written_by_hand_is_still_served_by_type(
    client_a, partner_a, m365_tenant, products, reviewer, original_name, content_type, served, s3_objects
):
    # Rows written before these rules, or by hand: the name and type are checked again at download.
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], documents=())
    document = PoeDocument(
        claim=claim, original_name=original_name, content_type=content_type, size=len(PDF), sha256="0" * 64
    )
    document.file.save("ignored", ContentFile(PDF), save=False)
    document.save()
    assert _downloads(client_a, reviewer, document) == [served] * 4


def test_download_from_local_storage_is_an_attachment_with_nosniff(
    client_a, partner_a, m365_tenant, products, settings, tmp_path
):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    settings.MEDIA_ROOT = tmp_path
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], documents=())
    document = PoeDocument(
        claim=claim, original_name="invoice.hta", content_type="application/pdf", size=len(PDF), sha256="0" * 64
    )
    document.file.save("ignored", ContentFile(PDF), save=False)
    document.save()

    response = client_a.get(reverse("claims:poe_download", args=[claim.pk, document.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="invoice.hta.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF


def test_upload_response_names_the_file_as_stored(client_a, products, s3_objects):
    _walk_to_poe(client_a, products)
    body, content_type = _multipart({"name": "invoice.hta"}, [("file", "invoice.hta", PDF)])
    response = client_a.post(reverse("claims:poe_upload"), body, content_type=content_type)
    assert response.status_code == 201
    assert json.loads(response.content)["name"] == "invoice.hta.pdf"


def test_validation_reads_a_stored_zip_bomb_by_ranges_and_refuses_it(
    partner_a, m365_tenant, products, zip_bomb, monkeypatch
):
    # A POE row written without the upload checks (content_checked is False): validation sniffs the object on S3
    # with ranged reads, under the same caps.
    from claims.services import claim_validate
    from claims.storage import S3Ranges

    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], documents=[("b.docx", zip_bomb)])
    fetched = []
    get = S3Ranges._get
    monkeypatch.setattr(
        S3Ranges, "_get", lambda self, first, last: fetched.append(get(self, first, last)) or fetched[-1]
    )

    claim_validate(claim_id=claim.pk)

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED
    assert any(reason.startswith("The POE file b.docx is not an allowed type") for reason in claim.rejection_reasons)
    assert 0 < sum(map(len, fetched)) < 300 * 1024


@pytest.mark.django_db(transaction=True)
def test_browser_uploader_lists_the_stored_name_and_the_refusal(page, partner_a, m365_tenant, products, zip_bomb):
    import base64

    from playwright.sync_api import expect

    from claims.tests.test_wizard_browser import DROP_FILE, _contacts_step, _continue, _customer_step, _login_and_start

    _login_and_start(page, partner_a.admin)
    _customer_step(page, M365_CUSTOMER)
    page.get_by_label("Microsoft 365").check()
    _continue(page)
    page.get_by_label("Name", exact=True).fill("Renamed proof")
    _continue(page, "Create claim")
    page.get_by_label("Yammer").check()
    _continue(page)
    _contacts_step(page)
    expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")

    page.evaluate(DROP_FILE, ["invoice.hta", base64.b64encode(PDF).decode()])
    expect(page.locator("#uploads li.done .upload-name")).to_have_text("invoice.hta.pdf")
    page.evaluate(DROP_FILE, ["bomb.docx", base64.b64encode(zip_bomb).decode()])
    expect(page.locator("#upload-errors")).to_contain_text(
        "“bomb.docx” has too many parts or expands to too much data to be opened safely."
    )
    expect(page.locator("#uploads li")).to_have_count(1)
    assert list(PendingUpload.objects.values_list("original_name", flat=True)) == ["invoice.hta.pdf"]
