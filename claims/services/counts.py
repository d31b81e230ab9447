"""The per-status claim counters of the list page: compaction of the delta log the claims_claim triggers write
(migration 0007), and the lock its writers share."""

from django.db import connection, transaction


def claim_counts_lock(*, wait):
    """Take the transaction-level lock held by whatever writes PartnerClaimCount and deletes deltas: the
    compaction, or ``claims_counts_verify --fix``. With ``wait=False``, False when someone else holds it.
    Call it inside ``transaction.atomic()``."""
    # Keyed on the log table's oid, in the two-key space of advisory locks, apart from finalization's item key locks.
    key = "'claims_partnerclaimcountdelta'::regclass::oid::int, 0"
    with connection.cursor() as cursor:
        if wait:
            cursor.execute(f"SELECT pg_advisory_xact_lock({key})")
            return True
        cursor.execute(f"SELECT pg_try_advisory_xact_lock({key})")
        return cursor.fetchone()[0]


def claim_counts_compact():
    """Fold the claim count deltas the claims_claim triggers logged (migration 0007) into PartnerClaimCount.

    Returns how many delta rows it folded, or None when another compaction is running (it has the rows).

    Exact while claims are written: the DELETE takes exactly the delta rows committed before it started (its
    snapshot); a row committed later, or by a transaction still open, stays for the next run, and a rolled-back
    writer's rows never become visible. Only this function deletes deltas and writes the counters (apart from
    ``claims_counts_verify --fix``), and ``claim_counts_lock`` lets one of them run at a time, so no row is folded
    twice. The DELETE and the upsert commit together: a reader, who sums counters and deltas in one
    query, sees every moved delta either still in the log or already in the counters, never both or neither.
    Writers never wait on this: they only INSERT deltas, which the DELETE does not lock.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if not claim_counts_lock(wait=False):
            return None
        cursor.execute(
            """
            WITH moved AS (
                DELETE FROM claims_partnerclaimcountdelta RETURNING partner_id, status, delta
            ), folded AS (
                INSERT INTO claims_partnerclaimcount (partner_id, status, count)
                SELECT partner_id, status, sum(delta) FROM moved GROUP BY partner_id, status
                ON CONFLICT (partner_id, status) DO UPDATE SET count = claims_partnerclaimcount.count + EXCLUDED.count
            )
            SELECT count(*) FROM moved
            """
        )
        return cursor.fetchone()[0]
