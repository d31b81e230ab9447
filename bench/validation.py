"""Automatic validation throughput (SPEC §11: at least 300 claims/s per worker).

Creates N submitted claims (items, POE rows and their stored files) in a PostgreSQL database of its own, then
validates them through the code path a Celery worker runs: one ``claim_validate_task`` call per claim, in the
order the wizard enqueued them, synchronously in this one process. Prints claims/s, SQL statements, the
outcomes and the peak memory.

    .venv/bin/python bench/validation.py                 # 2,000 claims, POE files on the local disk
    .venv/bin/python bench/validation.py --s3            # POE files in S3 (a moto server on loopback)
    .venv/bin/python bench/validation.py --s3 --unchecked   # every POE file read again from S3
    .venv/bin/python bench/validation.py --claims 5000 --database-url postgres://postgres@127.0.0.1:5432/x

The database (default ``postgres://postgres@127.0.0.1:5432/cpor_bench``, or ``BENCH_DATABASE_URL``) is
created if missing, migrated and emptied: never point it at a database you care about.
"""

import argparse
import datetime
import hashlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cpor_bench"
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" + b"%" * 2000
EXE_BYTES = b"MZ\x90\x00 this is an executable, not a PDF" + b"\x00" * 2000
BUCKET = "cpor-bench"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_ensure(url):
    """Create the bench database if it does not exist (connecting to the server's ``postgres`` database)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
        # The bench empties its own database with flush (TRUNCATE), which claims' history refuses elsewhere
        # (migration 0008's escape hatch, as the test database has it).
        conn.execute(f"ALTER DATABASE \"{name}\" SET cpor.maintenance = 'on'")


def _s3_start():
    """A moto S3 server on loopback (like the test suite's), stopped by PID at the end."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)  # noqa: S310 (http on loopback)
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("moto_server did not start") from None
            time.sleep(0.1)
    os.environ.update(
        {
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": endpoint,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
        }
    )
    return process


def _setup(args, var_dir):
    os.environ["DJANGO_SETTINGS_MODULE"] = "cpor.settings"
    os.environ["DATABASE_URL"] = args.database_url
    # Local POE files, the file-system broker (emails queued by rejections) and the cache live in a throwaway
    # folder; nothing is sent.
    os.environ["CPOR_VAR_DIR"] = var_dir
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("CACHE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)


def _data_create(n, *, unchecked=False):
    """N submitted claims, set-based: 20 partners, N/4 tenants; a quarter Dynamics 365 Sales (two programs on a
    subscription of their own), the rest one or two Microsoft 365 workloads. Every 10th claim asks for a workload
    of the claim before it with another partner (competing); every 15th has an invalid contact email, every 20th
    a POE file that is not a PDF, every 40th a domain of another tenant (rejected); the rest pass. Returns the
    claim ids in submission order.

    POE rows are written as the wizard writes them: type found by the sniffer, ``content_checked``. The file that
    is not a PDF comes as a row written elsewhere (it says PDF, unchecked), so validation reads it again; with
    ``unchecked`` every row is like that.
    """
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from associations.catalog import catalog_ensure
    from associations.models import (
        Activity,
        Partner,
        PartnerLocation,
        Program,
        SolutionArea,
        Subscription,
        Tenant,
        TenantDomain,
        TenantLicense,
    )
    from claims.models import Claim, ClaimItem, ClaimStatus, PoeDocument
    from claims.uploads import HEAD_BYTES, detect_poe_type

    products = catalog_ensure()
    workloads = [p for p in products.values() if p.solution_area == SolutionArea.MICROSOFT_365]
    partners = Partner.objects.bulk_create([Partner(name=f"Bench partner {i}") for i in range(20)])
    locations = PartnerLocation.objects.bulk_create(
        [PartnerLocation(partner=p, mpn_id=str(5000000 + i), name=p.name, country="US") for i, p in enumerate(partners)]
    )
    tenant_count = max(1, n // 4)
    tenants = Tenant.objects.bulk_create(
        [Tenant(directory_id=uuid.uuid4(), name=f"Bench customer {i}", country="US") for i in range(tenant_count)]
    )
    TenantDomain.objects.bulk_create(
        [TenantDomain(tenant=t, name=f"bench-{i}.onmicrosoft.com", is_initial=True) for i, t in enumerate(tenants)]
        + [TenantDomain(tenant=t, name=f"bench-{i}.example") for i, t in enumerate(tenants)]
    )
    TenantLicense.objects.bulk_create(
        [TenantLicense(tenant=t, product=w, seats=100) for t in tenants for w in workloads]
    )
    now = timezone.now()
    claims, plans = [], []
    for i in range(n):
        t = i % tenant_count
        tenant, location = tenants[t], locations[i % len(locations)]
        if i % 10 == 9:
            # The same workload as claim i - 1 (same tenant only when the tenant repeats): another partner.
            t = (i - 1) % tenant_count
            tenant, location = tenants[t], locations[(i + 7) % len(locations)]
        bizapps = i % 4 == 3 and i % 10 != 9
        domain = f"bench-{t}.example" if i % 40 != 39 else f"bench-{(t + 1) % tenant_count}.example"
        claims.append(
            Claim(
                partner_id=location.partner_id,
                location=location,
                name=f"Bench claim {i}",
                domain=domain,
                directory_id=tenant.directory_id,
                tenant=tenant,
                solution_area=SolutionArea.BUSINESS_APPLICATIONS if bizapps else SolutionArea.MICROSOFT_365,
                activities=[Activity.USAGE, Activity.PRE_SALES] if bizapps else [Activity.USAGE],
                customer_contact_name="Dana Customer",
                customer_contact_title="IT director",
                customer_contact_email=f"dana@bench-{t}.example" if i % 15 != 14 else "dana(at)customer",
                technical_contact_name="Toni Tech" if bizapps else "",
                technical_contact_title="CRM lead" if bizapps else "",
                technical_contact_email=f"toni@it.bench-{t}.example" if bizapps else "",
                partner_contact_name="Pat Partner",
                partner_contact_email="claims@partner.example",
                status=ClaimStatus.SUBMITTED,
                submitted_at=now + datetime.timedelta(microseconds=i),
                status_changed_at=now,
            )
        )
        plans.append((tenant, bizapps, 2 * (i // tenant_count), i))
    Claim.objects.bulk_create(claims, batch_size=1000)
    # Each Business Applications claim has a subscription of its own (two programs on it).
    subscriptions = Subscription.objects.bulk_create(
        [
            Subscription(
                subscription_id=uuid.uuid4(),
                tenant=tenant,
                product=products["d365-sales"],
                start_date=datetime.date(2025, 1, 1),
                state=Subscription.State.ACTIVE,
            )
            for tenant, bizapps, _, _ in plans
            if bizapps
        ]
    )
    subscription_of = dict(zip([i for _, bizapps, _, i in plans if bizapps], subscriptions, strict=True))

    items, documents = [], []
    for claim, (tenant, bizapps, w, i) in zip(claims, plans, strict=True):
        if i % 10 == 9:
            w = 2 * ((i - 1) // tenant_count)
        if bizapps:
            subscription = subscription_of[i]
            items += [
                ClaimItem(
                    claim=claim, program=p, tenant=tenant, product=subscription.product, subscription=subscription
                )
                for p in (Program.OSU_BIZAPPS, Program.OSA_SELL)
            ]
        else:
            items += [
                ClaimItem(
                    claim=claim, program=Program.OSU_M365, tenant=tenant, product=workloads[(w + k) % len(workloads)]
                )
                for k in range(1 + i % 2)
            ]
        content = EXE_BYTES if i % 20 == 19 else PDF_BYTES
        sniffed = detect_poe_type(content[:HEAD_BYTES])
        documents.append(
            (
                PoeDocument(
                    claim=claim,
                    file=f"poe/bench/{uuid.uuid4().hex}",
                    original_name=f"proof-{i}.pdf",
                    content_type=sniffed or "application/pdf",
                    content_checked=bool(sniffed) and not unchecked,
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                    uploaded_at=now,
                ),
                content,
            )
        )
    ClaimItem.objects.bulk_create(items, batch_size=2000)
    PoeDocument.objects.bulk_create([d for d, _ in documents], batch_size=2000)

    if hasattr(default_storage, "bucket_name"):
        # One boto3 client for every thread (django-storages would build a heavy resource per thread).
        client = default_storage.connection.meta.client

        def store(pair):
            document, content = pair
            client.put_object(Bucket=default_storage.bucket_name, Key=document.file.name, Body=content)
    else:

        def store(pair):
            document, content = pair
            default_storage.save(document.file.name, ContentFile(content))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(store, documents))
    return [c.pk for c in claims]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000, help="how many submitted claims (default 2000)")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL), help="bench database"
    )
    parser.add_argument("--s3", action="store_true", help="store POE files in S3 (a moto server on loopback)")
    parser.add_argument(
        "--unchecked", action="store_true", help="POE rows without the upload's verdict: every file is read again"
    )
    args = parser.parse_args()

    _database_ensure(args.database_url)
    moto = _s3_start() if args.s3 else None
    try:
        with tempfile.TemporaryDirectory(prefix="cpor-bench-") as var_dir:
            _setup(args, var_dir)
            if args.s3:
                from django.core.files.storage import default_storage

                default_storage.connection.meta.client.create_bucket(Bucket=BUCKET)
            _run(args)
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=10)


def _run(args):
    from django.db import connection

    from claims.models import Claim, ClaimStatus
    from claims.tasks import claim_validate_task

    started = time.perf_counter()
    claim_ids = _data_create(args.claims, unchecked=args.unchecked)
    print(f"created {len(claim_ids)} submitted claims in {time.perf_counter() - started:.1f}s")

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        # Fresh statistics, as autovacuum keeps them in production: the planner picks the indexes it would there.
        cursor.execute("ANALYZE")
    connection.close()  # a worker's warm connection: opened once, outside the timing
    connection.ensure_connection()
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        # What the worker does: one task per submitted claim, in the order they were enqueued.
        for claim_id in claim_ids:
            claim_validate_task(claim_id=claim_id)
        elapsed = time.perf_counter() - started

    outcomes = Counter(Claim.objects.filter(pk__in=claim_ids).values_list("status", flat=True))
    competing = Claim.objects.filter(pk__in=claim_ids, competing=True).count()
    left = outcomes.get(ClaimStatus.SUBMITTED, 0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    storage = "S3 (moto on loopback)" if args.s3 else "local files"
    read = "every POE file read again" if args.unchecked else "POE types from the upload, unchecked rows read again"
    print(f"storage: {storage}; {read}")
    print(f"validated {len(claim_ids) - left} claims in {elapsed:.2f}s: {len(claim_ids) / elapsed:.0f} claims/s")
    print(f"SQL statements: {statements} ({statements / len(claim_ids):.2f} per claim)")
    print(
        f"passed (under_review): {outcomes.get(ClaimStatus.UNDER_REVIEW, 0)}, "
        f"failed (rejected): {outcomes.get(ClaimStatus.REJECTED, 0)}, competing: {competing}, still submitted: {left}"
    )
    print(f"peak memory: {peak_mb:.0f} MB")
    if left:
        raise SystemExit(f"{left} claims were not validated")


if __name__ == "__main__":
    main()
