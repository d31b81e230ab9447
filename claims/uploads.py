"""Proof of execution files: what they are (by content, never by name) and whether we accept them.

The wizard's upload endpoint, its no-JavaScript step form and the lifecycle's automatic validation all use
``detect_poe_type``; writes (storing a PendingUpload, purging abandoned ones) live in ``claims.services``, reads of
stored files (ranged S3 reads, downloads) in ``claims.storage``.
"""

import hashlib
import io
import unicodedata
import zipfile
from dataclasses import dataclass

import olefile
from django.conf import settings
from django.core.exceptions import ValidationError

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PNG = "image/png"
JPEG = "image/jpeg"
MSG = "application/vnd.ms-outlook"

POE_TYPES = {
    PDF: "PDF",
    DOCX: "Word document",
    XLSX: "Excel workbook",
    PPTX: "PowerPoint presentation",
    PNG: "PNG image",
    JPEG: "JPEG image",
    MSG: "Outlook message",
}
POE_MAX_FILES = settings.POE_MAX_FILES
POE_MAX_BYTES = settings.POE_MAX_BYTES
# What the file input's accept attribute suggests to the browser; the server still checks the content.
POE_ACCEPT = ".pdf,.docx,.xlsx,.pptx,.png,.jpg,.jpeg,.msg"
HEAD_BYTES = 8

# The main part of each Office Open XML kind: the part that must exist, and the content type
# [Content_Types].xml must give it. Macro-enabled variants (.docm, .xlsm, .pptm) have other content types and
# are refused on purpose.
_OOXML = "application/vnd.openxmlformats-officedocument."
_OOXML_MAIN_PARTS = [
    (DOCX, "word/document.xml", _OOXML + "wordprocessingml.document.main+xml"),
    (XLSX, "xl/workbook.xml", _OOXML + "spreadsheetml.sheet.main+xml"),
    (PPTX, "ppt/presentation.xml", _OOXML + "presentationml.presentation.main+xml"),
]
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def detect_poe_type(head: bytes, fileobj=None) -> str | None:
    """The MIME type of an allowed POE file, judged by its content, or None.

    ``head`` is the start of the file (at least 8 bytes). Office Open XML and Outlook files need the whole
    file: pass ``fileobj`` (seekable; its position is restored).
    """
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if fileobj is None:
        return None
    if head.startswith(b"PK\x03\x04"):
        return _with_position_kept(fileobj, _detect_ooxml)
    if head.startswith(_OLE_MAGIC):
        return _with_position_kept(fileobj, _detect_msg)
    return None


def _with_position_kept(fileobj, detect):
    position = fileobj.tell()
    try:
        fileobj.seek(0)
        return detect(fileobj)
    except Exception:
        # A damaged archive or compound file is simply not an accepted document.
        return None
    finally:
        fileobj.seek(position)


def _detect_ooxml(fileobj):
    with zipfile.ZipFile(fileobj) as archive:
        names = set(archive.namelist())
        if "[Content_Types].xml" not in names:
            return None
        content_types = archive.read("[Content_Types].xml").decode("utf-8", "replace")
    for mime, part, main_type in _OOXML_MAIN_PARTS:
        if part in names and main_type in content_types:
            return mime
    return None


def _detect_msg(fileobj):
    # An Outlook message is an OLE compound file with a properties stream and MAPI property streams; Word 97
    # documents and other compound files are not.
    ole = olefile.OleFileIO(fileobj)
    try:
        streams = {"/".join(entry) for entry in ole.listdir(streams=True, storages=False)}
    finally:
        ole.close()
    has_properties = "__properties_version1.0" in streams
    has_mapi = any(name.startswith("__substg1.0_") for name in streams)
    return MSG if has_properties and has_mapi else None


@dataclass(frozen=True)
class CheckedUpload:
    """A file that passed the checks: what we store about it besides the object itself."""

    display_name: str
    content_type: str
    size: int
    sha256: str


def poe_display_name(name):
    """The uploader's file name as display text only, or ValidationError for a name that tries to be a path."""
    name = unicodedata.normalize("NFC", str(name or "")).strip()
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise ValidationError(
            "“%(name)s” is a path, not a file name. Rename the file and upload it again.",
            code="path_name",
            params={"name": name[:80]},
        )
    # Keep printable characters only: the name is shown on pages, in admin and in the POE template.
    name = "".join(ch for ch in name if ch.isprintable())[:255]
    if not name:
        raise ValidationError("The file has no name. Rename it and upload it again.", code="no_name")
    return name


def poe_check_count(*, display_name, already):
    if already >= settings.POE_MAX_FILES:
        raise ValidationError(
            "You can upload at most %(max)d files. Remove one before adding “%(name)s”.",
            code="too_many",
            params={"max": settings.POE_MAX_FILES, "name": display_name},
        )


def poe_check(uploaded_file, *, display_name=None, already=0):
    """Check one uploaded file for the POE rules; return a CheckedUpload or raise ValidationError.

    ``already`` is how many files this claim already has. Nothing here writes anything.
    """
    name = poe_display_name(display_name if display_name is not None else uploaded_file.name)
    poe_check_count(display_name=name, already=already)
    size = uploaded_file.size
    if not size:
        raise ValidationError("“%(name)s” is empty.", code="empty", params={"name": name})
    if size > settings.POE_MAX_BYTES:
        raise ValidationError(
            "“%(name)s” is larger than %(max)s: each file can be at most %(max)s.",
            code="too_large",
            params={"name": name, "max": f"{settings.POE_MAX_BYTES // (1024 * 1024)} MB"},
        )
    uploaded_file.seek(0)
    head = uploaded_file.read(HEAD_BYTES)
    content_type = detect_poe_type(head, uploaded_file)
    if content_type is None:
        raise ValidationError(
            "“%(name)s” is not a PDF, Word, Excel, PowerPoint, PNG, JPEG or Outlook message file. "
            "We check what the file contains, not its name.",
            code="wrong_type",
            params={"name": name},
        )
    digest = hashlib.sha256()
    uploaded_file.seek(0)
    for chunk in uploaded_file.chunks():
        digest.update(chunk)
    uploaded_file.seek(0)
    return CheckedUpload(display_name=name, content_type=content_type, size=size, sha256=digest.hexdigest())


def poe_template_docx(*, partner_name, mpn_id, customer_name, domain, directory_id, products):
    """A POE template (DOCX bytes) pre-filled with what the claim is about."""
    from docx import Document

    document = Document()
    document.add_heading("Proof of execution", level=1)
    document.add_paragraph(
        "Describe the work you performed for this customer, and have the customer sign below. "
        "Attach this document to your customer association."
    )
    rows = [
        ("Partner", partner_name),
        ("MPN ID", mpn_id),
        ("Customer", customer_name),
        ("Domain name", domain),
        ("Directory ID", str(directory_id)),
        ("Product(s)", ", ".join(products)),
    ]
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text = label
        cells[1].text = value
    document.add_heading("Work performed", level=2)
    document.add_paragraph("Dates, activities and deliverables:")
    document.add_paragraph("")
    document.add_heading("Customer signature", level=2)
    for line in ("Name:", "Title:", "Date:", "Signature:"):
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
