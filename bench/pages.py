"""Page latency, SQL queries and web process memory against the 200,000-claim bench database (SPEC §11).

    .venv/bin/python bench/pages.py                     # 20 warm-up + 200 measured requests per page
    .venv/bin/python bench/pages.py --requests 50       # quicker, noisier
    .venv/bin/python bench/pages.py --only "?q="        # only some pages (the searches), beside the floor

SPEC §11 measures pages against the **signed-in floor**: the page a signed-in partner user gets with the base
layout and nothing else (session, user, membership, template). The product has no such page; the benchmark
serves it at ``/bench/floor`` with its own settings module, ``bench.settings`` (``cpor.settings`` plus the
URLconf ``bench.floor_urls``: ``cpor.urls`` and the floor, a view behind ``partner_required`` that renders a
template extending ``base.html`` with an empty content block). The reviewer's pages (Django admin: the queue, a
review page) are measured against the **reviewer's floor**, ``/bench/admin-floor`` (the admin's base layout with an
empty content block, behind the admin's sign-in and the queue's permission), the partner's floor beside it.

1. Builds the bench database if needed (``bench/data.py``) and collects the static files (DEBUG is off).
2. Counts the SQL queries of each page and of the floor in this process (Django's test client,
   CaptureQueriesContext), signed in as alex@contoso-partners.example (Contoso Partners: 180,000 of the claims).
   The count is the second request's: the first one also warms per-process caches.
3. Starts gunicorn like the Procfile (``cpor.wsgi``, sync workers, ``--workers 2``) with
   ``DJANGO_SETTINGS_MODULE=bench.settings`` on a free loopback port, signs in over HTTP, and requests every page
   one after the other from one client thread, each request of a page just after a /healthz request and a floor
   request (the machine's load drifts: each page is compared with the floor and /healthz measured in the same
   moments): warm-up rounds, then the measured ones (median and p95 of the whole request: connect, send,
   answer). Sync workers close the connection after each answer, so every request opens one.
4. Reads the RSS (VmRSS, and the peak VmHWM) of the gunicorn workers after the load, and stops gunicorn.

A page PASSES when its median is at most 2x the median of the floor requests made alongside it (5x for a list
variant: a search, a filter, a sort, a deep page), it makes at most 12 SQL queries, and every answer (its own,
the floor's and /healthz's alongside) was a 200. Its ratio to /healthz is printed for information. The wizard
is one SessionWizardView: a GET always opens step 1, the next steps are what Continue answers (the POST of the
step before, with the run's earlier steps in the session). The customer's page allows 30 requests a
minute per client address and 20 per link, so its requests come from several loopback addresses (127.x.y.z),
each with the link of another notified claim, as many customers would.
Exit status 1 when any bar fails.
"""

import argparse
import http.client
import itertools
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import data  # noqa: E402

PAGE_BAR = 2.0  # a page's median / the floor's
VARIANT_BAR = 5.0  # a list variant's (search, filter, sort, deep page) median / the floor's
TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b")
QUERIES_BAR = 12
RSS_BAR_MB = 300
# The opt-out page's limits (claims.views.customer): 30 requests a minute per client, 20 per link. A new loopback
# address and another notified claim's link every OPT_OUT_SWITCH requests.
OPT_OUT_SWITCH = 15
OPT_OUT_LINKS = 200  # enough for 3,000 requests without using a link twice
LOGIN = "alex@contoso-partners.example"
PASSWORD = "cpor-demo-2026"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" + b"%" * 2000
WIZARD = "/incentives/customer-associations/new/"
WIZARD_PREFIX = "claim_wizard"
SETTINGS = "bench.settings"  # cpor.settings plus /bench/floor (bench/floor_urls.py)
FLOOR_PATH = "/bench/floor"  # bench.floor_urls.FLOOR_PATH, without importing Django before the settings are set
FLOOR = "signed-in floor"
HEALTHZ = "/healthz"
# The review tool (SPEC §8) is Django admin: its pages are measured against the reviewer's floor, the admin's base
# layout with an empty content behind the admin's own sign-in (bench.floor_urls.admin_floor), the partner's floor
# shown beside it for information. The demo reviewer (seed_demo) signs in with its password and a TOTP code.
ADMIN_FLOOR_PATH = "/bench/admin-floor"  # bench.floor_urls.ADMIN_FLOOR_PATH
ADMIN_FLOOR = "reviewer floor"
REVIEWER_LOGIN = "reviewer@cpor.example"
QUEUE = "/admin/claims/claim/"
FLOORS = (HEALTHZ, FLOOR, ADMIN_FLOOR)


