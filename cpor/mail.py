"""Email backends: one ``.eml`` file per message for the embedded default, and SMTP that keeps each recipient's
answer."""

import os
import smtplib
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
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
    took the message for the others.

    smtplib's ``sendmail`` raises ``SMTPRecipientsRefused`` only when every recipient is refused; otherwise it
    returns the refused ones, and Django drops that answer. This backend sets it on each message it sent, as
    ``refused_recipients`` ({address: (code, reply bytes)}, empty when all were accepted), so that the outbox can
    tell whether the customer contact's copy of a notice was accepted (``claims.services.notifications``).
    """

    @property
    def connection_class(self):
        return _RecordingSMTP_SSL if self.use_ssl else _RecordingSMTP

    def _send(self, email_message):
        email_message.refused_recipients = {}
        sent = super()._send(email_message)
        if sent and self.connection is not None:
            email_message.refused_recipients = dict(self.connection.refused or {})
        return sent
