"""Outgoing email throughput (SPEC §11: a backlog of emails drains at least 500 emails/s per worker).

    .venv/bin/python bench/emails.py                     # 5,000 pending emails, drained by the sweep
    .venv/bin/python bench/emails.py --emails 20000 --profile

1. Creates, migrates and empties a database of its own (default ``postgres://postgres@127.0.0.1:5432/
   cpor_bench_emails``, or ``BENCH_EMAILS_DATABASE_URL``; never point it at one you care about), then fills the
   outbox with N pending emails of the common kinds, queued the way the product queues them (the reviewers'
   and jobs' transitions, ``claims_transition``, each email belonging to its event): 40% customers' notices
   (approved claims awaiting the customer: a Taiwan tenant's in Traditional Chinese, every fifth one a
   Dynamics 365 subscription whose technical contact gets a copy), and partners' emails: official (20%),
   rejected (10%), action required (10%), opted out (10%) and ended (10%), a third of the partners' contacts
   reading in Traditional Chinese (their saved language).
2. Starts an SMTP sink in a process of its own on loopback (a minimal asyncio SMTP server that accepts every
   message and only counts them), and points the mailer at it (``cpor.mail.SmtpBackend``, as
   ``EMAIL_URL=smtp://...`` does).
3. Drains the outbox as the beat sweep does after an outage, when only the sweep sends: it calls
   ``emails_send_due_task`` (the task beat runs every 30 seconds) in this process, one run after another, until
   a run sends nothing, with DEBUG off. Every SQL statement is counted (``connection.execute_wrapper``).

Prints emails/s while sending, SQL statements per email, the CPU per email of the worker, its PostgreSQL backend and
the sink, what each sweep run sent, and the rate at which beat drains the backlog (a run every 30 seconds; a run
that sends the sweep task again, as one that ran out of time does, is followed at once). Checks that every row is
sent, the sink got every message (and the technical contacts' copies), and every notice started its claim's
opt-out window (SPEC §6).

PASS: at least 500 emails/s while sending and at beat's pace. Exit status 1 when the bar fails.
"""

import argparse
import asyncio
import datetime
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = os.environ.get(
    "BENCH_EMAILS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cpor_bench_emails"
)
BAR_EMAILS_PER_SECOND = 500
BEAT_SECONDS = 30.0
# The mix of the outbox, per 10 emails.
MIX = ["customer_notified"] * 4 + ["official"] * 2 + ["rejected", "action_required", "opted_out", "ended"]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The SMTP sink ---------------------------------------------------------------------------------------------------


class _SinkProtocol(asyncio.Protocol):
    """One SMTP session of the sink: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, every one answered "OK"."""

    counts = {"messages": 0, "recipients": 0}

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
        self.in_data = False
        self.recipients = 0
        transport.write(b"220 sink.bench ESMTP\r\n")

    def data_received(self, chunk):
        self.buffer += chunk
        replies = []
        while True:
            if self.in_data:
                # The message ends with a line holding a single dot (smtplib sends the message's CRLF before it).
                end = 0 if self.buffer.startswith(b".\r\n") else self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                self.buffer = self.buffer[end + (3 if end == 0 else 5) :]
                self.in_data = False
                self.counts["messages"] += 1
                self.counts["recipients"] += self.recipients
                self.recipients = 0
                replies.append(b"250 OK\r\n")
                continue
            line, found, rest = self.buffer.partition(b"\r\n")
            if not found:
                break
            self.buffer = rest
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(b"250-sink.bench\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n")
            elif verb == b"RCPT":
                self.recipients += 1
                replies.append(b"250 OK\r\n")
            elif verb == b"DATA":
                self.in_data = True
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"".join(replies) + b"221 Bye\r\n")
                self.transport.close()
                return
            elif verb in (b"HELO", b"MAIL", b"RSET", b"NOOP"):
                self.recipients = 0 if verb in (b"MAIL", b"RSET") else self.recipients
                replies.append(b"250 OK\r\n")
            else:
                replies.append(b"500 Unknown command\r\n")
        if replies:
            self.transport.write(b"".join(replies))