# --- a small HTTP client: cookies by hand (the server sets them Secure; this is plain HTTP on loopback) ---------


class HttpClient:
    def __init__(self, port, source_address=None):
        self.port = port
        self.cookies = {}
        self.source_address = source_address
        self.connection = None

    def _connection(self):
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=60, source_address=self.source_address
            )
        return self.connection

    def cookie(self, name):
        """A cookie's value by its name, with or without the `__Host-` prefix secure cookies have."""
        return self.cookies.get(f"__Host-{name}", self.cookies.get(name))

    def request(self, method, path, fields=None, files=None):
        headers = {"Host": "127.0.0.1"}
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            headers["X-CSRFToken"] = self.cookie("csrftoken") or ""
            if files:
                boundary = uuid.uuid4().hex
                body = _multipart(boundary, fields or {}, files)
                headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            else:
                body = urlencode(fields or {}, doseq=True).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = self._connection()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except (http.client.HTTPException, ConnectionError):
            # The server closed a kept connection between requests: once more on a new one.
            connection.close()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
        return response.status, content

    def close(self):
        if self.connection is not None:
            self.connection.close()


def _multipart(boundary, fields, files):
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content, content_type) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


# --- what to request ------------------------------------------------------------------------------------------


def targets_find():
    """The claims, wizard inputs and opt-out token the pages are measured with (Contoso's bench claims)."""
    from django.db.models import Count
    from django.utils import timezone

    from associations.models import PartnerLocation, Product, Tenant
    from claims.models import Claim, ClaimStatus
    from claims.tokens import opt_out_token_make

    contoso = Claim.objects.filter(partner__name="Contoso Partners", name__startswith="Bench customer")

    def claim_with(status, items):
        # The newest such claim (a partner opens recent ones), with this many items.
        return (
            contoso.filter(status=status).annotate(n=Count("items")).filter(n=items).order_by("-submitted_at").first()
        )

    ended = claim_with(ClaimStatus.ENDED, 2)
    action = claim_with(ClaimStatus.ACTION_REQUIRED, 2)
    official = claim_with(ClaimStatus.OFFICIAL, 2)
    under_review = claim_with(ClaimStatus.UNDER_REVIEW, 2)
    # The demo's claim under review that competes with another partner's claim awaiting its customer (the bench
    # claims each ask for item keys of their own: none competes).
    competing = Claim.objects.filter(status=ClaimStatus.UNDER_REVIEW, competing=True).order_by("-submitted_at").first()
    notified_claims = list(
        contoso.filter(status=ClaimStatus.CUSTOMER_NOTIFIED, opt_out_deadline__gt=timezone.now()).order_by(
            "-submitted_at"
        )[:OPT_OUT_LINKS]
    )
    notified = notified_claims[0]

    def links(claims):
        return [opt_out_token_make(submission_key=c.submission_key, deadline=c.opt_out_deadline) for c in claims]

    # An official claim's customer can still end it (SPEC §7, decline later): the same link, the same page.
    official_claims = list(
        contoso.filter(status=ClaimStatus.OFFICIAL, opt_out_deadline__isnull=False).order_by("-submitted_at")[
            :OPT_OUT_LINKS
        ]
    )
    # A bench customer with claims of its own (its products step shows held and pending products); Microsoft
    # Defender for Office 365 is free on every bench tenant.
    tenant = Tenant.objects.get(name="Bench customer 00002")
    location = PartnerLocation.objects.get(mpn_id="4100001")
    product = Product.objects.get(code="defender-for-office-365")
    wizard = {
        "customer": {
            "customer-location": location.mpn_id,
            "customer-domain": "bench-customer-2.example",
            "customer-directory_id": str(tenant.directory_id),
        },
        "activity": {"activity-solution_area": "microsoft_365", "activity-usage": "on"},
        "associate": {"associate-name": "Bench wizard claim"},
        "products": {"products-products": str(product.pk)},
        "contacts": {
            "contacts-customer_contact_name": "Dana Customer",
            "contacts-customer_contact_title": "IT director",
            "contacts-customer_contact_email": "dana@bench-customer-2.example",
            "contacts-partner_contact_name": "Alex Wilber",
            "contacts-partner_contact_email": "alex@contoso-partners.example",
        },
        "poe": {},
    }
    return {
        "claims": {
            "ended": ended,
            "action_required": action,
            "official": official,
            "notified": notified,
            "under_review": under_review,
            "competing": competing,
        },
        "tokens": links(notified_claims),
        "official_tokens": links(official_claims),
        "wizard": wizard,
    }


