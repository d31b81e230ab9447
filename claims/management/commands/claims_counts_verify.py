"""Compare the per-status claim counters (kept by PostgreSQL triggers) with a real count; --fix rebuilds them."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from claims.selectors import claim_status_count_mismatches


class Command(BaseCommand):
    help = "Check claims_partnerclaimcount against a GROUP BY of claims_claim (PostgreSQL); --fix rebuilds it."

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="rebuild the counters when they differ")

    def handle(self, *args, fix=False, **options):
        if connection.vendor != "postgresql":
            self.stdout.write("No counters on this database: the list page counts the claims themselves.")
            return
        with transaction.atomic():
            # SHARE mode lets readers in but makes writers wait, so the comparison (and the rebuild) sees one
            # state of the claims, with no trigger adding to the counters half-way.
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
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM claims_partnerclaimcount")
                cursor.execute(
                    "INSERT INTO claims_partnerclaimcount (partner_id, status, count) "
                    "SELECT partner_id, status, count(*) FROM claims_claim GROUP BY partner_id, status"
                )
            self.stdout.write(f"Rebuilt the claim counters ({len(mismatches)} differed).")
