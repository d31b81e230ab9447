"""Email backends: one ``.eml`` file per message for the embedded default, and SMTP that keeps each recipient's
answer and writes the common message's MIME form itself."""

import base64
import binascii
import datetime
import functools
import os
import random
import re
import smtplib
import uuid
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
from django.core.mail.utils import DNS_NAME
from django.utils import timezone


class EmlFileBackend(BaseEmailBackend):
    def __init__(self, *, file_path, **kwargs):
        super().__init__(**kwargs)
        self.file_path = file_path

    def send_messages(self, email_messages):
        folder = Path(self.file_path)
        folder.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            path = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(message.message().as_bytes())
            os.replace(tmp, path)  # readers never see half a message
            sent += 1
        return sent


class _RecordingSMTP(smtplib.SMTP):
    """smtplib's SMTP, remembering the recipients refused by its last ``sendmail`` that did not raise."""

    refused = None

    def sendmail(self, *args, **kwargs):
        self.refused = None
        self.refused = super().sendmail(*args, **kwargs)
        return self.refused


class _RecordingSMTP_SSL(_RecordingSMTP, smtplib.SMTP_SSL):
    pass


class SmtpBackend(DjangoSmtpBackend):
    """Django's SMTP backend (the same options), which also tells which recipients the server refused while it
    took the message for the others, and writes the MIME form of the common message itself.

    smtplib's ``sendmail`` raises ``SMTPRecipientsRefused`` only when every recipient is refused; otherwise it
    returns the refused ones, and Django drops that answer. This backend sets it on each message it sent, as
    ``refused_recipients`` ({address: (code, reply bytes)}, empty when all were accepted), so that the outbox can
    tell whether the customer contact's copy of a notice was accepted (``claims.services.notifications``).

    Every outbox email is a text body with an HTML alternative to plain addresses. Python's email package takes
    milliseconds to build one (each header parsed into objects, then folded again), more than rendering and
    sending it: ``message_bytes`` writes that shape's MIME form directly; any other message goes through Django.
    """

    @property
    def connection_class(self):
        return _RecordingSMTP_SSL if self.use_ssl else _RecordingSMTP

    def _send(self, email_message):
        email_message.refused_recipients = {}
        raw = message_bytes(email_message)
        sent = super()._send(email_message) if raw is None else self._send_bytes(email_message, raw)
        if sent and self.connection is not None:
            email_message.refused_recipients = dict(self.connection.refused or {})
        return sent

    def _send_bytes(self, email_message, raw):
        """Django's ``_send`` for a message whose bytes are written already."""
        if not email_message.recipients():
            return False
        from_email = self._envelope_address(email_message.from_email)
        recipients = [self._envelope_address(address) for address in email_message.recipients()]
        try:
            self.connection.sendmail(from_email, recipients, raw)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True

    def _envelope_address(self, address):
        # A plain ASCII address is its own addr-spec; anything else is Django's to check (IDNA, display names, and
        # the ValueError for an invalid address).
        return address if _PLAIN_ADDRESS.match(address) else self.prep_address(address)


# MIME written directly -------------------------------------------------------------------------------------------

# An addr-spec of ASCII letters, digits and the usual punctuation, with no quoting, comments or display name:
# nothing in it needs encoding, and it cannot carry a line break into a header.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z")
_HEADER_NAME = re.compile(r"[!-9;-~]+\Z")
_CRLF = b"\r\n"
# What Python's email package (policy.SMTP) writes a body line by line up to; a longer line is encoded.
_LINE_LENGTH = 78


