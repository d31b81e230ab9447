"""Hostile POE files for the upload attack tests: zip bombs, lying archives, macro documents, polyglots, compound
files whose directory fills the file. Each is built in milliseconds.

Where zipfile cannot write the lie, ``_zip`` writes the archive byte by byte."""

import io
import struct
import zipfile
import zlib

from claims.tests.wizard_steps import JPEG, PDF, docx_bytes, ooxml_bytes

OOXML = "application/vnd.openxmlformats-officedocument."
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Override PartName="/word/document.xml" ContentType="{main}"/></Types>'
)
DOCX_MAIN = OOXML + "wordprocessingml.document.main+xml"


def zip_bomb():
    """About 1 MB: a DOCX whose [Content_Types].xml honestly declares and inflates to 1 GiB of zeros. The mebibyte of
    zeros is compressed once and its deflate data repeated 1024 times: each copy ends on a full flush (byte-aligned,
    no reference back), so the copies make one valid stream, built in milliseconds rather than by deflating 1 GiB."""
    chunk = bytes(1024 * 1024)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    stream = piece * 1024 + packer.flush()
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(chunk, crc)
    document = b"<w:document/>"
    return _zip(
        [
            ("[Content_Types].xml", zipfile.ZIP_DEFLATED, stream, crc, 1024 * len(chunk)),
            ("word/document.xml", zipfile.ZIP_DEFLATED, _deflated(document), zlib.crc32(document), len(document)),
        ]
    )


def _patch_directory(content, name, *, file_size=None):
    """``content`` with the central directory entry of ``name`` declaring another uncompressed size (a lie)."""
    data = bytearray(content)
    encoded = name.encode()
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        (name_length,) = struct.unpack("<H", data[at + 28 : at + 30])
        if data[at + 46 : at + 46 + name_length] == encoded:
            data[at + 24 : at + 28] = struct.pack("<I", file_size)
            return bytes(data)
        at += 4
    raise AssertionError(f"{name} not in the central directory")


def lying_bomb():
    """A DOCX whose [Content_Types].xml inflates to 64 MiB while its central directory declares 1,000,000 bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("[Content_Types].xml", "w") as member:
            member.write(_CONTENT_TYPES.format(main=DOCX_MAIN).encode())
            chunk = bytes(1024 * 1024)
            for _ in range(64):
                member.write(chunk)
        archive.writestr("word/document.xml", "<w:document/>")
    return _patch_directory(out.getvalue(), "[Content_Types].xml", file_size=1_000_000)


def _zip(members, directory=None):
    """A zip archive written byte by byte: ``members`` are (name, method, compressed bytes, CRC, declared size),
    each with its local header; ``directory`` lists, for each central directory entry, the index of the member
    whose header it points at (every member once, in order, by default): the central directory says whatever
    the test needs."""
    out, offsets = bytearray(), []
    for name, method, data, crc, size in members:
        offsets.append(len(out))
        encoded = name.encode()
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), size, len(encoded), 0)
        out += encoded + data
    start = len(out)
    for index in directory if directory is not None else range(len(members)):
        name, method, data, crc, size = members[index]
        encoded = name.encode()
        out += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0,
            method,
            0,
            0,
            crc,
            len(data),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offsets[index],
        )
        out += encoded
    count = len(directory) if directory is not None else len(members)
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(out) - start, start, 0)
    return bytes(out)


def _deflated(data):
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _docx_members(*, document=b"<w:document/>"):
    content_types = _CONTENT_TYPES.format(main=DOCX_MAIN).encode()
    return [
        ("[Content_Types].xml", 8, _deflated(content_types), zlib.crc32(content_types), len(content_types)),
        ("word/document.xml", 8, _deflated(document), zlib.crc32(document), len(document)),
    ]


def gigabyte_stream_declared_small():
    """About 1 MB: a DOCX whose word/document.xml declares 1,000 bytes (with the checksum of its first 1,000) over a
    deflate stream of 1 GiB of zeros. A reader that trusts the header, and stops there, sees an honest document.

    The stream is built without inflating anything: a mebibyte of zeros deflated up to a full flush (which
    forgets the history) is a run of blocks that decodes alone, repeated 1,024 times, then the final empty block."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    unit = packer.compress(bytes(1024 * 1024)) + packer.flush(zlib.Z_FULL_FLUSH)
    stream = unit * 1024 + zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    content_types, _document = _docx_members()
    return _zip([content_types, ("word/document.xml", 8, stream, zlib.crc32(bytes(1000)), 1000)])


