"""Compare the per-status claim counts (counters plus the deltas PostgreSQL triggers log) with a real count;
--fix rebuilds them."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from claims.selectors import claim_status_count_mismatches
from claims.services import claim_counts_lock


class Command(BaseCommand):
    help = (
        "Check claims_partnerclaimcount plus claims_partnerclaimcountdelta against a GROUP BY of claims_claim "
        "; --fix rebuilds them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="rebuild the counters when they differ")

    def handle(self, *args, fix=False, **options):
        with transaction.atomic():
            # SHARE mode lets readers in but makes writers wait, so the comparison (and the rebuild) sees one
            # state of the claims, with no trigger logging a delta half-way.
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE claims_claim IN SHARE MODE")
            mismatches = claim_status_count_mismatches()
            if not mismatches:
                self.stdout.write("The claim counters match the claims.")
                return
            for partner_id, status, counted, real in mismatches:
                self.stdout.write(f"partner {partner_id} {status}: counter {counted}, claims {real}")
            if not fix:
                raise CommandError(f"{len(mismatches)} claim counter(s) differ; run with --fix to rebuild them.")
            # Wait for a compaction in progress and keep the next ones out until this commits, so none folds a
            # delta into the rebuilt counters. DELETE rather than TRUNCATE: the list page's readers go on
            # reading the old counts meanwhile instead of queueing behind an exclusive lock.
            claim_counts_lock(wait=True)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM claims_partnerclaimcountdelta")
                cursor.execute("DELETE FROM claims_partnerclaimcount")
                cursor.execute(
                    "INSERT INTO claims_partnerclaimcount (partner_id, status, count) "
                    "SELECT partner_id, status, count(*) FROM claims_claim GROUP BY partner_id, status"
                )
            self.stdout.write(f"Rebuilt the claim counters ({len(mismatches)} differed).")
