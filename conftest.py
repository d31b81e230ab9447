"""The test bed: real PostgreSQL (pytest-django), a real S3-compatible server, a real Celery worker on Redis,
and Playwright on Debian's Chromium. Nothing outside the machine is mocked away where a local server exists.

The tests connect to PostgreSQL as the application does in production (SPEC §14, README "Database roles"): the
test database is created and migrated by the configured user (its owner), then every connection of the tests and
of the processes they start uses an app role with the production grants (``db_roles_grant``). ``owner_db`` gives a
test the owner's connection; pytest-django's flush between transactional tests runs as the owner too.

Under pytest-xdist (``make test``) each worker has its own test database, Redis databases, cache key prefix,
Celery queues and S3 server and bucket (cpor/test_settings.py). Tests are marked by kind from the fixtures and
helpers they use (``pytest_collection_modifyitems``): ``browser``, ``process``, ``fault``; ``make test-fast``
leaves those out.
"""

import contextlib
import functools
import os
import secrets
import signal
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path
from urllib.parse import quote

import boto3
import psycopg
import pytest
import redis
from django.conf import settings

from cpor.test_settings import S3_PORT

pytest_plugins = ["associations.tests.fixtures", "claims.tests.smtp_server"]

ROOT = Path(__file__).resolve().parent
# Debian's Chromium headless shell (scripts/ensure-services installs it): what Playwright runs for headless tests,
# at half the CPU of the full browser's headless mode; the full browser where only it is installed.
# CHROMIUM_PATH=/usr/bin/chromium runs the full browser.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or next(
    (path for path in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium") if os.path.exists(path)),
    "/usr/bin/chromium-headless-shell",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Playwright's sync API runs an event loop in this thread; Django's ORM calls from test code are still
# synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# Kinds of tests (pytest.ini registers the markers). A test is of a kind when it, or a fixture it uses that is not
# shared by the whole session, uses one of these fixtures (as an argument, or by name through
# ``request.getfixturevalue``), or calls (itself or through the project's helpers) one of these names.
BROWSER_FIXTURES = {"page", "browser"}
PROCESS_FIXTURES = {"celery_worker", "own_redis"}
PROCESS_NAMES = {"subprocess", "Popen", "celery_worker_start", "RedisServer"}
FAULT_FIXTURES = {"own_redis"}
PROJECT_MODULES = ("associations", "claims", "api", "cpor", "conftest")


def _names_used(function, seen):
    """The global names ``function`` uses, with those of the project's functions it calls, transitively; a fixture
    it asks for by name (``request.getfixturevalue("celery_worker")``) as ``fixture:celery_worker``."""
    names, codes = set(), [function.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        if "getfixturevalue" in code.co_names:
            names.update(f"fixture:{const}" for const in code.co_consts if isinstance(const, str))
        codes.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    for name in list(names):
        helper = function.__globals__.get(name)
        if (
            isinstance(helper, types.FunctionType)
            and helper not in seen
            and (helper.__module__ or "").split(".")[0] in PROJECT_MODULES
        ):
            seen.add(helper)
            names |= _names_used(helper, seen)
    return names


@functools.cache
def _names_walked(function):
    """``_names_used`` of one function, walked once: the fixtures and parametrized tests many items share."""
    return frozenset(_names_used(function, set()))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        functions = [getattr(item, "function", None)]
        for name in fixtures:
            definitions = item._fixtureinfo.name2fixturedefs.get(name) if hasattr(item, "_fixtureinfo") else None
            if definitions and definitions[-1].scope != "session":
                functions.append(definitions[-1].func)
        names = set()
        for function in functions:
            if (
                isinstance(function, types.FunctionType)
                and (function.__module__ or "").split(".")[0] in PROJECT_MODULES
            ):
                names |= _names_walked(function)
        fixtures |= {name.removeprefix("fixture:") for name in names if name.startswith("fixture:")}
        browser = bool(fixtures & BROWSER_FIXTURES)
        fault = bool(fixtures & FAULT_FIXTURES) or item.path.name.startswith("test_fault_")
        if browser:
            item.add_marker(pytest.mark.browser)
        if fixtures & PROCESS_FIXTURES or names & PROCESS_NAMES:
            item.add_marker(pytest.mark.process)
        if fault:
            item.add_marker(pytest.mark.fault)
        # Groups for --dist loadgroup: the fault tests one after another on one worker, a browser test file's tests
        # on one worker, and a module's own servers (a Redis, gunicorn processes) started once. This hook runs before
        # pytest-xdist's (tryfirst), which reads the marks to group the tests.
        if fault:
            item.add_marker(pytest.mark.xdist_group("fault"))
        elif browser or any(
            item._fixtureinfo.name2fixturedefs[name][-1].scope == "module"
            for name in fixtures
            if hasattr(item, "_fixtureinfo") and item._fixtureinfo.name2fixturedefs.get(name)
        ):
            item.add_marker(pytest.mark.xdist_group(item.path.name))


def _wait_for(check, *, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {seconds}s")


def database_url(name):
    """A URL of database ``name`` on the test server, for a process of its own, as the app role once the tests have
    switched to it: a socket directory (the embedded PostgreSQL) is percent-encoded as the host, which is how
    cpor.env reads it."""
    db = settings.DATABASES["default"]
    user, password = quote(db["USER"], safe=""), quote(db["PASSWORD"] or "", safe="")
    return f"postgres://{user}:{password}@{quote(db['HOST'] or '127.0.0.1', safe='')}:{db['PORT'] or 5432}/{name}"


def _stop(process):
    """Stop a process group we started, by PID: TERM, then KILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# The owner's credentials (the configured user, who created and migrated the test database) once the tests switch
# to the app role: the flush and ``owner_db`` connect with them.
_owner = {}


def owner_credentials():
    """The test database owner's USER and PASSWORD (the configured user's)."""
    db = settings.DATABASES["default"]
    return {"USER": _owner.get("USER", db["USER"]), "PASSWORD": _owner.get("PASSWORD", db["PASSWORD"])}


def owner_connect(**options):
    """A new psycopg connection to the test database as its owner."""
    db, owner = settings.DATABASES["default"], owner_credentials()
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=owner["USER"],
        password=owner["PASSWORD"] or None,
        **options,
    )


def _flush_as_owner(self, sql_list):
    """pytest-django empties the database between transactional tests with TRUNCATE, which the app role may not
    run: the owner does, on a short connection of its own (with the database's ``cpor.maintenance`` hatch).

    A TRUNCATE gives every table of the project new files, whether a test wrote to it or not (a quarter of a second
    for 41 mostly empty tables here); a test leaves a few rows behind, which DELETE removes at once. Where the owner
    is a superuser (the tests' server on CI and the embedded one), the rows are deleted with triggers and foreign
    keys off for that transaction only (``session_replication_role = replica``: the history's refusals are
    triggers); otherwise, and where a test asks for sequences to restart, the TRUNCATE runs as Django wrote it."""
    with owner_connect() as owner:  # commits on leaving
        superuser = owner.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        for statement in sql_list:
            tables = _truncated_tables(statement) if superuser else None
            if tables is None:
                owner.execute(statement)
                continue
            owner.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                owner.execute(f"DELETE FROM {table}")
            owner.execute("SET LOCAL session_replication_role = origin")


def _truncated_tables(statement):
    """The quoted table names of Django's flush statement ``TRUNCATE "a", "b";``, or None for any other statement
    (one restarting sequences, cascading, or not a TRUNCATE)."""
    head, _, names = statement.rstrip().rstrip(";").partition(" ")
    if head.upper() != "TRUNCATE" or any(word in names.upper() for word in (" RESTART ", " CASCADE", " IDENTITY")):
        return None
    return [name.strip() for name in names.split(",")]


# Under pytest-xdist the workers' databases are copies of one migrated database, the run's template: the first
# worker to need a database migrates its own (as without xdist) and copies it to the template before its grants;
# the others, waiting on a lock meanwhile, create theirs from the template (``CREATE DATABASE ... TEMPLATE``, a
# fraction of a second) and let migrate find nothing to apply. The controller drops the template when the run
# starts (one a stopped run left) and ends. Migrating once instead of once a worker saves about 6 CPU-seconds a
# worker, at the start of the run when every worker wants both cores.
_template_lock = {}


def _template_name():
    return f"test_{settings.DATABASES['default']['NAME']}_template"[:63]


def _maintenance_connect():
    """An autocommit connection of the configured user to the server's ``postgres`` database."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname="postgres",
        user=db["USER"],
        password=db["PASSWORD"] or None,
        autocommit=True,
    )


def _template_drop():
    with contextlib.closing(_maintenance_connect()) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_template_name()}" WITH (FORCE)')


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    if getattr(session.config.option, "numprocesses", None) and not hasattr(session.config, "workerinput"):
        _template_drop()


def pytest_sessionfinish(session):
    if getattr(session.config.option, "numprocesses", None) and not hasattr(session.config, "workerinput"):
        _template_drop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request, django_db_keepdb):
    """A pytest-xdist worker's database from the run's template (above), unless it keeps one it already has."""
    if not hasattr(request.config, "workerinput"):
        return
    test = settings.DATABASES["default"].setdefault("TEST", {})
    conn = _maintenance_connect()
    if django_db_keepdb and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [test["NAME"]]).fetchone():
        conn.close()
        return
    template = _template_name()
    conn.execute("SET lock_timeout = '5min'")  # a first worker whose migrate failed holds it: the others fail, not wait
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [template])
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone():
        conn.close()  # the lock goes with the session
        test["TEMPLATE"] = template
    else:
        _template_lock.update(connection=conn, name=template)  # held until this worker's database is migrated