def overlapping_entries(copies=40):
    """A DOCX whose central directory lists ``copies`` more parts that all point at the local header of
    word/document.xml, a 10 MiB stream of zeros: one compressed stream counted ``copies`` + 1 times (the
    "overlapping files" zip bomb). Each part's declared size is honest, and their sum under the cap."""
    document = bytes(10 * 1024 * 1024)
    members = _docx_members(document=document)
    return _zip(members, directory=[0, 1] + [1] * copies)


def declared_huge():
    """A genuine small DOCX whose central directory says word/document.xml inflates to 600 MiB."""
    return _patch_directory(docx_bytes(), "word/document.xml", file_size=600 * 1024 * 1024)


def many_entries(count=1001, *, lie_in_end_record=False):
    """A DOCX with ``count`` parts; optionally its end record claims just 2 entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(main=DOCX_MAIN))
        archive.writestr("word/document.xml", "<w:document/>")
        for number in range(count - 2):
            archive.writestr(f"p/{number}", b"")
    data = bytearray(out.getvalue())
    if lie_in_end_record:
        at = data.rfind(b"PK\x05\x06")
        data[at + 8 : at + 12] = struct.pack("<HH", 2, 2)
    return bytes(data)


def macro_docx(*, declared=True):
    """A macro-enabled Word document (.docm) passed off as a DOCX: by its main content type, or (``declared``
    False) by a vbaProject.bin part under a plain DOCX content type."""
    if declared:
        return ooxml_bytes("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(main=DOCX_MAIN))
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0 macros")
    return out.getvalue()


def macro_xlsx():
    return ooxml_bytes("xl/workbook.xml", "application/vnd.ms-excel.sheet.macroEnabled.main+xml")


def pdf_with_docx():
    """A PDF with a DOCX appended: PDF readers open it as a PDF, zip tools and Word as a document."""
    return PDF + docx_bytes()


def jpeg_with_zip():
    return JPEG + docx_bytes()


def pdf_with_hta():
    """Starts with %PDF-, then an HTML application: mshta runs it when it is named .hta."""
    return (
        b"%PDF-1.4\n<html><head><hta:application id=x/></head><body>"
        b'<script language="VBScript">CreateObject("WScript.Shell").Run "calc.exe"</script></body></html>\n' + PDF[9:]
    )


def compound_file(stream_names, *, directory_sectors=None, fat_sectors_claimed=None):
    """An OLE compound file (CFB v3, 512-byte sectors) with empty streams under the root, their directory a
    balanced tree (as real files have); ``directory_sectors`` pads the directory with unused entries."""
    free, end, fat_mark, nostream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    names = sorted(stream_names, key=lambda n: (len(n), n.upper()))
    entry_count = len(names) + 1
    dir_sectors = max(directory_sectors or 0, -(-entry_count // 4))
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + dir_sectors:
        fat_sectors += 1
    assert fat_sectors <= 109, "the header's DIFAT holds 109 FAT sectors"
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16
    header += struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\x00" * 6
    header += struct.pack("<IIIIIIIII", 0, fat_sectors_claimed or fat_sectors, fat_sectors, 0, 4096, end, 0, end, 0)
    header += b"".join(struct.pack("<I", s if s < fat_sectors else free) for s in range(109))
    fat = [fat_mark] * fat_sectors
    fat += [fat_sectors + i + 1 for i in range(dir_sectors - 1)] + [end]
    fat += [free] * (fat_sectors * 128 - len(fat))
    fat_bytes = b"".join(struct.pack("<I", s) for s in fat)

    links = {}

    def tree(low, high):  # entry ids low..high (1-based ids of ``names``) as a balanced binary tree
        if low > high:
            return nostream
        middle = (low + high) // 2
        links[middle] = (tree(low, middle - 1), tree(middle + 1, high))
        return middle

    top = tree(1, len(names))

    def entry(name, kind, left=nostream, right=nostream, child=nostream):
        encoded = name.encode("utf-16-le") + b"\x00\x00" if name else b""
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", left, right, child)
            + b"\x00" * 36
            + struct.pack("<IQ", end, 0)
        )

    entries = [entry("Root Entry", 5, child=top)]
    entries += [entry(name, 2, *links[number]) for number, name in enumerate(names, start=1)]
    entries += [entry("", 0)] * (dir_sectors * 4 - len(entries))
    return header + fat_bytes + b"".join(entries)


def outlook_message(extra_streams=0):
    """An Outlook message's signature streams, plus ``extra_streams`` more MAPI property streams."""
    names = ["__properties_version1.0", "__substg1.0_0037001F", "__substg1.0_1000001F"]
    names += [f"__substg1.0_8{number:03X}001F" for number in range(extra_streams)]
    return compound_file(names)
