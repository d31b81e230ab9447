"""The one write of every status change (SPEC §5), for one claim or a batch, and the history row.

``claims_transition`` checks the move against TRANSITIONS, moves the rows with a compare-and-set on the old
status, writes one ClaimEvent per claim and the outbox rows; the emails are enqueued after commit.
``claim_transition`` is that function with one id, for a claim read under its row lock.
"""

import dataclasses

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from claims.history import GENESIS, data_text, event_hash, signing_key
from claims.models import TRANSITIONS, Claim, ClaimEvent, ClaimStatus
from claims.services.due import DUE_COLUMN, DUE_INPUTS, NOTHING_DUE, due_of_row
from claims.services.notifications import outbox_add_for_transition

# Callables told of every history row as it is written, in its transaction: ``hook(events)`` with ``events`` a
# ``RecordedEvents``. Filled by the layer above (the partner API's webhooks, ``api.services.webhooks``), which
# claims does not import (.importlinter): what happens to a claim reaches its webhooks from the one place its
# history and its emails come from. Rows of one batch share everything but their claim and id, so a hook can write
# its rows for the whole batch in one statement.
EVENT_HOOKS = []


@dataclasses.dataclass(frozen=True)
class RecordedEvents:
    """History rows just written: {claim_id: event id}, and what they share (actor, action, old and new status)."""

    event_ids: dict
    actor: str
    action: str
    old_status: str
    new_status: str


def _events_recorded(event_ids, *, actor, action, old_status, new_status):
    if EVENT_HOOKS and event_ids:
        recorded = RecordedEvents(
            event_ids=dict(event_ids),
            actor=str(actor),
            action=str(action),
            old_status=str(old_status or ""),
            new_status=str(new_status or ""),
        )
        for hook in EVENT_HOOKS:
            hook(recorded)


class ClaimStatusConflict(Exception):
    """The claim is no longer in a status that allows this move: someone else already moved it."""

    def __init__(self, *, claim_id, current, to):
        super().__init__(f"Claim {claim_id} is {current}; it cannot become {to}.")
        self.claim_id = claim_id
        self.current = current
        self.to = to


