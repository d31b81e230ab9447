"""Demo data for a new user's machine: partners, logins, customers' tenants, holdings, associations and usage.

Everything is planned first from ``random.Random(SEED)`` and ``uuid.uuid5`` (a pure function of the date), then
written by natural key, so a second run changes nothing and every machine gets the same customers and GUIDs.
Dates are relative to today so that the demo stays meaningful: some subscriptions have just expired, the usage
covers the last 12 months.

``claims.management.commands.seed_demo`` calls :func:`demo_ensure` and adds the demo claims on top.
"""

import calendar
import datetime
import random
import re
import uuid
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from associations.catalog import BIZAPPS_PRODUCTS, M365_WORKLOADS, catalog_ensure
from associations.models import (
    Association,
    Membership,
    Partner,
    PartnerLocation,
    Program,
    Subscription,
    Tenant,
    TenantDomain,
    TenantLicense,
    UsageRecord,
)
from associations.totp import totp_device_ensure

SEED = 2026
NAMESPACE = uuid.UUID("6f1d3c2a-8b4e-5f70-9a1b-2c3d4e5f6a7b")
PASSWORD = "cpor-demo-2026"
USAGE_MONTHS = 12

CONTOSO = "Contoso Partners"
FABRIKAM = "Fabrikam Consulting"
PARTNERS = {
    CONTOSO: [
        ("4100001", "Contoso Partners Seattle", "US"),
        ("4100002", "Contoso Partners London", "GB"),
        ("4100003", "Contoso Partners Munich", "DE"),
    ],
    FABRIKAM: [
        ("5200001", "Fabrikam Consulting Amsterdam", "NL"),
        ("5200002", "Fabrikam Consulting Toronto", "CA"),
    ],
}
ADMIN = Membership.Role.INCENTIVES_ADMIN
USER = Membership.Role.INCENTIVES_USER
PARTNER_USERS = [
    ("alex@contoso-partners.example", "Alex", "Wilber", CONTOSO, ADMIN),
    ("jamie@contoso-partners.example", "Jamie", "Reding", CONTOSO, USER),
    ("sam@fabrikam.example", "Sam", "Kennedy", FABRIKAM, ADMIN),
]
REVIEWER = ("reviewer@cpor.example", "Riley", "Reviewer")
# The demo reviewer's TOTP secret, published in the README so that a new user can sign in to the admin
# (`oathtool --totp -b SECRET`, or any authenticator app). Demo only: seed_demo refuses to run with DEBUG off.
REVIEWER_TOTP_SECRET = "CPORDEMOREVIEWERTOTPSECRETKEY234"

M365_CODES = [code for code, _ in M365_WORKLOADS]
DYNAMICS_CODES = [code for code, _, is_dynamics in BIZAPPS_PRODUCTS if is_dynamics]
BIZAPPS_CODES = [code for code, _, _ in BIZAPPS_PRODUCTS]
# Imported Business Applications associations exist for Dynamics 365 and Power BI (SPEC §5).
IMPORTABLE_BIZAPPS = [*DYNAMICS_CODES, "power-bi-pro"]

# Customers a new user can try the wizard with; the README lists them.
NORTHWIND = "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d"
ADVENTURE_WORKS = "5e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
TAILSPIN = "c0ffee00-1234-4abc-8def-0123456789ab"
# A Taiwanese customer (Asia/Taipei, Taiwan's holidays, its emails and page in zh-Hant): the demo has a claim
# awaiting it (claims.demo), so that the customer's side can be seen in Traditional Chinese.
RELECLOUD_TAIWAN = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
RELECLOUD_TAIWAN_NAME = "Relecloud Taiwan"

# The generated customers (Microsoft's fictitious company names), cycled over these countries: the tenant's
# country drives the opt-out deadline's time zone and holidays.
CUSTOMER_NAMES = [
    "Fourth Coffee",
    "Wide World Importers",
    "Litware",
    "Proseware",
    "Woodgrove Bank",
    "Lucerne Publishing",
    "Margie's Travel",
    "Alpine Ski House",
    "Coho Winery",
    "Blue Yonder Airlines",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Wingtip Toys",
    "Trey Research",
    "Relecloud",
    "VanArsdel",
    "Bellows College",
    "Best For You Organics",
    "City Power & Light",
    "Consolidated Messenger",
    "Lamna Healthcare",
    "Southridge Video",
    "Tailwind Traders",
    "A. Datum Corporation",
]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "JP", "AU", "CA", "SE", "ES", "IN", "BR"]