def _template_make(connection):
    """The template from this worker's database, just migrated, if this worker holds the lock (see above)."""
    conn = _template_lock.pop("connection", None)
    if conn is None:
        return
    with contextlib.closing(conn):
        connection.close()  # CREATE DATABASE ... TEMPLATE copies a database no one is connected to
        conn.execute(f'CREATE DATABASE "{_template_lock.pop("name")}" TEMPLATE "{connection.settings_dict["NAME"]}"')


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, migrated by its owner, then served to the tests by an app role with the production grants.

    The owner also opens the tests' one escape hatch from the history rules (migration 0008): pytest-django empties
    the database between transactional tests with TRUNCATE, which PostgreSQL refuses on claims' history unless
    ``cpor.maintenance`` is 'on' as a setting of the database itself. Only this test database gets it."""
    from django.db import connection, connections
    from django.db.backends.postgresql.operations import DatabaseOperations

    from claims.management.commands.db_roles_grant import db_roles_grant

    db = settings.DATABASES["default"]
    app_role, password = f"{db['NAME']}_app"[:63], secrets.token_urlsafe(24)
    with django_db_blocker.unblock():
        _template_make(connection)
        with connection.cursor() as cursor:
            name, role = connection.ops.quote_name(db["NAME"]), connection.ops.quote_name(app_role)
            cursor.execute(f"ALTER DATABASE {name} SET cpor.maintenance = 'on'")
            # A commit of the tests' (transactional tests, the processes they start) need not wait for its WAL to
            # reach the disk: a crash of the server would lose the last few, of a database dropped afterwards.
            cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role])
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s", [password])
            db_roles_grant(cursor, app_role, quote=connection.ops.quote_name)
        # Sessions read database settings when they start.
        connections.close_all()
    _owner.update(USER=db["USER"], PASSWORD=db["PASSWORD"])
    db["USER"], db["PASSWORD"] = app_role, password
    saved_flush = DatabaseOperations.execute_sql_flush
    DatabaseOperations.execute_sql_flush = _flush_as_owner
    try:
        yield
    finally:
        DatabaseOperations.execute_sql_flush = saved_flush
        with django_db_blocker.unblock():
            connections.close_all()
        db["USER"], db["PASSWORD"] = _owner.pop("USER"), _owner.pop("PASSWORD")
        # The role goes with its grants; pytest-django then drops the database as its owner. A session of the app
        # role still open (a thread's, a stopped process's, found at the end of a full run now and then) would make
        # that DROP DATABASE fail ("being accessed by other users"): the owner, where it may, ends them first.
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND usename = %s AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
                [app_role],
            )
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
        with django_db_blocker.unblock():
            connections.close_all()


@contextlib.contextmanager
def module_data(django_db_blocker):
    """For a module-scoped fixture: data that a module's tests share, written once. It is written in a transaction
    left open around the module's tests (each test's own transaction is a savepoint inside it, as pytest-django's
    ``db`` makes it) and rolled back after them, as Django's ``TestCase.setUpTestData`` does for a class. Every
    later test of the module sees it, whether it asks for it or not: for modules whose tests all want it, and only
    tests that use ``db`` (a transactional test would not see it). The files it stored are deleted afterwards."""
    from django.core.files.storage import default_storage
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)
    # The files it stored go with its rows: the next test of the worker expects an empty bucket, and the per-test
    # emptying (_isolated_storage_and_cache) sees only what a test itself stored.
    default_storage.bucket.objects.all().delete()


@pytest.fixture
def owner_db(transactional_db):
    """A psycopg connection (autocommit off) to the test database as its owner, closed afterwards. What the test
    wants the owner to see it commits first (this fixture makes the test a transactional one)."""
    connection = owner_connect(autocommit=False)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="session", autouse=True)
def s3_server(tmp_path_factory):
    """moto in server mode on loopback, with the bucket the settings name. Every test's default storage is S3."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    endpoint = f"http://127.0.0.1:{S3_PORT}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(S3_PORT)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Its own server answering, not another worker's that took the port first.
        _wait_for(
            lambda: process.poll() is None and urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1),
            seconds=30,
            what="moto_server",
        )
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=settings.AWS_STORAGE_BUCKET_NAME)
        from storages.backends.s3 import S3Storage

        save = S3Storage._save

        def noted_save(self, name, content):
            _s3_stored["since_test_start"] = True
            return save(self, name, content)

        S3Storage._save = noted_save
        try:
            yield client
        finally:
            S3Storage._save = save
    finally:
        _stop(process)


