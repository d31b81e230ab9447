"""History is evidence (SPEC §14): checkpoints of the chains' heads kept outside PostgreSQL, and the proof that the
database still holds what its history says (``manage.py claims_history_verify``).

**Checkpoints.** ``history_checkpoint_write`` (beat, hourly) writes ``history-checkpoints/YYYY/MM/DD/<time>Z.json``
to the default file storage (the POE bucket in production, ``var/media`` under ``make run``): for each bucket of
``CHECKPOINT_BUCKET`` claim ids, how many claims and events it has and the sha256 of its ``<claim id> <events>
<head hash>`` lines (a claim's head: its last event by id among those counted), signed with the history key
(``claims.history.checkpoint_sign``). It counts only events whose transaction had finished when it was taken, and
records that bound: the snapshot's xmax and the transactions it saw running (``pg_current_snapshot()``, read in
the same snapshot as the heads); an event counts when its ``xact_id`` is below xmax and not one of those. Those
transactions' outcome can no longer change, so no event can join or leave that set later: a verify recomputes
exactly the same set, and any difference is a change to history written before the checkpoint (events removed
from a chain's end, a chain rewritten). (Not ``xact_id < xmin``: one long transaction anywhere in the cluster,
another database's included, would hold it back.) A bucket is about 100 bytes: 200 buckets at 2,000,000 claims.

**Verification** (``history_verify``), in one REPEATABLE READ snapshot, bucket by bucket of claim ids:
1. every chain: each event's ``prev_hash`` is its predecessor's hash and its ``hash`` the HMAC of its content with
   the key its ``key_id`` names;
2. every claim against its history (``claims.history.history_state``): its status, and when the history has a
   snapshot, its partner's columns, items and POE documents;
3. the newest checkpoint (or all of them): its signature, and the same heads from the database. No checkpoint at
   all is reported, not failed: a fresh install has none until beat writes the first.
The first difference raises ``HistoryBroken`` naming it.
"""

import datetime
import json
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from claims.history import (
    CHECKPOINT_BUCKET,
    CHECKPOINT_VERSION,
    DOCUMENT_COLUMNS,
    FIELDS,
    GENESIS,
    ITEM_COLUMNS,
    SNAPSHOT_COLUMNS,
    UnknownKey,
    checkpoint_open,
    checkpoint_sign,
    claim_content,
    event_hash,
    history_keys,
    history_state,
    state_difference,
)
from claims.models import Claim, ClaimEvent, ClaimItem, PoeDocument

CHECKPOINT_DIR = "history-checkpoints"
# A newest checkpoint older than this is reported (beat writes one an hour).
CHECKPOINT_STALE = datetime.timedelta(days=2)


class HistoryBroken(Exception):
    """The database does not hold what its history (or a checkpoint) says: the message names the first difference."""


@contextmanager
def _one_snapshot():
    """A REPEATABLE READ, read-only transaction when this starts one: every statement inside sees one snapshot.
    Inside a caller's transaction (a test's), that transaction's rules apply."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _checkpoint_heads(bound, bucket):
    """{bucket number: [claims, events, digest]} of the events whose transaction had finished when the snapshot
    ``bound`` ({"xmax", "running"}) was taken: below its xmax and not among its running transactions."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT claim_id / %(bucket)s AS bucket, count(*), sum(events)::bigint,
                   encode(sha256(convert_to(
                       string_agg(claim_id || ' ' || events || ' ' || head || E'\\n', '' ORDER BY claim_id), 'UTF8'
                   )), 'hex')
            FROM (
                SELECT claim_id, count(*) AS events, (array_agg(hash ORDER BY id DESC))[1] AS head
                FROM claims_claimevent
                WHERE COALESCE(xact_id, 0) < %(xmax)s AND COALESCE(xact_id, 0) <> ALL(%(running)s::bigint[])
                GROUP BY claim_id
            ) AS heads
            GROUP BY 1 ORDER BY 1
            """,
            {"xmax": bound["xmax"], "running": bound["running"], "bucket": bucket},
        )
        return {number: [claims, events, digest] for number, claims, events, digest in cursor.fetchall()}


def history_checkpoint_write(*, now=None):
    """Write a signed checkpoint of every claim's chain head to the default storage; returns its name."""
    now = now or timezone.now()
    with _one_snapshot():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_snapshot_xmax(s)::text::bigint, "
                "ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x ORDER BY 1) "
                "FROM pg_current_snapshot() AS s"
            )
            xmax, running = cursor.fetchone()
        bound = {"xmax": xmax, "running": running}
        buckets = _checkpoint_heads(bound, CHECKPOINT_BUCKET)
    body = {
        "version": CHECKPOINT_VERSION,
        "taken_at": now.astimezone(datetime.UTC).isoformat(),
        "bound": bound,
        "bucket_size": CHECKPOINT_BUCKET,
        "claims": sum(claims for claims, _, _ in buckets.values()),
        "events": sum(events for _, events, _ in buckets.values()),
        "buckets": [[number, *buckets[number]] for number in sorted(buckets)],
    }
    name = f"{CHECKPOINT_DIR}/{now.astimezone(datetime.UTC):%Y/%m/%d/%H%M%S.%f}Z.json"
    return default_storage.save(name, ContentFile(checkpoint_sign(body)))


