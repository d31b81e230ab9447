"""The bench database of SPEC §11: the demo data plus 200,000 claims, filled set-based in seconds.

    .venv/bin/python bench/data.py            # build it once (kept: a second run sees the marker and stops)
    .venv/bin/python bench/data.py --fresh    # drop and rebuild
    .venv/bin/python bench/data.py --claims 50000 --database-url postgres://postgres@127.0.0.1:5432/x

The database (default ``postgres://postgres@127.0.0.1:5432/cpor_bench_200k``, or ``CPOR_BENCH_DATABASE_URL``) is
dropped and recreated, migrated and seeded with ``seed_demo`` (catalog, partners, logins, demo claims), then
filled with ``INSERT ... SELECT generate_series``: 90% of the claims belong to Contoso Partners (the demo login
alex@contoso-partners.example), 10% to Fabrikam Consulting, in every status, each with its items (one or two
Microsoft 365 workloads, or a Dynamics 365 Sales subscription in two programs), its history, one POE row (the
stored key does not exist: the pages only list names), the emails already sent, associations for official and
ended claims and 12 months of usage for the official ones. Every claim asks for item keys of its own, so the
data respects one active association per key. A marker table records what was built.

The other scripts import :func:`ensure` and :func:`bench_env` (the environment of a production-like process).
"""

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
# The scale of every bench script: `make bench CLAIMS=2000000` exports CPOR_BENCH_CLAIMS (bench/README.md).
DEFAULT_CLAIMS = int(os.environ.get("CPOR_BENCH_CLAIMS") or 200_000)


def scale_label(claims):
    """200000 -> "200k", 2000000 -> "2m", 12345 -> "12345": the suffix of each scale's own bench database."""
    if claims % 1_000_000 == 0:
        return f"{claims // 1_000_000}m"
    if claims % 1_000 == 0:
        return f"{claims // 1_000}k"
    return str(claims)


def default_database_url(claims):
    """The bench database of a scale (cpor_bench_200k, cpor_bench_2m, ...): each scale keeps its own, so that
    switching between them rebuilds nothing. CPOR_BENCH_DATABASE_URL overrides it."""
    return os.environ.get("CPOR_BENCH_DATABASE_URL") or (
        f"postgres://postgres@127.0.0.1:5432/cpor_bench_{scale_label(claims)}"
    )


DEFAULT_DATABASE_URL = default_database_url(DEFAULT_CLAIMS)
# Rate-limit counters of the opt-out page (the only cache user on the measured pages); a Redis db of its own.
DEFAULT_CACHE_URL = os.environ.get("CPOR_BENCH_CACHE_URL", "redis://127.0.0.1:6379/15")
# Bump when the generated data changes: an older bench database is then rebuilt.
DATA_VERSION = 2
# Fixed, so that opt-out tokens made by the bench scripts validate in the server they start.
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789abcdefghijklmnop"
# The history chains' key (SPEC §14): fixed too, so that every process of a bench signs and verifies alike.
HISTORY_KEYS = "bench:bench-only-history-key-not-for-production-0123456789"
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "JP", "AU", "CA", "SE", "ES", "IN", "BR"]


def database_name(url):
    return urlsplit(url).path.lstrip("/")


