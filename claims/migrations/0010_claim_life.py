"""The partner's whole claim life (SPEC §5, §12) in PostgreSQL: drafts, disputes, an answer's edits, changes in
the history, and one email per event.

Besides the columns (drafts' data, ``disputed_at``, a change's field/old/new on ClaimEvent, the event an email
belongs to), this migration replaces four rules of migrations 0002 and 0008:

1. **The lifecycle's moves** (``claims_claim_status_moves``): the trigger's WHEN condition lists the moves of
   ``TRANSITIONS`` below, a frozen copy of ``claims.models.TRANSITIONS`` with the new statuses (``draft``,
   ``disputed``, ``rejected_final``, ``expired``).
2. **What a partner may change, and when** (``claims_claim_frozen_guard``):
   - a ``draft`` is the partner's own work in progress: every column may change (and a draft may be deleted,
     migration 0008);
   - while ``action_required`` (answering an information request) exactly ``ANSWER_EDITABLE`` may change: the
     MPN ID (the location, which must stay one of the claim's partner's) and the contacts;
   - in every other status none of the partner's columns may change;
   - ``disputed_at`` is written once (a rejection is disputed once) and never changed after.
3. **Items** (``claims_claim_part_delete_guard``): a draft's items and POE rows may be deleted, and while
   ``action_required`` items may be removed (never all of them: the last one stays); POE rows of a submitted
   claim never are.
4. **The hash chain** (``claims_claimevent_chain``): a change's ``field``, ``old_value`` and ``new_value`` are in
   the hashed form when one of them is non-empty (``claims.history``); every earlier hash stays valid.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


# claims.models.TRANSITIONS when this migration was written (SPEC §5), frozen: see migration 0008.
TRANSITIONS = {
    "draft": ["submitted", "expired"],
    "submitted": ["under_review", "rejected"],
    "under_review": ["customer_notified", "action_required", "rejected", "rejected_final"],
    "action_required": ["under_review", "rejected", "rejected_final"],
    "customer_notified": ["official", "opted_out"],
    "official": ["ended"],
    "opted_out": [],
    "rejected": ["disputed"],
    "disputed": ["customer_notified", "action_required", "rejected_final"],
    "rejected_final": [],
    "expired": [],
    "ended": [],
}
# Migration 0008's, to put back on the way down.
TRANSITIONS_0008 = {
    "submitted": ["under_review", "rejected"],
    "under_review": ["customer_notified", "action_required", "rejected"],
    "action_required": ["under_review", "rejected"],
    "customer_notified": ["official", "opted_out"],
    "official": ["ended"],
}

# The partner's columns (migration 0002's list, and the draft's own), frozen once the claim is submitted.
CLAIM_FROZEN = [
    "partner_id",
    "location_id",
    "name",
    "domain",
    "directory_id",
    "solution_area",
    "activities",
    "dynamics_seller_name",
    "customer_name",
    "isv_solution_name",
    "customer_contact_name",
    "customer_contact_title",
    "customer_contact_email",
    "technical_contact_name",
    "technical_contact_title",
    "technical_contact_email",
    "partner_contact_name",
    "partner_contact_email",
    "comments",
    "submitted_at",
    "submission_key",
    "draft_data",
    "draft_saved_at",
]
# What answering an information request may change (SPEC §12): the MPN ID and the contacts.
ANSWER_EDITABLE = [
    "location_id",
    "customer_contact_name",
    "customer_contact_title",
    "customer_contact_email",
    "technical_contact_name",
    "technical_contact_title",
    "technical_contact_email",
    "partner_contact_name",
    "partner_contact_email",
]


def _moves(transitions):
    return ", ".join(f"('{old}', '{new}')" for old, targets in transitions.items() for new in targets)


def _row(columns, alias):
    return "ROW(" + ", ".join(f"{alias}.{column}" for column in columns) + ")"


def _status_moves(transitions):
    return f"""
DROP TRIGGER IF EXISTS claims_claim_status_moves ON claims_claim;
CREATE TRIGGER claims_claim_status_moves BEFORE UPDATE OF status ON claims_claim
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NOT ((OLD.status, NEW.status) IN ({_moves(transitions)})))
    EXECUTE FUNCTION claims_claim_status_moves();
