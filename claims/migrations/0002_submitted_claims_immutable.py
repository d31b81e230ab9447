"""Submitted claims cannot be edited, also not through QuerySet.update() or raw SQL (SPEC §4).

PostgreSQL BEFORE UPDATE triggers refuse any change to what the partner entered; the status and lifecycle
columns stay writable.
"""

from django.db import migrations

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
]
CLAIMITEM_FROZEN = ["claim_id", "program", "tenant_id", "product_id", "subscription_id"]
POEDOCUMENT_FROZEN = ["file", "claim_id"]


def _row(columns, alias):
    return "ROW(" + ", ".join(f"{alias}.{column}" for column in columns) + ")"


def _guard(table, columns, extra_condition=""):
    function = f"{table}_frozen_guard"
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF {_row(columns, "NEW")} IS DISTINCT FROM {_row(columns, "OLD")}{extra_condition} THEN
        RAISE EXCEPTION 'A submitted customer association cannot be edited (% %).', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
DROP TRIGGER IF EXISTS {function} ON {table};
CREATE TRIGGER {function} BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}();
"""


# created_by may only become NULL: deleting a user account sets it so (on_delete=SET_NULL), and the claim keeps
# everything else it had.
CLAIM_CREATED_BY = " OR (NEW.created_by_id IS NOT NULL AND NEW.created_by_id IS DISTINCT FROM OLD.created_by_id)"

GUARDS = [
    ("claims_claim", CLAIM_FROZEN, CLAIM_CREATED_BY),
    ("claims_claimitem", CLAIMITEM_FROZEN, ""),
    ("claims_poedocument", POEDOCUMENT_FROZEN, ""),
]


def install(apps, schema_editor):
    for table, columns, extra in GUARDS:
        schema_editor.execute(_guard(table, columns, extra), params=None)


def uninstall(apps, schema_editor):
    for table, _columns, _extra in GUARDS:
        function = f"{table}_frozen_guard"
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {function} ON {table}; DROP FUNCTION IF EXISTS {function}();", params=None)


class Migration(migrations.Migration):
    dependencies = [("claims", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
