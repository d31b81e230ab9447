"""The customer's notice must reach the customer (SPEC §5-§7, claims.services.notices), and one-line fields.

1. **The lifecycle's moves** (``claims_claim_status_moves``): ``TRANSITIONS`` below, a frozen copy of
   ``claims.models.TRANSITIONS`` with two new moves: ``customer_notified -> action_required`` (the notice could not
   be delivered: the system sends the claim back to the partner) and ``action_required -> customer_notified`` (the
   partner's corrected address: the notice is sent again).
2. **No official claim without a delivered notice** (``claims_claim_official_needs_notice``): PostgreSQL refuses
   ``customer_notified -> official`` unless the claim has its notice date and opt-out deadline and a ``sent``
   customer_notified outbox row created since it entered ``customer_notified`` (``status_changed_at``): the current
   notice, which the mail server accepted. A row trigger on that one move only (the WHEN condition), whose lookup
   is one index scan of the claim's few outbox rows.
3. **The CHECK** ``claim_notified_has_deadline``: the notice date and the deadline are set together or not at all,
   in any status (a claim awaits its notice's delivery with neither).
4. **Claims already awaiting the customer** when this runs, by their current notice (their latest customer_notified
   outbox row): pending or sending, the window waits for delivery (its dates are cleared, the sending sets them);
   failed, likewise, and the row is tried again under these rules (a permanent failure then sends the claim back to
   the partner); sent, nothing changes. A claim with no notice row at all (written as rows, e.g. older demo data)
   is taken at its word: a sent notice row is recorded for it, dated when it was notified.
5. The one-line fields' validator (a model change only: no SQL).
"""

from django.db import migrations, models

import associations.validators

