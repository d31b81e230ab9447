"""What a file is, judged by its content, reading as little of it as a verdict needs (SPEC §14 "Uploads").

Every read goes through a byte budget (``SNIFF_MAX_READ``, ``ZIP_MAX_READ`` for an archive, ``OLE_MAX_READ`` for
an Outlook message), and an archive is judged by the bytes its members actually inflate to, not by the sizes its
headers declare: every compressed member is inflated as a stream, a chunk at a time and never kept, under a
running cap on the bytes inflated, so a member that inflates past its declared size (1,000 bytes declared over a
1 GiB stream) is refused after its first chunk. A zip bomb, a central directory of 200,000 entries, entries that
overlap (one compressed stream read as many members) or a compound file whose directory fills the file is refused
after a few hundred kilobytes, in milliseconds, with a few megabytes of memory.

``poe_sniff`` returns a POE MIME type or raises ``Refusal`` saying why (``claims.uploads`` words the message).
"""

import io
import re
import struct
import zipfile
import zlib

import olefile

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PNG = "image/png"
JPEG = "image/jpeg"
MSG = "application/vnd.ms-outlook"

# The budget of bytes one sniff may read from the file (whatever the file's size): a PDF's or an image's end.
SNIFF_MAX_READ = 2 * 1024 * 1024
# An archive's budget: its end record and central directory (read twice, once by us and once by zipfile), the
# local header of each member and the compressed bytes of every deflated member, once. A 10 MB upload
# (POE_MAX_BYTES) fits; members stored uncompressed are never read (their size is their length in the file).
ZIP_MAX_READ = 12 * 1024 * 1024
# Office Open XML caps: real documents have tens of parts (a picture-heavy deck a few hundred), a central
# directory of a few kilobytes and a [Content_Types].xml of one or two.
ZIP_MAX_ENTRIES = 1000
ZIP_MAX_DIRECTORY_BYTES = 256 * 1024
ZIP_MAX_PART_BYTES = 1024 * 1024
# The bytes an archive may inflate to, as its central directory declares them and as its members actually inflate
# (a running count): a 10 MB workbook of plain cells inflates to a few hundred MB at most; beyond this the archive
# is a bomb, whatever it contains.
ZIP_MAX_DECLARED_BYTES = 512 * 1024 * 1024
ZIP_MAX_INFLATED_BYTES = ZIP_MAX_DECLARED_BYTES
ZIP_READ_CHUNK = 64 * 1024
# The most one inflating step may produce (the memory a member's stream takes at once).
ZIP_INFLATE_CHUNK = 256 * 1024
_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30
# Outlook (OLE compound file) caps: the header, the FAT (80 KB for 10 MB of 512-byte sectors) and the directory
# (128 bytes an entry; a message with dozens of attachments has a few thousand) fit in this many bytes.
OLE_MAX_READ = 1024 * 1024
OLE_MAX_DIFAT_SECTORS = 4
# Browsers decide that a resource is HTML from its first 1,445 bytes (WHATWG MIME Sniffing, "resource header").
MARKUP_WINDOW = 1445
_MARKUP = re.compile(rb"<\s*(?:script|html|hta:application|iframe|body|!doctype\s+html)\b", re.IGNORECASE)
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# The main part of each Office Open XML kind: the part that must exist, and the content type
# [Content_Types].xml must give it.
_OOXML = "application/vnd.openxmlformats-officedocument."
_OOXML_MAIN_PARTS = [
    (DOCX, "word/document.xml", _OOXML + "wordprocessingml.document.main+xml"),
    (XLSX, "xl/workbook.xml", _OOXML + "spreadsheetml.sheet.main+xml"),
    (PPTX, "ppt/presentation.xml", _OOXML + "presentationml.presentation.main+xml"),
]


class Refusal(Exception):
    """Why a file is not an accepted POE file.

    ``code``: "unknown" (not one of the types, or damaged), "macros" (a macro-enabled Office file; ``kind`` is
    DOCX, XLSX or PPTX: what it pretends to be), "too_complex" (over a cap: too many parts, inflates too much),
    "polyglot" (the leading bytes say one type, the rest is also an archive or a web page).
    """

    def __init__(self, code, kind=None):
        super().__init__(code)
        self.code, self.kind = code, kind


class _OverBudget(Exception):
    pass


class BudgetReader(io.RawIOBase):
    """A read-only view of a seekable file that refuses to return more than ``limit`` bytes in total."""

    def __init__(self, fileobj, limit):
        super().__init__()
        self._file, self.limit, self.consumed = fileobj, limit, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        return self._file.seek(offset, whence)

    def tell(self):
        return self._file.tell()

    def read(self, size=-1):
        room = self.limit - self.consumed
        if size is None or size < 0:
            # "The rest of the file" (zipfile reads its last 64 KiB so): at most what the budget has left.
            size = room + 1
        elif size > room:
            raise _OverBudget
        data = self._file.read(size)
        self.consumed += len(data)
        if self.consumed > self.limit:
            raise _OverBudget
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def poe_sniff(fileobj):
    """The POE MIME type of a seekable binary file, by content; ``Refusal`` otherwise. The position is kept."""
    position = fileobj.tell()
    try:
        return _sniff(fileobj)
    finally:
        fileobj.seek(position)