def message_bytes(message):
    """The MIME form of ``message`` (a Django EmailMessage) as Django's SMTP backend would send it: headers
    Subject, From, To, Date and Message-ID (and the message's other extra headers), a text/plain body and at most
    one text/html alternative, in UTF-8; each body 7bit or 8bit when its lines are short, else quoted-printable
    or base64 (the shorter), as Python's email package chooses. CRLF line ends.

    None for a message of any other shape (attachments, Cc, Reply-To, another alternative or charset, an address
    that is not plain, a header that is not short plain text, a class that builds its own message): Django builds
    those.
    """
    if not isinstance(message, EmailMessage) or type(message).message is not EmailMessage.message:
        return None  # a class that builds its own message
    alternatives = getattr(message, "alternatives", [])
    if (
        message.attachments
        or (alternatives and not message.body)
        or message.cc
        or message.reply_to
        or message.content_subtype != "plain"
        or (message.encoding or settings.DEFAULT_CHARSET).lower() not in {"utf-8", "utf8"}
        or not isinstance(message.body, str)
        or len(alternatives) > 1
        or any(
            alternative.mimetype != "text/html" or not isinstance(alternative.content, str)
            for alternative in alternatives
        )
        or not message.to
        or not all(_PLAIN_ADDRESS.match(address) for address in message.to)
    ):
        return None
    extra = {name.lower(): (name, value) for name, value in message.extra_headers.items()}
    if {"to", "cc", "reply-to", "bcc", "subject", "mime-version", "content-type", "content-transfer-encoding"} & set(
        extra
    ):
        return None
    sender = _from_header(str(extra.pop("from", (None, message.from_email))[1]))
    subject = str(message.subject)
    if sender is None or "\r" in subject or "\n" in subject:
        return None
    headers = [("Subject", _header_text("Subject", subject)), ("From", sender), ("To", _address_list(message.to))]
    if "date" not in extra:
        zone = timezone.get_current_timezone() if settings.EMAIL_USE_LOCALTIME else datetime.UTC
        headers.append(("Date", format_datetime(datetime.datetime.now(zone))))
    if "message-id" not in extra:
        headers.append(("Message-ID", make_msgid(domain=DNS_NAME)))
    for name, value in extra.values():
        if (
            not isinstance(value, str)
            or not _HEADER_NAME.match(name)
            or not value.isascii()
            or "\r" in value
            or "\n" in value
            or len(name) + 2 + len(value) > _LINE_LENGTH
        ):
            return None  # a date object, a long or non-ASCII value: Django folds and encodes it
        headers.append((name, value))
    parts = [_text_part("plain", message.body)] + [_text_part("html", a.content) for a in alternatives]
    head = b"MIME-Version: 1.0\r\n"
    if len(parts) == 1:
        (part_head, body), *_ = parts
        head += part_head
    else:
        boundary = _boundary(parts)
        head += b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n'
        # The CRLF before a delimiter belongs to the delimiter (RFC 2046): each part's own last line end stays.
        body = b"".join(b"--" + boundary + _CRLF + part_head + _CRLF + part + _CRLF for part_head, part in parts)
        body += b"--" + boundary + b"--" + _CRLF
    head += b"".join(f"{name}: {value}".encode("ascii") + _CRLF for name, value in headers)
    return head + _CRLF + body


def _header_text(name, value):
    """An unstructured header's value: as it is when short and ASCII, else folded (RFC 2047 words for non-ASCII)."""
    if value.isascii():
        return (
            value
            if len(name) + 2 + len(value) <= _LINE_LENGTH
            else Header(value, header_name=name).encode(linesep="\r\n")
        )
    return _encoded_words(value)


# UTF-8 bytes per RFC 2047 word: "=?utf-8?b?" + 52 base64 characters + "?=" is 64 characters, a line with room for
# the header's name before the first one.
_WORD_BYTES = 39


def _encoded_words(value):
    """``value`` as base64 encoded-words (RFC 2047), one per folded line, never splitting a character. (What
    email.header.Header writes, without its character-by-character work.)"""
    words, chunk, size = [], [], 0
    for character in value:
        length = len(character.encode("utf-8"))
        if size + length > _WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(character)
        size += length
    words.append("".join(chunk))
    return "\r\n ".join("=?utf-8?b?" + base64.b64encode(word.encode("utf-8")).decode("ascii") + "?=" for word in words)


@functools.lru_cache(maxsize=64)
def _from_header(value):
    """The From header for ``value`` ("Name <address>" or an address), or None when it is not plain enough here.
    The same few values every time (DEFAULT_FROM_EMAIL): cached."""
    if "\r" in value or "\n" in value:
        return None
    name, address = parseaddr(value)
    if not _PLAIN_ADDRESS.match(address):
        return None
    return formataddr((name, address), charset="utf-8")


def _address_list(addresses):
    line, lines = "", []
    for address in addresses:
        if line and len(line) + len(address) + 6 > _LINE_LENGTH:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {address}" if line else address
    return "\r\n ".join([*lines, line])


def _text_part(subtype, text):
    """(headers, body) of one text part in UTF-8, lines ending in CRLF, body ending in CRLF."""
    lines = text.encode("utf-8").splitlines()
    data = _CRLF.join(lines) + _CRLF
    if max((len(line) for line in lines), default=0) <= _LINE_LENGTH:
        encoding = "7bit" if data.isascii() else "8bit"
    else:
        qp = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).replace(b"\n", _CRLF)
        b64 = base64.encodebytes(data).replace(b"\n", _CRLF)
        encoding, data = ("quoted-printable", qp) if len(qp) <= len(b64) else ("base64", b64)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n'
    return head.encode("ascii"), data


def _boundary(parts):
    while True:
        boundary = f"==============={random.randrange(10**19):019d}==".encode("ascii")
        if not any(boundary in body for _, body in parts):
            return boundary
