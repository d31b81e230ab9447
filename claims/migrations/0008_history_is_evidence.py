"""History is evidence (SPEC §14): PostgreSQL keeps claims' history append-only, chained, and in step with §5.

1. **Append-only.** claims_claimevent refuses UPDATE, DELETE and TRUNCATE. claims_claim refuses DELETE unless
   the claim is a ``draft`` (a status a later issue adds; a draft may be deleted by its partner), and
   claims_claimitem and claims_poedocument refuse DELETE unless their claim is a draft. The row triggers fire
   for every path, the ORM's cascades included (Django deletes a claim's events, items and documents before the
   claim, and the first refused row aborts the statement); all four refuse TRUNCATE, also through CASCADE.
2. **Status changes follow §5 and come with their event.** A BEFORE UPDATE OF status row trigger on
   claims_claim refuses any status move not in ``TRANSITIONS`` below, a frozen copy of
   ``claims.models.TRANSITIONS``: a change to the lifecycle comes with a migration that recreates the trigger
   ``claims_claim_status_moves``. The allowed moves are in the trigger's WHEN condition, which PostgreSQL
   evaluates per row without calling a function, so a legal move costs next to nothing and a batch costs linear
   time. (A statement-level trigger joining the old and new transition tables was tried first: in the
   finalization bench a 20,000-row UPDATE spent 50 s in it after 500-row chunks had run in the same session,
   presumably on a plan PL/pgSQL had cached for small tables.) A deferred constraint trigger then checks at
   commit, for each status move, that a ClaimEvent recording exactly that move (old_status, new_status) was written by the same transaction (``xact_id``, the top-level transaction id,
   also for rows written inside savepoints). ``UPDATE claims_claim SET status = 'official'`` alone fails at
   COMMIT. Claims are inserted in any status (imports, demo data); only moves are checked.
3. **The hash chain.** A BEFORE INSERT row trigger on claims_claimevent sets ``prev_hash`` (the ``hash`` of the
   claim's event with the highest id, or 64 zeros) and ``hash = sha256(prev_hash || canonical form)``, the form
   ``claims.history`` specifies (``claims_claimevent_hash`` below is its SQL twin; ``claims_history_verify``
   recomputes it in Python), overriding whatever the client sent: the ORM, claims_transition's INSERT from
   arrays and bench/data.py's INSERT ... SELECT all get it. Writers of one claim's history queue on the claim
   row (the trigger locks it FOR NO KEY UPDATE, which claims_transition's UPDATE already holds, and which does
   not block the foreign-key checks of other rows): the second reads the first's event once it commits. An
   event that waited behind a later-numbered one takes a fresh id, so the chain's order is always the id order.
   The unique constraint (claim_id, prev_hash) is the backstop: a fork is impossible whatever the isolation.
   Existing rows are chained here, claim by claim in id order.

**The escape hatch (tests and the benches' own databases).** pytest-django empties the database between transactional tests with
TRUNCATE. The TRUNCATE refusal is lifted when, and only when, ``cpor.maintenance`` is 'on' *as a database-level
setting* (``ALTER DATABASE <name> SET cpor.maintenance = 'on'``, which needs the database's owner) and still
'on' in the session. conftest.py sets it on the test database only; a test of the refusal turns it off with
``SET LOCAL cpor.maintenance = 'off'``. A ``SET cpor.maintenance = 'on'`` in a session alone opens nothing, and
no production code sets it. Only TRUNCATE has a hatch: UPDATE and DELETE of history are refused everywhere.

What these triggers are not: a defence against the database's owner, who can drop them. The hash chain makes
an edit that bypassed them visible (``manage.py claims_history_verify``) unless the whole rest of the chain was
recomputed too; catching that takes a copy of the chains' last hashes kept elsewhere (e.g. in backups).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

GENESIS = "0" * 64

# claims.models.TRANSITIONS when this migration was written (SPEC §5): frozen, so that this migration always
# installs the same rule. A later change to TRANSITIONS comes with a migration that replaces
# claims_claim_status_moves (claims/tests/test_history_evidence.py checks the database against the code).
TRANSITIONS = {
    "submitted": ["under_review", "rejected"],
    "under_review": ["customer_notified", "action_required", "rejected"],
    "action_required": ["under_review", "rejected"],
    "customer_notified": ["official", "opted_out"],
    "official": ["ended"],
    "opted_out": [],
    "rejected": [],
    "ended": [],
}


def _moves():
    return ", ".join(f"('{old}', '{new}')" for old, targets in TRANSITIONS.items() for new in targets)


# The canonical form of claims.history, in SQL: <name>=<UTF-8 byte length>:<value>\n per field.
HASH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION claims_history_line(name text, value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT name || '=' || octet_length(convert_to(COALESCE(value, ''), 'UTF8')) || ':' || COALESCE(value, '') || E'\\n'
$$;

CREATE OR REPLACE FUNCTION claims_claimevent_hash(
    prev_hash text, claim_id bigint, created_at timestamptz, actor text, user_id bigint, action text,
    old_status text, new_status text, reason text, message text
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
        || claims_history_line('message', message),
        'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION claims_claimevent_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous_id bigint;
    previous_hash text;
BEGIN
    -- Writers of one claim's history queue here; in READ COMMITTED the next statement then sees the event the
    -- previous writer committed. NO KEY UPDATE: other rows' foreign-key checks on the claim (KEY SHARE) pass.
    PERFORM 1 FROM claims_claim WHERE id = NEW.claim_id FOR NO KEY UPDATE;
    SELECT id, hash INTO previous_id, previous_hash
    FROM claims_claimevent WHERE claim_id = NEW.claim_id ORDER BY id DESC LIMIT 1;
    IF previous_id > NEW.id THEN
        -- This row drew its id before waiting behind a writer that drew a later one: renumber it after that
        -- writer's event, so that the chain's order is the id order.
        NEW.id := nextval(pg_get_serial_sequence('claims_claimevent', 'id'));
    END IF;
    NEW.prev_hash := COALESCE(previous_hash, '{GENESIS}');
    NEW.xact_id := pg_current_xact_id()::text::bigint;
    NEW.hash := claims_claimevent_hash(NEW.prev_hash, NEW.claim_id, NEW.created_at, NEW.actor, NEW.user_id,
                                       NEW.action, NEW.old_status, NEW.new_status, NEW.reason, NEW.message);
    RETURN NEW;
END;
$$;
"""