def drafts_forget():
    """Delete the drafts that earlier runs of this script left (each wizard run is a draft of the signed-in user,
    and a user has at most DRAFTS_MAX_OPEN open: the wizard answers 409 after a few runs). Only drafts started
    after the bench data was built: the demo's own drafts stay."""
    from django.db import connection

    from claims.models import Claim, ClaimStatus

    with connection.cursor() as cursor:
        cursor.execute("SELECT built_at FROM bench_data_marker")
        built_at = cursor.fetchone()[0]
    left = Claim.objects.filter(status=ClaimStatus.DRAFT, created_by__email=LOGIN, submitted_at__gt=built_at)
    count, _ = left.delete()
    if count:
        print(f"deleted the drafts of earlier runs ({count} rows)", flush=True)


def pages_plan(targets):
    """(name, kind, detail, bar) of every measured page, the floors and /healthz first. kind: get (path), step
    (wizard step number), optout (the customer page's links), admin (a reviewer's path: measured against the
    reviewer's floor); bar: the most its median may be, in floor medians (None: a yardstick)."""
    claims = targets["claims"]
    base = "/incentives/customer-associations/"
    search = claims["official"].name.split(" · ")[0]  # "Bench customer 0xxxx": a handful of matches
    typo = search.replace("customer", "custmer")  # "Bench custmer 0xxxx": one letter missing
    plan = [
        (HEALTHZ, "get", "/healthz", None),
        (FLOOR, "get", FLOOR_PATH, None),
        (ADMIN_FLOOR, "admin", ADMIN_FLOOR_PATH, None),
        ("list", "get", base, PAGE_BAR),
        ("list ?status=official", "get", base + "?status=official", VARIANT_BAR),
        ("list ?sort=name", "get", base + "?sort=name", VARIANT_BAR),
        ("list ?page=2000", "get", base + "?page=2000", VARIANT_BAR),
        (f"list ?q={search}", "get", base + "?" + urlencode({"q": search}), VARIANT_BAR),
        # The search over every field (issue 15): a product most claims hold (the count stops at 1,000), the MPN ID
        # of nine claims in ten, a claim number, the customer with a typo (nothing holds it: the close matches).
        ("list ?q=Microsoft Teams", "get", base + "?" + urlencode({"q": "Microsoft Teams"}), VARIANT_BAR),
        # A customer's domain: one word whose pieces ("bench", "customer", "example") every claim holds.
        (
            f"list ?q={claims['official'].domain}",
            "get",
            base + "?" + urlencode({"q": claims["official"].domain}),
            VARIANT_BAR,
        ),
        ("list ?q=4100001", "get", base + "?q=4100001", VARIANT_BAR),
        (f"list ?q={claims['official'].number}", "get", base + f"?q={claims['official'].number}", VARIANT_BAR),
        (f"list ?q={typo}", "get", base + "?" + urlencode({"q": typo}), VARIANT_BAR),
        ("list ?sort=due", "get", base + "?sort=due", VARIANT_BAR),
        ("list ?sort=due&page=2000", "get", base + "?sort=due&page=2000", VARIANT_BAR),
        ("claim page (ended, 2 items)", "get", f"{base}{claims['ended'].pk}/", PAGE_BAR),
        ("claim page (action required)", "get", f"{base}{claims['action_required'].pk}/", PAGE_BAR),
        ("usage page", "get", f"{base}{claims['official'].pk}/usage/", PAGE_BAR),
    ]
    from claims.wizard import STEPS

    for number, (name, _) in enumerate(STEPS, start=1):
        label = f"wizard {number} {name}" + (" (GET)" if number == 1 else " (Continue)")
        plan.append((label, "step", number, PAGE_BAR))
    links = tuple(f"/customer/opt-out/{token}/" for token in targets["tokens"])
    plan.append(("customer page (awaiting customer)", "optout", links, PAGE_BAR))
    if targets["official_tokens"]:
        links = tuple(f"/customer/opt-out/{token}/" for token in targets["official_tokens"])
        plan.append(("customer page (official)", "optout", links, PAGE_BAR))
    # The review tool (SPEC §8): the queue as the admin opens it, its variants (every claim, a status, a search, a
    # sort, a deep page of every claim), and a claim's review page.
    queue_search = claims["under_review"].name.split(" · ")[0]
    plan += [
        ("queue", "admin", QUEUE, PAGE_BAR),
        ("queue ?queue=all", "admin", QUEUE + "?queue=all", VARIANT_BAR),
        ("queue ?status=official", "admin", QUEUE + "?status__exact=official", VARIANT_BAR),
        (f"queue ?q={queue_search}", "admin", QUEUE + "?" + urlencode({"q": queue_search}), VARIANT_BAR),
        # Sorted by number and by review due, latest first (the sortable columns: claims.admin.queue.QUEUE_SORTABLE),
        # an address asking for another column, and the page of every claim that starts 100,000 claims in.
        ("queue ?queue=all&o=number", "admin", QUEUE + "?queue=all&o=1", VARIANT_BAR),
        ("queue ?o=-due", "admin", QUEUE + "?o=-8", VARIANT_BAR),
        ("queue ?queue=all&o=-due", "admin", QUEUE + "?queue=all&o=-8", VARIANT_BAR),
        # A column that is not sortable (the customer's): the queue's own order.
        ("queue ?queue=all&o=customer", "admin", QUEUE + "?queue=all&o=4", VARIANT_BAR),
        ("queue ?queue=all&p=4000", "admin", QUEUE + "?queue=all&p=4000", VARIANT_BAR),
        ("review page (under review, 2 items)", "admin", f"{QUEUE}{claims['under_review'].pk}/change/", PAGE_BAR),
    ]
    if claims["competing"] is not None:
        path = f"{QUEUE}{claims['competing'].pk}/change/"
        plan.append(("review page (competing)", "admin", path, PAGE_BAR))
    return plan