# claims.models.TRANSITIONS when this migration was written (SPEC §5), frozen: see migration 0008.
TRANSITIONS = {
    "draft": ["submitted", "expired"],
    "submitted": ["under_review", "rejected"],
    "under_review": ["customer_notified", "action_required", "rejected", "rejected_final"],
    "action_required": ["under_review", "customer_notified", "rejected", "rejected_final"],
    "customer_notified": ["official", "opted_out", "action_required"],
    "official": ["ended"],
    "opted_out": [],
    "rejected": ["disputed"],
    "disputed": ["customer_notified", "action_required", "rejected_final"],
    "rejected_final": [],
    "expired": [],
    "ended": [],
}
# Migration 0010's, to put back on the way down.
TRANSITIONS_0010 = {
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


def _moves(transitions):
    return ", ".join(f"('{old}', '{new}')" for old, targets in transitions.items() for new in targets)


def _status_moves(transitions):
    return f"""
DROP TRIGGER IF EXISTS claims_claim_status_moves ON claims_claim;
CREATE TRIGGER claims_claim_status_moves BEFORE UPDATE OF status ON claims_claim
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NOT ((OLD.status, NEW.status) IN ({_moves(transitions)})))
    EXECUTE FUNCTION claims_claim_status_moves();
"""


OFFICIAL_NEEDS_NOTICE = """
CREATE OR REPLACE FUNCTION claims_claim_notice_delivered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_notified_at IS NULL OR NEW.opt_out_deadline IS NULL OR NOT EXISTS (
        SELECT 1 FROM claims_emailnotification
        WHERE claim_id = NEW.id AND kind = 'customer_notified' AND state = 'sent'
          AND created_at >= OLD.status_changed_at
    ) THEN
        RAISE EXCEPTION 'Claim %: the customer''s notice was not delivered, so it cannot become official (SPEC §6).',
            NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS claims_claim_official_needs_notice ON claims_claim;
CREATE TRIGGER claims_claim_official_needs_notice BEFORE UPDATE OF status ON claims_claim
    FOR EACH ROW WHEN (OLD.status = 'customer_notified' AND NEW.status = 'official')
    EXECUTE FUNCTION claims_claim_notice_delivered();
"""

# Point 4 of the docstring.
AWAITING = """
CREATE TEMPORARY TABLE claims_notice_0011 AS
SELECT c.id AS claim_id, n.id AS notification_id, n.state
FROM claims_claim c
LEFT JOIN LATERAL (
    SELECT e.id, e.state FROM claims_emailnotification e
    WHERE e.claim_id = c.id AND e.kind = 'customer_notified' ORDER BY e.id DESC LIMIT 1
) AS n ON true
WHERE c.status = 'customer_notified';

UPDATE claims_claim c SET customer_notified_at = NULL, opt_out_deadline = NULL
FROM claims_notice_0011 l WHERE c.id = l.claim_id AND l.state IN ('pending', 'sending', 'failed');

UPDATE claims_emailnotification e
SET state = 'pending', attempts = 0, next_attempt_at = now(),
    last_error = left('Sent again: the opt-out window starts when the notice is delivered (' || e.last_error || ')',
                      2000)
FROM claims_notice_0011 l WHERE e.id = l.notification_id AND l.state = 'failed';

INSERT INTO claims_emailnotification (claim_id, kind, association_id, event_id, state, created_at, attempts, sent_at,
                                      last_error, next_attempt_at, message_id)
SELECT c.id, 'customer_notified', NULL, NULL, 'sent', greatest(c.status_changed_at, c.customer_notified_at), 0,
       c.customer_notified_at, 'Recorded by migration 0013: notified before notices were tracked.',
       greatest(c.status_changed_at, c.customer_notified_at), ''
FROM claims_claim c JOIN claims_notice_0011 l ON l.claim_id = c.id
WHERE l.notification_id IS NULL AND c.customer_notified_at IS NOT NULL;

DROP TABLE claims_notice_0011;
"""


def install(apps, schema_editor):
    schema_editor.execute(_status_moves(TRANSITIONS), params=None)
    schema_editor.execute(OFFICIAL_NEEDS_NOTICE, params=None)
    schema_editor.execute(AWAITING, params=None)


def uninstall(apps, schema_editor):
    # Claims sent back for an undeliverable notice keep their status; the moves of 0010 no longer let them out of
    # action_required but through review.
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS claims_claim_official_needs_notice ON claims_claim; "
        "DROP FUNCTION IF EXISTS claims_claim_notice_delivered();",
        params=None,
    )
    schema_editor.execute(_status_moves(TRANSITIONS_0010), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0012_history_keyed"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="claim",
            name="claim_notified_has_deadline",
        ),
        migrations.AlterField(
            model_name="claim",
            name="customer_contact_name",
            field=models.CharField(
                max_length=200,
                validators=[associations.validators.validate_single_line],
                verbose_name="customer contact name",
            ),
        ),
        migrations.AlterField(
            model_name="claim",
            name="customer_contact_title",
            field=models.CharField(
                max_length=200,
                validators=[associations.validators.validate_single_line],
                verbose_name="customer contact title",
            ),
        ),
        migrations.AlterField(
            model_name="claim",
            name="customer_name",
            field=models.CharField(
                blank=True, max_length=200, validators=[associations.validators.validate_single_line]
            ),
        ),
        migrations.AlterField(
            model_name="claim",
            name="dynamics_seller_name",
            field=models.CharField(
                blank=True,
                max_length=200,
                validators=[associations.validators.validate_single_line],
                verbose_name="Dynamics solution seller name",
            ),
        ),
        migrations.AlterField(
            model_name="claim",
            name="isv_solution_name",
            field=models.CharField(
                blank=True,
                max_length=200,
                validators=[associations.validators.validate_single_line],
                verbose_name="Name of ISV product/solution",
            ),
        ),
        migrations.AlterField(
            model_name="claim",
            name="name",
            field=models.CharField(max_length=120, validators=[associations.validators.validate_single_line]),
        ),
        migrations.AlterField(
            model_name="claim",
            name="partner_contact_name",
            field=models.CharField(
                max_length=200,
                validators=[associations.validators.validate_single_line],
                verbose_name="your company's contact name",
            ),
        ),
        migrations.AlterField(
            model_name="claim",
            name="technical_contact_name",
            field=models.CharField(
                blank=True, max_length=200, validators=[associations.validators.validate_single_line]
            ),
        ),
        migrations.AlterField(
            model_name="claim",
            name="technical_contact_title",
            field=models.CharField(
                blank=True, max_length=200, validators=[associations.validators.validate_single_line]
            ),
        ),
        migrations.RunPython(install, uninstall),
        migrations.AddConstraint(
            model_name="claim",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("customer_notified_at__isnull", True), ("opt_out_deadline__isnull", True)),
                    models.Q(("customer_notified_at__isnull", False), ("opt_out_deadline__isnull", False)),
                    _connector="OR",
                ),
                name="claim_notified_has_deadline",
            ),
        ),
    ]
