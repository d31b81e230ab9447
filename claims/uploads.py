"""Proof of execution files: what they are (by content, never by name), whether we accept them and the name
they are stored, shown and downloaded under.

The upload rules are one object, ``POE_RULES`` (SPEC §17): how many files a form post (or the wizard's run) takes,
which types (judged by content), how large each file and all of a claim's may be. It drives the server's checks
(``poe_check``, the forms' ``files_check``, the wizard's step, validation), the fields' limits and the browser's
checks: the drop zone carries them as data attributes (templates/claims/_poe_dropzone.html) and the one uploader
(static/js/poe-upload.js) reads them from there, never from its own copy.

The wizard's upload endpoint, its no-JavaScript step form, the partner's answer (``poe_check``) and the
lifecycle's automatic validation (``detect_poe_type``) judge content with ``claims.sniff``, under its caps;
writes (storing a PendingUpload, purging abandoned ones) live in ``claims.services``, reads of stored files
(ranged S3 reads, downloads) in ``claims.storage``.
"""

import hashlib
import io
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from associations.wording import words_list
from claims.sniff import DOCX, JPEG, MSG, PDF, PNG, PPTX, XLSX, Refusal, poe_sniff

__all__ = ["DOCX", "JPEG", "MSG", "PDF", "PNG", "PPTX", "XLSX"]

