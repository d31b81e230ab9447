"""History is evidence against the database's owner (SPEC §14, issue 14): a keyed chain, and the content in it.

1. **A keyed chain.** Each ClaimEvent's ``hash`` becomes ``HMAC-SHA256(key, prev_hash || canonical form)`` with a
   key of ``settings.HISTORY_KEYS``, which never reaches PostgreSQL; ``key_id`` records which key signed the row
   (``claims.history``). The application signs each event before its INSERT (under the claim's row lock), so the
   BEFORE INSERT trigger ``claims_claimevent_chain`` no longer computes the hash: it checks the link, refusing a
   row whose ``prev_hash`` is not the hash of the claim's last event (or ``GENESIS`` for a first event), or that
   is not signed. It still queues writers on the claim row, renumbers a row that waited behind a later-numbered
   one and sets ``xact_id``. The unkeyed SQL twin of migrations 0008 and 0010 (``claims_claimevent_hash``,
   ``claims_history_line``) is dropped: anyone could recompute it.
2. **The content.** ``data`` (hashed when non-empty) carries what an event says the claim holds: the SUBMITTED
   event's snapshot, an answer's edits, the POE documents an event added.
3. **Existing rows** are re-keyed here, claim by claim (buckets of claim ids, one UPDATE from arrays per bucket),
   with the configured signing key, and each claim's **last** event gets ``{"snapshot": …}`` of the claim as it
   is now (its partner's columns, items and POE documents): from this migration on, ``claims_history_verify``
   compares each claim with its history from that event. The append-only trigger is switched off for these
   UPDATEs only, inside this migration's transaction (ALTER TABLE needs the table's owner, as migrations run).

The way back recomputes the unkeyed chains in SQL (``data`` and ``key_id`` are dropped).
"""

import json

from django.db import migrations, models

from claims import history

GENESIS = history.GENESIS
BUCKET = history.CHECKPOINT_BUCKET

CHAIN_CHECK = f"""
CREATE OR REPLACE FUNCTION claims_claimevent_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous_id bigint;
    previous_hash text;
BEGIN
    -- Writers of one claim's history queue here (the application already holds the lock: it read the last hash
    -- under it). NO KEY UPDATE: other rows' foreign-key checks on the claim (KEY SHARE) pass.
    PERFORM 1 FROM claims_claim WHERE id = NEW.claim_id FOR NO KEY UPDATE;
    SELECT id, hash INTO previous_id, previous_hash
    FROM claims_claimevent WHERE claim_id = NEW.claim_id ORDER BY id DESC LIMIT 1;
    IF NEW.prev_hash IS DISTINCT FROM COALESCE(previous_hash, '{GENESIS}') THEN
        RAISE EXCEPTION 'History is evidence: an event of claim % must follow its last event (prev_hash %, not %).',
            NEW.claim_id, COALESCE(previous_hash, '{GENESIS}'), NEW.prev_hash
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.hash !~ '^[0-9a-f]{{64}}$' OR NEW.key_id = '' THEN
        RAISE EXCEPTION 'History is evidence: an event of claim % must be signed (hash and key_id).', NEW.claim_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF previous_id > NEW.id THEN
        -- This row drew its id before waiting behind a writer that drew a later one: renumber it after that
        -- writer's event, so that the chain's order is the id order.
        NEW.id := nextval(pg_get_serial_sequence('claims_claimevent', 'id'));
    END IF;
    NEW.xact_id := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END;
$$;
"""

DROP_UNKEYED = """
DROP FUNCTION IF EXISTS claims_claimevent_hash(text, bigint, timestamptz, text, bigint, text, text, text, text, text,
                                               text, text, text);
DROP FUNCTION IF EXISTS claims_claimevent_hash(text, bigint, timestamptz, text, bigint, text, text, text, text, text);
DROP FUNCTION IF EXISTS claims_history_line(text, text);
"""

