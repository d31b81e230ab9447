"""The reviewer's desk (SPEC §8): the queue's numbers and what a claim's review page shows, each in a few queries.

**The queue** is the claims a reviewer decides next (``claims.windows.REVIEW_STATUSES``), by ``Claim.due_at``: the
end of the one review window (``Claim.review_window``: 5 business days after submission, the partner's answer or
a dispute), stored by ``claims.services.due`` with every status change. "Due today" and "overdue" are the
reviewer's: a claim is due today when its review window ends before the end of the reviewer's own day, in the
reviewer's time zone; overdue once it has ended.

**The numbers** are SQL aggregates over the claims and their history, never a loop over rows, all in one statement
(``review_numbers``): waiting (the per-partner counters), due today and overdue (the queue's index from now on),
decided this week (the reviewer's week, from Monday 00:00 in their zone) and the median days from the moment a
claim came to the reviewer (submitted, answered, disputed) to the reviewer's decision, over the latest
``MEDIAN_SAMPLE`` decisions of the last ``MEDIAN_DAYS`` days (both from the decisions' own index,
``claimevent_reviewer_decided``: a sample of fixed size, so that the queue costs the same with 6,000 decisions a
month as with 60,000).
"""

import dataclasses
import datetime

from django.db import connection

from associations.models import Association
from claims.models import Claim, ClaimEvent, ClaimStatus
from claims.selectors.competition import competing_associations, competing_claims
from claims.windows import REVIEW_STATUSES

# A reviewer's decision: what ends a review (a per-item rejection is part of one). The partial index
# claimevent_reviewer_decided (ClaimEvent.Meta) holds exactly these.
DECISIONS = (
    ClaimEvent.Action.APPROVED,
    ClaimEvent.Action.INFORMATION_REQUESTED,
    ClaimEvent.Action.REJECTED,
    ClaimEvent.Action.DISPUTE_REJECTED,
)
# The median looks at the decisions of this many days, the latest MEDIAN_SAMPLE of them at most (a median of 500 is
# within a few hours of the whole month's; finding where each review started costs an index lookup per decision).
MEDIAN_DAYS = 30
MEDIAN_SAMPLE = 500


def review_day_end(now, zone):
    """The end of the reviewer's day (the next midnight in ``zone``): what is due before it is due today."""
    today = now.astimezone(zone).date()
    return datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(), tzinfo=zone)


def review_week_start(now, zone):
    """Monday 00:00 of the reviewer's week, in ``zone``."""
    today = now.astimezone(zone).date()
    return datetime.datetime.combine(today - datetime.timedelta(days=today.weekday()), datetime.time(), tzinfo=zone)


def review_due_state(due_at, *, now, zone):
    """``overdue``, ``today`` or '' for a review due at ``due_at`` (None: '')."""
    if due_at is None:
        return ""
    if due_at < now:
        return "overdue"
    return "today" if due_at < review_day_end(now, zone) else ""


@dataclasses.dataclass(frozen=True)
class ReviewNumbers:
    waiting: int
    due_today: int
    overdue: int
    decided_this_week: int
    median_days: float | None
    # {status: count} of every partner's claims (``review_status_counts``), read in the same statement: the queue
    # pages with it.
    status_counts: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)


# {status: count} of every partner's claims: the per-partner counters and their deltas (as the partner list's
# ``claim_status_counts``, for every partner at once), one consistent snapshot; review_numbers reads the same.
STATUS_COUNTS_SQL = """
    SELECT status, sum(n)::bigint AS n FROM (
        SELECT status, count AS n FROM claims_partnerclaimcount
        UNION ALL
        SELECT status, delta FROM claims_partnerclaimcountdelta
    ) AS counted
    GROUP BY status
"""


def review_status_counts():
    """{status: count} of every partner's claims, from the counters: the reviewers' list knows how many claims it
    pages through without counting 200,000 rows."""
    with connection.cursor() as cursor:
        cursor.execute(STATUS_COUNTS_SQL)
        rows = cursor.fetchall()
    return {status: count for status, count in rows if count}