POE_TYPES = {
    PDF: _("PDF"),
    DOCX: _("Word document"),
    XLSX: _("Excel workbook"),
    PPTX: _("PowerPoint presentation"),
    PNG: _("PNG image"),
    JPEG: _("JPEG image"),
    MSG: _("Outlook message"),
}
# The extensions a file of each type may be named with; the first is added when the name has none of them.
POE_EXTENSIONS = {
    PDF: (".pdf",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    PPTX: (".pptx",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    MSG: (".msg",),
}
# A stored row whose type is not a POE type (never written by the upload paths) is served as opaque bytes.
OPAQUE = "application/octet-stream"
HEAD_BYTES = 8
NAME_MAX_CHARS = 255  # PoeDocument.original_name and PendingUpload.original_name


def detect_poe_type(head: bytes, fileobj=None) -> str | None:
    """The MIME type of an allowed POE file, judged by its content (``claims.sniff``), or None.

    ``fileobj`` is the whole file (seekable; its position is restored); without it, ``head`` is all there is.
    """
    try:
        return poe_sniff(fileobj if fileobj is not None else io.BytesIO(head))
    except Refusal:
        return None


@dataclass(frozen=True)
class CheckedUpload:
    """A file that passed the checks: what we store about it besides the object itself."""

    display_name: str
    content_type: str
    size: int
    sha256: str


def _clean_name(name):
    """NFC; invisible format characters (bidi overrides and isolates, zero-width marks) and other unprintable
    characters removed; other spaces made plain; no leading or trailing spaces, no trailing dots."""
    name = unicodedata.normalize("NFC", str(name or ""))
    kept = []
    for ch in name:
        if unicodedata.category(ch) == "Zs" or ch in "\t\n\r":
            kept.append(" ")
        elif ch.isprintable():
            kept.append(ch)
    return " ".join("".join(kept).split()).rstrip(". ")


def _shorten(name, limit):
    """``name`` cut to ``limit`` characters, keeping its extension."""
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) < 10:
        return stem[: limit - len(extension) - 1].rstrip() + "." + extension
    return name[:limit]


def poe_display_name(name):
    """The uploader's file name as display text only, or ValidationError.

    Refused: a path (``/``, ``\\``, ``..``) and control characters (NUL, line breaks...): no browser sends
    them as a file's name, so they are a crafted request; the message says what to change. Cleaned: invisible
    format characters such as the right-to-left override U+202E (which makes ``invoice<U+202E>fdp.exe`` look like
    ``invoiceexe.pdf``): they occur in genuine right-to-left names, and without them the name reads in the order
    it is stored. Django's multipart parser already drops unprintable characters from form file names.
    """
    raw = unicodedata.normalize("NFC", str(name or "")).strip()
    if "/" in raw or "\\" in raw or raw in {".", ".."}:
        raise ValidationError(
            gettext("“%(name)s” is a path, not a file name. Rename the file and upload it again."),
            code="path_name",
            params={"name": _clean_name(raw)[:80]},
        )
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise ValidationError(
            gettext(
                "“%(name)s” contains control characters, which a file name cannot have. "
                "Rename the file and upload it again."
            ),
            code="control_name",
            params={"name": _clean_name(raw)[:80]},
        )
    cleaned = _shorten(_clean_name(raw), NAME_MAX_CHARS)
    if not cleaned:
        raise ValidationError(gettext("The file has no name. Rename it and upload it again."), code="no_name")
    return cleaned


def poe_file_name(name, content_type):
    """The name a file of ``content_type`` is stored, shown and downloaded under: the uploader's name, ending in
    the extension of the type found by content. A name with another extension keeps it and gets the right one
    added (``invoice.hta`` holding a PDF is ``invoice.hta.pdf``): nothing the uploader wrote is hidden, and
    the last extension, the one that decides what opens the file, is always the content's."""
    extensions = POE_EXTENSIONS.get(content_type, (".bin",))
    name = _clean_name(str(name or "").replace("/", "_").replace("\\", "_")) or "proof-of-execution"
    if name.lower().endswith(extensions):
        return _shorten(name, NAME_MAX_CHARS)
    return _shorten(name, NAME_MAX_CHARS - len(extensions[0])) + extensions[0]


def poe_download(document):
    """(file name, content type) to serve a stored POE file with, whatever its row says: a POE type or opaque
    bytes, and a clean name ending in that type's extension (rows written before these rules, or by hand)."""
    content_type = document.content_type if document.content_type in POE_TYPES else OPAQUE
    return poe_file_name(document.original_name, content_type), content_type


class PoeRules:
    """The upload rules (SPEC §5, §14, §17), read from the settings when asked (tests may change them):

    - ``max_files`` files per form post, or per wizard run (``POE_MAX_FILES``);
    - ``max_bytes`` per file (``POE_MAX_BYTES``);
    - ``claim_max_files`` and ``claim_max_bytes`` per claim, over its whole life (``POE_CLAIM_MAX_FILES``,
      ``POE_CLAIM_MAX_MB``): what is left of them is a claim's ``room``;
    - ``types``: the allowed types, judged by content on the server (``claims.sniff``); the browser, which cannot
      read content, goes by a file's name (``accept``: the types' extensions) or the type it reports
      (``mime_types``), and the server checks again.
    """

    types = POE_TYPES
    extensions = POE_EXTENSIONS

    @property
    def max_files(self):
        return settings.POE_MAX_FILES

    @property
    def max_bytes(self):
        return settings.POE_MAX_BYTES

    @property
    def claim_max_files(self):
        return settings.POE_CLAIM_MAX_FILES

    @property
    def claim_max_bytes(self):
        return settings.POE_CLAIM_MAX_BYTES

    @property
    def accept(self):
        """The file input's ``accept``: every allowed type's extensions."""
        return ",".join(extension for extensions in self.extensions.values() for extension in extensions)

    @property
    def mime_types(self):
        """The allowed types, as the browser may report them (comma-separated, for a data attribute)."""
        return ",".join(self.types)

    def help_text(self):
        """What a drop zone says of the rules, under its label."""
        return gettext(
            "Up to %(files)s files of %(size)s each: PDF, Word, Excel, PowerPoint, PNG, JPEG or Outlook message."
        ) % {"files": self.max_files, "size": filesizeformat(self.max_bytes)}

    def room(self, *, files, size):
        """What a claim that holds ``files`` POE files of ``size`` bytes in all can still take."""
        return PoeRoom.left(files=files, size=size)


POE_RULES = PoeRules()


def poe_check_count(*, display_name, already):
    if already >= POE_RULES.max_files:
        raise ValidationError(
            gettext("You can upload at most %(max)d files. Remove one before adding “%(name)s”."),
            code="too_many",
            params={"max": POE_RULES.max_files, "name": display_name},
        )


@dataclass(frozen=True)
class PoeRoom:
    """What a claim can still take of its POE quota (``POE_CLAIM_MAX_FILES`` files, ``POE_CLAIM_MAX_BYTES`` in
    all, over its submission, answers, dispute and protections): ``files`` more files of ``bytes`` bytes in all."""

    files: int
    bytes: int

    @classmethod
    def left(cls, *, files, size):
        """The room of a claim that holds ``files`` POE files of ``size`` bytes in all."""
        return cls(files=max(POE_RULES.claim_max_files - files, 0), bytes=max(POE_RULES.claim_max_bytes - size, 0))

    @property
    def full(self):
        return not self.files or not self.bytes

    def text(self):
        """What the claim page says under each drop zone."""
        if self.full:
            return poe_room_full_text()
        return ngettext(
            "You can add %(count)s more file (%(size)s) to this claim.",
            "You can add %(count)s more files (%(size)s in all) to this claim.",
            self.files,
        ) % {"count": self.files, "size": filesizeformat(self.bytes)}


def poe_room_full_text():
    return gettext(
        "This claim holds as many proof of execution files as a claim can (%(files)s files, %(size)s in all): "
        "no more can be added."
    ) % {"files": POE_RULES.claim_max_files, "size": filesizeformat(POE_RULES.claim_max_bytes)}


class PoeQuotaExceeded(ValidationError):
    """The files would take the claim over its POE quota (``PoeRoom``); the message says how much room is left."""


def poe_quota_check(room, sizes):
    """Refuse (PoeQuotaExceeded) files of these ``sizes`` that do not fit in the claim's ``room``."""
    if len(sizes) <= room.files and sum(sizes) <= room.bytes:
        return
    if room.full:
        message = poe_room_full_text()
    else:
        message = gettext("%(room)s Remove some of the files you chose, or choose smaller ones.") % {
            "room": room.text()
        }
    raise PoeQuotaExceeded(message, code="quota")


_KINDS = {
    DOCX: (_("a Word document"), ".docx"),
    XLSX: (_("an Excel workbook"), ".xlsx"),
    PPTX: (_("a PowerPoint presentation"), ".pptx"),
}


def _refusal_error(refusal, name):
    if refusal.code == "macros":
        kind, extension = _KINDS.get(refusal.kind, (_("an Office file"), gettext(".docx, .xlsx or .pptx")))
        return ValidationError(
            gettext(
                "“%(name)s” is %(kind)s with macros. We do not accept files that can run code: save it without "
                "macros (%(extension)s) and upload it again."
            ),
            code="macros",
            params={"name": name, "kind": kind, "extension": extension},
        )
    if refusal.code == "too_complex":
        return ValidationError(
            gettext(
                "“%(name)s” has too many parts or expands to too much data to be opened safely. "
                "Save it again from Office, or as a PDF, and upload it again."
            ),
            code="too_complex",
            params={"name": name},
        )
    if refusal.code == "polyglot":
        return ValidationError(
            gettext(
                "“%(name)s” starts like a PDF or an image but also contains another kind of file (an archive or a "
                "web page). Save it again as a plain PDF or image and upload it again."
            ),
            code="polyglot",
            params={"name": name},
        )
    return ValidationError(
        gettext(
            "“%(name)s” is not a PDF, Word, Excel, PowerPoint, PNG, JPEG or Outlook message file. "
            "We check what the file contains, not its name."
        ),
        code="wrong_type",
        params={"name": name},
    )


def poe_check(uploaded_file, *, display_name=None, already=0):
    """Check one uploaded file for the POE rules; return a CheckedUpload or raise ValidationError.

    ``already`` is how many files this claim already has. The CheckedUpload's name ends in the extension of the
    type found by content (``poe_file_name``). Nothing here writes anything.
    """
    name = poe_display_name(display_name if display_name is not None else uploaded_file.name)
    poe_check_count(display_name=name, already=already)
    size = uploaded_file.size
    if not size:
        raise ValidationError(gettext("“%(name)s” is empty."), code="empty", params={"name": name})
    if size > POE_RULES.max_bytes:
        raise ValidationError(
            gettext("“%(name)s” is larger than %(max)s: each file can be at most %(max)s."),
            code="too_large",
            params={"name": name, "max": _size_words(POE_RULES.max_bytes)},
        )
    uploaded_file.seek(0)
    try:
        content_type = poe_sniff(uploaded_file)
    except Refusal as refusal:
        raise _refusal_error(refusal, name) from None
    digest = hashlib.sha256()
    uploaded_file.seek(0)
    for chunk in uploaded_file.chunks():
        digest.update(chunk)
    uploaded_file.seek(0)
    return CheckedUpload(
        display_name=poe_file_name(name, content_type), content_type=content_type, size=size, sha256=digest.hexdigest()
    )


def _size_words(size):
    """A limit in the words the messages have always used ("10 MB"); a limit under a megabyte (tests) in bytes."""
    mb = 1024 * 1024
    return f"{size // mb} MB" if size >= mb and not size % mb else filesizeformat(size)


def poe_template_docx(*, partner_name, mpn_id, customer_name, domain, directory_id, products):
    """A POE template (DOCX bytes) pre-filled with what the claim is about, in the active language (the partner's
    own: SPEC §15)."""
    from docx import Document

    document = Document()
    document.add_heading(gettext("Proof of execution"), level=1)
    document.add_paragraph(
        gettext(
            "Describe the work you performed for this customer, and have the customer sign below. "
            "Attach this document to your customer association."
        )
    )
    rows = [
        (gettext("Partner"), partner_name),
        (gettext("MPN ID"), mpn_id),
        (gettext("Customer"), customer_name),
        (gettext("Domain name"), domain),
        (gettext("Directory ID"), str(directory_id)),
        (gettext("Product(s)"), words_list(products)),
    ]
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text = label
        cells[1].text = value
    document.add_heading(gettext("Work performed"), level=2)
    document.add_paragraph(gettext("Dates, activities and deliverables:"))
    document.add_paragraph("")
    document.add_heading(gettext("Customer signature"), level=2)
    for line in (gettext("Name:"), gettext("Title:"), gettext("Date:"), gettext("Signature:")):
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