# Migrations 0008 and 0010's unkeyed chain, for the way back.
UNKEYED = f"""
CREATE OR REPLACE FUNCTION claims_history_line(name text, value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT name || '=' || octet_length(convert_to(COALESCE(value, ''), 'UTF8')) || ':' || COALESCE(value, '') || E'\\n'
$$;

CREATE OR REPLACE FUNCTION claims_claimevent_hash(
    prev_hash text, claim_id bigint, created_at timestamptz, actor text, user_id bigint, action text,
    old_status text, new_status text, reason text, message text, field text, old_value text, new_value text
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(
        prev_hash
        || claims_history_line('claim_id', claim_id::text)
        || claims_history_line('created_at',
                               to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        || claims_history_line('actor', actor)
        || claims_history_line('user_id', user_id::text)
        || claims_history_line('action', action)
        || claims_history_line('old_status', old_status)
        || claims_history_line('new_status', new_status)
        || claims_history_line('reason', reason)
        || claims_history_line('message', message)
        || CASE WHEN COALESCE(field, '') <> '' OR COALESCE(old_value, '') <> '' OR COALESCE(new_value, '') <> ''
                THEN claims_history_line('field', field) || claims_history_line('old_value', old_value)
                     || claims_history_line('new_value', new_value)
                ELSE '' END,
        'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION claims_claimevent_hash(
    prev_hash text, claim_id bigint, created_at timestamptz, actor text, user_id bigint, action text,
    old_status text, new_status text, reason text, message text
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT claims_claimevent_hash(prev_hash, claim_id, created_at, actor, user_id, action, old_status, new_status,
                                  reason, message, '', '', '')
$$;

CREATE OR REPLACE FUNCTION claims_claimevent_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous_id bigint;
    previous_hash text;
BEGIN
    PERFORM 1 FROM claims_claim WHERE id = NEW.claim_id FOR NO KEY UPDATE;
    SELECT id, hash INTO previous_id, previous_hash
    FROM claims_claimevent WHERE claim_id = NEW.claim_id ORDER BY id DESC LIMIT 1;
    IF previous_id > NEW.id THEN
        NEW.id := nextval(pg_get_serial_sequence('claims_claimevent', 'id'));
    END IF;
    NEW.prev_hash := COALESCE(previous_hash, '{GENESIS}');
    NEW.xact_id := pg_current_xact_id()::text::bigint;
    NEW.hash := claims_claimevent_hash(NEW.prev_hash, NEW.claim_id, NEW.created_at, NEW.actor, NEW.user_id,
                                       NEW.action, NEW.old_status, NEW.new_status, NEW.reason, NEW.message,
                                       NEW.field, NEW.old_value, NEW.new_value);
    RETURN NEW;
END;
$$;
"""

UNKEYED_BACKFILL = f"""
CREATE TEMPORARY TABLE claims_history_backfill ON COMMIT DROP AS
SELECT id, claim_id, row_number() OVER (PARTITION BY claim_id ORDER BY id) AS position FROM claims_claimevent;
CREATE INDEX ON claims_history_backfill (position);
DO $$
DECLARE
    last integer := (SELECT COALESCE(max(position), 0) FROM claims_history_backfill);
BEGIN
    FOR k IN 1..last LOOP
        UPDATE claims_claimevent e
        SET prev_hash = p.prev_hash,
            hash = claims_claimevent_hash(p.prev_hash, e.claim_id, e.created_at, e.actor, e.user_id, e.action,
                                          e.old_status, e.new_status, e.reason, e.message, e.field, e.old_value,
                                          e.new_value)
        FROM (
            SELECT b.id, COALESCE(previous.hash, '{GENESIS}') AS prev_hash
            FROM claims_history_backfill b
            LEFT JOIN claims_history_backfill pb ON pb.claim_id = b.claim_id AND pb.position = b.position - 1
            LEFT JOIN claims_claimevent previous ON previous.id = pb.id
            WHERE b.position = k
        ) AS p
        WHERE e.id = p.id;
    END LOOP;
END;
$$;
"""

EVENT_COLUMNS = ("id", *history.BASE_FIELDS, *history.CHANGE_FIELDS)


