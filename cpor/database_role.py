"""The start-up check of the web, worker and beat processes: their database role has data rights only (SPEC §14).

A role that is a superuser, or that owns the schema's tables (directly or as a member of their owner), can switch
off the triggers that keep history append-only and the lifecycle whole (``SET session_replication_role``, ``ALTER
TABLE ... DISABLE TRIGGER``), TRUNCATE them or drop them. With DEBUG off such a process refuses to start; with DEBUG
on it says so loudly. Migrations and management commands run by the owner are not checked.
"""

import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db.backends.signals import connection_created

ADVICE = (
    "point DATABASE_URL at a role with data rights only, and run migrations as the owner (README, Database roles; "
    "`make run` takes the owner's URL from DATABASE_OWNER_URL)"
)


def database_role_problem(cursor):
    """Why the cursor's role is too strong to serve the application, or None."""
    cursor.execute(
        "SELECT current_user, rolsuper, ("
        " SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')"
        " AND pg_has_role(current_user, c.relowner, 'MEMBER')"
        ") FROM pg_roles WHERE rolname = current_user"
    )
    role, superuser, owned = cursor.fetchone()
    if superuser:
        return f"DATABASE_URL connects as the PostgreSQL role {role!r}, a superuser"
    if owned:
        names = owned.split(", ")
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return f"DATABASE_URL connects as the PostgreSQL role {role!r}, which owns tables of the schema ({shown})"
    return None


def database_role_check(process, *, connection=None):
    """Refuse to start ``process`` (DEBUG off: ``ImproperlyConfigured``) or warn on stderr (DEBUG on) when its
    database role is a superuser or an owner. When the database does not answer yet, the first connection the
    process opens is checked instead (with DEBUG off, every connection of a strong role then fails). The connection
    is closed afterwards (a server may fork after this)."""
    if connection is None:
        from django.db import connection
    try:
        with connection.cursor() as cursor:
            problem = database_role_problem(cursor)
    except DatabaseError:
        connection_created.connect(_check_when_connected(process), weak=False, dispatch_uid="cpor.database_role")
        return
    finally:
        connection.close()
    _judge(process, problem)


def _judge(process, problem):
    if problem is None:
        return
    message = f"{problem}: the {process} must not run as it; {ADVICE}."
    if not settings.DEBUG:
        raise ImproperlyConfigured(message)
    sys.stderr.write(
        f"\n{'!' * 100}\nWARNING (DEBUG is on, so the {process} starts anyway): {message}\n{'!' * 100}\n\n"
    )
    sys.stderr.flush()


def _check_when_connected(process):
    def check(sender, connection, **kwargs):
        with connection.cursor() as cursor:
            problem = database_role_problem(cursor)
        _judge(process, problem)  # with DEBUG off a strong role keeps refusing every connection
        connection_created.disconnect(dispatch_uid="cpor.database_role")

    return check
