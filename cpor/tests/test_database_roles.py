"""Least privilege (SPEC §14, README "Database roles"): the tests, like the web, worker and beat in production,
connect as an app role with data rights only; the owner migrates. An attacker who gets the app role's connection
cannot switch the triggers off, truncate, alter or drop anything, nor rewrite history; a process whose role could
refuses to start."""

import runpy
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db import ProgrammingError, connection, connections, transaction
from django.db.backends.signals import connection_created
from django.test import override_settings

from claims.management.commands.db_roles_grant import db_roles_grant, db_roles_problems
from claims.models import ClaimEvent, ClaimStatus
from claims.services.transitions import claim_event_record
from claims.tests.factories import claim_make
from conftest import owner_credentials
from cpor.celery import beat_database_role_check, worker_database_role_check
from cpor.database_role import database_role_check, database_role_problem

ROOT = Path(__file__).resolve().parents[2]
DENIED = "permission denied|must be owner"


def _sql(statement, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def _denied(statement, params=None, *, match=DENIED):
    with pytest.raises(ProgrammingError, match=match), transaction.atomic():
        _sql(statement, params)


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    claim_event_record(claim=claim, actor="partner", action="submitted", new_status=ClaimStatus.SUBMITTED)
    return claim


@contextmanager
def _django_connection_as_owner():
    """Django's own connection as the database's owner (a superuser here), as a misconfigured deployment has it."""
    db = connection.settings_dict
    saved = db["USER"], db["PASSWORD"]
    connection.close()
    db["USER"], db["PASSWORD"] = owner_credentials()["USER"], owner_credentials()["PASSWORD"]
    try:
        yield
    finally:
        connection.close()
        db["USER"], db["PASSWORD"] = saved


def test_database_roles_tests_connect_as_the_app_role_with_exactly_its_data_rights(db):
    ((role, superuser),) = _sql("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")

    assert role != owner_credentials()["USER"]
    assert superuser is False
    with connection.cursor() as cursor:
        assert db_roles_problems(cursor, role) == []
    rights = dict(
        _sql(
            "SELECT c.relname, array(SELECT r FROM unnest(array['SELECT','INSERT','UPDATE','DELETE','TRUNCATE',"
            "'REFERENCES','TRIGGER']) r WHERE has_table_privilege(c.oid, r)) FROM pg_class c"
            " WHERE c.relname IN ('claims_claimevent', 'claims_claim')"
        )
    )
    assert rights == {
        "claims_claimevent": ["SELECT", "INSERT"],
        "claims_claim": ["SELECT", "INSERT", "UPDATE", "DELETE"],
    }


def test_database_roles_app_role_cannot_switch_the_triggers_off(db):
    for statement in [
        "SET session_replication_role = replica",
        "SET LOCAL session_replication_role = replica",
        "ALTER TABLE claims_claimevent DISABLE TRIGGER claims_claimevent_append_only",
        "ALTER TABLE claims_claimevent DISABLE TRIGGER ALL",
        "ALTER TABLE claims_claim DISABLE TRIGGER USER",
        "DROP TRIGGER claims_claimevent_append_only ON claims_claimevent",
        "DROP FUNCTION claims_claimevent_chain() CASCADE",
    ]:
        _denied(statement)

    assert _sql("SHOW session_replication_role") == [("origin",)]


def test_database_roles_app_role_cannot_truncate_any_table(db):
    tables = [name for (name,) in _sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]

    assert "claims_claimevent" in tables and len(tables) > 20
    for table in tables:
        _denied(f"TRUNCATE {connection.ops.quote_name(table)} CASCADE", match=f"permission denied for table {table}")


def test_database_roles_app_role_cannot_alter_create_or_drop(db):
    for statement in [
        "ALTER TABLE claims_claim ADD COLUMN x integer",
        "ALTER TABLE claims_claimevent DROP CONSTRAINT IF EXISTS nothing",
        "ALTER TABLE claims_claimevent OWNER TO CURRENT_USER",
        "CREATE TABLE claims_shadow (id integer)",
        "CREATE FUNCTION claims_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "DROP TABLE claims_claimevent CASCADE",
        "CREATE SCHEMA shadow",
    ]:
        _denied(statement)
    # Granting itself more is a warning that grants nothing.
    _sql("GRANT UPDATE ON claims_claimevent TO CURRENT_USER")
    assert _sql("SELECT has_table_privilege('claims_claimevent', 'UPDATE')") == [(False,)]


def test_database_roles_app_role_cannot_update_or_delete_history(claim):
    event = claim.events.get()

    _denied("UPDATE claims_claimevent SET message = 'x' WHERE id = %s", [event.pk], match="claims_claimevent")
    _denied("DELETE FROM claims_claimevent WHERE id = %s", [event.pk], match="claims_claimevent")
    _denied("SELECT id FROM claims_claimevent WHERE id = %s FOR UPDATE", [event.pk], match="claims_claimevent")
    assert list(ClaimEvent.objects.values_list("pk", "message")) == [(event.pk, "")]


def test_database_roles_grant_is_idempotent_revokes_extras_and_covers_later_tables(owner_db):
    app = _sql("SELECT current_user")[0][0]
    cursor = owner_db.cursor()
    cursor.execute(f"GRANT TRUNCATE, TRIGGER ON claims_claim TO {app}")
    cursor.execute(f"GRANT UPDATE ON claims_claimevent TO {app}")
    assert sorted(db_roles_problems(cursor, app)) == [
        "claims_claim has DELETE, INSERT, SELECT, TRIGGER, TRUNCATE, UPDATE (wants DELETE, INSERT, SELECT, UPDATE)",
        "claims_claimevent has INSERT, SELECT, UPDATE (wants INSERT, SELECT)",
    ]

    db_roles_grant(cursor, app, quote=connection.ops.quote_name)
    db_roles_grant(cursor, app, quote=connection.ops.quote_name)
    assert db_roles_problems(cursor, app) == []
    # A table a later migration creates: the owner's default privileges give it the data rights at once.
    cursor.execute("CREATE TABLE claims_later (id bigserial PRIMARY KEY)")
    cursor.execute(
        "SELECT has_table_privilege(%s, 'claims_later', 'INSERT'), has_table_privilege(%s, 'claims_later', 'TRUNCATE'),"
        " has_sequence_privilege(%s, 'claims_later_id_seq', 'USAGE')",
        [app, app, app],
    )
    assert cursor.fetchone() == (True, False, True)
    owner_db.rollback()


def test_database_roles_grant_refuses_the_owner_a_superuser_and_an_unknown_role(owner_db):
    cursor = owner_db.cursor()
    owner = owner_credentials()["USER"]

    with pytest.raises(CommandError, match="superuser"):
        db_roles_grant(cursor, owner, quote=connection.ops.quote_name)
    with pytest.raises(CommandError, match="There is no database role 'cpor_nobody_at_all'"):
        db_roles_grant(cursor, "cpor_nobody_at_all", quote=connection.ops.quote_name)
    cursor.execute("CREATE ROLE cpor_test_member_of_owner")
    cursor.execute("CREATE ROLE cpor_test_owner")
    cursor.execute("GRANT cpor_test_owner TO cpor_test_member_of_owner")
    cursor.execute("SET ROLE cpor_test_owner")
    with pytest.raises(CommandError, match="owner 'cpor_test_owner' or a member of it"):
        db_roles_grant(cursor, "cpor_test_member_of_owner", quote=connection.ops.quote_name)
    owner_db.rollback()


def test_database_role_check_passes_the_app_role(db, capsys):
    with override_settings(DEBUG=False):
        database_role_check("web server")

    assert capsys.readouterr().err == ""


def test_database_role_check_refuses_a_superuser_naming_database_url(transactional_db, capsys):
    owner = owner_credentials()["USER"]
    with _django_connection_as_owner():
        with override_settings(DEBUG=False), pytest.raises(ImproperlyConfigured) as refused:
            database_role_check("web server")
        with override_settings(DEBUG=True):
            database_role_check("web server")

    assert str(refused.value).startswith(f"DATABASE_URL connects as the PostgreSQL role '{owner}', a superuser")
    assert "data rights only" in str(refused.value)
    warning = capsys.readouterr().err
    assert "WARNING (DEBUG is on, so the web server starts anyway): DATABASE_URL connects as" in warning


def test_database_role_check_refuses_an_owner_of_the_tables(owner_db):
    cursor = owner_db.cursor()
    cursor.execute("CREATE ROLE cpor_test_table_owner")
    cursor.execute("ALTER TABLE associations_product OWNER TO cpor_test_table_owner")
    cursor.execute("SET ROLE cpor_test_table_owner")

    problem = database_role_problem(cursor)
    owner_db.rollback()

    assert problem == (
        "DATABASE_URL connects as the PostgreSQL role 'cpor_test_table_owner', which owns tables of the schema "
        "(associations_product)"
    )


def test_database_role_check_web_worker_and_beat_refuse_to_start_as_a_superuser(transactional_db):
    with _django_connection_as_owner(), override_settings(DEBUG=False):
        # cpor/wsgi.py: gunicorn's workers, and runserver, which loads it.
        with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL .* the web server must not run as it"):
            runpy.run_path(str(ROOT / "cpor" / "wsgi.py"))
        # Celery swallows exceptions from signal handlers: these exit.
        with pytest.raises(SystemExit, match=r"DATABASE_URL .* the Celery worker must not run as it"):
            worker_database_role_check()
        with pytest.raises(SystemExit, match=r"DATABASE_URL .* the Celery beat must not run as it"):
            beat_database_role_check()


def _checking_on_connect():
    return [entry for entry in connection_created.receivers if entry[0][0] == "cpor.database_role"]


def test_database_role_check_without_a_database_checks_the_first_connection(transactional_db):
    down = type(connections["default"])({**connection.settings_dict, "HOST": "127.0.0.1", "PORT": 1}, alias="down")
    try:
        database_role_check("web server", connection=down)
        assert _checking_on_connect()
        with (
            _django_connection_as_owner(),
            override_settings(DEBUG=False),
            pytest.raises(ImproperlyConfigured, match="a superuser"),
        ):
            connection.ensure_connection()
    finally:
        connection_created.disconnect(dispatch_uid="cpor.database_role")
    assert not _checking_on_connect()
