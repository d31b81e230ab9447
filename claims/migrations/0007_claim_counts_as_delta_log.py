"""Claim counts as an insert-only log: the claims_claim triggers now INSERT deltas instead of upserting counters.

Migration 0004's triggers upserted into claims_partnerclaimcount, so a transaction that changed a partner's
claims held that partner's counter rows until it committed. Two validation batches writing two statements each
(submitted -> under_review, then submitted -> rejected) over partners P and Q in opposite orders waited on each
other in a cycle and PostgreSQL aborted one; every writer of a busy partner queued behind a finalization chunk.

Now each statement INSERTs one row per (partner, status) it changed into claims_partnerclaimcountdelta: no
UPDATE of a shared row, no ON CONFLICT, no foreign key check, so writers take no lock another writer wants. A
count is the counter row plus the partner's delta rows (``claims.selectors.claim_status_counts``, one query);
``claims.services.claim_counts_compact`` (beat, every minute) folds the deltas into the counters.

The triggers of 0004 stay; only their function's body changes. Switching needs no lock: a statement that still
ran the old body wrote its change to the counters, one that runs the new body writes a delta, and a reader adds
both.
"""

import django.db.models.deletion
from django.db import migrations, models

FUNCTION = """
CREATE OR REPLACE FUNCTION claims_partner_claim_count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO claims_partnerclaimcountdelta (partner_id, status, delta)
        SELECT partner_id, status, count(*) FROM new_rows GROUP BY partner_id, status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO claims_partnerclaimcountdelta (partner_id, status, delta)
        SELECT partner_id, status, -count(*) FROM old_rows GROUP BY partner_id, status;
    ELSE
        -- An UPDATE that changes no status or partner adds up to nothing and logs nothing.
        INSERT INTO claims_partnerclaimcountdelta (partner_id, status, delta)
        SELECT partner_id, status, sum(n) FROM (
            SELECT partner_id, status, 1 AS n FROM new_rows
            UNION ALL
            SELECT partner_id, status, -1 AS n FROM old_rows
        ) AS changes
        GROUP BY partner_id, status HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END;
$$;
"""

# Migration 0004's function, restored on the way back.
FUNCTION_0004 = """
CREATE OR REPLACE FUNCTION claims_partner_claim_count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO claims_partnerclaimcount (partner_id, status, count)
        SELECT partner_id, status, count(*) FROM new_rows GROUP BY partner_id, status ORDER BY partner_id, status
        ON CONFLICT (partner_id, status) DO UPDATE SET count = claims_partnerclaimcount.count + EXCLUDED.count;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO claims_partnerclaimcount (partner_id, status, count)
        SELECT partner_id, status, -count(*) FROM old_rows GROUP BY partner_id, status ORDER BY partner_id, status
        ON CONFLICT (partner_id, status) DO UPDATE SET count = claims_partnerclaimcount.count + EXCLUDED.count;
    ELSE
        INSERT INTO claims_partnerclaimcount (partner_id, status, count)
        SELECT partner_id, status, sum(n) FROM (
            SELECT partner_id, status, 1 AS n FROM new_rows
            UNION ALL
            SELECT partner_id, status, -1 AS n FROM old_rows
        ) AS changes
        GROUP BY partner_id, status HAVING sum(n) <> 0 ORDER BY partner_id, status
        ON CONFLICT (partner_id, status) DO UPDATE SET count = claims_partnerclaimcount.count + EXCLUDED.count;
    END IF;
    RETURN NULL;
END;
$$;
"""

# What claim_counts_compact does, once, before the log table goes away.
FOLD = """
WITH moved AS (DELETE FROM claims_partnerclaimcountdelta RETURNING partner_id, status, delta)
INSERT INTO claims_partnerclaimcount (partner_id, status, count)
SELECT partner_id, status, sum(delta) FROM moved GROUP BY partner_id, status ORDER BY partner_id, status
ON CONFLICT (partner_id, status) DO UPDATE SET count = claims_partnerclaimcount.count + EXCLUDED.count;
"""


def install(apps, schema_editor):
    schema_editor.execute(FUNCTION, params=None)


def uninstall(apps, schema_editor):
    # Keep writers out until this migration commits (SHARE mode, as claims_counts_verify does), so that no delta
    # is logged after the fold and then dropped with the table.
    schema_editor.execute("LOCK TABLE claims_claim IN SHARE MODE", params=None)
    schema_editor.execute(FUNCTION_0004, params=None)
    schema_editor.execute(FOLD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("associations", "0001_initial"),
        ("claims", "0006_poedocument_content_checked"),
    ]

    operations = [
        migrations.CreateModel(
            name="PartnerClaimCountDelta",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("submitted", "Submitted"),
                            ("under_review", "Under review"),
                            ("action_required", "Partner action required"),
                            ("customer_notified", "Awaiting customer"),
                            ("official", "Official"),
                            ("opted_out", "Customer opted out"),
                            ("rejected", "Rejected"),
                            ("ended", "Ended"),
                        ],
                        max_length=20,
                    ),
                ),
                ("delta", models.BigIntegerField()),
                (
                    "partner",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="associations.partner",
                    ),
                ),
            ],
        ),
        # Reversed in the opposite order: the old function and the fold run before the table is dropped.
        migrations.RunPython(install, uninstall),
    ]
