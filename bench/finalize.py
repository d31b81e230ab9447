"""Finalization throughput (SPEC §11: at least 2,000 claims/s, within 3x of hand-written set-based SQL).

    .venv/bin/python bench/finalize.py                  # 20,000 due claims, then a Celery worker's memory
    .venv/bin/python bench/finalize.py --claims 5000 --no-worker

1. Copies the 200,000-claim bench database (``bench/data.py``; built if needed) to ``<name>_finalize``, so the
   jobs run among realistic tables and the pages' database stays as it was.
2. Adds N ``customer_notified`` claims whose opt-out deadline has passed (set-based): Contoso and Fabrikam, one
   or two Microsoft 365 workloads each, every fifth one a Dynamics 365 Sales subscription in two programs, all
   on item keys nobody holds, each with its delivered notice (a sent outbox row: migration 0013).
3. Times ``claims_finalize_due`` (the service beat runs: chunks of 500, each locked and written in its own
   transaction, emails enqueued after commit to a file-system broker) in this process, and checks its effect.
4. Puts the same claims back as they were (status, history, associations, item links, outbox), and times
   hand-written SQL with the same effect in one transaction: UPDATE claims ... RETURNING, one ClaimEvent each
   (signed: the chains' heads in one SELECT, the HMACs in Python, one INSERT; the key never reaches SQL),
   holders of the same item keys ended, the Associations inserted, ClaimItem.association set, one outbox row per
   claim for the partner's email. Checks that the effect is the same.
5. Unless --no-worker: puts the claims back again, adds submitted claims with a stored POE file, starts a Celery
   worker (``--pool=solo``) against the copy, gives it the finalization and one validation task per submitted
   claim, waits (bounded) for them and for the emails they queue, and reads the worker's RSS from /proc.

PASS: the service's rate is at least 2,000 claims/s and its time at most 3x the SQL's; the worker under 300 MB.
Exit status 1 when a bar fails. The copy is dropped at the end (--keep keeps it).
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import data  # noqa: E402

RATE_BAR = 2000
RATIO_BAR = 3.0
RSS_BAR_MB = 300
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" + b"%" * 2000


def database_copy(source_url, target_url):
    source, target = data.database_name(source_url), data.database_name(target_url)
    started = time.perf_counter()
    with data._connect(data.admin_url(source_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    print(f"copied {source} to {target} in {time.perf_counter() - started:.1f}s")


def database_drop(url):
    with data._connect(data.admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{data.database_name(url)}" WITH (FORCE)')


def vacuum(tables):
    from django.db import connection

    # VACUUM cannot run in a transaction: Django's connection is in autocommit outside atomic().
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) " + ", ".join(tables))


TOUCHED = [
    "claims_claim",
    "claims_claimitem",
    "claims_claimevent",
    "claims_emailnotification",
    "associations_association",
]


# The tables the bench writes rows into (columns added later get a neutral default while it does).
CREATED = [
    "associations_tenant",
    "associations_tenantdomain",
    "associations_tenantlicense",
    "associations_subscription",
    "claims_claim",
    "claims_claimitem",
    "claims_poedocument",
]


def due_claims_create(n, *, now, tag="finalize", status="customer_notified"):
    """N customer_notified claims past their deadline on fresh item keys; returns their ids. With
    ``status="submitted"``: the same claims as fresh submissions (no notification, no deadline). Claims are inserted
    in their status: PostgreSQL refuses a status move without its history row (migration 0008)."""
    from django.db import connection, transaction

    tenants = (n + 4) // 5
    params = {"n": n, "tenants": tenants, "now": now, "tag": tag, "status": status}
    with transaction.atomic(), connection.cursor() as cursor:
        added = data.defaults_add(cursor, CREATED)
        cursor.execute(
            """
            SELECT (SELECT id FROM associations_partner WHERE name = 'Contoso Partners'),
                   (SELECT id FROM associations_partner WHERE name = 'Fabrikam Consulting'),
                   (SELECT array_agg(id ORDER BY mpn_id) FROM associations_partnerlocation
                    WHERE mpn_id IN ('4100001', '4100002', '4100003')),
                   (SELECT array_agg(id ORDER BY mpn_id) FROM associations_partnerlocation
                    WHERE mpn_id IN ('5200001', '5200002')),
                   (SELECT array_agg(id ORDER BY sort_order) FROM associations_product
                    WHERE solution_area = 'microsoft_365'),
                   (SELECT id FROM associations_product WHERE code = 'd365-sales')"""
        )
        contoso, fabrikam, contoso_locations, fabrikam_locations, m365, sales = cursor.fetchone()
        params.update(
            contoso=contoso,
            fabrikam=fabrikam,
            contoso_locations=contoso_locations,
            fabrikam_locations=fabrikam_locations,
            m365=m365,
            sales=sales,
        )
        cursor.execute(
            """
            INSERT INTO associations_tenant (directory_id, name, country, created_at)
            SELECT md5(%(tag)s || '-tenant-' || t)::uuid, initcap(%(tag)s) || ' customer ' || t, 'US', %(now)s
            FROM generate_series(1, %(tenants)s) AS t""",
            params,
        )
        cursor.execute(
            """
            CREATE TEMP TABLE bench_due ON COMMIT DROP AS
            SELECT g, (g - 1) %% 5 AS k, (g - 1) %% 5 = 4 AS bizapps, tn.id AS tenant_id,
                   CASE WHEN g %% 10 = 0 THEN %(fabrikam)s ELSE %(contoso)s END AS partner_id,
                   CASE WHEN g %% 10 = 0 THEN (%(fabrikam_locations)s::bigint[])[1 + (g / 10) %% 2]
                        ELSE (%(contoso_locations)s::bigint[])[1 + (g / 10) %% 3] END AS location_id
            FROM generate_series(1, %(n)s) AS g
            JOIN associations_tenant tn ON tn.directory_id = md5(%(tag)s || '-tenant-' || ((g - 1) / 5 + 1))::uuid""",
            params,
        )
        cursor.execute(
            """
            INSERT INTO claims_claim (
                partner_id, location_id, created_by_id, name, domain, directory_id, tenant_id, solution_area,
                activities, dynamics_seller_name, customer_name, isv_solution_name, customer_contact_name,
                customer_contact_title, customer_contact_email, technical_contact_name, technical_contact_title,
                technical_contact_email, partner_contact_name, partner_contact_email, comments, status, competing,
                submitted_at, status_changed_at, customer_notified_at, opt_out_deadline, response_deadline,
                rejection_reasons, submission_key)
            SELECT d.partner_id, d.location_id, NULL, initcap(%(tag)s) || ' claim ' || d.g,
                   %(tag)s || '-customer-' || d.tenant_id || '.example', tn.directory_id, d.tenant_id,
                   CASE WHEN d.bizapps THEN 'business_applications' ELSE 'microsoft_365' END,
                   CASE WHEN d.bizapps THEN '["usage", "pre_sales"]' ELSE '["usage"]' END::jsonb,
                   '', '', '', 'Dana Customer', 'IT director',
                   'dana@' || %(tag)s || '-customer-' || d.tenant_id || '.example',
                   CASE WHEN d.bizapps THEN 'Toni Tech' ELSE '' END, CASE WHEN d.bizapps THEN 'CRM lead' ELSE '' END,
                   CASE WHEN d.bizapps THEN 'toni@' || %(tag)s || '-customer-' || d.tenant_id || '.example' ELSE '' END,
                   'Pat Partner', 'claims@partner.example', '', %(status)s, false,
                   %(now)s - interval '12 days', %(now)s - interval '8 days',
                   CASE WHEN %(status)s = 'customer_notified' THEN %(now)s - interval '8 days' END,
                   CASE WHEN %(status)s = 'customer_notified'
                        THEN %(now)s - interval '1 hour' + d.g * interval '1 millisecond' END,
                   NULL, '[]'::jsonb,
                   md5(%(tag)s || '-claim-' || d.g)::uuid
            FROM bench_due d JOIN associations_tenant tn ON tn.id = d.tenant_id""",
            params,
        )
        cursor.execute(
            """
            INSERT INTO associations_subscription (subscription_id, tenant_id, product_id, start_date, end_date,
                                                   state, seats)
            SELECT md5(%(tag)s || '-subscription-' || g)::uuid, tenant_id, %(sales)s, date '2025-01-01', NULL,
                   'active', 25
            FROM bench_due WHERE bizapps""",
            params,
        )
        cursor.execute(
            """
            INSERT INTO claims_claimitem (claim_id, program, tenant_id, product_id, subscription_id, competing)
            SELECT c.id, 'osu_m365', d.tenant_id, (%(m365)s::bigint[])[1 + 2 * d.k + j], NULL, false
            FROM bench_due d JOIN claims_claim c ON c.submission_key = md5(%(tag)s || '-claim-' || d.g)::uuid
            CROSS JOIN generate_series(0, 1) AS j
            WHERE NOT d.bizapps AND (j = 0 OR d.g %% 3 = 0)
            UNION ALL
            SELECT c.id, program, d.tenant_id, %(sales)s, s.id, false
            FROM bench_due d JOIN claims_claim c ON c.submission_key = md5(%(tag)s || '-claim-' || d.g)::uuid
            JOIN associations_subscription s ON s.subscription_id = md5(%(tag)s || '-subscription-' || d.g)::uuid
            CROSS JOIN unnest(ARRAY['osu_bizapps', 'osa_sell']) AS program
            WHERE d.bizapps""",
            params,
        )
        # Each notified claim's notice, accepted by the mail server when it was notified (PostgreSQL makes a claim
        # official only with a sent notice since it entered customer_notified: migration 0013).
        cursor.execute(
            """
            INSERT INTO claims_emailnotification (claim_id, kind, association_id, state, created_at, attempts, sent_at,
                                                  last_error, next_attempt_at, message_id)
            SELECT c.id, 'customer_notified', NULL, 'sent', c.status_changed_at, 1, c.customer_notified_at, '',
                   c.customer_notified_at, ''
            FROM claims_claim c JOIN generate_series(1, %(n)s) AS g
                 ON c.submission_key = md5(%(tag)s || '-claim-' || g)::uuid
            WHERE c.status = 'customer_notified'""",
            params,
        )
        data.defaults_drop(cursor, added)
        cursor.execute(
            "SELECT c.id FROM claims_claim c JOIN generate_series(1, %(n)s) AS g "
            "ON c.submission_key = md5(%(tag)s || '-claim-' || g)::uuid ORDER BY c.id",
            params,
        )
        return [row[0] for row in cursor.fetchall()]


def due_claims(now):
    """Every claim past its opt-out deadline (the bench's and the demo data's two)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM claims_claim WHERE status = 'customer_notified' AND opt_out_deadline < %s ORDER BY id",
            [now],
        )
        return [row[0] for row in cursor.fetchall()]