# Chains the rows that exist, one position at a time (the k-th event of every claim in one UPDATE): as many
# statements as the longest history, not one per row. No trigger refuses these UPDATEs yet.
BACKFILL = f"""
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
                                          e.old_status, e.new_status, e.reason, e.message)
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

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION claims_history_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'History is evidence: % on % is refused (%).', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'restrict_violation';
END;
$$;

-- Items and POE documents: DELETE only with their draft claim.
CREATE OR REPLACE FUNCTION claims_claim_part_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM claims_claim WHERE id = OLD.claim_id AND status <> 'draft') THEN
        RAISE EXCEPTION 'History is evidence: % row % of submitted claim % cannot be deleted.',
            TG_TABLE_NAME, OLD.id, OLD.claim_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END;
$$;

-- TRUNCATE, with the tests' escape hatch (see the module docstring).
CREATE OR REPLACE FUNCTION claims_history_truncate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('cpor.maintenance', true) = 'on' AND EXISTS (
        SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = current_database() AND s.setrole = 0 AND 'cpor.maintenance=on' = ANY(s.setconfig)
    ) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'History is evidence: TRUNCATE of % is refused.', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;

DROP TRIGGER IF EXISTS claims_claimevent_append_only ON claims_claimevent;
CREATE TRIGGER claims_claimevent_append_only BEFORE UPDATE OR DELETE ON claims_claimevent
    FOR EACH ROW EXECUTE FUNCTION claims_history_refuse('a claim event is never changed or deleted');

DROP TRIGGER IF EXISTS claims_claim_kept ON claims_claim;
CREATE TRIGGER claims_claim_kept BEFORE DELETE ON claims_claim
    FOR EACH ROW WHEN (OLD.status <> 'draft')
    EXECUTE FUNCTION claims_history_refuse('a submitted claim is never deleted');

DROP TRIGGER IF EXISTS claims_claimitem_kept ON claims_claimitem;
CREATE TRIGGER claims_claimitem_kept BEFORE DELETE ON claims_claimitem
    FOR EACH ROW EXECUTE FUNCTION claims_claim_part_delete_guard();

DROP TRIGGER IF EXISTS claims_poedocument_kept ON claims_poedocument;
CREATE TRIGGER claims_poedocument_kept BEFORE DELETE ON claims_poedocument
    FOR EACH ROW EXECUTE FUNCTION claims_claim_part_delete_guard();
"""