_opt_out_links_used = itertools.count()


def _opt_out_link(links):
    """The next link not used yet in this run (by the in-process requests or the HTTP ones: the limits' counts
    last a minute), with its number; used again only after every other one (a small database has fewer)."""
    number = next(_opt_out_links_used)
    return number, links[number % len(links)]


def wizard_prepare(request, targets, number):
    """Open a wizard run and walk it to just before step ``number``; returns the request that shows that step.

    ``request(method, path, fields=None, files=None) -> (status, body)``.
    """
    from claims.wizard import STEP_TITLES, STEPS

    names = [name for name, _ in STEPS]
    steps = targets["wizard"]

    def post_step(name):
        return request("POST", WIZARD, {f"{WIZARD_PREFIX}-current_step": name, **steps[name]})

    def expect(result, step_name):
        status, body = result
        title = STEP_TITLES[step_name].replace("(", "").replace(")", "")
        if status != 200 or title not in body.decode().replace("(", "").replace(")", ""):
            raise SystemExit(f"wizard: expected step {step_name!r}, got {status}: {body[:3000].decode()}")
        return result

    expect(request("GET", WIZARD), names[0])
    if number == 1:
        return lambda: expect(request("GET", WIZARD), names[0])
    for index in range(number - 2):
        expect(post_step(names[index]), names[index + 1])
        if names[index + 1] == "poe":
            status, body = request("POST", WIZARD + "uploads/", {}, {"file": ("proof.pdf", PDF, "application/pdf")})
            if status != 201:
                raise SystemExit(f"POE upload failed: {status} {body[:500]}")
    before = names[number - 2]
    return lambda: expect(post_step(before), names[number - 1])