def _rows(cursor, sql, params):
    cursor.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _bucket_rekey(cursor, start, key_id, key):
    """Re-key the events of the claims with ids in [start, start + BUCKET) and snapshot each on its last event."""
    bounds = {"start": start, "end": start + BUCKET}
    events = _rows(
        cursor,
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM claims_claimevent "  # noqa: S608 (constant column names)
        "WHERE claim_id >= %(start)s AND claim_id < %(end)s ORDER BY claim_id, id",
        bounds,
    )
    if not events:
        return 0
    # activities (jsonb) as text, parsed here: raw cursors do not parse jsonb.
    columns = ", ".join(f"{c}::text AS {c}" if c == "activities" else c for c in history.SNAPSHOT_COLUMNS)
    claims = {
        row["id"]: row | {"activities": json.loads(row["activities"])}
        for row in _rows(
            cursor,
            f"SELECT id, {columns} FROM claims_claim WHERE id >= %(start)s AND id < %(end)s",  # noqa: S608
            bounds,
        )
    }
    parts = {claim_id: {"items": [], "documents": []} for claim_id in claims}
    for kind, table, columns in (
        ("items", "claims_claimitem", history.ITEM_COLUMNS),
        ("documents", "claims_poedocument", history.DOCUMENT_COLUMNS),
    ):
        for row in _rows(
            cursor,
            f"SELECT claim_id, {', '.join(columns)} FROM {table} "  # noqa: S608
            "WHERE claim_id >= %(start)s AND claim_id < %(end)s",
            bounds,
        ):
            parts[row.pop("claim_id")][kind].append(row)
    ids, prevs, hashes, datas = [], [], [], []
    for n, event in enumerate(events):
        claim_id = event["claim_id"]
        prev_hash = hashes[-1] if n and events[n - 1]["claim_id"] == claim_id else GENESIS
        last = n + 1 == len(events) or events[n + 1]["claim_id"] != claim_id
        data = {}
        if last:
            content = history.claim_content(claims[claim_id], parts[claim_id]["items"], parts[claim_id]["documents"])
            data = {"snapshot": content}
        ids.append(event["id"])
        prevs.append(prev_hash)
        hashes.append(history.event_hash(prev_hash, {**event, "data": data}, key=key))
        datas.append(history.data_text(data) or "{}")
    cursor.execute(
        """
        UPDATE claims_claimevent e
        SET prev_hash = r.prev_hash, hash = r.hash, key_id = %(key_id)s, data = r.data::jsonb
        FROM unnest(%(ids)s::bigint[], %(prevs)s::text[], %(hashes)s::text[], %(datas)s::text[])
             AS r(id, prev_hash, hash, data)
        WHERE e.id = r.id
        """,
        {"ids": ids, "prevs": prevs, "hashes": hashes, "datas": datas, "key_id": key_id},
    )
    return len(ids)


def rekey(apps, schema_editor):
    key_id, key = history.signing_key()
    with schema_editor.connection.cursor() as cursor:
        # ALTER TABLE refuses a table with pending (deferred) trigger events.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE claims_claimevent DISABLE TRIGGER claims_claimevent_append_only")
        cursor.execute("SELECT min(claim_id), max(claim_id) FROM claims_claimevent")
        low, high = cursor.fetchone()
        if low is not None:
            for start in range(low - low % BUCKET, high + 1, BUCKET):
                _bucket_rekey(cursor, start, key_id, key)
        cursor.execute("ALTER TABLE claims_claimevent ENABLE TRIGGER claims_claimevent_append_only")
        cursor.execute(CHAIN_CHECK)
        cursor.execute(DROP_UNKEYED)


def unkey(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(UNKEYED)
        cursor.execute("ALTER TABLE claims_claimevent DISABLE TRIGGER claims_claimevent_append_only")
        cursor.execute(UNKEYED_BACKFILL)
        cursor.execute("ALTER TABLE claims_claimevent ENABLE TRIGGER claims_claimevent_append_only")


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0011_password_reset_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="claimevent",
            name="data",
            field=models.JSONField(
                blank=True, db_default=models.Value({}, models.JSONField()), default=dict, editable=False
            ),
        ),
        migrations.AddField(
            model_name="claimevent",
            name="key_id",
            field=models.CharField(db_default="", editable=False, max_length=20),
        ),
        migrations.RunPython(rekey, unkey),
    ]

