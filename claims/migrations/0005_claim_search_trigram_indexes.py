"""Trigram indexes for the list page's search by part of a claim name or domain (PostgreSQL only).

Django's ``icontains`` is ``UPPER(column::text) LIKE UPPER('%...%')`` on PostgreSQL: these GIN indexes are on
exactly that expression, so a substring search reads the matching rows instead of every row of the partner.
pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.

They are created here rather than declared in Claim.Meta.indexes because a GinIndex needs
django.contrib.postgres and cannot be created on SQLite, the embedded default, where the list searches its
(few) rows without them.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "claim_name_trgm": "name",
    "claim_domain_trgm": "domain",
}


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index} ON claims_claim USING gin ((UPPER({column}::text)) gin_trgm_ops);",
            params=None,
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index};", params=None)


class Migration(migrations.Migration):
    dependencies = [("claims", "0004_partner_claim_count_triggers")]

    # TrigramExtension does nothing on other databases.
    operations = [TrigramExtension(), migrations.RunPython(install, uninstall)]