def review_numbers(*, now, zone):
    """The reviewer's numbers (SPEC §8) at ``now`` in the reviewer's ``zone``, and every status's count: one
    statement.

    The queue's size comes from the counters; overdue is the queue less the claims due from ``now`` on, which the
    queue's index (claim_review_due) reads from ``now`` on: a backlog of overdue claims costs nothing to count, only
    the claims that came in the last review window do. A decision's review started at the claim's latest event
    before it that brought it to the reviewer (a status of the review window entered from another status:
    submitted, answered, disputed); the decisions are read from their partial index alone (its predicate repeated
    here, so that the planner uses it), the median over the latest ``MEDIAN_SAMPLE`` of them."""
    review = [str(s) for s in REVIEW_STATUSES]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (
                SELECT coalesce(json_object_agg(status, n), '{{}}') FROM ({STATUS_COUNTS_SQL}) AS counts
            ), (
                SELECT count(*) FROM claims_claim WHERE status = ANY(%(review)s) AND due_at >= %(now)s
            ), (
                SELECT count(*) FROM claims_claim
                WHERE status = ANY(%(review)s) AND due_at >= %(now)s AND due_at < %(day_end)s
            ), (
                SELECT count(DISTINCT d.claim_id) FROM claims_claimevent d
                WHERE d.actor = %(reviewer)s AND d.action = ANY(%(decisions)s) AND d.created_at >= %(week)s
            ), (
                SELECT percentile_cont(0.5) WITHIN GROUP (
                           ORDER BY extract(epoch FROM d.created_at - s.created_at) / 86400.0
                       ) FILTER (WHERE s.created_at IS NOT NULL)
                FROM (
                    SELECT d.id, d.claim_id, d.created_at FROM claims_claimevent d
                    WHERE d.actor = %(reviewer)s AND d.action = ANY(%(decisions)s) AND d.created_at >= %(since)s
                    ORDER BY d.created_at DESC LIMIT %(sample)s
                ) d
                LEFT JOIN LATERAL (
                    SELECT e.created_at FROM claims_claimevent e
                    WHERE e.claim_id = d.claim_id AND e.created_at <= d.created_at AND e.id <> d.id
                      AND e.new_status = ANY(%(review)s) AND NOT (e.old_status = ANY(%(review)s))
                    ORDER BY e.created_at DESC LIMIT 1
                ) s ON true
            )
            """,  # noqa: S608 (STATUS_COUNTS_SQL is this module's constant; every value is a parameter)
            {
                "now": now,
                "day_end": review_day_end(now, zone),
                "week": review_week_start(now, zone),
                "since": now - datetime.timedelta(MEDIAN_DAYS),
                "sample": MEDIAN_SAMPLE,
                "review": review,
                "reviewer": ClaimEvent.Actor.REVIEWER,
                "decisions": [str(d) for d in DECISIONS],
            },
        )
        counts, not_yet_due, due_today, decided, median = cursor.fetchone()
    counts = {status: int(n) for status, n in counts.items() if n}
    waiting = sum(counts.get(status, 0) for status in review)
    return ReviewNumbers(
        waiting=waiting,
        due_today=due_today,
        # Overdue: what waits and is not due from now on (a claim in the queue always has a review due date).
        overdue=max(0, waiting - not_yet_due),
        decided_this_week=decided,
        median_days=None if median is None else round(median, 1),
        status_counts=counts,
    )


# --- A claim's review page ---------------------------------------------------------------------------------------

# Where a POE document came from: the history event that added it (its ``data["documents_added"]``).
POE_SOURCE_ACTIONS = {
    ClaimEvent.Action.RESPONDED: "answer",
    ClaimEvent.Action.DISPUTED: "dispute",
    ClaimEvent.Action.POE_ADDED: "protect",
}


def poe_sources(events):
    """{document id: "answer" | "dispute" | "protect"} from a claim's ``events``; a document none added came with
    the submission."""
    sources = {}
    for event in events:
        source = POE_SOURCE_ACTIONS.get(event.action)
        for document in (event.data or {}).get("documents_added", ()) if source else ():
            sources[document["id"]] = source
    return sources


@dataclasses.dataclass(frozen=True)
class Rival:
    """Another claim (or an official association) with one of this claim's items."""

    claim: Claim | None
    association: Association | None
    items: tuple

    @property
    def partner(self):
        return self.claim.partner if self.claim else self.association.partner


def claim_rivals(claim, items):
    """The other partners' claims competing for ``items`` and the imported associations that hold one
    (``claims.selectors.competition``, the arbitration's own reading), each with the items concerned, and {item id:
    "held" | "pending" | ""} (the item's availability: held by an official claim or an association, or pending in
    an open claim): two queries."""
    availability = {item.pk: "" for item in items}
    by_pk = {item.pk: item for item in items}
    rivals = []
    for competitor in competing_claims(claim, items=items):
        mine = tuple(by_pk[pk] for pk in sorted(competitor.ours))
        rivals.append(Rival(claim=competitor.claim, association=None, items=mine))
        state = "held" if competitor.claim.status == ClaimStatus.OFFICIAL else "pending"
        for item in mine:
            availability[item.pk] = "held" if "held" in (state, availability[item.pk]) else state
    for association, mine in competing_associations(claim, items=items):
        rivals.append(Rival(claim=None, association=association, items=(mine,)))
        availability[mine.pk] = "held"
    return rivals, availability