@dataclass
class TenantPlan:
    directory_id: uuid.UUID
    name: str
    country: str
    domains: list  # the first one is the initial *.onmicrosoft.com domain
    licenses: dict = field(default_factory=dict)  # workload code -> seats
    subscriptions: list = field(default_factory=list)  # SubscriptionPlan
    associations: list = field(default_factory=list)  # AssociationPlan


@dataclass
class SubscriptionPlan:
    subscription_id: uuid.UUID
    product: str
    start_date: datetime.date
    end_date: datetime.date | None
    seats: int

    def state_on(self, day):
        if self.end_date is not None and self.end_date < day:
            return Subscription.State.EXPIRED
        return Subscription.State.ACTIVE


@dataclass
class AssociationPlan:
    partner: str
    mpn_id: str
    program: str
    product: str
    status: str
    source: str
    started: datetime.date
    subscription_id: uuid.UUID | None = None


@dataclass
class DemoSummary:
    password: str
    logins: list  # (email, what the login is for)
    reviewer_totp_secret: str
    samples: list  # Tenant
    counts: dict


def month_add(day, months):
    """The same day ``months`` months later (earlier when negative), clamped to the month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return day.replace(year=year, month=month + 1, day=min(day.day, calendar.monthrange(year, month + 1)[1]))


def usage_months(today):
    """The first days of the last USAGE_MONTHS months, the current one included, oldest first."""
    first = today.replace(day=1)
    return [month_add(first, -back) for back in range(USAGE_MONTHS - 1, -1, -1)]


def _guid(kind, *parts):
    return uuid.uuid5(NAMESPACE, ":".join([kind, *map(str, parts)]))


def _slug(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _sample_tenants(today):
    every_workload = dict.fromkeys(M365_CODES, 250)
    northwind = TenantPlan(
        directory_id=uuid.UUID(NORTHWIND),
        name="Northwind Traders",
        country="US",
        domains=["northwindtraders.onmicrosoft.com", "northwindtraders.example"],
        licenses=dict(every_workload),
    )
    adventure_works = TenantPlan(
        directory_id=uuid.UUID(ADVENTURE_WORKS),
        name="Adventure Works",
        country="DE",
        domains=["adventureworks.onmicrosoft.com", "adventure-works.example"],
    )
    for n, (code, months_ago, seats) in enumerate(
        [("d365-sales", 20, 120), ("d365-sales", 8, 40), ("d365-field-service", 14, 60), ("power-bi-pro", 18, 300)]
    ):
        adventure_works.subscriptions.append(
            SubscriptionPlan(
                subscription_id=_guid("subscription", "adventureworks", code, n),
                product=code,
                start_date=month_add(today.replace(day=1), -months_ago),
                end_date=None,
                seats=seats,
            )
        )
    tailspin = TenantPlan(
        directory_id=uuid.UUID(TAILSPIN),
        name="Tailspin Toys",
        country="GB",
        domains=["tailspintoys.onmicrosoft.com"],
        licenses=dict(every_workload),
    )
    tailspin.associations.append(
        AssociationPlan(
            partner=FABRIKAM,
            mpn_id=PARTNERS[FABRIKAM][0][0],
            program=Program.OSU_M365,
            product="microsoft-teams",
            status=Association.Status.ACTIVE,
            source=Association.Source.CLAIM,
            started=month_add(today, -4),
        )
    )
    relecloud = TenantPlan(
        directory_id=uuid.UUID(RELECLOUD_TAIWAN),
        name=RELECLOUD_TAIWAN_NAME,
        country="TW",
        domains=["relecloudtw.onmicrosoft.com", "relecloud.com.tw.example"],
        licenses=dict(every_workload),
    )
    return [northwind, adventure_works, tailspin, relecloud]


def _generated_tenant(rng, index, name, today):
    slug = _slug(name)
    country = COUNTRIES[index % len(COUNTRIES)]
    tld = {"US": "example", "GB": "co.example", "JP": "co.jp.example"}.get(country, f"{country.lower()}.example")
    domains = [f"{slug}.onmicrosoft.com", f"{slug}.{tld}"]
    if index % 3 == 0:
        domains.append(f"mail.{slug}.{tld}")
    plan = TenantPlan(directory_id=_guid("tenant", slug), name=name, country=country, domains=domains)

    for code in sorted(rng.sample(M365_CODES, rng.randint(2, len(M365_CODES)))):
        plan.licenses[code] = rng.choice([25, 50, 120, 300, 800, 2500])

    # Business Applications: every other tenant; some with two or three subscriptions of one Dynamics 365
    # product, some expired.
    if index % 2 == 0 or index % 5 == 0:
        codes = rng.sample(BIZAPPS_CODES, rng.randint(1, 4))
        if index % 4 == 0:
            twice = codes[0] if codes[0] in DYNAMICS_CODES else rng.choice(DYNAMICS_CODES)
            codes += [twice] * (rng.randint(1, 2) if twice in codes else 2)
        first = today.replace(day=1)
        for n, code in enumerate(codes):
            start = month_add(first, -rng.randint(6, 36))
            if rng.random() < 0.25:
                end = today - datetime.timedelta(days=rng.randint(10, 200))  # expired
                start = min(start, month_add(end, -12))
            elif rng.random() < 0.5:
                end = today + datetime.timedelta(days=rng.randint(30, 400))
            else:
                end = None
            plan.subscriptions.append(
                SubscriptionPlan(
                    subscription_id=_guid("subscription", slug, code, n),
                    product=code,
                    start_date=start,
                    end_date=end,
                    seats=rng.choice([10, 25, 50, 100, 250]),
                )
            )
    if index == 0:
        # Always at least one expired Dynamics 365 subscription, whatever the draws above.
        plan.subscriptions.append(
            SubscriptionPlan(
                subscription_id=_guid("subscription", slug, "d365-customer-service", "expired"),
                product="d365-customer-service",
                start_date=month_add(today.replace(day=1), -24),
                end_date=today - datetime.timedelta(days=20),
                seats=40,
            )
        )
    return plan


def _existing_associations(rng, tenants, today):
    """Imported associations from before CPOR (SPEC §5 "Existing associations").

    Microsoft 365 ones are legacy (they do not count until the partner re-associates through a claim);
    Dynamics 365 and Power BI ones stay active until their subscription ends, and at least one's subscription
    has already ended so that the expiry job has work.
    """
    locations = [(partner, mpn_id) for partner, rows in PARTNERS.items() for mpn_id, _, _ in rows]
    expired_done = 0
    for plan in tenants:
        workloads = sorted(plan.licenses)
        for code in rng.sample(workloads, min(len(workloads), rng.randint(0, 3))):
            partner, mpn_id = rng.choice(locations)
            plan.associations.append(
                AssociationPlan(
                    partner=partner,
                    mpn_id=mpn_id,
                    program=Program.OSU_M365,
                    product=code,
                    status=Association.Status.LEGACY,
                    source=Association.Source.IMPORTED,
                    started=month_add(today, -rng.randint(18, 60)),
                )
            )
        for subscription in plan.subscriptions:
            if subscription.product not in IMPORTABLE_BIZAPPS:
                continue
            expired = subscription.end_date is not None and subscription.end_date < today
            if expired and expired_done < 2:
                expired_done += 1  # still active although its subscription has ended: the expiry job's work
            elif expired or rng.random() < 0.5:
                continue
            partner, mpn_id = rng.choice(locations)
            plan.associations.append(
                AssociationPlan(
                    partner=partner,
                    mpn_id=mpn_id,
                    program=rng.choice([Program.OSU_BIZAPPS, Program.OSU_BIZAPPS, Program.OSA_SELL]),
                    product=subscription.product,
                    status=Association.Status.ACTIVE,
                    source=Association.Source.IMPORTED,
                    started=max(subscription.start_date, month_add(today, -30)),
                    subscription_id=subscription.subscription_id,
                )
            )


def demo_plan(*, today):
    """The whole demo as plain data: a pure function of ``today``."""
    rng = random.Random(SEED)
    samples = _sample_tenants(today)
    generated = [_generated_tenant(rng, index, name, today) for index, name in enumerate(CUSTOMER_NAMES)]
    _existing_associations(rng, generated, today)
    return samples + generated


def _usage(plan, code, months, seats, active_on):
    """Monthly usage of one product, from an RNG of its own so that a month's numbers never change."""
    rng = random.Random(f"{SEED}:{plan.directory_id}:{code}")
    rows = []
    for month in months:
        if not active_on(month):
            continue
        month_rng = random.Random(f"{rng.random()}:{month:%Y-%m}")
        paid = max(1, round(seats * month_rng.uniform(0.85, 1.0)))
        rows.append((month, round(paid * month_rng.uniform(0.45, 0.98)), paid))
    return rows


