"""Read one bounce report from standard input and act on it (``claims.services.email_bounce_receive``): for a mail
server's pipe transport, e.g. Postfix (README "Bounces")::

    bounces   unix  -  n  n  -  -  pipe  flags=Rq user=cpor
      argv=/srv/cpor/.venv/bin/python /srv/cpor/manage.py claims_bounce_receive --recipient ${original_recipient}

Exit status (sysexits, which Postfix reads): 0 when the report was acted on, recorded or had nothing to act on;
65 (EX_DATAERR) for a message we do not act on (not a delivery status report, or an unsigned, forged or unknown
bounce address): the mail server returns it to its sender, which for a real bounce is nobody (a report's envelope
sender is empty); 75 (EX_TEMPFAIL) when the database is unavailable: the mail server tries again later.
"""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from claims.services import BounceRefused, email_bounce_receive

EX_DATAERR = 65
EX_TEMPFAIL = 75
# Larger than any report about a notice (a few tens of KB with the returned message); anything bigger is not one.
MAX_BYTES = 2_621_440


class Command(BaseCommand):
    help = "Read one bounce report (an RFC 3464 delivery status notification) from standard input and act on it."
    # Tests pass the message as a binary stream instead of standard input.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument(
            "--recipient",
            default="",
            help="the envelope recipient the report was delivered to (Postfix: ${original_recipient})",
        )

    def handle(self, *args, recipient="", **options):
        stream = options.get("stdin") or sys.stdin.buffer
        raw = stream.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise CommandError(f"refused: larger than {MAX_BYTES} bytes, not a bounce report", returncode=EX_DATAERR)
        try:
            result = email_bounce_receive(raw=raw, recipient=recipient)
        except BounceRefused as refused:
            raise CommandError(f"refused: {refused}", returncode=EX_DATAERR) from refused
        except DatabaseError as exc:
            raise CommandError(f"try again later: {exc}", returncode=EX_TEMPFAIL) from exc
        self.stdout.write(result.value)
