"""Prove the claims' history is evidence (SPEC §14, ``claims.services.evidence``): every hash chain whole and
signed with a key of HISTORY_KEYS, every claim as its history says, and the newest checkpoint of the chains'
heads (``--all-checkpoints``: every one) signed and still what the database yields. Exit 1 naming the first
difference."""

from django.core.management.base import BaseCommand, CommandError

from claims.services.evidence import HistoryBroken, history_verify


class Command(BaseCommand):
    help = (
        "Check every ClaimEvent's chain and key, every claim against its history, and the newest checkpoint of the "
        "chains' heads; exit 1 naming the first difference."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all-checkpoints", action="store_true", help="check every checkpoint, not only the newest"
        )

    def handle(self, *args, all_checkpoints=False, **options):
        try:
            history_verify(all_checkpoints=all_checkpoints, out=self.stdout.write)
        except HistoryBroken as broken:
            raise CommandError(str(broken)) from None