def _users_ensure():
    User = get_user_model()
    hashed = None
    people = [(email, first, last, False) for email, first, last, _, _ in PARTNER_USERS] + [(*REVIEWER, True)]
    users = {}
    for email, first, last, is_reviewer in people:
        username = email.lower()
        user, created = User.objects.get_or_create(username=username, defaults={"email": username})
        user.email = username
        user.first_name, user.last_name = first, last
        user.is_active = True
        # The reviewer is staff, never a superuser (SPEC §8): seed_demo puts them in the Reviewers group.
        user.is_staff = is_reviewer
        user.is_superuser = False
        # Hash once per run and only for new users: a second run must not log everybody out (the session
        # hash follows the password hash), and PBKDF2 costs a noticeable fraction of a second per call.
        if created or not user.has_usable_password():
            hashed = hashed or make_password(PASSWORD)
            user.password = hashed
        user.save()
        users[username] = user
    return users


def demo_ensure(*, today=None):
    """Create or update the demo data; a second run changes nothing. Returns a :class:`DemoSummary`.

    1. The catalog, the two partners with their locations, the users and their memberships.
    2. The customers' tenants, domains, licences and subscriptions (bulk upserts by natural key).
    3. The existing associations that are missing (never reopening one that has ended since).
    4. Usage records for the last 12 months (bulk upsert on tenant, product and month).
    """
    today = today or timezone.localdate()
    plans = demo_plan(today=today)

    # 1.
    products = catalog_ensure()
    partners = {name: Partner.objects.get_or_create(name=name)[0] for name in PARTNERS}
    locations = {}
    for name, rows in PARTNERS.items():
        for mpn_id, location_name, country in rows:
            locations[mpn_id], _ = PartnerLocation.objects.update_or_create(
                mpn_id=mpn_id,
                defaults={"partner": partners[name], "name": location_name, "country": country, "is_active": True},
            )
    users = _users_ensure()
    for email, _, _, partner, role in PARTNER_USERS:
        Membership.objects.update_or_create(user=users[email], defaults={"partner": partners[partner], "role": role})
    # The reviewer works in the admin only: with a membership the partner pages would show them one partner.
    Membership.objects.filter(user=users[REVIEWER[0]]).delete()
    totp_device_ensure(user=users[REVIEWER[0]], secret_base32=REVIEWER_TOTP_SECRET)

    # 2.
    Tenant.objects.bulk_create(
        [Tenant(directory_id=p.directory_id, name=p.name, country=p.country) for p in plans],
        update_conflicts=True,
        unique_fields=["directory_id"],
        update_fields=["name", "country"],
    )
    tenants = Tenant.objects.in_bulk([p.directory_id for p in plans], field_name="directory_id")
    TenantDomain.objects.bulk_create(
        [
            TenantDomain(tenant=tenants[p.directory_id], name=domain, is_initial=i == 0)
            for p in plans
            for i, domain in enumerate(p.domains)
        ],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["tenant", "is_initial"],
    )
    TenantLicense.objects.bulk_create(
        [
            TenantLicense(tenant=tenants[p.directory_id], product=products[code], seats=seats)
            for p in plans
            for code, seats in p.licenses.items()
        ],
        update_conflicts=True,
        unique_fields=["tenant", "product"],
        update_fields=["seats"],
    )
    Subscription.objects.bulk_create(
        [
            Subscription(
                subscription_id=s.subscription_id,
                tenant=tenants[p.directory_id],
                product=products[s.product],
                start_date=s.start_date,
                end_date=s.end_date,
                state=s.state_on(today),
                seats=s.seats,
            )
            for p in plans
            for s in p.subscriptions
        ],
        update_conflicts=True,
        unique_fields=["subscription_id"],
        update_fields=["tenant", "product", "start_date", "end_date", "state", "seats"],
    )
    subscriptions = Subscription.objects.in_bulk(
        [s.subscription_id for p in plans for s in p.subscriptions], field_name="subscription_id"
    )

    # 3.
    _associations_ensure(plans, tenants, products, partners, locations, subscriptions, today)

    # 4.
    months = usage_months(today)
    usage = []
    for p in plans:
        tenant = tenants[p.directory_id]
        for code, seats in p.licenses.items():
            for month, active, paid in _usage(p, code, months, seats, lambda month: True):
                usage.append(
                    UsageRecord(
                        tenant=tenant, product=products[code], month=month, active_users=active, paid_units=paid
                    )
                )
        for code in sorted({s.product for s in p.subscriptions}):
            held = [s for s in p.subscriptions if s.product == code]

            def active_on(month, held=held):
                month_end = month_add(month, 1) - datetime.timedelta(days=1)
                return any(s.start_date <= month_end and (s.end_date is None or s.end_date >= month) for s in held)

            seats = sum(s.seats for s in held)
            for month, active, paid in _usage(p, code, months, seats, active_on):
                usage.append(
                    UsageRecord(
                        tenant=tenant, product=products[code], month=month, active_users=active, paid_units=paid
                    )
                )
    UsageRecord.objects.bulk_create(
        usage,
        update_conflicts=True,
        unique_fields=["tenant", "product", "month"],
        update_fields=["active_users", "paid_units"],
        batch_size=1000,
    )

    samples = [
        tenants[uuid.UUID(directory_id)] for directory_id in (NORTHWIND, ADVENTURE_WORKS, TAILSPIN, RELECLOUD_TAIWAN)
    ]
    logins = [(email, f"{partner} · {Membership.Role(role).label}") for email, _, _, partner, role in PARTNER_USERS]
    logins.append((REVIEWER[0], "Reviewer (staff in Reviewers, Django admin at /admin/ with a TOTP code)"))
    counts = {
        "tenants": len(plans),
        "subscriptions": len(subscriptions),
        "existing associations": sum(len(p.associations) for p in plans),
        "usage records": len(usage),
    }
    return DemoSummary(
        password=PASSWORD, logins=logins, reviewer_totp_secret=REVIEWER_TOTP_SECRET, samples=samples, counts=counts
    )