"""


_ANSWER_FROZEN = [column for column in CLAIM_FROZEN if column not in ANSWER_EDITABLE]

FROZEN_GUARD = f"""
CREATE OR REPLACE FUNCTION claims_claim_frozen_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN NEW;
    END IF;
    -- created_by may only become NULL (a deleted user account, on_delete=SET_NULL); disputed_at is set once.
    IF (NEW.created_by_id IS NOT NULL AND NEW.created_by_id IS DISTINCT FROM OLD.created_by_id)
       OR (OLD.disputed_at IS NOT NULL AND NEW.disputed_at IS DISTINCT FROM OLD.disputed_at) THEN
        RAISE EXCEPTION 'A submitted customer association cannot be edited (% %).', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status = 'action_required' THEN
        IF {_row(_ANSWER_FROZEN, "NEW")} IS DISTINCT FROM {_row(_ANSWER_FROZEN, "OLD")} THEN
            RAISE EXCEPTION 'An answer to an information request may change only the MPN ID and the contacts (% %).',
                TG_TABLE_NAME, OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF NEW.location_id IS DISTINCT FROM OLD.location_id AND NOT EXISTS (
            SELECT 1 FROM associations_partnerlocation WHERE id = NEW.location_id AND partner_id = NEW.partner_id
        ) THEN
            RAISE EXCEPTION 'The MPN ID of claim % must be one of its partner''s locations.', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
    ELSIF {_row(CLAIM_FROZEN, "NEW")} IS DISTINCT FROM {_row(CLAIM_FROZEN, "OLD")} THEN
        RAISE EXCEPTION 'A submitted customer association cannot be edited (% %).', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
"""

# Migration 0002's function, to put back on the way down.
FROZEN_GUARD_0002 = f"""
CREATE OR REPLACE FUNCTION claims_claim_frozen_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF {_row(CLAIM_FROZEN[:-2], "NEW")} IS DISTINCT FROM {_row(CLAIM_FROZEN[:-2], "OLD")}
       OR (NEW.created_by_id IS NOT NULL AND NEW.created_by_id IS DISTINCT FROM OLD.created_by_id) THEN
        RAISE EXCEPTION 'A submitted customer association cannot be edited (% %).', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
"""

PART_DELETE_GUARD = """
CREATE OR REPLACE FUNCTION claims_claim_part_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    claim_status text := (SELECT status FROM claims_claim WHERE id = OLD.claim_id);
BEGIN
    IF claim_status IS NULL OR claim_status = 'draft' THEN
        RETURN OLD;
    END IF;
    IF TG_TABLE_NAME = 'claims_claimitem' AND claim_status = 'action_required' THEN
        -- Rows deleted earlier by the same statement are already gone here: the last item always stays.
        IF NOT EXISTS (SELECT 1 FROM claims_claimitem WHERE claim_id = OLD.claim_id AND id <> OLD.id) THEN
            RAISE EXCEPTION 'Claim % keeps at least one product.', OLD.claim_id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'History is evidence: % row % of submitted claim % cannot be deleted.',
        TG_TABLE_NAME, OLD.id, OLD.claim_id
        USING ERRCODE = 'restrict_violation';
END;
$$;
"""

PART_DELETE_GUARD_0008 = """
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
"""

GENESIS = "0" * 64


def _chain(hash_call):
    return f"""
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
    NEW.hash := {hash_call};
    RETURN NEW;