def _checkpoint_names(path=CHECKPOINT_DIR, depth=3):
    """The checkpoints' names, newest first (the path's parts sort as their time), lazily."""
    try:
        directories, files = default_storage.listdir(path)
    except FileNotFoundError:
        return
    if depth == 0:
        yield from sorted((f"{path}/{name}" for name in files if name.endswith(".json")), reverse=True)
        return
    for directory in sorted(directories, reverse=True):
        yield from _checkpoint_names(f"{path}/{directory}", depth - 1)


def _shown(value):
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _checkpoint_verify(name, out):
    with default_storage.open(name, "rb") as handle:
        content = handle.read()
    try:
        body = checkpoint_open(content)
    except UnknownKey as exc:
        raise HistoryBroken(
            f"Checkpoint {name}: signed by key {exc.args[0]!r}, which HISTORY_KEYS does not list."
        ) from None
    except ValueError as exc:
        raise HistoryBroken(f"Checkpoint {name}: {exc}.") from None
    size = body["bucket_size"]
    written = {number: [claims, events, digest] for number, claims, events, digest in body["buckets"]}
    now = _checkpoint_heads(body["bound"], size)
    for number in sorted(written.keys() | now.keys()):
        if written.get(number) != now.get(number):
            was, has = written.get(number, [0, 0, "-"]), now.get(number, [0, 0, "-"])
            raise HistoryBroken(
                f"Checkpoint {name} (taken {body['taken_at']}): claims {number * size} to {(number + 1) * size - 1} "
                f"had {was[0]} claims with {was[1]} events (heads digest {was[2]}); the database now yields "
                f"{has[0]} claims with {has[1]} events (heads digest {has[2]}): history written before the "
                "checkpoint was removed or rewritten."
            )
    out(
        f"OK: checkpoint {name} (taken {body['taken_at']}, {body['claims']} claims, {body['events']} events): "
        "the database still yields the same chain heads."
    )
    return body


def _bucket_rows(start, end):
    """(claim id, claim, events, items, documents) of each claim id in [start, end) that any of them names, by id;
    claim is None when its row is gone (deleted behind the triggers' back) but other rows name it."""
    claim_range = {"claim_id__gte": start, "claim_id__lt": end}
    events = ClaimEvent.objects.filter(**claim_range).order_by("claim_id", "id")
    events = events.values("id", "prev_hash", "hash", "key_id", *FIELDS)
    claims = {
        claim["id"]: claim
        for claim in Claim.objects.filter(pk__gte=start, pk__lt=end).values("id", "status", *SNAPSHOT_COLUMNS)
    }
    items, documents = {}, {}
    for row in ClaimItem.objects.filter(**claim_range).values("claim_id", "outcome", *ITEM_COLUMNS):
        items.setdefault(row.pop("claim_id"), []).append(row)
    for row in PoeDocument.objects.filter(**claim_range).values("claim_id", *DOCUMENT_COLUMNS):
        documents.setdefault(row.pop("claim_id"), []).append(row)
    by_claim = {}
    for event in events:
        by_claim.setdefault(event["claim_id"], []).append(event)
    named = sorted(claims.keys() | by_claim.keys() | items.keys() | documents.keys())
    return [(i, claims.get(i), by_claim.get(i, []), items.get(i, []), documents.get(i, [])) for i in named]