# --- query counts (in this process) -----------------------------------------------------------------------------


def queries_count(plan, targets, *, rounds):
    """Per page: the SQL queries of one request, and where the time of a request goes in this process (median
    over ``rounds`` requests of the total, the time inside SQL, and the slowest statement with its parameters)."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR=address)
    # A session as the sign-in leaves it (the sign-in itself, throttled by django-axes, wants a request).
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(email=LOGIN).first()
    if user is None:
        raise SystemExit(f"cannot sign in as {LOGIN}")
    client.force_login(user)
    reviewer = reviewer_client_in_process(Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR=address))

    def request(method, path, fields=None, files=None):
        if method == "GET":
            response = client.get(path)
        elif files:
            name, (filename, content, content_type) = next(iter(files.items()))
            response = client.post(path, {**fields, name: SimpleUploadedFile(filename, content, content_type)})
        else:
            response = client.post(path, fields)
        return response.status_code, response.content

    statements = []

    def timed(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - t, sql, params))

    profiles = {}
    for name, kind, detail, _ in plan:
        if kind == "step":
            call = wizard_prepare(request, targets, detail)
        elif kind == "optout":
            # Customers: a client of their own (another address) with another link every OPT_OUT_SWITCH requests.
            state = {"n": 0, "client": None, "link": None}
            prefix = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"

            def call(links=detail, state=state, prefix=prefix):
                if state["n"] % OPT_OUT_SWITCH == 0:
                    number, state["link"] = _opt_out_link(links)
                    state["client"] = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR=f"{prefix}.{1 + number % 254}")
                state["n"] += 1
                response = state["client"].get(state["link"])
                return response.status_code, response.content

        elif kind == "admin":

            def call(detail=detail):
                response = reviewer.get(detail)
                return response.status_code, response.content

        else:

            def call(detail=detail):
                return request("GET", detail)

        call()  # warms per-process caches (content types, templates)
        with CaptureQueriesContext(connection) as captured:
            status, _ = call()
        # Read now: Django empties the query log when the next request starts.
        # Statements that read or write data: the transaction control around a write (BEGIN/COMMIT, or
        # SAVEPOINT/RELEASE inside one) is not a query of its own.
        queries = [q["sql"] for q in captured.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]
        if status != 200:
            raise SystemExit(f"{name}: answered {status} in process")
        totals, sql_times, per_statement = [], [], {}
        for _ in range(rounds):
            statements.clear()
            t = time.perf_counter()
            with connection.execute_wrapper(timed):
                call()
            totals.append((time.perf_counter() - t) * 1000)
            sql_times.append(sum(e for e, _, _ in statements) * 1000)
            for position, (elapsed, sql, params) in enumerate(statements):
                per_statement.setdefault(position, ([], sql, params))[0].append(elapsed)
        # The statement with the slowest median (a single slow sample is the machine, not the query).
        slowest = max(
            ((statistics.median(times), sql, params) for times, sql, params in per_statement.values()),
            key=lambda s: s[0],
            default=(0, "", None),
        )
        # The search's own statement (the one that reads search_text), its slowest run: EXPLAINed for every search.
        searching = [
            (statistics.median(times), sql, params)
            for times, sql, params in per_statement.values()
            if "search_text" in sql.partition(" WHERE ")[2]  # a condition on it, not the column read
        ]
        profiles[name] = {
            "search": max(searching, key=lambda s: s[0]) if searching else None,
            "queries": len(queries),
            "sql": queries,
            "total_ms": statistics.median(totals),
            "sql_ms": statistics.median(sql_times),
            "slowest": slowest,
        }
    return profiles


def reviewer_client_in_process(client):
    """``client`` signed in as the demo reviewer, its session verified by the reviewer's TOTP device (what the
    admin's sign-in leaves: django-otp's session key), without a sign-in request."""
    from django.contrib.auth import get_user_model
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.filter(email=REVIEWER_LOGIN).first()
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if user is None or device is None:
        raise SystemExit(f"cannot sign in as {REVIEWER_LOGIN} (seed_demo's reviewer, with its TOTP device)")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def explain(sql, params):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


# --- latency (over HTTP, against gunicorn) ----------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(env, port, log):
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "cpor.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}; see {log.name}")
        try:
            status, _ = HttpClient(port).request("GET", "/healthz")
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    gunicorn_stop(process)
    raise SystemExit("gunicorn did not answer /healthz within 60s")


def gunicorn_stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def memory_mb(pid):
    """(VmRSS, VmHWM) in MB from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def login(client):
    status, body = client.request("GET", "/login/")
    if status != 200 or client.cookie("csrftoken") is None:
        raise SystemExit(f"GET /login/ answered {status}")
    status, body = client.request("POST", "/login/", {"username": LOGIN, "password": PASSWORD})
    if status != 302 or client.cookie("sessionid") is None:
        raise SystemExit(f"signing in as {LOGIN} over HTTP failed: {status} {body[:300]}")