class PartnerActionRefused(Exception):
    """The claim does not allow what the partner asked (any more): ``message`` says why, in plain words (the rule
    book's ``why_not``, asked again under the claim's row lock)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def claim_event_record(
    *,
    claim,
    actor,
    action,
    user=None,
    old_status="",
    new_status="",
    reason="",
    message="",
    field="",
    old_value="",
    new_value="",
    data=None,
    created_at=None,
):
    """Write one history row that records no status move of its own (a partner's change, POE added, demo data).
    Callers hold the transaction that made the change it records; status moves write theirs in
    ``claims_transition``. ``field``/``old_value``/``new_value`` describe a change (SPEC §12), ``data`` what it
    changed in the claim's content (``claims.history``). The event is signed under the claim's row lock
    (``ClaimEvent.save``)."""
    event = ClaimEvent.objects.create(
        claim=claim,
        created_at=created_at or timezone.now(),
        actor=actor,
        user=user if user is not None and user.is_authenticated else None,
        action=action,
        old_status=old_status,
        new_status=new_status,
        reason=reason,
        message=message,
        field=field,
        old_value=old_value,
        new_value=new_value,
        data=data or {},
    )
    _events_recorded(
        {event.claim_id: event.pk}, actor=actor, action=action, old_status=old_status, new_status=new_status
    )
    return event


def claims_event_record(*, claim_ids, actor, action, messages, now=None):
    """``claim_event_record`` for many claims at once: one history row each that records no status move (a
    batch's notices delivered), ``messages`` ({claim_id: message}) their messages, signed and written in two
    statements for the lot. Callers hold the claims' rows locked in their transaction. Returns {claim_id: event
    id}."""
    if not claim_ids:
        return {}
    return _events_insert(
        claim_ids=list(claim_ids),
        old_status="",
        new_status="",
        actor=actor,
        user=None,
        action=action,
        reason="",
        message="",
        messages=messages,
        data=None,
        now=now or timezone.now(),
    )


# The claims' last hashes, and with ``due`` what each claim's due is computed from (claims.services.due).
_HEADS = (
    "SELECT DISTINCT ON (claim_id) claim_id, hash FROM claims_claimevent WHERE claim_id = ANY(%s) "
    "ORDER BY claim_id, id DESC"
)
_HEADS_AND_DUE = f"""
    SELECT c.id, h.hash, t.country, {", ".join(f"c.{name}" for name in DUE_INPUTS)}
    FROM claims_claim c LEFT JOIN associations_tenant t ON t.id = c.tenant_id
    LEFT JOIN LATERAL (SELECT e.hash FROM claims_claimevent e WHERE e.claim_id = c.id ORDER BY e.id DESC LIMIT 1)
         AS h ON true
    WHERE c.id = ANY(%s)
"""  # noqa: S608 (column names of this module)
# With ``due``: each claim's due moment, written by the INSERT's statement itself.
_DUE_UPDATE = """
    WITH due AS (
        UPDATE claims_claim c SET due_at = d.due
        FROM unnest(%(claims)s::bigint[], %(dues)s::timestamptz[]) AS d(id, due) WHERE c.id = d.id
    )
"""


def _events_insert(
    *, claim_ids, old_status, new_status, actor, user, action, reason, message, messages, data, now, due=False
):
    """One ClaimEvent per claim in one INSERT from arrays (bulk_create's per-object work cost more than the
    insert at batch sizes), each signed here after one SELECT of the claims' last hashes: the caller's UPDATE
    holds the claims' rows locked, so no other writer appends meanwhile. ``messages`` ({claim_id: message}) gives
    claims a message of their own. ``due``: the same SELECT also reads what each claim's due is counted from (its
    tenant's calendar), and the INSERT's statement writes it (claims.services.due): no statement more. Returns
    {claim_id: event id}: the emails of the move belong to these events."""
    dues = {}
    with connection.cursor() as cursor:
        cursor.execute(_HEADS_AND_DUE if due else _HEADS, [list(claim_ids)])
        if due:
            heads = {}
            for claim_id, head, country, *inputs in cursor.fetchall():
                if head is not None:
                    heads[claim_id] = head
                dues[claim_id] = due_of_row(dict(zip(DUE_INPUTS, inputs, strict=True)), country)
        else:
            heads = dict(cursor.fetchall())
    values = {
        "created_at": now,
        "actor": str(actor),
        "user_id": user.pk if user is not None and user.is_authenticated else None,
        "action": str(action),
        "old_status": str(old_status),
        "new_status": str(new_status),
        "reason": str(reason),
        "field": "",
        "old_value": "",
        "new_value": "",
        "data": data or {},
    }
    key_id, key = signing_key()
    rows = {"claims": [], "messages": [], "prev": [], "hashes": []}
    for claim_id in claim_ids:
        own = messages.get(claim_id)
        event_message = str(message if own is None else own)
        prev_hash = heads.get(claim_id, GENESIS)
        rows["claims"].append(claim_id)
        rows["messages"].append(event_message)
        rows["prev"].append(prev_hash)
        rows["hashes"].append(
            event_hash(prev_hash, {**values, "claim_id": claim_id, "message": event_message}, key=key)
        )
    with connection.cursor() as cursor:
        cursor.execute(
            (_DUE_UPDATE if due else "")  # noqa: S608 (constants of this module)
            + """
            INSERT INTO claims_claimevent (claim_id, created_at, actor, user_id, action, old_status, new_status,
                                           reason, message, data, prev_hash, hash, key_id)
            SELECT v.claim_id, %(now)s, %(actor)s, %(user)s, %(action)s, %(old)s, %(new)s, %(reason)s, v.message,
                   %(data)s::jsonb, v.prev_hash, v.hash, %(key_id)s
            FROM unnest(%(claims)s::bigint[], %(messages)s::text[], %(prev)s::text[], %(hashes)s::text[])
                 AS v(claim_id, message, prev_hash, hash)
            RETURNING claim_id, id
            """,
            {
                **rows,
                "now": now,
                "actor": values["actor"],
                "user": values["user_id"],
                "action": values["action"],
                "old": values["old_status"],
                "new": values["new_status"],
                "reason": values["reason"],
                "data": data_text(values["data"]) or "{}",
                "key_id": key_id,
                "dues": [dues.get(claim_id) for claim_id in rows["claims"]],
            },
        )
        event_ids = dict(cursor.fetchall())
    _events_recorded(event_ids, actor=actor, action=action, old_status=old_status, new_status=new_status)
    return event_ids


def claims_transition(
    *,
    claim_ids,
    old_status,
    to,
    actor,
    action,
    user=None,
    reason="",
    message="",
    messages=None,
    changes=None,
    data=None,
    now=None,
):
    """Move claims from ``old_status`` to ``to``: the one write of every status change, for one claim or many.

    1. Check the move against TRANSITIONS (a ValueError: a move the lifecycle does not have is a bug).
    2. One UPDATE, a compare-and-set on the old status, that also sets ``status_changed_at`` and ``changes``.
       If fewer rows moved than asked, someone else moved one meanwhile: ClaimStatusConflict, and the caller's
       transaction rolls the whole batch back rather than write half of it. (Batch jobs hold their rows locked,
       so for them this never happens.) It also writes what each claim now waits for, when that is one of its
       own deadlines or nothing (``claims.services.due``).
    3. One ClaimEvent per claim, signed (``messages`` gives claims a message of their own; ``data``, what the move
       changed in a claim's content, e.g. the SUBMITTED snapshot, is every event's), and the outbox rows of the new
       status, each belonging to its claim's event (SPEC §5: one email per event); their emails are enqueued after
       commit. A due counted in the tenant's calendar (the review's, the dispute's) is written with the events.

    Returns the ids it moved.
    """
    claim_ids = list(claim_ids)
    if not claim_ids:
        return []
    old_status, to = ClaimStatus(old_status), ClaimStatus(to)
    if to not in TRANSITIONS[old_status]:
        raise ValueError(f"{old_status} -> {to} is not a transition")
    now = now or timezone.now()
    # No savepoint inside a caller's transaction: a batch's statements stay what they were.
    with transaction.atomic(savepoint=False):
        changes = changes or {}
        # What the claim waits for now (claims.services.due): nothing in a final status (nor official), or one of
        # its own deadlines (its new value when this move sets it), in this UPDATE; else counted with its history.
        if to in NOTHING_DUE:
            due = {"due_at": None}
        elif to in DUE_COLUMN:
            column = DUE_COLUMN[to]
            due = {"due_at": changes[column] if column in changes else F(column)}
        else:
            due = {}
        moved = Claim.objects.filter(pk__in=claim_ids, status=old_status).update(
            status=to, status_changed_at=now, **due, **changes
        )
        if moved != len(claim_ids):
            raise ClaimStatusConflict(
                claim_id=claim_ids[0] if len(claim_ids) == 1 else None, current="(changed meanwhile)", to=to
            )
        event_ids = _events_insert(
            claim_ids=claim_ids,
            old_status=old_status,
            new_status=to,
            actor=ClaimEvent.Actor.SYSTEM if actor is None else actor,
            user=user,
            action=action,
            reason=reason,
            message=message,
            messages=messages or {},
            data=data,
            now=now,
            due=not due,
        )
        outbox_add_for_transition(event_ids=event_ids, status=to)
    return claim_ids


def claim_transition(
    *, claim, to, actor, user=None, action, reason="", message="", changes=None, data=None, from_statuses=None
):
    """Move one claim to ``to`` (``claims_transition`` with one id), whatever status it is in now.

    The claim's row is locked first: callers racing on it queue here, and the loser sees the winner's status.
    ``from_statuses`` narrows the statuses the caller allows the move from. Raises ClaimStatusConflict when the
    claim is no longer in a status that allows the move. Sets the new values on ``claim`` too.
    """
    to = ClaimStatus(to)
    with transaction.atomic():
        current = ClaimStatus(Claim.objects.select_for_update().values_list("status", flat=True).get(pk=claim.pk))
        if to not in TRANSITIONS[current] or (from_statuses is not None and current not in from_statuses):
            raise ClaimStatusConflict(claim_id=claim.pk, current=current, to=to)
        now = timezone.now()
        claims_transition(
            claim_ids=[claim.pk],
            old_status=current,
            to=to,
            actor=actor,
            user=user,
            action=action,
            reason=reason,
            message=message,
            changes=changes,
            data=data,
            now=now,
        )
    for name, value in {"status": to, "status_changed_at": now, **(changes or {})}.items():
        setattr(claim, name, value)
    return claim
