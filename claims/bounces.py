"""Bounces (SPEC §5, §7): the envelope sender of every email names its outbox row, signed, and a delivery status
notification (DSN, RFC 3464) returned to it is read here. Pure helpers: no database.

**VERP.** Each message goes out with the envelope sender (what becomes its ``Return-Path``)

    bounces+<row id>-<signature>@<bounce domain>

while its ``From`` header stays the display sender. ``EMAIL_BOUNCE_ADDRESS`` (``bounces@cpor.example``) gives the
mailbox and the domain; the mail server delivers every ``bounces+anything`` to it (Postfix: ``recipient_delimiter
= +``). The signature is an HMAC of the row id under SECRET_KEY with a salt of its own, 20 lower-case hex digits
(some servers lower-case local parts). The keys of SECRET_KEY_FALLBACKS are accepted too: rotating the key keeps
the bounces of messages already sent working. Anyone can send mail to the bounce mailbox; only someone holding a
message we sent (its recipient) knows a valid address, and it names that message's row only.

**DSNs.** ``dsn_read`` parses a ``multipart/report; report-type=delivery-status`` message with the standard
library: its per-recipient fields (Action, Status, Final-Recipient, Original-Recipient, Diagnostic-Code), the
Message-ID of the returned message (a ``message/rfc822`` or ``text/rfc822-headers`` part), and the addresses the
report was delivered to (``To``, ``Delivered-To``, ``X-Original-To``, ``Envelope-To``). A permanent failure is
``Action: failed`` with a ``5.x.x`` status.
"""

import dataclasses
import email
import email.parser
import email.policy
import hmac
import re
from email.utils import getaddresses

from django.conf import settings
from django.utils.crypto import salted_hmac

SALT = "cpor.claims.bounce"
SIGNATURE_LENGTH = 20
_VERP = re.compile(
    r"^(?P<local>[^+@\s]+)\+(?P<id>[0-9]{1,18})-(?P<signature>[0-9a-f]{"
    + str(SIGNATURE_LENGTH)
    + r"})@(?P<domain>[^@\s]+)$"
)
_STATUS = re.compile(r"^([245])\.[0-9]{1,3}\.[0-9]{1,3}$")
# Where a report says whom it was delivered to (the envelope recipient: our VERP address).
RECIPIENT_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")


def _signature(notification_id, key):
    return salted_hmac(SALT, str(notification_id), secret=key, algorithm="sha256").hexdigest()[:SIGNATURE_LENGTH]


def bounce_address(notification_id):
    """The envelope sender of outbox row ``notification_id``."""
    local, _, domain = settings.EMAIL_BOUNCE_ADDRESS.rpartition("@")
    return f"{local}+{notification_id}-{_signature(notification_id, settings.SECRET_KEY)}@{domain}"


def bounce_address_read(address):
    """The outbox row id that ``address`` names, if it is one of our bounce addresses with a valid signature;
    None for anything else (another address, a forged or altered signature)."""
    match = _VERP.match((address or "").strip().strip("<>").lower())
    if match is None:
        return None
    local, _, domain = settings.EMAIL_BOUNCE_ADDRESS.lower().rpartition("@")
    if match["local"] != local or match["domain"] != domain:
        return None
    notification_id = int(match["id"])
    for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        if hmac.compare_digest(match["signature"], _signature(notification_id, key)):
            return notification_id
    return None


class NotADeliveryReport(ValueError):
    """The message is not a delivery status notification we can read."""


@dataclasses.dataclass(frozen=True)
class RecipientReport:
    """One recipient's block of a DSN."""

    action: str  # failed, delayed, delivered, relayed, expanded (lower case)
    status: str  # 5.1.1
    final_recipient: str  # an address, lower case
    original_recipient: str  # an address, lower case, or ""
    diagnostic: str  # the remote server's words, one line

    @property
    def permanent_failure(self):
        return self.action == "failed" and self.status.startswith("5.")

    def is_for(self, address):
        address = (address or "").strip().lower()
        return bool(address) and address in (self.final_recipient, self.original_recipient)

    def text(self):
        """How the failure reads on the outbox row and to the partner: the status and the server's words."""
        return f"{self.status} {self.diagnostic}".strip()


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    recipients: tuple  # RecipientReport, in the report's order
    message_id: str  # the returned message's Message-ID, or ""
    delivered_to: tuple  # the addresses the report was delivered to (candidates for our VERP address)

    def permanent_failures(self):
        return [recipient for recipient in self.recipients if recipient.permanent_failure]


def _one_line(value, limit=500):
    return " ".join(str(value or "").split())[:limit]


def _address(field):
    """``rfc822; dana@contoso.com`` -> ``dana@contoso.com``."""
    _, _, address = _one_line(field).rpartition(";")
    return address.strip().strip("<>").lower()


def _returned_message_id(report):
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            returned = payload[0] if isinstance(payload, list) and payload else None
        elif kind == "text/rfc822-headers":
            returned = email.parser.HeaderParser(policy=email.policy.default).parsestr(part.get_content())
        else:
            continue
        if returned is not None and returned.get("Message-ID"):
            return _one_line(returned["Message-ID"])
    return ""


def dsn_read(raw):
    """The DeliveryReport in ``raw`` (the message's bytes); raises NotADeliveryReport when it is none."""
    try:
        report = email.message_from_bytes(raw, policy=email.policy.default)
        if report.get_content_type() != "multipart/report" or report.get_param("report-type") != "delivery-status":
            raise NotADeliveryReport("not a multipart/report of type delivery-status")
        status = next(
            (part for part in report.get_payload() if part.get_content_type() == "message/delivery-status"), None
        )
        if status is None or not isinstance(status.get_payload(), list):
            raise NotADeliveryReport("no message/delivery-status part")
        recipients = []
        # The first block is about the message, each later one about a recipient.
        for block in status.get_payload()[1:]:
            action = _one_line(block.get("Action")).lower()
            state = _one_line(block.get("Status")).split(" ")[0]
            final = _address(block.get("Final-Recipient"))
            if not action or not _STATUS.match(state) or not final:
                raise NotADeliveryReport("a recipient block without Action, Status or Final-Recipient")
            recipients.append(
                RecipientReport(
                    action=action,
                    status=state,
                    final_recipient=final,
                    original_recipient=_address(block.get("Original-Recipient")),
                    diagnostic=_one_line(block.get("Diagnostic-Code")),
                )
            )
        if not recipients:
            raise NotADeliveryReport("no recipient block")
        values = [str(value) for name in RECIPIENT_HEADERS for value in report.get_all(name) or ()]
        delivered_to = tuple(address.lower() for _, address in getaddresses(values) if address)
        return DeliveryReport(
            recipients=tuple(recipients), message_id=_returned_message_id(report), delivered_to=delivered_to
        )
    except NotADeliveryReport:
        raise
    except Exception as exc:  # the email package's own errors on a malformed message
        raise NotADeliveryReport(f"unreadable: {exc!r}") from exc