def reviewer_login(client):
    """Sign ``client`` in to the admin as the demo reviewer: password and the TOTP code of its device's secret (a
    code is spent once: after a run in the same 30 s, the next step's code, which the device's drift allows)."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__email=REVIEWER_LOGIN, confirmed=True)
    status, _ = client.request("GET", "/admin/login/")
    if status != 200 or client.cookie("csrftoken") is None:
        raise SystemExit(f"GET /admin/login/ answered {status}")
    for drift in (0, 1):
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + drift)
        fields = {"username": REVIEWER_LOGIN, "password": PASSWORD, "otp_token": f"{totp.token():0{device.digits}d}"}
        fields["next"] = QUEUE
        status, body = client.request("POST", "/admin/login/", fields)
        if status == 302:
            return
    raise SystemExit(f"signing in to the admin as {REVIEWER_LOGIN} over HTTP failed: {status} {body[:300]}")


def latency(port, plan, targets, *, warmup, requests, max_seconds):
    """Per page: its request times, and just before each a /healthz request's and a floor request's (the
    machine's load drifts, so each page is compared with the floor and /healthz measured in the same moments).
    The floor is requested by the signed-in client that requests the partner pages; a reviewer's page also has
    the reviewer's floor requested just before it, by the reviewer's client. Returns {name: (page ms, floor ms,
    healthz ms, statuses, reviewer floor ms)}."""
    client = HttpClient(port)
    login(client)
    anonymous = HttpClient(port)
    reviewer = None
    if any(kind == "admin" and name not in FLOORS for name, kind, _, _ in plan):
        reviewer = HttpClient(port)
        reviewer_login(reviewer)
    results = {}
    for name, kind, detail, _ in plan:
        if name in FLOORS:
            continue
        if kind == "step":
            call = wizard_prepare(client.request, targets, detail)
        elif kind == "optout":
            # A fresh loopback address with another link every OPT_OUT_SWITCH requests.
            state = {"n": 0, "client": None, "link": None}
            prefix = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"

            def call(links=detail, state=state, prefix=prefix):
                if state["n"] % OPT_OUT_SWITCH == 0:
                    if state["client"] is not None:
                        state["client"].close()
                    number, state["link"] = _opt_out_link(links)
                    state["client"] = HttpClient(port, source_address=(f"{prefix}.{1 + number % 254}", 0))
                state["n"] += 1
                return state["client"].request("GET", state["link"])

        elif kind == "admin":

            def call(detail=detail):
                return reviewer.request("GET", detail)

        else:

            def call(detail=detail):
                return client.request("GET", detail)

        timings, floors, healthzs, statuses, admin_floors = [], [], [], set(), []
        started = time.monotonic()
        for n in range(warmup + requests):
            t = time.perf_counter()
            status, _ = anonymous.request("GET", "/healthz")
            healthz = time.perf_counter() - t
            statuses.add((HEALTHZ, status))
            t = time.perf_counter()
            status, _ = client.request("GET", FLOOR_PATH)
            floor = time.perf_counter() - t
            statuses.add((FLOOR, status))
            if kind == "admin":
                t = time.perf_counter()
                status, _ = reviewer.request("GET", ADMIN_FLOOR_PATH)
                admin_floor = time.perf_counter() - t
                statuses.add((ADMIN_FLOOR, status))
            t = time.perf_counter()
            status, _ = call()
            elapsed = time.perf_counter() - t
            statuses.add((name, status))
            if n >= warmup:
                timings.append(elapsed * 1000)
                floors.append(floor * 1000)
                healthzs.append(healthz * 1000)
                if kind == "admin":
                    admin_floors.append(admin_floor * 1000)
            if time.monotonic() - started > max_seconds:
                break
        results[name] = (timings, floors, healthzs, statuses, admin_floors)
        alongside = f"reviewer floor {statistics.median(admin_floors):.1f} ms, " if admin_floors else ""
        print(
            f"  {name}: {len(timings)} requests, median {statistics.median(timings):.1f} ms (alongside: {alongside}"
            f"floor {statistics.median(floors):.1f} ms, /healthz {statistics.median(healthzs):.1f} ms)",
            flush=True,
        )
    client.close()
    anonymous.close()
    if reviewer is not None:
        reviewer.close()
    return results


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: the scale's bench database (bench/data.py)")
    parser.add_argument("--claims", type=int, default=data.DEFAULT_CLAIMS)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=120, help="per page, a bound on the loop")
    parser.add_argument("--rounds", type=int, default=20, help="in-process requests per page for the time split")
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of each page")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="measure only the pages whose name contains TEXT (repeatable; the floors and /healthz always)",
    )
    args = parser.parse_args()

    args.database_url = args.database_url or data.default_database_url(args.claims)
    data.ensure(args.database_url, claims=args.claims)
    env = data.bench_env(args.database_url)
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS  # cpor.settings plus the floor's URL, here and in gunicorn
    Path(env["CPOR_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    data.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    os.environ.update(env)
    import django

    django.setup()

    drafts_forget()
    targets = targets_find()
    plan = pages_plan(targets)
    if args.only:
        plan = [row for row in plan if row[0] in FLOORS or any(text in row[0] for text in args.only)]
    print("SQL queries per page (in process) ...", flush=True)
    profiles = queries_count(plan, targets, rounds=args.rounds)
    if args.show_queries:
        for name, profile in profiles.items():
            print(f"\n{name}:")
            for sql in profile["sql"]:
                print(f"  {sql[:300]}")

    port = free_port()
    with tempfile.NamedTemporaryFile("w+", prefix="cpor-bench-gunicorn-", suffix=".log", delete=False) as log:
        print(f"gunicorn on 127.0.0.1:{port} (2 sync workers; log {log.name}) ...", flush=True)
        process = gunicorn_start(data.app_env(env), port, log)
        try:
            results = latency(
                port, plan, targets, warmup=args.warmup, requests=args.requests, max_seconds=args.max_seconds
            )
            workers = children(process.pid)
            memory = {pid: memory_mb(pid) for pid in workers}
        finally:
            gunicorn_stop(process)
    Path(log.name).unlink()  # kept only when gunicorn failed to start (the error names it)

    # The floors' and /healthz's own rows: every request made alongside the pages, and every answer they got. The
    # reviewer's floor's: those made alongside the reviewer's pages, with the partner's floor and /healthz of the
    # same moments.
    every_floor = [ms for _, floors, _, _, _ in results.values() for ms in floors]
    every_healthz = [ms for _, _, healthzs, _, _ in results.values() for ms in healthzs]
    every_status = {(page, code) for _, _, _, statuses, _ in results.values() for page, code in statuses}
    admin_rows = [row for row in results.values() if row[4]]
    every_admin_floor = [ms for row in admin_rows for ms in row[4]]
    results[FLOOR] = (every_floor, every_floor, every_healthz, every_status, [])
    results[HEALTHZ] = (every_healthz, every_floor, every_healthz, every_status, [])
    if admin_rows:
        admin_floors_floor = [ms for row in admin_rows for ms in row[1]]
        admin_floors_healthz = [ms for row in admin_rows for ms in row[2]]
        results[ADMIN_FLOOR] = (every_admin_floor, admin_floors_floor, admin_floors_healthz, every_status, [])
    else:
        plan = [row for row in plan if row[0] != ADMIN_FLOOR]
    failed = []
    print()
    print(
        f"Pages at {args.claims:,} claims: median within {PAGE_BAR:g}x of the signed-in floor's "
        f"({VARIANT_BAR:g}x for a list variant), a reviewer's page (Django admin) of the reviewer's floor's, at most "
        f"{QUERIES_BAR} queries (transaction control not counted); /healthz for information"
    )
    print(
        f"{'page':<38} {'median ms':>9} {'p95 ms':>7} {'floor ms':>8} {'x floor':>7} {'bar':>4} {'x pf':>5} "
        f"{'healthz':>7} {'x hz':>5} {'queries':>7} {'SQL ms':>6} {'app ms':>6}  result"
    )
    for name, _, _, bar in plan:
        timings, floors, healthzs, statuses, admin_floors = results[name]
        median, floor, healthz = statistics.median(timings), statistics.median(floors), statistics.median(healthzs)
        # A reviewer's page against the reviewer's floor; its ratio to the partner's floor for information.
        partner_ratio = f"{median / floor:>5.2f}" if admin_floors else f"{'-':>5}"
        if admin_floors:
            floor = statistics.median(admin_floors)
        ratio = median / floor
        profile = profiles[name]
        queries = profile["queries"]
        problems = []
        if bar is not None:
            if ratio > bar:
                problems.append(f"{ratio:.1f}x floor > {bar:g}")
            if queries > QUERIES_BAR:
                problems.append(f"{queries} queries > {QUERIES_BAR}")
        codes = sorted({status for page, status in statuses if page == name})
        if codes != [200]:
            problems.append(f"answers {codes}")
        result = "FAIL (" + "; ".join(problems) + ")" if problems else ("PASS" if bar is not None else "base")
        if problems:
            failed.append(name)
        split = f"{profile['sql_ms']:>6.1f} {profile['total_ms'] - profile['sql_ms']:>6.1f}"
        shown_bar = f"{bar:g}x" if bar is not None else "-"
        print(
            f"{name:<38} {median:>9.1f} {p95(timings):>7.1f} {floor:>8.1f} {ratio:>7.2f} {shown_bar:>4} "
            f"{partner_ratio} {healthz:>7.1f} {median / healthz:>5.1f} {queries:>7} {split}  {result}"
        )
    print(
        "(median, p95: over HTTP, the whole request; floor ms, healthz: the medians of the signed-in floor's and "
        "/healthz's requests made alternately with that page's (for their own rows: all of them); for a reviewer's "
        "page (queue, review page) floor ms is the reviewer's floor's (the admin's base layout, signed in as a "
        "reviewer) and x pf its ratio to the partner's signed-in floor, for information; x floor: median / "
        "floor ms, the bar; x hz: median / healthz, for information; SQL ms, app ms: where the time goes, measured "
        f"in this process over {args.rounds} requests with Django's test client; app = Python, templates and "
        "middleware)"
    )
    # Every search variant's plan (issue 19: the trigram index reads the rarest piece, or the partner's claims are
    # read in the list's order), whether it passed or not.
    for name, _, _, _ in plan:
        if profiles[name].get("search") is None:
            continue
        elapsed, sql, params = profiles[name]["search"]
        print()
        print(f"{name}: the search's statement, median {elapsed * 1000:.1f} ms in process")
        print(f"  {sql[:600]}")
        for line in explain(sql, params):
            print(f"    {line}")
    slow = [(name, profiles[name]["slowest"]) for name in failed if profiles[name]["slowest"][0] * 1000 >= 1]
    for name, (elapsed, sql, params) in slow:
        print()
        print(f"{name}: slowest statement, median {elapsed * 1000:.1f} ms in process")
        print(f"  {sql[:400]}")
        if sql.lstrip().upper().startswith("SELECT") or sql.lstrip().startswith("("):
            for line in explain(sql, params):
                print(f"    {line}")
    print()
    for pid, (rss, hwm) in memory.items():
        result = "PASS" if hwm < RSS_BAR_MB else "FAIL"
        if result == "FAIL":
            failed.append(f"gunicorn worker {pid}")
        print(f"gunicorn worker {pid}: RSS {rss:.0f} MB, peak {hwm:.0f} MB (bar {RSS_BAR_MB} MB)  {result}")
    print()
    if failed:
        print(f"pages: FAIL ({len(failed)}): " + ", ".join(failed))
        raise SystemExit(1)
    print("pages: PASS")


if __name__ == "__main__":
    main()