@pytest.fixture
def s3_objects(s3_server):
    """A function that lists the keys in the test bucket (optionally under a prefix)."""

    def list_keys(prefix=""):
        pages = s3_server.get_paginator("list_objects_v2").paginate(
            Bucket=settings.AWS_STORAGE_BUCKET_NAME, Prefix=prefix
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    return list_keys


# Whether this process stored a file in S3 since the last test began (S3Storage._save, wrapped by s3_server).
_s3_stored = {"since_test_start": False}


@pytest.fixture(autouse=True)
def _isolated_storage_and_cache(request, s3_server):
    """Each test starts with an empty cache (rate limits, worker pings) and an empty bucket: a test that stored a
    file (in this process, the live server's thread included), started processes or drove a browser empties the
    bucket when it ends; listing it after every test would cost a request to moto each."""
    from django.core.cache import cache

    cache.clear()
    _s3_stored["since_test_start"] = False
    yield
    if _s3_stored["since_test_start"] or any(request.node.get_closest_marker(kind) for kind in ("process", "browser")):
        bucket = settings.AWS_STORAGE_BUCKET_NAME
        keys = [obj["Key"] for obj in s3_server.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if keys:
            s3_server.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})


def route_reached(page, handled, *, seconds=10):
    """Wait until a request the page sent has reached its ``page.route`` handler (``handled`` fills): Playwright runs
    the handler from its own event loop, which under load may come after the page already shows it is sending."""
    deadline = time.monotonic() + seconds
    while not handled and time.monotonic() < deadline:
        page.wait_for_timeout(20)  # runs Playwright's loop


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the site's default language: a request of an earlier test in the same worker (one in
    Chinese, say) leaves its language active in the thread, and a test calling a function directly would read its
    messages in that language."""
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A real ``celery worker`` process consuming Redis, against the test database; stopped by PID.

    Tests that use it must commit their data (it is a ``transactional_db`` fixture), since the worker reads
    through its own connection. Emails the worker sends are written as .eml files to ``worker.mail_dir``.
    """
    broker = settings.CELERY_BROKER_URL
    redis.Redis.from_url(broker).flushdb()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cpor.test_settings",
        "TEST_S3_PORT": str(S3_PORT),
        "TEST_DATABASE_URL": database_url(settings.DATABASES["default"]["NAME"]),
        "TEST_CELERY_BROKER_URL": broker,
        "TEST_EMAIL_DIR": str(tmp_path / "mail"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cpor",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    from cpor.celery import app

    process.mail_dir = tmp_path / "mail"
    try:
        _wait_for(lambda: process.poll() is None and app.control.ping(timeout=0.5), seconds=60, what="celery worker")
        yield process
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


# Fault tests (SPEC §14 "Outages"): a Redis server, a broker connection and workers of the test's own, which it may
# stop, freeze, flush or kill -9. Never the shared Redis on 6379.


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A ``redis-server`` on its own loopback port, with no persistence; ``stop()`` and ``start()`` keep the port."""

    def __init__(self, workdir):
        self.port = free_port()
        self.workdir = workdir
        self.process = None

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self):
        return redis.Redis(port=self.port, socket_timeout=2)

    def start(self):
        with open(self.workdir / "redis.log", "ab") as out:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for(lambda: self.client().ping(), seconds=10, what="redis-server")

    def stop(self):
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a frozen server cannot act on TERM
            _stop(self.process)
            self.process = None


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    """A Redis server of this test module's own (shared by its tests: each flushes it first)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def celery_worker_start(*, broker_url, workdir):
    """Start a real ``celery worker`` (solo pool) on ``broker_url`` against the test database; returns the process
    once it consumes (its log says "ready"). The caller stops it (``_stop``) or kills it. Emails go to
    ``workdir/mail``."""
    log = workdir / f"worker-{time.monotonic_ns()}.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cpor.test_settings",
        "TEST_S3_PORT": str(S3_PORT),
        "TEST_DATABASE_URL": database_url(settings.DATABASES["default"]["NAME"]),
        "TEST_CELERY_BROKER_URL": broker_url,
        "TEST_EMAIL_DIR": str(workdir / "mail"),
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "cpor", "worker", "--pool=solo", "--loglevel=INFO"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.log = log
    try:
        _wait_for(lambda: process.poll() is None and b" ready." in log.read_bytes(), seconds=60, what="celery worker")
    except RuntimeError:
        _stop(process)
        raise RuntimeError(f"celery worker did not start:\n{log.read_text()[-3000:]}") from None
    return process


@pytest.fixture
def broker_at():
    """``with broker_at(url):`` this process sends its tasks to ``url`` (the Celery app reads its broker once, so
    overriding the setting would not do), with fresh connection pools on the way in and out."""
    from contextlib import contextmanager

    from celery import current_app

    from claims.services import jobs

    app = current_app._get_current_object()
    saved = (app.conf.broker_read_url, app.conf.broker_write_url)

    def fresh_pools():
        from kombu import pools

        pools.reset()  # kombu keeps producer pools per broker URL, process-wide
        app._pool = None
        app.amqp._producer_pool = None
        jobs._broker_failed_at = None

    @contextmanager
    def switch(url):
        app.conf.broker_read_url = app.conf.broker_write_url = url
        fresh_pools()
        try:
            yield
        finally:
            app.conf.broker_read_url, app.conf.broker_write_url = saved
            fresh_pools()

    return switch
