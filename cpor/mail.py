"""An email backend for the embedded default: one ``.eml`` file per message, ready to open in a mail program."""

import os
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend
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