def _associations_ensure(plans, tenants, products, partners, locations, subscriptions, today):
    """Create the planned associations that do not exist yet, by natural key and whatever their status now.

    An imported association that the expiry job has ended since, or one a claim has replaced, stays as it is;
    and none is created where another partner now holds the item (the partial unique constraints).
    """
    tenant_ids = [t.pk for t in tenants.values()]
    existing = set(
        Association.objects.filter(tenant__in=tenant_ids).values_list(
            "partner_id", "program", "tenant_id", "product_id", "subscription_id", "source"
        )
    )
    active = Association.objects.active().filter(tenant__in=tenant_ids)
    held_workloads = set(active.filter(program=Program.OSU_M365).values_list("tenant_id", "product_id"))
    held_subscriptions = set(active.exclude(subscription=None).values_list("program", "subscription_id"))
    new = []
    for p in plans:
        tenant = tenants[p.directory_id]
        for a in p.associations:
            product = products[a.product]
            subscription = subscriptions[a.subscription_id] if a.subscription_id else None
            partner = partners[a.partner]
            key = (partner.pk, a.program, tenant.pk, product.pk, subscription.pk if subscription else None, a.source)
            if key in existing:
                continue
            if a.status == Association.Status.ACTIVE:
                item = (a.program, subscription.pk) if subscription else (tenant.pk, product.pk)
                held = held_subscriptions if subscription else held_workloads
                if item in held:
                    continue
                held.add(item)
            new.append(
                Association(
                    partner=partner,
                    location=locations[a.mpn_id],
                    program=a.program,
                    tenant=tenant,
                    product=product,
                    subscription=subscription,
                    status=a.status,
                    source=a.source,
                    started_at=datetime.datetime.combine(a.started, datetime.time(9), tzinfo=datetime.UTC),
                )
            )
    Association.objects.bulk_create(new)
