"""Trigram indexes for the list page's search by part of a claim name or domain.

Django's ``icontains`` is ``UPPER(column::text) LIKE UPPER('%...%')`` on PostgreSQL: these GIN indexes are on
exactly that expression, so a substring search reads the matching rows instead of every row of the partner.
pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.

They are created here, on the exact expression ``icontains`` compiles to, rather than declared in
Claim.Meta.indexes.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "claim_name_trgm": "name",
    "claim_domain_trgm": "domain",
}


def install(apps, schema_editor):
    for index, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index} ON claims_claim USING gin ((UPPER({column}::text)) gin_trgm_ops);",
            params=None,
        )


def uninstall(apps, schema_editor):
    for index in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index};", params=None)


class Migration(migrations.Migration):
    dependencies = [("claims", "0004_partner_claim_count_triggers")]

    operations = [TrigramExtension(), migrations.RunPython(install, uninstall)]