def effect(ids):
    """What finalizing ``ids`` left behind, to compare the service with the SQL."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM claims_claim WHERE id = ANY(%(ids)s) AND status = 'official'
                 AND due_at IS NULL),
              (SELECT count(*) FROM claims_claimevent WHERE claim_id = ANY(%(ids)s) AND action = 'finalized'
                 AND old_status = 'customer_notified' AND new_status = 'official'),
              (SELECT count(*) FROM claims_claimitem i JOIN associations_association a ON a.id = i.association_id
                 JOIN claims_claim c ON c.id = i.claim_id
               WHERE i.claim_id = ANY(%(ids)s) AND a.status = 'active' AND a.source = 'claim'
                 AND a.partner_id = c.partner_id AND a.location_id = c.location_id AND a.program = i.program
                 AND a.product_id = i.product_id AND a.tenant_id = coalesce(i.tenant_id, c.tenant_id)
                 AND a.subscription_id IS NOT DISTINCT FROM i.subscription_id),
              (SELECT count(*) FROM claims_claimitem WHERE claim_id = ANY(%(ids)s)),
              (SELECT count(*) FROM claims_emailnotification WHERE claim_id = ANY(%(ids)s) AND kind = 'official'
                 AND state = 'pending')""",
            {"ids": ids},
        )
        official, events, linked, items, outbox = cursor.fetchone()
    return {"official": official, "events": events, "linked items": linked, "items": items, "outbox": outbox}


