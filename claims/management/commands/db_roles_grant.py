"""Gives the application's database role exactly its data rights (SPEC §14; README "Database roles").

Migrations run as the OWNER of the schema's tables; the web processes, the Celery worker and beat connect as an APP
role that can read and write rows and nothing else: no owner, no superuser, so no TRUNCATE, no trigger changes,
no ALTER, no DDL. Run this as the owner after ``migrate`` (``make run`` does), with the app role's name:

    DATABASE_URL=<the owner's URL> python manage.py db_roles_grant cpor_app

Idempotent: it revokes whatever else the app role was given on the tables and sequences, then grants SELECT,
INSERT, UPDATE and DELETE on every table (only SELECT and INSERT on the append-only history, claims_claimevent),
USAGE and SELECT on every sequence and EXECUTE on every function of the current schema. Default privileges give
tables, sequences and functions the owner creates later (a later migration) the same rights; run it again after
each ``migrate`` anyway, for a new append-only table. It ends by checking the result and fails naming what is off.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from claims.models import ClaimEvent

TABLE_RIGHTS = ("SELECT", "INSERT", "UPDATE", "DELETE")
# History is evidence: rows are added, never changed (the triggers of migration 0008 refuse the rest anyway).
APPEND_ONLY_RIGHTS = ("SELECT", "INSERT")
# Every privilege a table can carry, to check that the app role holds exactly its own.
ALL_TABLE_RIGHTS = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def append_only_tables():
    return [ClaimEvent._meta.db_table]


def _one(cursor, statement, params=None):
    cursor.execute(statement, params)
    return cursor.fetchone()


def db_roles_grant(cursor, app_role, *, quote):
    """Grant ``app_role`` its data rights on the current schema, as the cursor's role (the tables' owner); then check
    them. ``quote`` quotes an identifier. Raises ``CommandError`` on a role that must not get them, or on a result
    that is not exactly the data rights (tables owned by another role are not granted by their owner's default)."""
    owner, database, schema = _one(cursor, "SELECT current_user, current_database(), current_schema()")
    found = _one(
        cursor,
        "SELECT rolsuper, pg_has_role(%s, current_user, 'MEMBER') FROM pg_roles WHERE rolname = %s",
        [app_role, app_role],
    )
    if found is None:
        raise CommandError(
            f"There is no database role {app_role!r}: create it first, e.g. CREATE ROLE {app_role} LOGIN PASSWORD "
            "'…' (README, Database roles)"
        )
    superuser, member_of_owner = found
    if app_role == owner or superuser or member_of_owner:
        raise CommandError(
            f"{app_role!r} is {'a superuser' if superuser else 'the owner ' + repr(owner) + ' or a member of it'}: "
            "the application's role must be another role, with data rights only (README, Database roles)"
        )
    app, q_owner, q_schema = quote(app_role), quote(owner), quote(schema)
    statements = [
        f"GRANT CONNECT ON DATABASE {quote(database)} TO {app}",
        f"GRANT USAGE ON SCHEMA {q_schema} TO {app}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {q_schema} FROM {app}",
        f"GRANT {', '.join(TABLE_RIGHTS)} ON ALL TABLES IN SCHEMA {q_schema} TO {app}",
        *(
            f"REVOKE {', '.join(sorted(set(TABLE_RIGHTS) - set(APPEND_ONLY_RIGHTS)))} ON {quote(table)} FROM {app}"
            for table in append_only_tables()
        ),
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {q_schema} FROM {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q_schema} TO {app}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {q_schema} TO {app}",
        # What the owner creates later: the same rights, without a new grant.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {q_owner} IN SCHEMA {q_schema} "
        f"GRANT {', '.join(TABLE_RIGHTS)} ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {q_owner} IN SCHEMA {q_schema} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {q_owner} IN SCHEMA {q_schema} GRANT EXECUTE ON FUNCTIONS TO {app}",
    ]
    # No DDL: PostgreSQL before 15 lets every role create objects in the public schema.
    if _one(cursor, "SELECT has_schema_privilege(%s, %s, 'CREATE')", [app_role, schema])[0]:
        statements += [
            f"REVOKE CREATE ON SCHEMA {q_schema} FROM PUBLIC",
            f"REVOKE CREATE ON SCHEMA {q_schema} FROM {app}",
        ]
    for statement in statements:
        cursor.execute(statement)
    problems = db_roles_problems(cursor, app_role)
    if problems:
        raise CommandError(f"{app_role!r} does not have exactly its data rights: " + "; ".join(problems))


def db_roles_problems(cursor, app_role):
    """What differs from the data rights of ``app_role`` on the current schema (an empty list when nothing does)."""
    append_only = set(append_only_tables())
    cursor.execute(
        "SELECT c.relname, array(SELECT right_name FROM unnest(%s::text[]) AS right_name"
        " WHERE has_table_privilege(%s, c.oid, right_name))"
        " FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v')"
        " ORDER BY c.relname",
        [list(ALL_TABLE_RIGHTS), app_role],
    )
    problems = []
    for table, held in cursor.fetchall():
        wanted = set(APPEND_ONLY_RIGHTS if table in append_only else TABLE_RIGHTS)
        have = set(held)
        if have != wanted:
            problems.append(f"{table} has {', '.join(sorted(have)) or 'nothing'} (wants {', '.join(sorted(wanted))})")
    cursor.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
        " AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(%s, c.oid, 'USAGE') END ORDER BY c.relname",
        [app_role],
    )
    problems += [f"sequence {name} cannot be used" for (name,) in cursor.fetchall()]
    if _one(cursor, "SELECT has_schema_privilege(%s, current_schema(), 'CREATE')", [app_role])[0]:
        problems.append("it may create objects in the schema")
    if _one(cursor, "SELECT has_database_privilege(%s, current_database(), 'CREATE')", [app_role])[0]:
        problems.append("it may create schemas in the database")
    return problems


class Command(BaseCommand):
    help = "Grant the application's database role its data rights (run as the owner, after migrate)."

    def add_arguments(self, parser):
        parser.add_argument("app_role", help="the role the web, worker and beat connect as (DATABASE_URL's user)")

    def handle(self, *args, app_role, **options):
        with transaction.atomic(), connection.cursor() as cursor:
            db_roles_grant(cursor, app_role, quote=connection.ops.quote_name)
        self.stdout.write(f"{app_role}: data rights on every table of {connection.settings_dict['NAME']}.")