TRUNCATE_GUARDED = ["claims_claimevent", "claims_claim", "claims_claimitem", "claims_poedocument"]

STATUS_RULES = f"""
CREATE OR REPLACE FUNCTION claims_claim_status_moves() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'Claim %: % -> % is not a move of the claim lifecycle (SPEC §5).', OLD.id, OLD.status, NEW.status
        USING ERRCODE = 'check_violation';
END;
$$;

CREATE OR REPLACE FUNCTION claims_claim_status_has_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM claims_claimevent
        WHERE claim_id = NEW.id AND old_status = OLD.status AND new_status = NEW.status
          AND xact_id = pg_current_xact_id()::text::bigint
    ) THEN
        RAISE EXCEPTION 'Claim %: the status change % -> % has no ClaimEvent in its transaction.',
            NEW.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS claims_claim_status_moves ON claims_claim;
CREATE TRIGGER claims_claim_status_moves BEFORE UPDATE OF status ON claims_claim
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NOT ((OLD.status, NEW.status) IN ({_moves()})))
    EXECUTE FUNCTION claims_claim_status_moves();

DROP TRIGGER IF EXISTS claims_claim_status_has_event ON claims_claim;
CREATE CONSTRAINT TRIGGER claims_claim_status_has_event AFTER UPDATE OF status ON claims_claim
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION claims_claim_status_has_event();
"""

CHAIN_TRIGGER = """
DROP TRIGGER IF EXISTS claims_claimevent_chain ON claims_claimevent;
CREATE TRIGGER claims_claimevent_chain BEFORE INSERT ON claims_claimevent
    FOR EACH ROW EXECUTE FUNCTION claims_claimevent_chain();
"""


def backfill(apps, schema_editor):
    # Functions first (the backfill uses the hash), triggers after it (they would refuse its UPDATEs).
    schema_editor.execute(HASH_FUNCTION, params=None)
    schema_editor.execute(BACKFILL, params=None)


def install(apps, schema_editor):
    schema_editor.execute(APPEND_ONLY, params=None)
    for table in TRUNCATE_GUARDED:
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {table}_truncate_guard ON {table}; "
            f"CREATE TRIGGER {table}_truncate_guard BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION claims_history_truncate_guard();",
            params=None,
        )
    schema_editor.execute(STATUS_RULES, params=None)
    schema_editor.execute(CHAIN_TRIGGER, params=None)


def uninstall(apps, schema_editor):
    for table in TRUNCATE_GUARDED:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_truncate_guard ON {table};", params=None)
    schema_editor.execute(
        """
        DROP TRIGGER IF EXISTS claims_claimevent_chain ON claims_claimevent;
        DROP TRIGGER IF EXISTS claims_claimevent_append_only ON claims_claimevent;
        DROP TRIGGER IF EXISTS claims_claim_kept ON claims_claim;
        DROP TRIGGER IF EXISTS claims_claimitem_kept ON claims_claimitem;
        DROP TRIGGER IF EXISTS claims_poedocument_kept ON claims_poedocument;
        DROP TRIGGER IF EXISTS claims_claim_status_moves ON claims_claim;
        DROP TRIGGER IF EXISTS claims_claim_status_has_event ON claims_claim;
        DROP FUNCTION IF EXISTS claims_claimevent_chain();
        DROP FUNCTION IF EXISTS claims_history_refuse();
        DROP FUNCTION IF EXISTS claims_claim_part_delete_guard();
        DROP FUNCTION IF EXISTS claims_history_truncate_guard();
        DROP FUNCTION IF EXISTS claims_claim_status_moves();
        DROP FUNCTION IF EXISTS claims_claim_status_has_event();
        """,
        params=None,
    )


def unbackfill(apps, schema_editor):
    schema_editor.execute(
        "DROP FUNCTION IF EXISTS claims_claimevent_hash(text, bigint, timestamptz, text, bigint, text, text, text, "
        "text, text); DROP FUNCTION IF EXISTS claims_history_line(text, text);",
        params=None,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0007_claim_counts_as_delta_log"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="claimevent",
            name="prev_hash",
            field=models.CharField(db_default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="claimevent",
            name="hash",
            field=models.CharField(db_default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="claimevent",
            name="xact_id",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="claimevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(backfill, unbackfill),
        migrations.AddConstraint(
            model_name="claimevent",
            constraint=models.UniqueConstraint(fields=("claim", "prev_hash"), name="claimevent_chain_one_successor"),
        ),
        migrations.RunPython(install, uninstall),
    ]