def reset(ids):
    """Put finalized claims back to customer_notified, as they were before (either method)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        # History is evidence (migration 0008): removing events and moving claims backwards is refused, so this
        # rewind of the bench's own database switches those rules off for its transaction (the finalized events
        # are the last of their chains, so the chains stay whole).
        for table, trigger in HISTORY_RULES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        cursor.execute(
            "CREATE TEMP TABLE bench_reset ON COMMIT DROP AS SELECT association_id AS id FROM claims_claimitem "
            "WHERE claim_id = ANY(%s) AND association_id IS NOT NULL",
            [ids],
        )
        cursor.execute("UPDATE claims_claimitem SET association_id = NULL WHERE claim_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM associations_association WHERE id IN (SELECT id FROM bench_reset)")
        cursor.execute("DELETE FROM claims_claimevent WHERE claim_id = ANY(%s) AND action = 'finalized'", [ids])
        cursor.execute("DELETE FROM claims_emailnotification WHERE claim_id = ANY(%s) AND kind = 'official'", [ids])
        cursor.execute(
            "UPDATE claims_claim SET status = 'customer_notified', status_changed_at = customer_notified_at, "
            "due_at = opt_out_deadline WHERE id = ANY(%s)",
            [ids],
        )
        # ALTER TABLE refuses tables with pending (deferred) trigger events: run them first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, trigger in HISTORY_RULES:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    vacuum(TOUCHED)


HISTORY_RULES = [
    ("claims_claimevent", "claims_claimevent_append_only"),
    ("claims_claim", "claims_claim_status_moves"),
    ("claims_claim", "claims_claim_status_has_event"),
]


# The hand-written baseline: the same effect, set-based, in one transaction.
FINALIZE_SQL = [
    "CREATE TEMP TABLE sql_finalized (claim_id bigint PRIMARY KEY, partner_id bigint, location_id bigint, "
    "tenant_id bigint) ON COMMIT DROP",
    # 1. Claims -> official (rows a customer is opting out right now are skipped, as the service does).
    """
    WITH moved AS (
        UPDATE claims_claim c SET status = 'official', status_changed_at = %(now)s, due_at = NULL
        WHERE c.id IN (SELECT id FROM claims_claim WHERE status = 'customer_notified' AND opt_out_deadline < %(now)s
                       FOR UPDATE SKIP LOCKED)
        RETURNING c.id, c.partner_id, c.location_id, c.tenant_id
    )
    INSERT INTO sql_finalized SELECT * FROM moved""",
    "ANALYZE sql_finalized",
    # 2. One ClaimEvent each, signed (the key never reaches SQL): see events_signed.
    "events_signed",
    # 3. One outbox row each for the partner's email (at most one per claim and kind).
    """
    INSERT INTO claims_emailnotification (claim_id, kind, association_id, state, created_at, attempts, sent_at,
                                          last_error)
    SELECT claim_id, 'official', NULL, 'pending', %(now)s, 0, NULL, '' FROM sql_finalized
    ON CONFLICT DO NOTHING""",
    # 4. The new associations, one per item, ids drawn up front to link the items.
    """
    CREATE TEMP TABLE sql_association ON COMMIT DROP AS
    SELECT i.id AS item_id, nextval(pg_get_serial_sequence('associations_association', 'id')) AS id,
           f.partner_id, f.location_id, i.program, coalesce(i.tenant_id, f.tenant_id) AS tenant_id, i.product_id,
           i.subscription_id
    FROM sql_finalized f JOIN claims_claimitem i ON i.claim_id = f.claim_id""",
    "ANALYZE sql_association",
    # 5. Whoever held the same item keys is replaced (one active association per key).
    """
    UPDATE associations_association a SET status = 'ended', ended_at = %(now)s, end_reason = 'replaced'
    FROM sql_association n
    WHERE n.program = 'osu_m365' AND a.program = 'osu_m365' AND a.tenant_id = n.tenant_id
      AND a.product_id = n.product_id AND a.status IN ('active', 'legacy')""",
    """
    UPDATE associations_association a SET status = 'ended', ended_at = %(now)s, end_reason = 'replaced'
    FROM sql_association n
    WHERE n.subscription_id IS NOT NULL AND a.subscription_id = n.subscription_id AND a.program = n.program
      AND a.status IN ('active', 'legacy')""",
    """
    INSERT INTO associations_association (id, partner_id, location_id, program, tenant_id, product_id,
                                          subscription_id, status, source, started_at, ended_at, end_reason,
                                          end_message)
    SELECT id, partner_id, location_id, program, tenant_id, product_id, subscription_id, 'active', 'claim',
           %(now)s, NULL, '', ''
    FROM sql_association""",
    # 6. Each item points at its association.
    "UPDATE claims_claimitem i SET association_id = n.id FROM sql_association n WHERE i.id = n.item_id",
]


def events_signed(cursor, now):
    """Step 2 of the baseline: one ClaimEvent per finalized claim, signed as the application signs history
    (SPEC §14, ``claims.history``): the chains' last hashes in one SELECT, the HMACs here (the key never reaches
    PostgreSQL), one INSERT from arrays."""
    from claims.history import GENESIS, event_hash, signing_key

    cursor.execute(
        "SELECT f.claim_id, coalesce(h.hash, %s) FROM sql_finalized f LEFT JOIN LATERAL ("
        "SELECT hash FROM claims_claimevent e WHERE e.claim_id = f.claim_id ORDER BY e.id DESC LIMIT 1) h ON true",
        [GENESIS],
    )
    heads = cursor.fetchall()
    key_id, key = signing_key()
    values = {
        "created_at": now,
        "actor": "system",
        "user_id": None,
        "action": "finalized",
        "old_status": "customer_notified",
        "new_status": "official",
        "reason": "",
        "message": "",
        "field": "",
        "old_value": "",
        "new_value": "",
    }
    hashes = [event_hash(prev, {**values, "claim_id": claim_id}, key=key) for claim_id, prev in heads]
    cursor.execute(
        """
        INSERT INTO claims_claimevent (claim_id, created_at, actor, user_id, action, old_status, new_status, reason,
                                       message, prev_hash, hash, key_id)
        SELECT v.claim_id, %(now)s, 'system', NULL, 'finalized', 'customer_notified', 'official', '', '',
               v.prev_hash, v.hash, %(key_id)s
        FROM unnest(%(claims)s::bigint[], %(prevs)s::text[], %(hashes)s::text[]) AS v(claim_id, prev_hash, hash)""",
        {
            "now": now,
            "key_id": key_id,
            "claims": [claim_id for claim_id, _ in heads],
            "prevs": [prev for _, prev in heads],
            "hashes": hashes,
        },
    )


def finalize_sql(now, *, steps=None):
    """Run the baseline in one transaction; ``steps`` (a list) receives (seconds, first line) per statement."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for statement in FINALIZE_SQL:
            started = time.perf_counter()
            if statement == "events_signed":
                events_signed(cursor, now)
                statement = "INSERT INTO claims_claimevent (signed: SELECT heads, HMAC in Python, INSERT)"
            else:
                cursor.execute(statement, {"now": now})
            if steps is not None:
                steps.append((time.perf_counter() - started, " ".join(statement.split())[:90]))


