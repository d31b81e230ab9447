"""The Customer associations list's counters per partner and status (migration 0007)."""

from django.db import models

from associations.models import Partner
from claims.vocabulary import ClaimStatus


class PartnerClaimCount(models.Model):
    """How many claims a partner has in a status, for the list page's counts and page total.

    On PostgreSQL, statement-level triggers on claims_claim log every change as PartnerClaimCountDelta rows
    (migration 0007), whatever writes claims: the ORM, QuerySet.update() or raw SQL. Only
    ``claim_counts_compact`` writes this table, folding the deltas in (and ``claims_counts_verify --fix``
    rebuilding it); a count is this row plus the partner's deltas.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=ClaimStatus.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "status"], name="partnerclaimcount_unique"),
        ]

    def __str__(self):
        return f"{self.partner_id} {self.status}: {self.count}"


class PartnerClaimCountDelta(models.Model):
    """A change to a partner's claim count in a status, logged by the claims_claim triggers (migration 0007).

    Insert-only for writers: each statement that changes claims adds one row per (partner, status) it changed,
    so writers never update a shared row and never wait on each other for counting. The list page reads
    PartnerClaimCount plus these rows; ``claim_counts_compact`` (beat, every minute) folds them into
    PartnerClaimCount and deletes them.
    """

    # No foreign key constraint: checking one would take a KEY SHARE lock on the partner row in every
    # transaction that changes a claim's status (the wizard's upload count locks that row FOR UPDATE). The
    # trigger copies partner_id from claims_claim, whose own constraint already checked it.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    status = models.CharField(max_length=20, choices=ClaimStatus.choices)
    delta = models.BigIntegerField()

    def __str__(self):
        return f"{self.partner_id} {self.status}: {self.delta:+d}"
