"""The invariants of SPEC §11, asserted on the database after a fault: one helper shared by the fault tests.

``assert_invariants()`` first runs the sweeps a beat would run (finalization, expiry of information requests, the
purge of abandoned uploads), then checks:

- at most one active Association per item key;
- one ClaimEvent per transition: each claim's status events chain (every event's old status is the previous
  event's new status, every move is one §5 allows) and end at the claim's status;
- at most one email per (claim, kind[, association]) and an email only for a change that happened;
- no claim left past its deadline (opt-out window, information request);
- no PendingUpload older than a day, and (given the bucket's keys) no stored object that no row owns;
- every queued job can be rebuilt from PostgreSQL: a claim waiting for validation is ``submitted`` with its one
  submission event (what ``claims_requeue_unvalidated`` sends), an email waiting is an outbox row (what
  ``emails_requeue_pending`` sends).
"""

import datetime

from django.db import connection
from django.utils import timezone

from claims.models import TRANSITIONS, Claim, ClaimEvent, ClaimStatus, EmailNotification, PendingUpload, PoeDocument

# The status change each email tells of ("replaced" goes to another partner, about an association).
EMAIL_STATUS = {
    EmailNotification.Kind.CUSTOMER_NOTIFIED: ClaimStatus.CUSTOMER_NOTIFIED,
    EmailNotification.Kind.ACTION_REQUIRED: ClaimStatus.ACTION_REQUIRED,
    EmailNotification.Kind.REJECTED: ClaimStatus.REJECTED,
    EmailNotification.Kind.OFFICIAL: ClaimStatus.OFFICIAL,
    EmailNotification.Kind.OPTED_OUT: ClaimStatus.OPTED_OUT,
    EmailNotification.Kind.ENDED: ClaimStatus.ENDED,
}


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def invariants_sweep(*, now=None):
    """What beat would have run by ``now``: the deadline sweeps and the purge of abandoned uploads."""
    from claims.services import claims_expire_information_requests, claims_finalize_due, pending_uploads_purge

    now = now or timezone.now()
    claims_finalize_due(now=now)
    claims_expire_information_requests(now=now)
    pending_uploads_purge(older_than=now - datetime.timedelta(days=1))


def assert_invariants(*, now=None, storage_keys=None, sweep=True):
    """Assert SPEC §11's invariants (see the module's docstring); ``storage_keys``: every key in the bucket."""
    now = now or timezone.now()
    if sweep:
        invariants_sweep(now=now)

    doubled = _rows(
        """
        SELECT program, tenant_id, product_id, subscription_id, count(*) FROM (
            SELECT program,
                   CASE WHEN program = 'osu_m365' THEN tenant_id END AS tenant_id,
                   CASE WHEN program = 'osu_m365' THEN product_id END AS product_id,
                   CASE WHEN program <> 'osu_m365' THEN subscription_id END AS subscription_id
            FROM associations_association WHERE status = 'active'
        ) AS keys
        GROUP BY program, tenant_id, product_id, subscription_id
        HAVING count(*) > 1
        """
    )
    assert doubled == [], f"more than one active association for an item key: {doubled}"

    # Status events in order, per claim: each one's old status must be the previous one's new status (the first
    # one's: none, or the draft it was, which has no history of its own).
    broken = _rows(
        """
        SELECT claim_id, id, action, old_status, new_status, previous FROM (
            SELECT claim_id, id, action, old_status, new_status,
                   lag(new_status) OVER (PARTITION BY claim_id ORDER BY created_at, id) AS previous
            FROM claims_claimevent WHERE new_status <> ''
        ) AS e
        WHERE old_status <> COALESCE(previous, '') AND NOT (previous IS NULL AND old_status = 'draft')
        ORDER BY claim_id, id
        """
    )
    assert broken == [], f"history out of chain (a transition recorded twice or not at all): {broken}"
    moves = ClaimEvent.objects.exclude(new_status="").exclude(old_status="").values_list("old_status", "new_status")
    not_allowed = sorted({(old, new) for old, new in moves if new not in TRANSITIONS.get(old, ())})
    assert not_allowed == [], f"moves §5 does not allow: {not_allowed}"
    mismatched = _rows(
        """
        SELECT c.id, c.status, last.new_status FROM claims_claim AS c
        LEFT JOIN LATERAL (
            SELECT new_status FROM claims_claimevent AS e
            WHERE e.claim_id = c.id AND e.new_status <> '' ORDER BY e.created_at DESC, e.id DESC LIMIT 1
        ) AS last ON true
        WHERE last.new_status IS DISTINCT FROM c.status AND NOT (last.new_status IS NULL AND c.status = 'draft')
        """
    )
    assert mismatched == [], f"claims whose status is not their last event's: {mismatched}"
    submissions = _rows(
        """
        SELECT claim_id, count(*) FROM claims_claimevent WHERE action = 'submitted'
        GROUP BY claim_id HAVING count(*) > 1
        """
    )
    assert submissions == [], f"claims submitted more than once: {submissions}"

    emails = _rows(
        """
        SELECT claim_id, kind, association_id, count(*) FILTER (WHERE state = 'sent'), count(*)
        FROM claims_emailnotification WHERE claim_id IS NOT NULL  -- a password reset has none, and no limit of one
        GROUP BY claim_id, kind, association_id HAVING count(*) > 1
        """
    )
    assert emails == [], f"more than one email per claim and kind: {emails}"
    for kind, status in EMAIL_STATUS.items():
        unexplained = list(
            EmailNotification.objects.filter(kind=kind)
            .exclude(claim__events__new_status=status)
            .values_list("claim_id", flat=True)
        )
        assert unexplained == [], f"{kind} emails for claims that never became {status}: {unexplained}"

    overdue = list(
        Claim.objects.filter(status=ClaimStatus.CUSTOMER_NOTIFIED, opt_out_deadline__lt=now).values_list(
            "pk", flat=True
        )
    ) + list(
        Claim.objects.filter(status=ClaimStatus.ACTION_REQUIRED, response_deadline__lt=now).values_list("pk", flat=True)
    )
    assert overdue == [], f"claims left past their deadline: {overdue}"

    drafts = {
        str(key) for key in Claim.objects.filter(status=ClaimStatus.DRAFT).values_list("submission_key", flat=True)
    }
    stale = (  # a live draft's uploads are kept as long as the draft (SPEC §12)
        PendingUpload.objects.filter(created_at__lt=now - datetime.timedelta(days=1))
        .exclude(wizard_key__in=drafts)
        .count()
    )
    assert stale == 0, f"{stale} abandoned uploads older than a day"
    if storage_keys is not None:
        owned = set(PoeDocument.objects.values_list("file", flat=True)) | set(
            PendingUpload.objects.values_list("file", flat=True)
        )
        orphans = sorted(set(storage_keys) - owned)
        assert orphans == [], f"stored objects no row owns: {orphans}"
        missing = sorted(set(PoeDocument.objects.values_list("file", flat=True)) - set(storage_keys))
        assert missing == [], f"POE documents whose object is gone: {missing}"

    # Rebuildable: a claim waiting for validation is submitted with its submission event and nothing after it.
    waiting = _rows(
        """
        SELECT c.id, count(e.id) FROM claims_claim AS c
        LEFT JOIN claims_claimevent AS e ON e.claim_id = c.id AND e.new_status <> ''
        WHERE c.status = 'submitted' GROUP BY c.id HAVING count(e.id) <> 1
        """
    )
    assert waiting == [], f"submitted claims whose history is not one submission: {waiting}"
