"""Shared test actors: partner A, partner B, and customers' tenants. Imported by the root conftest.py.

Three actors, as in STYLE.md §15: partner A (Contoso-like, admin and viewer users), partner B (Fabrikam-like),
and customers reached without login.
"""

import datetime
import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from associations.catalog import catalog_ensure
from associations.models import (
    Membership,
    Partner,
    PartnerLocation,
    Subscription,
    Tenant,
    TenantDomain,
    TenantLicense,
)
from associations.totp import totp_device_ensure

PASSWORD = "test-pass-2026"


@dataclass
class PartnerActor:
    partner: Partner
    locations: list
    admin: object  # incentives_admin user
    viewer: object  # incentives_user user (None for partner B)

    @property
    def location(self):
        return self.locations[0]


def make_user(email, *, partner=None, role=Membership.Role.INCENTIVES_ADMIN, is_staff=False):
    """A partner user, or with ``is_staff`` a reviewer as production has them: staff in the Reviewers group (not a
    superuser) with a confirmed TOTP device (``user.totp_device``)."""
    user = get_user_model().objects.create_user(username=email, email=email, password=PASSWORD, is_staff=is_staff)
    if partner is not None:
        Membership.objects.create(user=user, partner=partner, role=role)
    if is_staff:
        # The group comes with `migrate` (claims.apps); a transactional test's flush runs that handler again.
        user.groups.add(Group.objects.get(name="Reviewers"))
        user.totp_device = totp_device_ensure(user=user)
    return user


def reviewer_login(client, reviewer):
    """Sign ``client`` in as ``reviewer`` the way the admin's login does: password and TOTP code, i.e. a session
    verified by the reviewer's device (django-otp's session key). Returns the client."""
    client.force_login(reviewer)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=reviewer).persistent_id
    session.save()
    return client


def browser_sign_in(page, user, live_server):
    """Sign a Playwright page in as ``user`` with a session made by Django's test client (a reviewer's session
    verified by the reviewer's TOTP device, as the admin's sign-in leaves it)."""
    client = Client()
    if user.is_staff:
        reviewer_login(client, user)
    else:
        client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.clear_cookies()
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def make_partner(name, *, mpn_ids, email_domain, with_viewer=True):
    partner = Partner.objects.create(name=name)
    locations = PartnerLocation.objects.bulk_create(
        PartnerLocation(partner=partner, mpn_id=mpn_id, name=f"{name} {i + 1}", country="US")
        for i, mpn_id in enumerate(mpn_ids)
    )
    admin = make_user(f"admin@{email_domain}", partner=partner)
    viewer = (
        make_user(f"viewer@{email_domain}", partner=partner, role=Membership.Role.INCENTIVES_USER)
        if with_viewer
        else None
    )
    return PartnerActor(partner=partner, locations=locations, admin=admin, viewer=viewer)


def make_tenant(name, *, directory_id=None, domains, country="US", workloads=(), products=None):
    tenant = Tenant.objects.create(directory_id=directory_id or uuid.uuid4(), name=name, country=country)
    TenantDomain.objects.bulk_create(
        TenantDomain(tenant=tenant, name=domain, is_initial=i == 0) for i, domain in enumerate(domains)
    )
    products = products or catalog_ensure()
    TenantLicense.objects.bulk_create(
        TenantLicense(tenant=tenant, product=products[code], seats=100) for code in workloads
    )
    return tenant


def make_subscription(tenant, product, *, start=None, end=None, state=Subscription.State.ACTIVE):
    return Subscription.objects.create(
        subscription_id=uuid.uuid4(),
        tenant=tenant,
        product=product,
        start_date=start or datetime.date(2025, 1, 1),
        end_date=end,
        state=state,
    )


@pytest.fixture
def products(db):
    """The SPEC §3 catalog, by code (e.g. ``products["microsoft-teams"]``)."""
    return catalog_ensure()


@pytest.fixture
def partner_a(products):
    return make_partner("Contoso Partners", mpn_ids=["1000001", "1000002"], email_domain="partner-a.example")


@pytest.fixture
def partner_b(products):
    return make_partner("Fabrikam Consulting", mpn_ids=["2000001"], email_domain="partner-b.example", with_viewer=False)


@pytest.fixture
def reviewer(db):
    return make_user("reviewer@cpor.example", is_staff=True)


@pytest.fixture
def reviewer_client(client, reviewer):
    """A test client signed in to the admin as the reviewer, TOTP-verified."""
    return reviewer_login(client, reviewer)


@pytest.fixture
def m365_tenant(products):
    """A US customer licensed for every Microsoft 365 workload (like the demo's Northwind Traders)."""
    return make_tenant(
        "Northwind Traders",
        directory_id=uuid.UUID("9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d"),
        domains=["northwindtraders.onmicrosoft.com", "northwindtraders.example"],
        country="US",
        workloads=[code for code, product in products.items() if product.solution_area == "microsoft_365"],
        products=products,
    )


@pytest.fixture
def bizapps_tenant(products):
    """A German customer with two Dynamics 365 Sales, one Field Service and one Power BI Pro subscription."""
    tenant = make_tenant(
        "Adventure Works",
        directory_id=uuid.UUID("5e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"),
        domains=["adventureworks.onmicrosoft.com", "adventure-works.example"],
        country="DE",
        products=products,
    )
    tenant.sales_subscriptions = [
        make_subscription(tenant, products["d365-sales"]),
        make_subscription(tenant, products["d365-sales"], start=datetime.date(2025, 6, 1)),
    ]
    tenant.field_service_subscription = make_subscription(tenant, products["d365-field-service"])
    tenant.power_bi_subscription = make_subscription(tenant, products["power-bi-pro"])
    return tenant


@pytest.fixture
def client_a(client, partner_a):
    """A test client signed in as partner A's incentives admin."""
    client.force_login(partner_a.admin)
    return client