def sink_serve(port):
    """An SMTP server on loopback that accepts every message and keeps nothing but counts, in the main thread of
    its own process (so that it does not share this process's interpreter with the worker being measured). It
    stands for a production mail server, which takes a message in far less time than the worker spends on it: a
    few lines of asyncio, since aiosmtpd's own session costs more CPU per message than the whole send path being
    measured. On SIGTERM it prints "<messages> <recipients>" and exits."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(_SinkProtocol, "127.0.0.1", port))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print("ready", flush=True)
    loop.run_forever()
    server.close()
    print(_SinkProtocol.counts["messages"], _SinkProtocol.counts["recipients"], flush=True)


def _sink_start():
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bench.emails as b; b.sink_serve({port})",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise SystemExit("the SMTP sink did not start")
    return process, port


def _sink_stop(process):
    """Stops the sink; returns (messages, recipients) it accepted."""
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    messages, recipients = out.split()
    return int(messages), int(recipients)


# The database ----------------------------------------------------------------------------------------------------


def _database_ensure(url):
    """Create the bench database if it does not exist (connecting to the server's ``postgres`` database)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
        # The bench empties its own database with flush (TRUNCATE), which claims' history refuses elsewhere
        # (migration 0008's escape hatch, as the test database has it).
        conn.execute(f"ALTER DATABASE \"{name}\" SET cpor.maintenance = 'on'")


def _setup(database_url, var_dir, smtp_port):
    sys.path.insert(0, str(ROOT))
    from bench import data

    # A worker's environment (DEBUG off, keys, SITE_URL), with the mailer pointed at the sink.
    os.environ.update(data.bench_env(database_url, var_dir=var_dir))
    os.environ.pop("CACHE_URL", None)
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    import django

    django.setup()
    # Queuing the emails enqueues their wake-up tasks to a file-system broker nobody reads: kombu warns.
    logging.getLogger("kombu").setLevel(logging.ERROR)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)