def admin_url(url):
    """The server's ``postgres`` database, for CREATE/DROP DATABASE."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def bench_env(database_url, *, var_dir=None):
    """The environment of a production-like process against the bench database.

    DEBUG off (compressed manifest static files, no debug toolbar work), a real SECRET_KEY and ALLOWED_HOSTS, no
    HTTPS redirect (the bench talks plain HTTP on loopback; the Secure flag of the cookies is a hint to browsers,
    the bench client sends them back itself). Files, the Celery broker (file system) and emails go to a folder
    of the bench's own; the cache is Redis, as in production.
    """
    env = dict(os.environ)
    for name in (
        "AWS_STORAGE_BUCKET_NAME",
        "EMAIL_URL",
        "CELERY_BROKER_URL",
        "BEHIND_PROXY",
        "TRUSTED_PROXIES",
        "SECRET_KEY_FALLBACKS",
        "CSRF_TRUSTED_ORIGINS",
    ):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cpor.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": SECRET_KEY,
            "HISTORY_KEYS": HISTORY_KEYS,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": "http://127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "CACHE_URL": DEFAULT_CACHE_URL,
            "CPOR_VAR_DIR": str(var_dir or ROOT / "var" / "bench"),
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


# The role the bench's web servers and workers connect as: they refuse a superuser or an owner (cpor.database_role).
APP_ROLE = "cpor_bench_app"


def app_env(env):
    """``env`` with DATABASE_URL naming the app role instead of the owner, for gunicorn and Celery workers (README
    "Database roles"): the role is created if missing (no password: the bench's server trusts loopback) and given
    its data rights by the owner (``db_roles_grant``)."""
    import contextlib

    import psycopg

    url = env["DATABASE_URL"]
    with _connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone():
            # Another bench may make it meanwhile.
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
    manage(env, "db_roles_grant", APP_ROLE)
    parts = urlsplit(url)
    netloc = f"{APP_ROLE}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return {**env, "DATABASE_URL": urlunsplit(parts._replace(netloc=netloc))}


def _connect(url, **kwargs):
    import psycopg

    return psycopg.connect(url, **kwargs)


def marker(url):
    """(version, claims) of the data in the database, or None when it is missing or incomplete."""
    import psycopg

    try:
        with _connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT version, claims FROM bench_data_marker").fetchone()
    except psycopg.Error:
        return None
    return tuple(row) if row else None


def database_recreate(url):
    name = database_name(url)
    with _connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env, *args):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def ensure(url=DEFAULT_DATABASE_URL, *, claims=DEFAULT_CLAIMS, fresh=False, quiet=False):
    """Build the bench database unless it already holds this data (the marker); returns seconds spent."""
    say = (lambda *a: None) if quiet else print
    if not fresh and marker(url) == (DATA_VERSION, claims):
        say(f"bench data: {database_name(url)} already has {claims:,} claims (use --fresh to rebuild)")
        env = bench_env(url)
        check = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--check"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if check.returncode != 0:
            # New migrations since the build: applied on top of the data, as on a production database.
            started = time.perf_counter()
            manage(env, "migrate", "--noinput", "--verbosity", "0")
            with _connect(url, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE)")
            say(f"  applied new migrations in {time.perf_counter() - started:.1f}s")
        return 0.0
    started = time.perf_counter()
    say(f"bench data: building {database_name(url)} with {claims:,} claims")
    database_recreate(url)
    env = bench_env(url)
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    # seed_demo runs only with DEBUG on (its logins are public); the bench serves with DEBUG off, as production.
    manage({**env, "DEBUG": "1"}, "seed_demo")
    say(f"  migrated and seeded in {time.perf_counter() - started:.1f}s")
    fill(url, claims=claims, say=say)
    say(f"bench data: ready in {time.perf_counter() - started:.1f}s")
    return time.perf_counter() - started


# The history written for each status: (seq, actor, who, action, old, new, reason, message). "who" picks the user:
# the partner admin who created the claim, the reviewer, or nobody.
HISTORY = {
    "submitted": [(1, "partner", "creator", "submitted", "", "submitted", "", "")],
    "under_review": [(2, "system", "", "validated", "submitted", "under_review", "", "")],
    "action_required": [
        (
            3,
            "reviewer",
            "reviewer",
            "information_requested",
            "under_review",
            "action_required",
            "poe_insufficient",
            "Please add the signed statement of work that names the customer.",
        )
    ],
    "customer_notified": [(3, "reviewer", "reviewer", "approved", "under_review", "customer_notified", "", "")],
    "official": [(4, "system", "", "finalized", "customer_notified", "official", "", "")],
    "opted_out": [(4, "customer", "", "opted_out", "customer_notified", "opted_out", "", "")],
    "rejected": [(2, "system", "", "rejected", "submitted", "rejected", "validation", "")],
    "ended": [
        (
            5,
            "partner",
            "creator",
            "disassociated",
            "official",
            "ended",
            "disassociated",
            "The customer moved this workload in-house.",
        )
    ],
}
PATHS = {
    "submitted": ["submitted"],
    "under_review": ["submitted", "under_review"],
    "action_required": ["submitted", "under_review", "action_required"],
    "customer_notified": ["submitted", "under_review", "customer_notified"],
    "official": ["submitted", "under_review", "customer_notified", "official"],
    "opted_out": ["submitted", "under_review", "customer_notified", "opted_out"],
    "rejected": ["submitted", "rejected"],
    "ended": ["submitted", "under_review", "customer_notified", "official", "ended"],
}
# Emails already sent, per status reached (the outbox's kinds are the statuses' names).
EMAILS = {
    "action_required": ["action_required"],
    "customer_notified": ["customer_notified"],
    "official": ["customer_notified", "official"],
    "opted_out": ["customer_notified", "opted_out"],
    "rejected": ["rejected"],
    "ended": ["customer_notified", "official", "ended"],
}


def _values(rows):
    """A VALUES list literal for small constant tables (only our own constants go in)."""

    def literal(value):
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    return ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)


# A neutral value per column type, for NOT NULL columns without a database default (Django keeps defaults in
# Python): lets a later migration's new column through the INSERTs above without editing them.
NEUTRAL = {
    "boolean": "false",
    "smallint": "0",
    "integer": "0",
    "bigint": "0",
    "numeric": "0",
    "double precision": "0",
    "text": "''",
    "character varying": "''",
    "jsonb": "'[]'::jsonb",
    "timestamp with time zone": "now()",
    "date": "current_date",
}


def defaults_add(conn, tables):
    """Give every NOT NULL column of ``tables`` without a database default a neutral one (for this transaction:
    call :func:`defaults_drop` before it commits). Returns what was added."""
    rows = conn.execute(
        """
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = ANY(%s) AND is_nullable = 'NO' AND column_default IS NULL
          AND is_identity = 'NO'""",
        [tables],
    ).fetchall()
    added = []
    for table, column, data_type in rows:
        if data_type in NEUTRAL:
            conn.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DEFAULT {NEUTRAL[data_type]}')
            added.append((table, column))
    return added


def fill(url, *, claims, say=print):
    """Add ``claims`` claims (and everything they imply) set-based, in one transaction, then VACUUM ANALYZE."""
    tenants = (claims + 4) // 5
    emails = _values([(status, kind) for status, kinds in EMAILS.items() for kind in kinds])
    countries = "ARRAY[" + ", ".join(f"'{c}'" for c in COUNTRIES) + "]"
    started = time.perf_counter()
    with _connect(url) as conn:

        def step(label, sql, params=None):
            t = time.perf_counter()
            rows = conn.execute(sql, params or {}).rowcount
            counted = f"{rows:,} rows " if rows >= 0 else ""
            say(f"  {label}: {counted}in {time.perf_counter() - t:.1f}s")

        ids = dict(
            conn.execute(
                "SELECT 'p:' || name, id FROM associations_partner "
                "UNION ALL SELECT 'l:' || mpn_id, id FROM associations_partnerlocation "
                "UNION ALL SELECT 'u:' || username, id FROM auth_user "
                "UNION ALL SELECT 'x:' || code, id FROM associations_product"
            ).fetchall()
        )
        m365 = [
            ids["x:" + code]
            for code in [
                "exchange-online",
                "sharepoint-online",
                "onedrive-for-business",
                "microsoft-teams",
                "m365-apps-for-enterprise",
                "microsoft-intune",
                "azure-ad-premium",
                "azure-information-protection",
                "defender-for-office-365",
                "yammer",
            ]
        ]
        reviewer = conn.execute("SELECT min(id) FROM auth_user WHERE is_staff").fetchone()[0]
        params = {
            "claims": claims,
            "tenants": tenants,
            "contoso": ids["p:Contoso Partners"],
            "fabrikam": ids["p:Fabrikam Consulting"],
            "contoso_locations": [ids["l:4100001"], ids["l:4100002"], ids["l:4100003"]],
            "fabrikam_locations": [ids["l:5200001"], ids["l:5200002"]],
            "alex": ids["u:alex@contoso-partners.example"],
            "sam": ids["u:sam@fabrikam.example"],
            "reviewer": reviewer,
            "m365": m365,
            "sales": ids["x:d365-sales"],
        }

        # Columns added by later migrations that these INSERTs do not name get a default for this transaction.
        filled = [
            "associations_tenant",
            "associations_tenantdomain",
            "associations_tenantlicense",
            "claims_claim",
            "associations_subscription",
            "claims_claimitem",
            "associations_association",
            "claims_claimevent",
            "claims_poedocument",
            "claims_emailnotification",
            "associations_usagerecord",
        ]
        temporary = defaults_add(conn, filled)
        # The GIN (trigram) indexes are built once at the end: kept up row by row they made most of the fill's time
        # (three of them on claims_claim, whose search text is written twice: the row, then its items).
        t = time.perf_counter()
        deferred = indexes_drop(conn, filled, method="gin")
        # The foreign keys too: added again at the end, each checked by one join instead of a trigger per row.
        foreign_keys = foreign_keys_drop(conn, filled)
        say(f"  {len(deferred)} GIN indexes and {len(foreign_keys)} foreign keys dropped until the end")
        step(
            "tenants",
            f"""
            INSERT INTO associations_tenant (directory_id, name, country, created_at)
            SELECT md5('bench-tenant-' || t)::uuid, 'Bench customer ' || lpad(t::text, 5, '0'),
                   ({countries})[1 + t %% {len(COUNTRIES)}], now() - interval '3 years'
            FROM generate_series(1, %(tenants)s) AS t""",  # noqa: S608 (constants of this module)
            params,
        )
        step(
            "temp tenants",
            """
            CREATE TEMP TABLE bench_tenant ON COMMIT DROP AS
            SELECT t, tn.id AS tenant_id FROM generate_series(1, %(tenants)s) AS t
            JOIN associations_tenant tn ON tn.directory_id = md5('bench-tenant-' || t)::uuid""",
            params,
        )
        conn.execute("ANALYZE bench_tenant")
        step(
            "tenant domains",
            """
            INSERT INTO associations_tenantdomain (tenant_id, name, is_initial)
            SELECT tenant_id, 'bench-customer-' || t || d.suffix, d.initial
            FROM bench_tenant, (VALUES ('.onmicrosoft.com', true), ('.example', false)) AS d(suffix, initial)""",
        )
        step(
            "tenant licences",
            """
            INSERT INTO associations_tenantlicense (tenant_id, product_id, seats)
            SELECT tenant_id, product_id, 50 + t %% 500 FROM bench_tenant, unnest(%(m365)s::bigint[]) AS product_id""",
            params,
        )

        # The plan of every claim: g is its number; every 5th claim of a tenant is Business Applications.
        step(
            "temp plan",
            """
            CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
            SELECT *, nextval(pg_get_serial_sequence('claims_claim', 'id')) AS claim_id,
                   notified_at + interval '7 days' AS deadline,
                   CASE WHEN status = 'customer_notified' THEN least(timeline, notified_at - interval '2 days')
                        ELSE timeline END AS submitted_at
            FROM (
                SELECT *, CASE WHEN status = 'customer_notified' THEN now() - (g %% 4) * interval '1 day'
                               WHEN status IN ('official', 'opted_out', 'ended') THEN timeline + interval '2 days'
                          END AS notified_at
                FROM (
                    SELECT g, t, k, k = 4 AS bizapps,
                           CASE WHEN g %% 10 = 0 THEN %(fabrikam)s ELSE %(contoso)s END AS partner_id,
                           CASE WHEN g %% 10 = 0 THEN (%(fabrikam_locations)s::bigint[])[1 + (g / 10) %% 2]
                                ELSE (%(contoso_locations)s::bigint[])[1 + (g / 10) %% 3] END AS location_id,
                           CASE WHEN g %% 10 = 0 THEN %(sam)s ELSE %(alex)s END AS created_by,
                           CASE WHEN b < 5 THEN 'submitted' WHEN b < 15 THEN 'under_review'
                                WHEN b < 20 THEN 'action_required' WHEN b < 32 THEN 'customer_notified'
                                WHEN b < 72 THEN 'official' WHEN b < 77 THEN 'opted_out'
                                WHEN b < 92 THEN 'rejected' ELSE 'ended' END AS status,
                           -- Spread over two years, the newest last.
                           now() - (%(claims)s - g) * interval '315 seconds' AS timeline
                    FROM (SELECT g, (g - 1) / 5 + 1 AS t, (g - 1) %% 5 AS k, (g * 37) %% 100 AS b
                          FROM generate_series(1, %(claims)s) AS g) AS numbered
                ) AS planned
            ) AS notified""",
            params,
        )
        conn.execute("ANALYZE bench_plan")
        # Each claim's id was drawn in the plan: its items go in first, so that the claim's own INSERT computes its
        # search text once with its products (claims_claim_search), instead of an UPDATE of every claim after.
        step(
            "temp claims",
            """
            CREATE TEMP TABLE bench_claim ON COMMIT DROP AS
            SELECT p.*, bt.tenant_id FROM bench_plan p JOIN bench_tenant bt USING (t)""",
        )
        conn.execute("CREATE INDEX ON bench_claim (claim_id)")
        conn.execute("ANALYZE bench_claim")
        step(
            "subscriptions",
            """
            INSERT INTO associations_subscription (subscription_id, tenant_id, product_id, start_date, end_date,
                                                   state, seats)
            SELECT md5('bench-subscription-' || g)::uuid, tenant_id, %(sales)s, date '2025-01-01', NULL,
                   'active', 25
            FROM bench_claim WHERE bizapps""",
            params,
        )
        step(
            "claim items",
            """
            INSERT INTO claims_claimitem (claim_id, program, tenant_id, product_id, subscription_id, competing)
            SELECT c.claim_id, 'osu_m365', c.tenant_id, (%(m365)s::bigint[])[1 + 2 * c.k + j], NULL, false
            FROM bench_claim c CROSS JOIN generate_series(0, 1) AS j
            WHERE NOT c.bizapps AND (j = 0 OR c.g %% 3 = 0)
            UNION ALL
            SELECT c.claim_id, program, c.tenant_id, %(sales)s, s.id, false
            FROM bench_claim c
            JOIN associations_subscription s ON s.subscription_id = md5('bench-subscription-' || c.g)::uuid
            CROSS JOIN unnest(ARRAY['osu_bizapps', 'osa_sell']) AS program
            WHERE c.bizapps""",
            params,
        )
        step(
            "claims",
            """
            INSERT INTO claims_claim (
                id, partner_id, location_id, created_by_id, name, domain, directory_id, tenant_id, solution_area,
                activities, dynamics_seller_name, customer_name, isv_solution_name, customer_contact_name,
                customer_contact_title, customer_contact_email, technical_contact_name, technical_contact_title,
                technical_contact_email, partner_contact_name, partner_contact_email, comments, status, competing,
                submitted_at, status_changed_at, customer_notified_at, opt_out_deadline, response_deadline,
                rejection_reasons, submission_key, draft_data, draft_saved_at, due_at)
            SELECT p.claim_id, p.partner_id, p.location_id, p.created_by,
                   'Bench customer ' || lpad(p.t::text, 5, '0') || ' · claim ' || p.g,
                   'bench-customer-' || p.t || '.example', md5('bench-tenant-' || p.t)::uuid, bt.tenant_id,
                   CASE WHEN p.bizapps THEN 'business_applications' ELSE 'microsoft_365' END,
                   CASE WHEN p.bizapps THEN '["usage", "pre_sales"]' ELSE '["usage"]' END::jsonb,
                   '', '', '', 'Dana Customer', 'IT director', 'dana@bench-customer-' || p.t || '.example',
                   CASE WHEN p.bizapps THEN 'Toni Tech' ELSE '' END, CASE WHEN p.bizapps THEN 'CRM lead' ELSE '' END,
                   CASE WHEN p.bizapps THEN 'toni@bench-customer-' || p.t || '.example' ELSE '' END,
                   'Pat Partner', 'claims@partner.example', '', p.status, false,
                   p.submitted_at,
                   CASE WHEN p.status = 'customer_notified' THEN p.notified_at
                        ELSE coalesce(p.deadline, p.submitted_at + interval '1 day') END,
                   p.notified_at,
                   p.deadline,
                   CASE WHEN p.status = 'action_required' THEN now() + interval '5 days' END,
                   CASE WHEN p.status = 'rejected' THEN '["The proof of execution does not support the claim"]'
                        ELSE '[]' END::jsonb,
                   md5('bench-claim-' || p.g)::uuid, '{}'::jsonb, p.submitted_at,
                   -- What claims.services.due stores (the list's Due sort), with calendar days for the review's five
                   -- business days: the bench needs their spread, not the holidays. A passed dispute window: nothing.
                   CASE p.status
                       WHEN 'action_required' THEN now() + interval '5 days'
                       WHEN 'customer_notified' THEN p.deadline
                       WHEN 'submitted' THEN p.submitted_at + interval '8 days'
                       WHEN 'under_review' THEN p.submitted_at + interval '8 days'
                       WHEN 'rejected' THEN nullif(greatest(p.submitted_at + interval '31 days', now()), now())
                   END
            FROM bench_plan p JOIN bench_tenant bt USING (t)
            ORDER BY p.g""",
        )
        # Association ids are drawn first, so each item is linked to the association made for it by id.
        step(
            "temp associations",
            """
            CREATE TEMP TABLE bench_association ON COMMIT DROP AS
            SELECT i.id AS item_id, nextval(pg_get_serial_sequence('associations_association', 'id')) AS id,
                   c.partner_id, c.location_id, i.program, i.tenant_id, i.product_id, i.subscription_id, c.status,
                   c.deadline
            FROM bench_claim c JOIN claims_claimitem i ON i.claim_id = c.claim_id
            WHERE c.status IN ('official', 'ended')""",
        )
        step(
            "associations",
            """
            INSERT INTO associations_association (id, partner_id, location_id, program, tenant_id, product_id,
                subscription_id, status, source, started_at, ended_at, end_reason, end_message)
            SELECT id, partner_id, location_id, program, tenant_id, product_id, subscription_id,
                   CASE WHEN status = 'official' THEN 'active' ELSE 'ended' END, 'claim', deadline,
                   CASE WHEN status = 'ended' THEN deadline + interval '30 days' END,
                   CASE WHEN status = 'ended' THEN 'disassociated' ELSE '' END,
                   CASE WHEN status = 'ended' THEN 'The customer moved this workload in-house.' ELSE '' END
            FROM bench_association""",
        )
        step(
            "items -> associations",
            "UPDATE claims_claimitem i SET association_id = a.id FROM bench_association a WHERE i.id = a.item_id",
        )
        step(
            "POE documents",
            """
            INSERT INTO claims_poedocument (claim_id, file, original_name, content_type, size, sha256, uploaded_at,
                                            uploaded_by_id, in_response)
            SELECT claim_id, 'poe/bench/' || g || '.pdf', 'statement-of-work-' || g || '.pdf', 'application/pdf',
                   48213, repeat('0', 64), submitted_at, created_by, false
            FROM bench_claim""",
        )
        t = time.perf_counter()
        count = events_insert(conn, history_rows=HISTORY, paths=PATHS, reviewer=reviewer)
        say(f"  events (signed in Python): {count:,} rows in {time.perf_counter() - t:.1f}s")
        step(
            "emails (sent)",
            f"""
            INSERT INTO claims_emailnotification (claim_id, kind, association_id, state, created_at, attempts,
                                                  sent_at, last_error)
            SELECT c.claim_id, e.kind, NULL, 'sent', coalesce(n.at, c.submitted_at + interval '2 days'), 1,
                   coalesce(n.at, c.submitted_at + interval '2 days'), ''
            FROM bench_claim c JOIN (VALUES {emails}) AS e(status, kind) ON e.status = c.status
            -- The customer's notice is sent when the claim is notified (migration 0013 asks it of an official one).
            LEFT JOIN LATERAL (SELECT c.notified_at AS at WHERE e.kind = 'customer_notified') AS n ON true""",  # noqa: S608
        )
        step(
            "usage records",
            """
            INSERT INTO associations_usagerecord (tenant_id, product_id, month, active_users, paid_units)
            SELECT k.tenant_id, k.product_id, (date_trunc('month', now()) - m * interval '1 month')::date,
                   20 + (k.tenant_id + 7 * m) %% 180, 200
            FROM (SELECT DISTINCT i.tenant_id, i.product_id FROM bench_claim c
                  JOIN claims_claimitem i ON i.claim_id = c.claim_id WHERE c.status = 'official') AS k
            CROSS JOIN generate_series(1, 12) AS m""",
        )
        t = time.perf_counter()
        defaults_drop(conn, temporary)
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for table, name, definition in foreign_keys:
            conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        say(f"  foreign keys added and checked in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        for definition in deferred:
            conn.execute(definition)
        say(f"  GIN indexes built in {time.perf_counter() - t:.1f}s")
        conn.execute(
            "CREATE TABLE bench_data_marker (version integer NOT NULL, claims integer NOT NULL, "
            "built_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO bench_data_marker (version, claims) VALUES (%s, %s)", [DATA_VERSION, claims])
    say(f"  filled in {time.perf_counter() - started:.1f}s")
    t = time.perf_counter()
    # As autovacuum would have long done on a production database: statistics and the visibility map.
    with _connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    say(f"  VACUUM ANALYZE in {time.perf_counter() - t:.1f}s")


# Claims whose history is signed per round trip (bench claims' ids are consecutive: one range each).
EVENT_CHUNK = 50_000


def events_insert(conn, *, history_rows, paths, reviewer):
    """Each bench claim's history (``paths``: the statuses it went through, ``history_rows``: the event of each),
    signed as the application signs it (``claims.history``, with the bench's HISTORY_KEYS): the SUBMITTED event
    carries the snapshot of the claim's columns, items and POE. The claims, items and documents are read back
    from the temporary plan, the events computed here and copied in, then inserted in chain order in one
    statement (PostgreSQL's trigger checks every link). Returns how many."""
    sys.path.insert(0, str(ROOT))
    from claims import history  # pure functions: no Django settings needed with the key given

    key_id, secret = HISTORY_KEYS.split(":", 1)
    key = secret.encode()
    claim_columns = ", ".join(f"c.{name}" for name in history.SNAPSHOT_COLUMNS)
    day = datetime.timedelta(days=1)
    conn.execute(
        "CREATE TEMP TABLE bench_event (n bigint, claim_id bigint, created_at timestamptz, actor text, user_id bigint, "
        "action text, old_status text, new_status text, reason text, message text, data jsonb, prev_hash text, "
        "hash text) ON COMMIT DROP"
    )
    n = 0
    low, high = conn.execute("SELECT min(claim_id), max(claim_id) FROM bench_claim").fetchone()
    if low is None:
        return 0
    # EVENT_CHUNK claims at a time (read, signed, copied): 2,000,000 claims' snapshots at once would take gigabytes.
    for start in range(low, high + 1, EVENT_CHUNK):
        stop = start + EVENT_CHUNK
        claims = conn.execute(
            f"SELECT b.claim_id, b.status, b.submitted_at, b.created_by, {claim_columns} "  # noqa: S608 (constants)
            "FROM bench_claim b JOIN claims_claim c ON c.id = b.claim_id "
            "WHERE b.claim_id >= %s AND b.claim_id < %s ORDER BY b.claim_id",
            [start, stop],
        ).fetchall()
        parts = {}
        for kind, table, columns in (
            ("items", "claims_claimitem", history.ITEM_COLUMNS),
            ("documents", "claims_poedocument", history.DOCUMENT_COLUMNS),
        ):
            rows = conn.execute(
                f"SELECT t.claim_id, {', '.join('t.' + c for c in columns)} FROM {table} t "  # noqa: S608
                "WHERE t.claim_id >= %s AND t.claim_id < %s",
                [start, stop],
            ).fetchall()
            for claim_id, *values in rows:
                parts.setdefault((kind, claim_id), []).append(dict(zip(columns, values, strict=True)))
        with conn.cursor().copy(
            "COPY bench_event (n, claim_id, created_at, actor, user_id, action, old_status, new_status, reason, "
            "message, data, prev_hash, hash) FROM STDIN"
        ) as copy:
            for claim_id, status, submitted_at, created_by, *columns in claims:
                prev_hash = history.GENESIS
                for reached in paths[status]:
                    for seq, actor, who, action, old_status, new_status, reason, message in history_rows[reached]:
                        data = {}
                        if action == "submitted":
                            content = history.claim_content(
                                dict(zip(history.SNAPSHOT_COLUMNS, columns, strict=True)),
                                parts.get(("items", claim_id), []),
                                parts.get(("documents", claim_id), []),
                            )
                            data = {"snapshot": content}
                        event = {
                            "claim_id": claim_id,
                            "created_at": submitted_at + (seq - 1) * day,
                            "actor": actor,
                            "user_id": {"creator": created_by, "reviewer": reviewer}.get(who),
                            "action": action,
                            "old_status": old_status,
                            "new_status": new_status,
                            "reason": reason,
                            "message": message,
                            "field": "",
                            "old_value": "",
                            "new_value": "",
                            "data": data,
                        }
                        signed = history.event_hash(prev_hash, event, key=key)
                        n += 1
                        copy.write_row(
                            (
                                n,
                                *(event[name] for name in history.BASE_FIELDS),
                                history.data_text(data) or "{}",
                                prev_hash,
                                signed,
                            )
                        )
                        prev_hash = signed
    conn.execute(
        """
        INSERT INTO claims_claimevent (claim_id, created_at, actor, user_id, action, old_status, new_status, reason,
                                       message, field, old_value, new_value, data, prev_hash, hash, key_id)
        SELECT claim_id, created_at, actor, user_id, action, old_status, new_status, reason, message, '', '', '',
               data, prev_hash, hash, %s
        FROM bench_event ORDER BY n""",
        [key_id],
    )
    return n


def indexes_drop(conn, tables, *, method):
    """Drop the indexes of ``tables`` that use ``method`` (none backs a constraint); returns their definitions,
    to run again once the rows are in (one sort instead of an index entry per row)."""
    rows = conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
        WHERE i.indrelid::regclass::text = ANY(%s) AND am.amname = %s
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)""",
        [tables, method],
    ).fetchall()
    for name, _ in rows:
        conn.execute(f"DROP INDEX {name}")
    return [definition for _, definition in rows]


def foreign_keys_drop(conn, tables):
    """Drop the foreign keys of ``tables``; returns (table, name, definition) of each, to add again."""
    rows = conn.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)""",
        [tables],
    ).fetchall()
    for table, name, _ in rows:
        conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    return rows


def defaults_drop(conn, added):
    # The deferred foreign key checks run first (ALTER TABLE refuses tables with pending trigger events).
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, column in added:
        conn.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP DEFAULT')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", help="the bench database (dropped!); default cpor_bench_200k, cpor_bench_2m, ... by scale"
    )
    parser.add_argument("--claims", type=int, default=DEFAULT_CLAIMS, help=f"default {DEFAULT_CLAIMS:,}")
    parser.add_argument("--fresh", action="store_true", help="rebuild even when the marker says it is there")
    args = parser.parse_args()
    ensure(args.database_url or default_database_url(args.claims), claims=args.claims, fresh=args.fresh)


if __name__ == "__main__":
    main()
