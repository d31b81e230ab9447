"""The Customer associations page for a partner holding 200,000 claims (SPEC §11: within 3x of /healthz).

Creates one partner with N claims (and a second partner with N/10, so that the partner filter matters),
set-based with INSERT ... SELECT generate_series, in a PostgreSQL database of its own; then requests the list
page through Django's test client, signed in as the partner's admin, in the common uses: the default page, each
status filter, each sort both ways, a name search, a domain search, a Directory ID search, the last page. For
each it prints the median wall time of the whole request, the median SQL time (the sum of the page's queries as
Django measured them), the number of queries and the slowest query; /healthz is measured the same way first.

    .venv/bin/python bench/list_page.py                   # 200,000 claims; reuses the data when it is there
    .venv/bin/python bench/list_page.py --claims 50000 --repeat 5
    .venv/bin/python bench/list_page.py --recreate        # throw the data away and make it again
    .venv/bin/python bench/list_page.py --explain         # EXPLAIN (ANALYZE, BUFFERS) of each page's slowest query

The database (default ``postgres://postgres@127.0.0.1:5432/cpor_listbench``, or ``BENCH_LIST_DATABASE_URL``) is
created if missing and migrated; its claims are replaced when --recreate is given or the count differs: never
point it at a database you care about.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cpor_listbench"
PARTNER = "List bench partner"
OTHER = "List bench other partner"
TENANTS = 2000
# Words the claim names are made of: a search for one company word matches 1/40 of the rows, for a full name
# one row.
COMPANIES = [
    *("Contoso", "Fabrikam", "Northwind", "Tailspin", "Litware", "Adatum", "Proseware", "Woodgrove", "Wingtip"),
    *("Lucerne", "Margie", "Alpine", "Yonder", "Coho", "Humongous", "Relecloud", "Trey", "Worldwide", "VanArsdel"),
    *("Munson", "Lamna", "Liberty", "Southridge", "Datum", "Consolidated", "Bellows", "Fourthcoffee", "Graphic"),
    *("Cronus", "Olympia", "Parnell", "Phoenix", "Sunrise", "Summit", "Tidewater", "Aurora", "Boreal", "Cascade"),
    *("Meridian", "Keystone"),
]
TOPICS = [
    *("Teams rollout", "Exchange migration", "SharePoint intranet", "Viva pilot", "Defender hardening"),
    *("Intune devices", "Purview labels", "Entra identity", "Copilot adoption", "Power BI reports", "Sales CRM"),
    *("Field Service", "Customer Service", "Finance", "Supply Chain", "Project Operations", "Business Central"),
    *("Power Apps", "Power Automate", "Stream", "Planner", "OneDrive", "Yammer community", "Windows upgrade"),
    *("Office apps",),
]


def _database_ensure(url):
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup(database_url):
    os.environ["DJANGO_SETTINGS_MODULE"] = "cpor.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
    # Sessions and everything else the request needs live in the database and a local cache: no Redis needed.
    os.environ.pop("CACHE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0, interactive=False)


def _data_ensure(n, recreate):
    """The two partners and their claims; reused when the partner already holds exactly n claims."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from associations.catalog import catalog_ensure
    from associations.models import Membership, Partner, PartnerLocation, SolutionArea
    from claims.models import Claim

    partner = Partner.objects.filter(name=PARTNER).first()
    if partner and not recreate and Claim.objects.filter(partner=partner).count() == n:
        return partner
    started = time.monotonic()
    products = catalog_ensure()
    workloads = [p.pk for p in products.values() if p.solution_area == SolutionArea.MICROSOFT_365]
    with transaction.atomic(), connection.cursor() as cursor:
        # Submitted claims and their history are never deleted (migration 0008), except by TRUNCATE through the
        # escape hatch, which this bench opens on its own database only (the setting, and the session's value).
        name = connection.ops.quote_name(connection.settings_dict["NAME"])
        cursor.execute(f"ALTER DATABASE {name} SET cpor.maintenance = 'on'")
        cursor.execute("SET LOCAL cpor.maintenance = 'on'")
        cursor.execute(
            "TRUNCATE claims_claimevent, claims_emailnotification, claims_poedocument, claims_claimitem, claims_claim"
        )
        Membership.objects.all().delete()
        get_user_model().objects.filter(email__endswith="@listbench.example").delete()
        PartnerLocation.objects.filter(partner__name__in=[PARTNER, OTHER]).delete()
        Partner.objects.filter(name__in=[PARTNER, OTHER]).delete()
        cursor.execute("DELETE FROM associations_tenantdomain WHERE name LIKE 'listbench-%%'")
        cursor.execute("DELETE FROM associations_tenant WHERE name LIKE 'List bench %%'")

        partner = Partner.objects.create(name=PARTNER)
        other = Partner.objects.create(name=OTHER)
        location = PartnerLocation.objects.create(partner=partner, mpn_id="7000001", name=PARTNER, country="US")
        other_location = PartnerLocation.objects.create(partner=other, mpn_id="7000002", name=OTHER, country="US")
        user = get_user_model().objects.create_user(
            username="admin@listbench.example", email="admin@listbench.example", password=uuid.uuid4().hex
        )
        Membership.objects.create(user=user, partner=partner, role=Membership.Role.INCENTIVES_ADMIN)

        cursor.execute(
            """
            INSERT INTO associations_tenant (directory_id, name, country, created_at)
            SELECT gen_random_uuid(), 'List bench ' || g, 'US', now() FROM generate_series(1, %s) g
            """,
            [TENANTS],
        )
        cursor.execute(
            """
            INSERT INTO associations_tenantdomain (tenant_id, name, is_initial)
            SELECT id, 'listbench-' || id || '.onmicrosoft.com', true FROM associations_tenant
            WHERE name LIKE 'List bench %%'
            """
        )
        for partner_id, location_id, count in ((partner.pk, location.pk, n), (other.pk, other_location.pk, n // 10)):
            _claims_insert(cursor, partner_id=partner_id, location_id=location_id, count=count, workloads=workloads)
    # As autovacuum would leave it: statistics, and a visibility map that lets index-only scans skip the heap.
    with connection.cursor() as cursor:
        for table in ("claims_claim", "claims_claimitem", "associations_tenant"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"created {n:,} + {n // 10:,} claims in {time.monotonic() - started:.1f}s")
    return partner


def _claims_insert(cursor, *, partner_id, location_id, count, workloads):
    """Claims in every status (most of them final, as in a partner's real history), 1 or 2 items each."""
    cursor.execute(
        """
        WITH tenants AS (
            SELECT id, directory_id, row_number() OVER (ORDER BY id) - 1 AS rn
            FROM associations_tenant WHERE name LIKE 'List bench %%'
        )
        INSERT INTO claims_claim (
            partner_id, location_id, name, domain, directory_id, tenant_id, solution_area, activities,
            dynamics_seller_name, customer_name, isv_solution_name, customer_contact_name, customer_contact_title,
            customer_contact_email, technical_contact_name, technical_contact_title, technical_contact_email,
            partner_contact_name, partner_contact_email, comments, status, competing, submitted_at,
            status_changed_at, customer_notified_at, opt_out_deadline, response_deadline, rejection_reasons,
            submission_key, draft_data, draft_saved_at
        )
        SELECT %(partner)s, %(location)s,
            (%(companies)s::text[])[1 + g %% 40] || ' ' || (%(topics)s::text[])[1 + (g / 40) %% 25] || ' ' || g,
            lower((%(companies)s::text[])[1 + (g / 7) %% 40]) || t.id || '.onmicrosoft.com',
            t.directory_id, t.id, 'microsoft_365', '["usage"]'::jsonb, '', '', '', 'Dana Customer', 'CIO',
            'dana@listbench-' || t.id || '.onmicrosoft.com', '', '', '', 'Pat Partner', 'claims@partner.example', '',
            s.status, g %% 17 = 0,
            timestamptz '2021-01-01' + g * interval '13 minutes',
            timestamptz '2021-01-01' + g * interval '13 minutes' + interval '1 day',
            CASE WHEN s.status IN ('customer_notified', 'official', 'opted_out', 'ended')
                THEN timestamptz '2021-01-01' + g * interval '13 minutes' + interval '2 days' END,
            CASE WHEN s.status IN ('customer_notified', 'official', 'opted_out', 'ended')
                THEN timestamptz '2021-01-01' + g * interval '13 minutes' + interval '12 days' END,
            CASE WHEN s.status = 'action_required'
                THEN timestamptz '2021-01-01' + g * interval '13 minutes' + interval '30 days' END,
            '[]'::jsonb, gen_random_uuid(), '{}'::jsonb, timestamptz '2021-01-01' + g * interval '13 minutes'
        FROM generate_series(1, %(count)s) g
        JOIN tenants t ON t.rn = g %% %(tenants)s
        CROSS JOIN LATERAL (SELECT CASE
            WHEN g %% 100 < 55 THEN 'official' WHEN g %% 100 < 65 THEN 'ended' WHEN g %% 100 < 72 THEN 'rejected'
            WHEN g %% 100 < 77 THEN 'opted_out' WHEN g %% 100 < 85 THEN 'submitted'
            WHEN g %% 100 < 91 THEN 'under_review' WHEN g %% 100 < 94 THEN 'action_required'
            ELSE 'customer_notified' END AS status) s
        """,
        {
            "partner": partner_id,
            "location": location_id,
            "count": count,
            "companies": COMPANIES,
            "topics": TOPICS,
            "tenants": TENANTS,
        },
    )
    cursor.execute(
        """
        INSERT INTO claims_claimitem (claim_id, program, tenant_id, product_id, competing)
        SELECT c.id, 'osu_m365', c.tenant_id,
            (%(workloads)s::bigint[])[1 + (c.id + k) %% cardinality(%(workloads)s::bigint[])], false
        FROM claims_claim c CROSS JOIN generate_series(0, 1) k
        WHERE c.partner_id = %(partner)s AND (k = 0 OR c.id %% 2 = 0)
        """,
        {"partner": partner_id, "workloads": workloads},
    )


def _scenarios(partner):
    from claims import selectors
    from claims.models import Claim, ClaimStatus

    sample = Claim.objects.filter(partner=partner).order_by("id")[1234]
    yield "default (newest first)", {}
    for status in ClaimStatus.values:
        yield f"status={status}", {"status": status}
    for column in selectors.CLAIM_SORTS:
        yield f"sort={column}", {"sort": column}
        yield f"sort=-{column}", {"sort": f"-{column}"}
    yield "status=submitted sort=name", {"status": "submitted", "sort": "name"}
    yield "middle page (4,000 of 8,000)", {"page": "4000"}
    yield "last page", {"page": "99999"}
    yield "last page sort=name", {"page": "99999", "sort": "name"}
    yield "search name word (1 in 40)", {"q": "wingtip"}
    yield "search name word, page 2", {"q": "wingtip", "page": "2"}
    yield "search name word sort=name", {"q": "wingtip", "sort": "name"}
    yield "search full name (1 row)", {"q": sample.name}
    yield "search rare (no row)", {"q": "zzqx"}
    yield "search domain", {"q": sample.domain}
    yield "search Directory ID", {"q": str(sample.directory_id).upper()}


def _measure(client, path, params, repeat):
    """(median wall s, median SQL s, queries, the slowest query {"sql", "time"}) over ``repeat`` requests.

    Each query is timed with perf_counter around the driver's execute (Django's own log rounds to 1 ms).
    """
    from django.db import connection

    walls, sqls, counts, slowest = [], [], [], None
    for _ in range(repeat):
        queries = []

        def timed(execute, sql, params, many, context, queries=queries):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                queries.append({"sql": sql, "params": params, "time": time.perf_counter() - started})

        with connection.execute_wrapper(timed):
            started = time.perf_counter()
            response = client.get(path, params)
            walls.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, params, response.status_code)
        sqls.append(sum(q["time"] for q in queries))
        counts.append(len(queries))
        top = max(queries, key=lambda q: q["time"])
        if slowest is None or top["time"] > slowest["time"]:
            slowest = top
    slowest["sql"] = connection.ops.compose_sql(slowest["sql"], slowest["params"])
    return statistics.median(walls), statistics.median(sqls), max(counts), slowest


def _explain(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join("      " + row[0] for row in cursor.fetchall())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The scale of `make bench CLAIMS=N` (CPOR_BENCH_CLAIMS), each in a database of its own beyond 200,000.
    claims = int(os.environ.get("CPOR_BENCH_CLAIMS") or 200_000)
    database_url = DEFAULT_DATABASE_URL if claims == 200_000 else f"{DEFAULT_DATABASE_URL}_{claims}"
    parser.add_argument("--claims", type=int, default=claims, help=f"the partner's claims (default {claims:,})")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_LIST_DATABASE_URL", database_url),
        help="bench database (created if missing)",
    )
    parser.add_argument("--recreate", action="store_true", help="make the data again even if it is there")
    parser.add_argument("--repeat", type=int, default=15, help="requests per case (the median is shown)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each case's slowest query")
    parser.add_argument("--only", default="", help="only the cases whose label contains this text")
    args = parser.parse_args()

    _database_ensure(args.database_url)
    _setup(args.database_url)
    from django.test import Client
    from django.urls import reverse

    from associations.models import Membership

    partner = _data_ensure(args.claims, args.recreate)
    client = Client()
    client.force_login(Membership.objects.get(partner=partner).user)
    url = reverse("claims:list")

    wall, sql, count, _ = _measure(client, "/healthz", {}, args.repeat * 2)
    floor = wall
    print(f"{'case':<34} {'wall ms':>8} {'x healthz':>9} {'sql ms':>7} {'queries':>7}  slowest query")
    print(f"{'/healthz':<34} {wall * 1000:8.2f} {1:9.1f} {sql * 1000:7.2f} {count:7}")
    worst = 0
    for label, params in _scenarios(partner):
        if args.only not in label:
            continue
        wall, sql, count, slowest = _measure(client, url, params, args.repeat)
        worst = max(worst, wall / floor)
        head = " ".join(slowest["sql"].split())[:90]
        print(
            f"{label[:34]:<34} {wall * 1000:8.2f} {wall / floor:9.1f} {sql * 1000:7.2f} {count:7}  "
            f"{slowest['time'] * 1000:.2f} ms {head}"
        )
        if args.explain:
            print(_explain(slowest["sql"]))
    print(f"worst: {worst:.1f}x /healthz (wall time through the test client, no network)")


if __name__ == "__main__":
    main()
