"""PostgreSQL keeps claims_partnerclaimcount: the number of claims per (partner, status), for the list page.

Three statement-level AFTER triggers on claims_claim read the statement's transition tables (all the rows it
inserted, updated or deleted), add them up per (partner, status) and upsert the deltas: a batch UPDATE of 500
claims (finalization) costs one upsert per (partner, status) pair it touched, not 500 row triggers. An UPDATE
that changes no status or partner adds up to nothing and writes nothing.

Every write path is covered, the ORM, QuerySet.update(), raw SQL, cascades, because the database does it.
What it costs: a transaction that changes a partner's claims holds that partner's counter rows (of the statuses
it touched) locked until it commits, so such transactions of one partner queue for each other. The deltas are
upserted in (partner, status) order, so two single statements never wait on each other in a cycle.

A TRUNCATE of claims_claim (test flushes) is not counted: flush truncates claims_partnerclaimcount with it.
"""

from django.db import migrations

FUNCTION = """
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

# Transition tables allow one event per trigger, hence three triggers on one function.
TRIGGERS = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}

BACKFILL = """
DELETE FROM claims_partnerclaimcount;
INSERT INTO claims_partnerclaimcount (partner_id, status, count)
SELECT partner_id, status, count(*) FROM claims_claim GROUP BY partner_id, status;
"""


def _trigger_name(event):
    return f"claims_claim_count_{event.lower()}"


def install(apps, schema_editor):
    schema_editor.execute(FUNCTION, params=None)
    for event, referencing in TRIGGERS.items():
        name = _trigger_name(event)
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {name} ON claims_claim; "
            f"CREATE TRIGGER {name} AFTER {event} ON claims_claim {referencing} "
            "FOR EACH STATEMENT EXECUTE FUNCTION claims_partner_claim_count_apply();",
            params=None,
        )
    # CREATE TRIGGER took a lock that keeps writers out of claims_claim until this migration commits, so the
    # backfill counts exactly the rows the triggers will not see.
    schema_editor.execute(BACKFILL, params=None)


def uninstall(apps, schema_editor):
    for event in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(event)} ON claims_claim;", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS claims_partner_claim_count_apply();", params=None)


class Migration(migrations.Migration):
    dependencies = [("claims", "0003_partner_claim_count_and_list_indexes")]

    operations = [migrations.RunPython(install, uninstall)]