def _outbox_fill(n):
    """N pending outbox rows (``MIX``), queued by the product's transitions. Returns Counter of kinds."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
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
        UserPreference,
    )
    from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, EmailNotification, InformationReason
    from claims.services.notifications import outbox_add
    from claims.services.transitions import claims_transition

    products = catalog_ensure()
    workloads = [p for p in products.values() if p.solution_area == SolutionArea.MICROSOFT_365]
    partners = Partner.objects.bulk_create([Partner(name=f"Bench partner {i}") for i in range(30)])
    locations = PartnerLocation.objects.bulk_create(
        [PartnerLocation(partner=p, mpn_id=str(6000000 + i), name=p.name, country="US") for i, p in enumerate(partners)]
    )
    # A third of the partners' contacts sign in too and read in Traditional Chinese.
    users = get_user_model().objects.bulk_create(
        [
            get_user_model()(username=f"claims@partner-{i}.example", email=f"claims@partner-{i}.example")
            for i in range(0, 30, 3)
        ]
    )
    UserPreference.objects.bulk_create([UserPreference(user=u, language="zh-hant") for u in users])
    tenant_count = max(1, n // 4)
    tenants = Tenant.objects.bulk_create(
        [
            Tenant(directory_id=uuid.uuid4(), name=f"Bench customer {i}", country="TW" if i % 3 == 0 else "US")
            for i in range(tenant_count)
        ]
    )
    now = timezone.now()
    start = {
        "customer_notified": ClaimStatus.UNDER_REVIEW,
        "official": ClaimStatus.OFFICIAL,
        "rejected": ClaimStatus.UNDER_REVIEW,
        "action_required": ClaimStatus.UNDER_REVIEW,
        "opted_out": ClaimStatus.CUSTOMER_NOTIFIED,
        "ended": ClaimStatus.OFFICIAL,
    }
    claims, kinds, dynamics = [], [], []
    for i in range(n):
        kind = MIX[i % len(MIX)]
        t = i % tenant_count
        tenant, location = tenants[t], locations[i % len(locations)]
        bizapps = kind == "customer_notified" and i % 5 == 0
        claims.append(
            Claim(
                partner_id=location.partner_id,
                location=location,
                name=f"Bench claim {i}",
                domain=f"bench-{t}.example",
                directory_id=tenant.directory_id,
                tenant=tenant,
                solution_area=SolutionArea.BUSINESS_APPLICATIONS if bizapps else SolutionArea.MICROSOFT_365,
                activities=[Activity.USAGE, Activity.PRE_SALES] if bizapps else [Activity.USAGE],
                customer_contact_name="Dana Customer",
                customer_contact_title="IT director",
                customer_contact_email=f"dana@bench-{t}.example",
                technical_contact_name="Toni Tech" if bizapps else "",
                technical_contact_title="CRM lead" if bizapps else "",
                technical_contact_email=f"toni@it.bench-{t}.example" if bizapps else "",
                partner_contact_name="Pat Partner",
                partner_contact_email=f"claims@partner-{i % len(locations)}.example",
                status=start[kind],
                submitted_at=now,
                status_changed_at=now,
            )
        )
        kinds.append(kind)
        dynamics.append(bizapps)
    Claim.objects.bulk_create(claims, batch_size=2000)
    subscriptions = Subscription.objects.bulk_create(
        [
            Subscription(
                subscription_id=uuid.uuid4(),
                tenant=claim.tenant,
                product=products["d365-sales"],
                start_date=datetime.date(2025, 1, 1),
                state=Subscription.State.ACTIVE,
            )
            for claim, bizapps in zip(claims, dynamics, strict=True)
            if bizapps
        ]
    )
    subscription_of = iter(subscriptions)
    items = []
    for i, (claim, bizapps) in enumerate(zip(claims, dynamics, strict=True)):
        if bizapps:
            subscription = next(subscription_of)
            items += [
                ClaimItem(
                    claim=claim, program=p, tenant=claim.tenant, product=subscription.product, subscription=subscription
                )
                for p in (Program.OSU_BIZAPPS, Program.OSA_SELL)
            ]
        else:
            items += [
                ClaimItem(
                    claim=claim,
                    program=Program.OSU_M365,
                    tenant=claim.tenant,
                    product=workloads[(i + k) % len(workloads)],
                )
                for k in range(1 + i % 2)
            ]
    ClaimItem.objects.bulk_create(items, batch_size=2000)

    ids = {kind: [c.pk for c, k in zip(claims, kinds, strict=True) if k == kind] for kind in start}
    deadline = now + datetime.timedelta(days=7)
    with transaction.atomic():
        moves = [
            (
                "customer_notified",
                ClaimStatus.UNDER_REVIEW,
                ClaimStatus.CUSTOMER_NOTIFIED,
                ClaimEvent.Action.APPROVED,
                {},
            ),
            (
                "rejected",
                ClaimStatus.UNDER_REVIEW,
                ClaimStatus.REJECTED,
                ClaimEvent.Action.REJECTED,
                {"rejection_reasons": ["The customer's tenant has no license for this workload."]},
            ),
            (
                "action_required",
                ClaimStatus.UNDER_REVIEW,
                ClaimStatus.ACTION_REQUIRED,
                ClaimEvent.Action.INFORMATION_REQUESTED,
                {"response_deadline": deadline},
            ),
            ("opted_out", ClaimStatus.CUSTOMER_NOTIFIED, ClaimStatus.OPTED_OUT, ClaimEvent.Action.OPTED_OUT, {}),
            ("ended", ClaimStatus.OFFICIAL, ClaimStatus.ENDED, ClaimEvent.Action.DISASSOCIATED, {}),
        ]
        for kind, old, to, action, changes in moves:
            extra = {}
            if kind == "action_required":
                extra = {"reason": InformationReason.CONTACT_UNVERIFIED, "message": "Who is Dana? Please confirm."}
            claims_transition(
                claim_ids=ids[kind], old_status=old, to=to, actor=None, action=action, changes=changes, now=now, **extra
            )
        # Official claims as finalization leaves them (their notices delivered long ago): one email each.
        outbox_add([(pk, EmailNotification.Kind.OFFICIAL, None, None) for pk in ids["official"]])
    return Counter(EmailNotification.objects.filter(state="pending").values_list("kind", flat=True))


# The run ---------------------------------------------------------------------------------------------------------


def _cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` so far (/proc), or None where /proc is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drain(profile, sink_pid):
    """Run the sweep until a run sends nothing. Returns ([(sent, seconds, sent the sweep again)] per run,
    statements, {process: CPU seconds}: this worker's, its PostgreSQL backend's and the sink's while it ran)."""
    from django.db import connection

    from claims.services import jobs
    from claims.tasks import emails_send_due_task

    statements = 0
    # The tasks a run sends (no broker here): a run that sends the sweep again is followed at once, not at beat's
    # next tick.
    sent_tasks = []
    jobs.task_send = lambda name, **kwargs: sent_tasks.append(name)

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    runs = []
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    pids = {"PostgreSQL backend": backend, "SMTP sink": sink_pid}
    cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    worker_before = time.process_time()
    with connection.execute_wrapper(count):
        while True:
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            sent_tasks.clear()
            sent = emails_send_due_task()
            if profiler:
                profiler.disable()
            runs.append((sent, time.perf_counter() - started, "emails_send_due_task" in sent_tasks))
            if not sent:
                break
    cpu = {"worker": time.process_time() - worker_before}
    for name, pid in pids.items():
        after = _cpu_seconds(pid)
        cpu[name] = None if after is None or cpu_before[name] is None else after - cpu_before[name]
    if profiler:
        import pstats

        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(60)
    return runs, statements, cpu


def _beat_seconds(runs):
    """How long the backlog takes to drain when beat starts it: a run every BEAT_SECONDS (a longer one delays the
    next until it ends: a worker runs one task at a time), or at once after a run that sent the sweep again; the
    last run counted to its end."""
    sending = [(seconds, follow_up) for sent, seconds, follow_up in runs if sent]
    if not sending:
        return 0.0
    waits = [seconds if follow_up else max(seconds, BEAT_SECONDS) for seconds, follow_up in sending[:-1]]
    return sum(waits) + sending[-1][0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=5000, help="how many pending emails (default 5000)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="bench database (emptied)")
    parser.add_argument("--profile", action="store_true", help="print where the sending time goes (cProfile)")
    args = parser.parse_args()

    _database_ensure(args.database_url)
    sink, port = _sink_start()
    try:
        with tempfile.TemporaryDirectory(prefix="cpor-bench-emails-") as var_dir:
            _setup(args.database_url, var_dir, port)
            ok = _run(args, sink)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait(timeout=10)
    if not ok:
        raise SystemExit(1)


def _run(args, sink):
    from django.db import connection
    from django.utils import timezone

    from claims.models import Claim, ClaimEvent, EmailNotification

    started = time.perf_counter()
    kinds = _outbox_fill(args.emails)
    pending = sum(kinds.values())
    print(
        f"queued {pending} emails in {time.perf_counter() - started:.1f}s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as autovacuum keeps them in production
    connection.close()  # a worker's warm connection: opened once, outside the timing
    connection.ensure_connection()
    # A worker's warm state: the public holidays (imported on the first deadline) and the templates (compiled on
    # their first use) are loaded once per process, not per email.
    from django.template.loader import get_template

    from claims.deadlines import deadline_after

    for country in ("TW", "US"):
        deadline_after(timezone.now(), country=country, time_zone=datetime.UTC)
    for name in [f"emails/{kind}{suffix}" for kind in set(MIX) for suffix in ("_subject.txt", ".txt", ".html")]:
        get_template(name)

    runs, statements, cpu = _drain(args.profile, sink.pid)
    messages, recipients = _sink_stop(sink)

    sent = sum(s for s, _, _ in runs)
    seconds = sum(d for _, d, _ in runs)
    beat = _beat_seconds(runs)
    states = Counter(EmailNotification.objects.values_list("state", flat=True))
    notices = kinds.get("customer_notified", 0)
    windows = Claim.objects.filter(status="customer_notified", opt_out_deadline__isnull=False).count()
    delivered = ClaimEvent.objects.filter(action=ClaimEvent.Action.NOTICE_DELIVERED).count()
    technical = Claim.objects.filter(status="customer_notified").exclude(technical_contact_email="").count()
    rate = sent / seconds if seconds else 0.0
    beat_rate = sent / beat if beat else 0.0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print("drained by the beat sweep (emails_send_due_task) in this process, one run after another, DEBUG off")
    print(
        f"sweep runs: {len([r for r in runs if r[0]])} sending, "
        + ", ".join(f"{s} in {d:.1f}s" + (" (then the next at once)" if again else "") for s, d, again in runs)
    )
    print(f"sent {sent} emails in {seconds:.2f}s: {rate:.0f} emails/s")
    print(f"SQL statements: {statements} ({statements / max(sent, 1):.2f} per email)")
    print(
        "CPU per email: "
        + ", ".join(
            f"{name} {seconds / max(sent, 1) * 1000:.2f} ms" for name, seconds in cpu.items() if seconds is not None
        )
        + f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(f"at beat's pace (a run every {BEAT_SECONDS:.0f}s): {beat:.1f}s, {beat_rate:.0f} emails/s")
    print(f"rows: {dict(states)}; sink: {messages} messages, {recipients} recipients")
    print(f"notices: {notices}, opt-out windows started: {windows}, NOTICE_DELIVERED events: {delivered}")
    print(f"peak memory: {peak_mb:.0f} MB")
    problems = []
    if states.get("sent", 0) != pending or sent != pending:
        problems.append(f"{pending - states.get('sent', 0)} emails not sent")
    if messages != pending or recipients != pending + technical:
        problems.append(
            f"the sink got {messages} messages for {recipients} recipients, not {pending} and {pending + technical}"
        )
    if windows != notices or delivered != notices:
        problems.append("not every notice started its opt-out window")
    for problem in problems:
        print(f"FAIL: {problem}")
    ok = not problems
    for name, value in (("while sending", rate), ("at beat's pace", beat_rate)):
        verdict = "PASS" if value >= BAR_EMAILS_PER_SECOND else "FAIL"
        ok = ok and verdict == "PASS"
        print(f"{verdict}: {value:.0f} emails/s {name} (bar: at least {BAR_EMAILS_PER_SECOND} emails/s per worker)")
    return ok


if __name__ == "__main__":
    main()