def _sniff(fileobj):
    fileobj.seek(0)
    head = fileobj.read(MARKUP_WINDOW)
    if head.startswith((b"%PDF-", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
        return _single(fileobj, head)
    if head.startswith(_LOCAL_HEADER):
        return _guarded(lambda: _ooxml(BudgetReader(fileobj, ZIP_MAX_READ)))
    if head.startswith(_OLE_MAGIC):
        return _guarded(lambda: _msg(BudgetReader(fileobj, OLE_MAX_READ)))
    raise Refusal("unknown")


def _guarded(detect):
    try:
        return detect()
    except Refusal:
        raise
    except _OverBudget as exc:
        raise Refusal("too_complex") from exc
    except Exception as exc:
        # A damaged archive or compound file (zipfile, zlib, olefile, struct errors...) is not an accepted document.
        raise Refusal("unknown") from exc


def _single(fileobj, head):
    """PDF, PNG or JPEG: typed by its leading bytes, refused if the same bytes are also a web page or an archive
    (a "polyglot": saved under another name, or opened by another program, it would be something else)."""
    if _MARKUP.search(head):
        raise Refusal("polyglot")
    if _zip_end_record(BudgetReader(fileobj, SNIFF_MAX_READ)) is not None:
        raise Refusal("polyglot")
    if head.startswith(b"%PDF-"):
        return PDF
    return PNG if head.startswith(b"\x89") else JPEG


def _zip_end_record(reader):
    """(entries, central directory size, its offset) of the zip archive that ends the file, or None when the file
    does not end with one: an end record in its last 64 KiB pointing back at a central directory, located as zipfile
    locates it (so a PDF whose compressed bytes happen to hold "PK\\x05\\x06" is not taken for an archive)."""
    size = reader.seek(0, io.SEEK_END)
    tail_size = min(size, _EOCD_SIZE + 0xFFFF)
    reader.seek(size - tail_size)
    tail = reader.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        return None
    _sig, _disk, _cd_disk, _disk_entries, entries, cd_size, _cd_offset, _comment = struct.unpack(
        "<4s4H2LH", tail[at : at + _EOCD_SIZE]
    )
    directory_end = size - tail_size + at
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:  # Zip64: the real numbers are in the record before the locator
        directory_end -= 20 + 56
        if directory_end < 0:
            return None
        reader.seek(directory_end)
        record = reader.read(56)
        if not record.startswith(b"PK\x06\x06"):
            return None
        entries, cd_size = struct.unpack("<QQ", record[32:48])
    if not entries or cd_size > directory_end:
        return None
    reader.seek(directory_end - cd_size)
    return (entries, cd_size, directory_end - cd_size) if reader.read(4) == b"PK\x01\x02" else None


def _ooxml(reader):
    end = _zip_end_record(reader)
    if end is None:
        raise Refusal("unknown")
    entries, cd_size, directory_start = end
    # Checked before zipfile parses the directory: it reads all of it and makes an object per entry.
    if entries > ZIP_MAX_ENTRIES or cd_size > ZIP_MAX_DIRECTORY_BYTES:
        raise Refusal("too_complex")
    with zipfile.ZipFile(reader) as archive:
        infos = archive.infolist()
    if len(infos) > ZIP_MAX_ENTRIES or sum(info.file_size for info in infos) > ZIP_MAX_DECLARED_BYTES:
        raise Refusal("too_complex")
    names = {info.filename for info in infos}
    if "[Content_Types].xml" not in names:
        raise Refusal("unknown")
    content_types = _members_inflate(reader, infos, directory_start).decode("utf-8", "replace")
    main = next(((mime, part) for mime, part, _type in _OOXML_MAIN_PARTS if part in names), None)
    # Macro-enabled variants (.docm, .xlsm, .pptm) declare "macroEnabled" main types and carry vbaProject.bin.
    if "macroenabled" in content_types.lower() or any(n.lower().endswith("vbaproject.bin") for n in names):
        raise Refusal("macros", kind=main[0] if main else None)
    for mime, part, main_type in _OOXML_MAIN_PARTS:
        if part in names and main_type in content_types:
            return mime
    raise Refusal("unknown")


def _members_inflate(reader, infos, directory_start):
    """Check every member by what it actually holds; return the bytes of [Content_Types].xml.

    In the order they lie in the file, each member's compressed bytes must end before the next member (or the
    central directory) begins: overlapping members are one compressed stream counted as many, a bomb. A stored
    member holds exactly its declared size (its length in the file), and is not read; a deflated one is inflated
    as a stream (``_member_inflate``) and must end at exactly its declared size with its checksum, under a running
    cap on the bytes the whole archive inflates to.
    """
    ordered = sorted(infos, key=lambda info: info.header_offset)
    ends = [info.header_offset for info in ordered[1:]] + [directory_start]
    content_types, inflated = b"", 0
    for info, end in zip(ordered, ends, strict=True):
        if info.flag_bits & 0x1:  # encrypted: nothing an Office document has
            raise Refusal("unknown")
        reader.seek(info.header_offset)
        header = reader.read(_LOCAL_HEADER_SIZE)
        if len(header) < _LOCAL_HEADER_SIZE or not header.startswith(_LOCAL_HEADER):
            raise Refusal("unknown")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        start = info.header_offset + _LOCAL_HEADER_SIZE + name_length + extra_length
        if start + info.compress_size > end:
            raise Refusal("too_complex")
        keep = info.filename == "[Content_Types].xml"
        if keep and info.file_size > ZIP_MAX_PART_BYTES:
            raise Refusal("too_complex")
        if info.compress_type == zipfile.ZIP_STORED and not keep:
            if info.compress_size != info.file_size:
                raise Refusal("unknown")
            inflated += info.file_size
        else:
            reader.seek(start)
            data, inflated = _member_inflate(reader, info, inflated, keep=keep)
            if keep:
                content_types = data
        if inflated > ZIP_MAX_INFLATED_BYTES:
            raise Refusal("too_complex")
    return content_types


def _member_inflate(reader, info, inflated, *, keep):
    """(the member's bytes if ``keep`` else b"", the archive's running count of inflated bytes) for the member whose
    compressed bytes start at the reader's position: inflated a chunk at a time, never past one byte more than its
    declared size nor past the archive's cap, whatever its compressed stream would give."""
    if info.compress_type == zipfile.ZIP_STORED:
        decompressor = None
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
    else:  # Office writes stored and deflated members only
        raise Refusal("unknown")
    left, pending, produced, crc, kept = info.compress_size, b"", 0, 0, []
    while True:
        if not pending and left:
            pending = reader.read(min(ZIP_READ_CHUNK, left))
            if not pending:
                raise Refusal("unknown")  # the file ends inside the member
            left -= len(pending)
        if decompressor is None:
            out, pending = pending, b""
        else:
            # One byte more than the declared size is enough to catch a lie.
            room = min(info.file_size - produced + 1, ZIP_MAX_INFLATED_BYTES - inflated + 1, ZIP_INFLATE_CHUNK)
            out = decompressor.decompress(pending, room)
            pending = decompressor.unconsumed_tail
        produced += len(out)
        inflated += len(out)
        if produced > info.file_size or inflated > ZIP_MAX_INFLATED_BYTES:
            raise Refusal("too_complex")
        crc = zlib.crc32(out, crc)
        if keep:
            kept.append(out)
        done = decompressor.eof if decompressor is not None else not left
        if done or (not out and not pending and not left):
            break
    if (decompressor is not None and not decompressor.eof) or produced != info.file_size or crc != info.CRC:
        raise Refusal("unknown")  # cut short, or damaged
    return b"".join(kept), inflated


def _msg(reader):
    """An Outlook message: an OLE compound file with a properties stream and MAPI property streams (Word 97
    documents and other compound files are not). The header is checked by hand before olefile reads anything."""
    reader.seek(0)
    header = reader.read(512)
    if len(header) < 512:
        raise Refusal("unknown")
    sector_shift, mini_shift = struct.unpack("<HH", header[30:34])
    fat_sectors, _first_dir, _signature, _cutoff, _minifat, _minifat_count, _difat, difat_sectors = struct.unpack(
        "<8I", header[44:76]
    )
    size = reader.seek(0, io.SEEK_END)
    reader.seek(0)
    if (sector_shift, mini_shift) not in ((9, 6), (12, 6)):
        raise Refusal("unknown")
    # A FAT larger than the file, or more DIFAT sectors than a 10 MB file can need, is a lie meant to be read.
    if fat_sectors << sector_shift > size or difat_sectors > OLE_MAX_DIFAT_SECTORS:
        raise Refusal("too_complex")
    ole = olefile.OleFileIO(reader)
    try:
        streams = {"/".join(entry) for entry in ole.listdir(streams=True, storages=False)}
    finally:
        ole.close()
    has_properties = "__properties_version1.0" in streams
    has_mapi = any(name.startswith("__substg1.0_") for name in streams)
    if has_properties and has_mapi:
        return MSG
    raise Refusal("unknown")