END;
$$;
"""


_BASE_ARGS = (
    "NEW.prev_hash, NEW.claim_id, NEW.created_at, NEW.actor, NEW.user_id, NEW.action, NEW.old_status, "
    "NEW.new_status, NEW.reason, NEW.message"
)

HASH_WITH_CHANGES = """
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
"""


def install(apps, schema_editor):
    schema_editor.execute(_status_moves(TRANSITIONS), params=None)
    schema_editor.execute(FROZEN_GUARD, params=None)
    schema_editor.execute(PART_DELETE_GUARD, params=None)
    schema_editor.execute(HASH_WITH_CHANGES, params=None)
    schema_editor.execute(
        _chain(f"claims_claimevent_hash({_BASE_ARGS}, NEW.field, NEW.old_value, NEW.new_value)"), params=None
    )


def uninstall(apps, schema_editor):
    schema_editor.execute(_chain(f"claims_claimevent_hash({_BASE_ARGS})"), params=None)
    schema_editor.execute(
        "DROP FUNCTION IF EXISTS claims_claimevent_hash(text, bigint, timestamptz, text, bigint, text, text, text, "
        "text, text, text, text, text);",
        params=None,
    )
    schema_editor.execute(PART_DELETE_GUARD_0008, params=None)
    schema_editor.execute(FROZEN_GUARD_0002, params=None)
    schema_editor.execute(_status_moves(TRANSITIONS_0008), params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('associations', '0002_userpreference'),
        ('claims', '0009_email_retry_schedule'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='emailnotification',
            name='emailnotification_one_per_claim_kind',
        ),
        migrations.AddField(
            model_name='claim',
            name='disputed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='claim',
            name='draft_data',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='claim',
            name='draft_saved_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name='claimevent',
            name='field',
            field=models.CharField(blank=True, db_default='', default='', max_length=60),
        ),
        migrations.AddField(
            model_name='claimevent',
            name='new_value',
            field=models.TextField(blank=True, db_default='', default=''),
        ),
        migrations.AddField(
            model_name='claimevent',
            name='old_value',
            field=models.TextField(blank=True, db_default='', default=''),
        ),
        migrations.AddField(
            model_name='emailnotification',
            name='event',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='emails', to='claims.claimevent'),
        ),
        migrations.AlterField(
            model_name='claim',
            name='status',
            field=models.CharField(choices=[('draft', 'Draft'), ('submitted', 'Submitted'), ('under_review', 'Under review'), ('action_required', 'Partner action required'), ('customer_notified', 'Awaiting customer'), ('official', 'Official'), ('opted_out', 'Customer opted out'), ('rejected', 'Rejected'), ('disputed', 'Disputed'), ('rejected_final', 'Rejected (final)'), ('expired', 'Expired'), ('ended', 'Ended')], default='submitted', max_length=20),
        ),
        migrations.AlterField(
            model_name='claimevent',
            name='new_status',
            field=models.CharField(blank=True, choices=[('draft', 'Draft'), ('submitted', 'Submitted'), ('under_review', 'Under review'), ('action_required', 'Partner action required'), ('customer_notified', 'Awaiting customer'), ('official', 'Official'), ('opted_out', 'Customer opted out'), ('rejected', 'Rejected'), ('disputed', 'Disputed'), ('rejected_final', 'Rejected (final)'), ('expired', 'Expired'), ('ended', 'Ended')], max_length=20),
        ),
        migrations.AlterField(
            model_name='claimevent',
            name='old_status',
            field=models.CharField(blank=True, choices=[('draft', 'Draft'), ('submitted', 'Submitted'), ('under_review', 'Under review'), ('action_required', 'Partner action required'), ('customer_notified', 'Awaiting customer'), ('official', 'Official'), ('opted_out', 'Customer opted out'), ('rejected', 'Rejected'), ('disputed', 'Disputed'), ('rejected_final', 'Rejected (final)'), ('expired', 'Expired'), ('ended', 'Ended')], max_length=20),
        ),
        migrations.AlterField(
            model_name='emailnotification',
            name='kind',
            field=models.CharField(choices=[('customer_notified', 'Customer: opt-out notice'), ('action_required', 'Partner: action required'), ('rejected', 'Partner: rejected'), ('official', 'Partner: official'), ('opted_out', 'Partner: customer opted out'), ('ended', 'Partner: ended'), ('replaced', 'Other partner: association replaced'), ('rejected_final', 'Partner: rejected (final)'), ('answer_reminder', 'Partner: answer due tomorrow')], max_length=20),
        ),
        migrations.AlterField(
            model_name='partnerclaimcount',
            name='status',
            field=models.CharField(choices=[('draft', 'Draft'), ('submitted', 'Submitted'), ('under_review', 'Under review'), ('action_required', 'Partner action required'), ('customer_notified', 'Awaiting customer'), ('official', 'Official'), ('opted_out', 'Customer opted out'), ('rejected', 'Rejected'), ('disputed', 'Disputed'), ('rejected_final', 'Rejected (final)'), ('expired', 'Expired'), ('ended', 'Ended')], max_length=20),
        ),
        migrations.AlterField(
            model_name='partnerclaimcountdelta',
            name='status',
            field=models.CharField(choices=[('draft', 'Draft'), ('submitted', 'Submitted'), ('under_review', 'Under review'), ('action_required', 'Partner action required'), ('customer_notified', 'Awaiting customer'), ('official', 'Official'), ('opted_out', 'Customer opted out'), ('rejected', 'Rejected'), ('disputed', 'Disputed'), ('rejected_final', 'Rejected (final)'), ('expired', 'Expired'), ('ended', 'Ended')], max_length=20),
        ),
        migrations.AddIndex(
            model_name='claim',
            index=models.Index(condition=models.Q(('status', 'draft')), fields=['draft_saved_at'], name='claim_draft_due'),
        ),
        migrations.AddConstraint(
            model_name='claim',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'disputed'), _negated=True), ('disputed_at__isnull', False), _connector='OR'), name='claim_disputed_has_disputed_at'),
        ),
        migrations.AddConstraint(
            model_name='emailnotification',
            constraint=models.UniqueConstraint(condition=models.Q(('association__isnull', True), ('event__isnull', False)), fields=('event', 'kind'), name='emailnotification_one_per_event_kind'),
        ),
        migrations.AddConstraint(
            model_name='emailnotification',
            constraint=models.UniqueConstraint(condition=models.Q(('association__isnull', True), ('event__isnull', True)), fields=('claim', 'kind'), name='emailnotification_one_per_claim_kind'),
        ),
        migrations.RunPython(install, uninstall),
    ]
