"""``Claim.due_at``: what each claim waits for, by when (``claims.due``), stored for the list's Due sort.

The review's five business days are counted in the tenant's calendar (the ``holidays`` package), which PostgreSQL
does not have, so the application writes the column: ``claims_transition`` with every status change, in the
statements it makes anyway (``DUE_COLUMN`` and ``NOTHING_DUE`` in its UPDATE, the others with its history rows),
the notice's delivery (the opt-out deadline), and the drafts' writes (``draft_due_at``); ``claims_due_refresh``
for rows written otherwise (the demo). A rejection's dispute window is due until it ends; ``claims_due_lapse``
(beat, hourly) then clears it, as the pages stop showing it.
"""

import datetime

from django.db import connection
from django.utils import timezone

from associations.zones import country_time_zone
from claims.due import due_at_stored
from claims.models import Claim, ClaimStatus

# Statuses in which nothing is ever due: a move to one of them clears due_at in the move's own UPDATE.
NOTHING_DUE = frozenset(ClaimStatus.final()) | {ClaimStatus.OFFICIAL}
# Statuses whose due is one of the claim's own deadlines (set in the move's own UPDATE); the others' (the review's
# business days, the dispute window) are counted in the tenant's calendar here, in the move's other statements.
DUE_COLUMN = {ClaimStatus.ACTION_REQUIRED: "response_deadline", ClaimStatus.CUSTOMER_NOTIFIED: "opt_out_deadline"}
# What the due of a claim is computed from (with its tenant's country), as a SELECT reads them.
DUE_INPUTS = ("status", "status_changed_at", "disputed_at", "response_deadline", "opt_out_deadline", "draft_saved_at")


def due_of_row(row, country):
    """The due moment of a claim from ``row`` ({DUE_INPUTS: values}) and its tenant's country (None: no tenant)."""
    return due_at_stored(
        **{name: row[name] for name in DUE_INPUTS},
        country=country,
        time_zone=country_time_zone(country) if country else datetime.UTC,
    )


def claims_due_refresh(*, claim_ids):
    """Store the due moment of each of ``claim_ids``, from its status, dates and tenant: one SELECT, one UPDATE."""
    rows = Claim.objects.filter(pk__in=list(claim_ids)).values("pk", *DUE_INPUTS, "tenant__country")
    ids, dues = [], []
    for row in rows:
        ids.append(row["pk"])
        dues.append(due_of_row(row, row["tenant__country"]))
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE claims_claim c SET due_at = v.due
            FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, due)
            WHERE c.id = v.id AND c.due_at IS DISTINCT FROM v.due
            """,
            [ids, dues],
        )


def claims_due_lapse(*, now=None):
    """Clear the due moment of rejections whose dispute window has passed (nothing is due any more). Returns how
    many. One UPDATE through the partial index on rejected claims' due_at."""
    now = now or timezone.now()
    return Claim.objects.filter(status=ClaimStatus.REJECTED, due_at__lt=now).update(due_at=None)