def timed(function, *args, statements=None, **kwargs):
    """Run and time ``function``; ``statements`` (a dict) receives {statement kind: [count, seconds]}."""
    from django.db import connection

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = statements.setdefault(_statement_kind(sql), [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    connection.ensure_connection()  # a warm connection, as a worker has
    started = time.perf_counter()
    if statements is None:
        result = function(*args, **kwargs)
        return result, time.perf_counter() - started

    import claims.services.jobs

    def clocked(kind, original):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                entry = statements.setdefault(kind, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - t

        return wrapper

    # COMMIT (where PostgreSQL checks the deferred foreign keys) and the emails' enqueueing after it are not
    # statements: clocked by wrapping them for this run.
    enqueue = claims.services.jobs.task_send
    connection._commit = clocked("COMMIT", connection._commit)
    claims.services.jobs.task_send = clocked("(enqueue email tasks: broker)", enqueue)
    try:
        with connection.execute_wrapper(record):
            result = function(*args, **kwargs)
    finally:
        del connection._commit
        claims.services.jobs.task_send = enqueue
    return result, time.perf_counter() - started


def _statement_kind(sql):
    """ "UPDATE claims_claimitem", "SELECT ... FROM claims_claim", "SELECT pg_advisory_xact_lock", ..."""
    words = sql.replace('"', "").split()
    verb = words[0].upper() if words else ""
    if verb == "SELECT" and "pg_advisory_xact_lock" in sql:
        return "SELECT pg_advisory_xact_lock"
    if verb in ("INSERT", "DELETE") and len(words) > 2:
        return f"{verb} {words[2]}"
    if verb == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    if verb == "SELECT":
        upper = [w.upper() for w in words]
        table = words[upper.index("FROM") + 1] if "FROM" in upper else ""
        locking = " FOR UPDATE" if "FOR UPDATE" in sql.upper() else ""
        return "SELECT ... FROM " + table + locking  # noqa: S608 (a label, never run)
    return verb


# --- a Celery worker's memory ----------------------------------------------------------------------------------


def submitted_claims_create(n, *, now, var_dir):
    """N submitted claims on fresh tenants, each with one POE row naming one stored PDF (for validation)."""
    from django.db import connection, transaction

    media = Path(var_dir) / "media" / "poe" / "bench"
    media.mkdir(parents=True, exist_ok=True)
    (media / "proof.pdf").write_bytes(PDF)
    ids = due_claims_create(n, now=now, tag="validate", status="submitted")
    with transaction.atomic(), connection.cursor() as cursor:
        added = data.defaults_add(cursor, CREATED)
        # The same shapes as the due claims, turned into fresh submissions of known tenants.
        params = {"ids": ids, "now": now, "size": len(PDF)}
        cursor.execute(
            """
            INSERT INTO associations_tenantdomain (tenant_id, name, is_initial)
            SELECT DISTINCT c.tenant_id, c.domain, false FROM claims_claim c WHERE c.id = ANY(%(ids)s)""",
            params,
        )
        cursor.execute(
            """
            INSERT INTO associations_tenantlicense (tenant_id, product_id, seats)
            SELECT DISTINCT i.tenant_id, i.product_id, 100 FROM claims_claimitem i
            WHERE i.claim_id = ANY(%(ids)s) AND i.program = 'osu_m365'""",
            params,
        )
        cursor.execute(
            """
            INSERT INTO claims_poedocument (claim_id, file, original_name, content_type, size, sha256, uploaded_at,
                                            uploaded_by_id, in_response)
            SELECT id, 'poe/bench/proof.pdf', 'proof.pdf', 'application/pdf', %(size)s, repeat('0', 64), %(now)s,
                   NULL, false
            FROM claims_claim WHERE id = ANY(%(ids)s)""",
            params,
        )
        data.defaults_drop(cursor, added)
    return ids


def worker_memory(env, due_ids, submitted_ids, *, timeout, email_seconds):
    """Run finalization and validation through a real worker; returns (VmRSS, VmHWM) MB and what it did."""
    from django.db import connection

    from claims.tasks import claim_validate_task, claims_finalize_due_task

    log = tempfile.NamedTemporaryFile("w+", prefix="cpor-bench-worker-", suffix=".log", delete=False)  # noqa: SIM115 (closed in finally)
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "cpor",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=data.app_env(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        claims_finalize_due_task.delay()
        for claim_id in submitted_ids:
            claim_validate_task.delay(claim_id=claim_id)
        started = time.monotonic()

        def left():
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    SELECT (SELECT count(*) FROM claims_claim WHERE id = ANY(%s) AND status = 'customer_notified'),
                           (SELECT count(*) FROM claims_claim WHERE id = ANY(%s) AND status = 'submitted'),
                           (SELECT count(*) FROM claims_emailnotification WHERE state IN ('pending', 'sending'))""",
                    [due_ids, submitted_ids],
                )
                return cursor.fetchone()

        def waiting_count():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM claims_claim WHERE status = 'submitted'")
                return cursor.fetchone()[0]

        def sent_count():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM claims_emailnotification WHERE state = 'sent'")
                return cursor.fetchone()[0]

        sent_before = sent_count()
        waiting_before = waiting_count()
        emails = 0
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                raise SystemExit(f"the Celery worker exited with {process.returncode}; see {log.name}")
            due, submitted, emails = left()
            if due == 0 and submitted == 0:
                break
            time.sleep(0.5)
        jobs_seconds = time.monotonic() - started
        # Then the emails those jobs queued, for a bounded while (tens of thousands take longer than a bench).
        while emails and time.monotonic() - started < jobs_seconds + email_seconds:
            time.sleep(0.5)
            emails = left()[2]
        rss, hwm = memory_mb(process.pid)
        due, submitted, emails = left()
        return {
            "rss": rss,
            "hwm": hwm,
            "jobs seconds": jobs_seconds,
            "seconds": time.monotonic() - started,
            "due left": due,
            "submitted left": submitted,
            "emails sent": sent_count() - sent_before,
            "validated": waiting_before - waiting_count(),
            "emails left": emails,
            "log": log.name,
        }
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown: finishes the task at hand
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()


def memory_mb(pid):
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="the bench database (copied); default: the scale's (bench/data.py)")
    parser.add_argument("--data-claims", type=int, default=data.DEFAULT_CLAIMS, help="claims in the bench database")
    parser.add_argument("--claims", type=int, default=20_000, help="due claims to finalize (default 20,000)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each method (median)")
    parser.add_argument("--no-worker", action="store_true", help="skip the Celery worker's memory")
    parser.add_argument("--validate", type=int, default=500, help="validation tasks for the worker (default 500)")
    parser.add_argument("--worker-timeout", type=float, default=300, help="seconds to wait for the worker")
    parser.add_argument("--email-seconds", type=float, default=60, help="then let the worker send emails this long")
    parser.add_argument("--keep", action="store_true", help="keep the copied database")
    args = parser.parse_args()

    args.database_url = args.database_url or data.default_database_url(args.data_claims)
    data.ensure(args.database_url, claims=args.data_claims)
    copy_url = args.database_url.rsplit("/", 1)[0] + "/" + data.database_name(args.database_url) + "_finalize"
    database_copy(args.database_url, copy_url)
    var_dir = tempfile.mkdtemp(prefix="cpor-bench-finalize-")
    env = data.bench_env(copy_url, var_dir=var_dir)
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from claims.services import claims_finalize_due

    failed = []
    try:
        now = timezone.now()
        due_claims_create(args.claims, now=now)
        ids = due_claims(now)
        vacuum([*TOUCHED, "associations_tenant", "associations_subscription"])
        print(f"{len(ids):,} claims due (of them {len(ids) - args.claims} from the demo data), {now:%H:%M:%S}")

        service_times, sql_times, effects = [], [], {}
        for run in range(args.runs):
            if run:
                reset(ids)
            statements = {}
            count, elapsed = timed(claims_finalize_due, now=now, statements=statements)
            effects["service"] = effect(ids)
            if count != len(ids):
                raise SystemExit(f"claims_finalize_due made {count} official, expected {len(ids)}")
            service_times.append(elapsed)
            print(f"  claims_finalize_due: {count:,} claims in {elapsed:.2f}s; where the time went:", flush=True)
            in_sql = 0
            for kind, (number, seconds) in sorted(statements.items(), key=lambda item: -item[1][1]):
                in_sql += seconds
                print(f"    {seconds * 1000:8.1f} ms  {number:>5} x {kind}")
            print(f"    {(elapsed - in_sql) * 1000:8.1f} ms  the rest (Python)", flush=True)
            reset(ids)
            steps = []
            _, elapsed = timed(finalize_sql, now, steps=steps)
            effects["sql"] = effect(ids)
            sql_times.append(elapsed)
            print(f"  hand-written SQL:    {len(ids):,} claims in {elapsed:.2f}s", flush=True)
            for seconds, statement in steps:
                print(f"    {seconds * 1000:8.1f} ms  {statement}")
            print(f"    {(elapsed - sum(t for t, _ in steps)) * 1000:8.1f} ms  COMMIT (deferred foreign key checks)")
        if effects["service"] != effects["sql"]:
            raise SystemExit(f"the two methods differ: {effects}")
        expected = {"official": len(ids), "events": len(ids), "outbox": len(ids)}
        if any(effects["sql"][key] != value for key, value in expected.items()) or (
            effects["sql"]["linked items"] != effects["sql"]["items"]
        ):
            raise SystemExit(f"unexpected effect: {effects['sql']}")

        service, sql = statistics.median(service_times), statistics.median(sql_times)
        rate, sql_rate, ratio = len(ids) / service, len(ids) / sql, service / sql
        print()
        print(f"Finalization of {len(ids):,} due claims among {args.data_claims:,} (effect: {effects['sql']})")
        print(f"{'method':<34} {'seconds':>8} {'claims/s':>9}")
        print(f"{'claims_finalize_due (service)':<34} {service:>8.2f} {rate:>9,.0f}")
        print(f"{'hand-written set-based SQL':<34} {sql:>8.2f} {sql_rate:>9,.0f}")
        rate_result = "PASS" if rate >= RATE_BAR else "FAIL"
        ratio_result = "PASS" if ratio <= RATIO_BAR else "FAIL"
        print(f"rate:  {rate:,.0f} claims/s (bar >= {RATE_BAR:,})  {rate_result}")
        print(f"ratio: service / SQL = {ratio:.1f}x (bar <= {RATIO_BAR:g}x)  {ratio_result}")
        if rate_result == "FAIL":
            failed.append("finalization rate")
        if ratio_result == "FAIL":
            failed.append("finalization ratio")

        if not args.no_worker:
            reset(ids)
            submitted = submitted_claims_create(args.validate, now=now, var_dir=var_dir)
            vacuum(TOUCHED)
            connection.close()
            print()
            print(
                f"Celery worker (--pool=solo): finalizing {len(ids):,} claims, validating {len(submitted):,} "
                f"(at most {args.worker_timeout:.0f}s), then sending emails for {args.email_seconds:.0f}s ...",
                flush=True,
            )
            result = worker_memory(env, ids, submitted, timeout=args.worker_timeout, email_seconds=args.email_seconds)
            done = result["due left"] == 0 and result["submitted left"] == 0
            unfinished = (
                ""
                if done
                else f" (unfinished after {result['seconds']:.0f}s: {result['due left']} due, "
                f"{result['submitted left']} submitted; log {result['log']})"
            )
            worker_result = "PASS" if result["hwm"] < RSS_BAR_MB and done else "FAIL"
            print(
                f"worker: jobs done in {result['jobs seconds']:.0f}s (it validated {result['validated']:,} claims: "
                "its task drains every waiting claim, the bench data's submitted ones included, whose POE keys do "
                f"not exist), then {result['emails sent']:,} emails sent "
                f"({result['emails left']:,} still queued) in {result['seconds'] - result['jobs seconds']:.0f}s"
            )
            print(
                f"worker: RSS {result['rss']:.0f} MB, peak {result['hwm']:.0f} MB (bar {RSS_BAR_MB} MB){unfinished}"
                f"  {worker_result}"
            )
            if done:
                Path(result["log"]).unlink(missing_ok=True)
            if worker_result == "FAIL":
                failed.append("worker memory")
    finally:
        connection.close()
        if not args.keep:
            database_drop(copy_url)
        shutil.rmtree(var_dir, ignore_errors=True)
    print()
    if failed:
        print("finalize: FAIL: " + ", ".join(failed))
        raise SystemExit(1)
    print("finalize: PASS")


if __name__ == "__main__":
    main()
