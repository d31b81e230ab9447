"""Write a signed checkpoint of every claim's chain head to the file storage now (beat does it every hour;
``claims.services.evidence``)."""

from django.core.management.base import BaseCommand

from claims.services.evidence import history_checkpoint_write


class Command(BaseCommand):
    help = "Write a signed checkpoint of every claim's history chain head to the file storage (history-checkpoints/)."

    def handle(self, *args, **options):
        self.stdout.write(f"Wrote {history_checkpoint_write()}")