def _chain_check(claim_id, events, keys):
    expected_prev = GENESIS
    for event in events:
        event_id, prev_hash, stored_hash = event["id"], event["prev_hash"], event["hash"]
        if prev_hash != expected_prev:
            raise HistoryBroken(
                f"Claim {claim_id}, event {event_id}: prev_hash {prev_hash or '(empty)'} is not the hash of the "
                f"claim's previous event ({expected_prev}): an event was removed, inserted or reordered."
            )
        key = keys.get(event["key_id"])
        if key is None:
            raise HistoryBroken(
                f"Claim {claim_id}, event {event_id}: signed by key {event['key_id']!r}, which HISTORY_KEYS does "
                "not list (a key removed while rows it signed remain, or the row was changed)."
            )
        recomputed = event_hash(prev_hash, event, key=key)
        if stored_hash != recomputed:
            raise HistoryBroken(
                f"Claim {claim_id}, event {event_id}: stored hash {stored_hash or '(empty)'} differs from the "
                f"hash of its content ({recomputed}): the row was changed after it was written."
            )
        expected_prev = stored_hash


def history_verify(*, all_checkpoints=False, out=print):
    """Check every chain, every claim against its history and the newest checkpoint (every one with
    ``all_checkpoints``); ``out`` receives a line per check passed. Raises HistoryBroken at the first difference."""
    keys = history_keys()
    events = claims = with_content = 0
    with _one_snapshot():
        with connection.cursor() as cursor:
            # The claims' ids, and those their history names (a claim's row may be gone).
            cursor.execute(
                "SELECT least(min(c.id), (SELECT min(claim_id) FROM claims_claimevent)), "
                "greatest(max(c.id), (SELECT max(claim_id) FROM claims_claimevent)) FROM claims_claim c"
            )
            low, high = cursor.fetchone()
        starts = range(low - low % CHECKPOINT_BUCKET, high + 1, CHECKPOINT_BUCKET) if low is not None else ()
        for start in starts:
            for claim_id, claim, history, items, documents in _bucket_rows(start, start + CHECKPOINT_BUCKET):
                if claim is None:
                    raise HistoryBroken(
                        f"Claim {claim_id}: its row is gone, but {len(history)} events, {len(items)} items and "
                        f"{len(documents)} POE documents of it remain: the claim was deleted."
                    )
                _chain_check(claim_id, history, keys)
                said_status, said_content = history_state(history)
                difference = state_difference(
                    said_status, said_content, claim["status"], claim_content(claim, items, documents)
                )
                if difference:
                    what, said, has = difference
                    raise HistoryBroken(
                        f"Claim {claim_id}: {what} differs from its history: the history says {_shown(said)}, "
                        f"the row says {_shown(has)}."
                    )
                events += len(history)
                claims += bool(history)
                with_content += said_content is not None
        out(f"OK: {events} events of {claims} claims, every hash chain whole.")
        out(f"OK: every claim as its history says (status; columns, items and POE of {with_content}).")
        try:
            names = _checkpoint_names()
            checked = list(names) if all_checkpoints else [name for name in [next(names, None)] if name]
        except Exception as exc:  # botocore's and the file system's own errors alike
            raise HistoryBroken(
                f"The file storage did not list {CHECKPOINT_DIR}/ ({exc.__class__.__name__}): the chains' heads "
                "could not be compared with a checkpoint. Try again when it answers."
            ) from exc
        if not checked:
            out(
                f"No checkpoint in {CHECKPOINT_DIR}/ yet: nothing to compare the chain heads with (beat writes one "
                "an hour; `manage.py claims_history_checkpoint` writes one now)."
            )
            return
        newest = None
        for name in checked:
            body = _checkpoint_verify(name, out)
            newest = newest or body
        age = timezone.now() - datetime.datetime.fromisoformat(newest["taken_at"])
        if age > CHECKPOINT_STALE:
            out(f"Warning: the newest checkpoint is {age.days} days old: is beat running?")
