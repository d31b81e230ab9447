import datetime
import io
import uuid

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db.models import Count, Q
from django.test import RequestFactory, override_settings
from django.utils import timezone

from associations.catalog import BIZAPPS_PRODUCTS, M365_WORKLOADS
from associations.demo import PASSWORD, demo_plan
from associations.models import (
    Association,
    Membership,
    PartnerLocation,
    Program,
    Subscription,
    Tenant,
    TenantLicense,
    UsageRecord,
)
from conftest import module_data

TODAY = datetime.date(2026, 11, 24)
M365_CODES = {code for code, _ in M365_WORKLOADS}
EXPECTED_MONTHS = [datetime.date(2025, 12, 1)] + [datetime.date(2026, m, 1) for m in range(1, 12)]


@pytest.fixture(autouse=True)
def debug_on(settings):
    # seed_demo runs only with DEBUG on; the test runner turns it off.
    settings.DEBUG = True


NOW = datetime.datetime(2026, 11, 24, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _seed():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def demo_seeded(django_db_setup, django_db_blocker):
    """seed_demo run once for the module's tests (its output): each test sees it as it was left, in a savepoint of
    its own that is rolled back after it."""
    with module_data(django_db_blocker):
        with override_settings(DEBUG=True), time_machine.travel(NOW, tick=False):
            output = _seed()
        yield output


@pytest.fixture
def seeded(demo_seeded, db, frozen):
    """What seed_demo printed, the demo already in the database."""
    return demo_seeded


def _row_counts():
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def _tenant(name):
    return Tenant.objects.prefetch_related("domains", "licenses__product", "subscriptions__product").get(name=name)


def test_seed_demo_twice_gives_the_same_row_counts(seeded):
    first = _row_counts()
    directory_ids = set(Tenant.objects.values_list("directory_id", flat=True))
    usage = set(UsageRecord.objects.values_list("tenant__directory_id", "product__code", "month", "paid_units"))

    _seed()

    assert _row_counts() == first
    assert set(Tenant.objects.values_list("directory_id", flat=True)) == directory_ids
    assert set(UsageRecord.objects.values_list("tenant__directory_id", "product__code", "month", "paid_units")) == usage


def test_seed_demo_second_run_does_not_reopen_an_ended_association(seeded):
    ended = Association.objects.get(tenant__name="Tailspin Toys")
    ended.status = Association.Status.ENDED
    ended.ended_at = timezone.now()
    ended.end_reason = Association.EndReason.DISASSOCIATED
    ended.save()
    count = Association.objects.count()

    _seed()

    ended.refresh_from_db()
    assert ended.status == Association.Status.ENDED
    assert Association.objects.count() == count


def test_seed_demo_is_deterministic():
    assert demo_plan(today=TODAY) == demo_plan(today=TODAY)
    # GUIDs come from uuid5, not uuid4: the same on every machine.
    assert all(plan.directory_id.version in (4, 5) for plan in demo_plan(today=TODAY))
    assert {s.subscription_id.version for plan in demo_plan(today=TODAY) for s in plan.subscriptions} == {5}


def test_seed_demo_northwind_traders_exactly_as_specified(seeded):
    tenant = _tenant("Northwind Traders")
    assert tenant.directory_id == uuid.UUID("9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d")
    assert tenant.country == "US"
    assert {(d.name, d.is_initial) for d in tenant.domains.all()} == {
        ("northwindtraders.onmicrosoft.com", True),
        ("northwindtraders.example", False),
    }
    assert {lic.product.code for lic in tenant.licenses.all()} == M365_CODES
    assert list(tenant.subscriptions.all()) == []
    assert not Association.objects.filter(tenant=tenant).exists()
    assert not tenant.claims.exists()


def test_seed_demo_adventure_works_exactly_as_specified(seeded):
    tenant = _tenant("Adventure Works")
    assert tenant.directory_id == uuid.UUID("5e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
    assert tenant.country == "DE"
    assert {(d.name, d.is_initial) for d in tenant.domains.all()} == {
        ("adventureworks.onmicrosoft.com", True),
        ("adventure-works.example", False),
    }
    assert list(tenant.licenses.all()) == []
    active = Subscription.objects.active().filter(tenant=tenant)
    assert sorted(s.product.code for s in active) == sorted(
        ["d365-sales", "d365-sales", "d365-field-service", "power-bi-pro"]
    )
    assert tenant.subscriptions.count() == 4
    assert not Association.objects.filter(tenant=tenant).exists()
    assert not tenant.claims.exists()


def test_seed_demo_tailspin_toys_exactly_as_specified(seeded):
    tenant = _tenant("Tailspin Toys")
    assert tenant.directory_id == uuid.UUID("c0ffee00-1234-4abc-8def-0123456789ab")
    assert tenant.country == "GB"
    assert [(d.name, d.is_initial) for d in tenant.domains.all()] == [("tailspintoys.onmicrosoft.com", True)]
    assert {lic.product.code for lic in tenant.licenses.all()} == M365_CODES
    association = Association.objects.select_related("partner", "location", "product").get(tenant=tenant)
    assert association.partner.name == "Fabrikam Consulting"
    assert association.location.partner == association.partner
    assert association.product.code == "microsoft-teams"
    assert association.program == Program.OSU_M365
    assert association.status == Association.Status.ACTIVE
    assert association.source == Association.Source.CLAIM
    assert association.subscription is None


def test_seed_demo_partners_users_and_roles(seeded):
    assert sorted(
        PartnerLocation.objects.values_list("partner__name").annotate(n=Count("id")).order_by("partner__name")
    ) == [("Contoso Partners", 3), ("Fabrikam Consulting", 2)]
    memberships = {
        m.user.username: (m.partner.name, m.role) for m in Membership.objects.select_related("user", "partner")
    }
    assert memberships == {
        "alex@contoso-partners.example": ("Contoso Partners", Membership.Role.INCENTIVES_ADMIN),
        "jamie@contoso-partners.example": ("Contoso Partners", Membership.Role.INCENTIVES_USER),
        "sam@fabrikam.example": ("Fabrikam Consulting", Membership.Role.INCENTIVES_ADMIN),
    }
    reviewer = get_user_model().objects.get(username="reviewer@cpor.example")
    # SPEC §8: a reviewer is staff in the Reviewers group, never a superuser; seed_demo makes no superuser.
    assert (reviewer.is_staff, reviewer.is_superuser) == (True, False)
    assert list(reviewer.groups.values_list("name", flat=True)) == ["Reviewers"]
    assert not get_user_model().objects.filter(is_superuser=True).exists()
    request = RequestFactory().post("/login/")
    for email in [*memberships, "reviewer@cpor.example"]:
        user = authenticate(request, username=email, password=PASSWORD)
        assert user is not None and user.email == email
    assert authenticate(request, username="alex@contoso-partners.example", password="wrong") is None


def test_seed_demo_second_run_keeps_the_password_hash(seeded):
    # A new hash would sign every demo user out (the session hash follows it) on each `make run`.
    alex = get_user_model().objects.get(username="alex@contoso-partners.example")
    password_hash = alex.password

    _seed()

    alex.refresh_from_db()
    assert alex.password == password_hash


def test_seed_demo_tenants_countries_and_domains(seeded):
    tenants = Tenant.objects.annotate(
        n_domains=Count("domains"),
        n_initial=Count("domains", filter=Q(domains__is_initial=True, domains__name__endswith=".onmicrosoft.com")),
    )
    assert tenants.count() >= 20
    assert {"US", "GB", "DE", "FR", "NL", "JP", "AU", "CA"} <= set(tenants.values_list("country", flat=True))
    for tenant in tenants:
        assert tenant.n_initial == 1, tenant
        if tenant.name != "Tailspin Toys":
            assert tenant.n_domains >= 2, tenant
    assert TenantLicense.objects.values("tenant").distinct().count() >= 20


def test_seed_demo_subscriptions_include_several_of_one_dynamics_product_and_expired_ones(seeded):
    several = (
        Subscription.objects.filter(product__is_dynamics=True)
        .values("tenant", "product")
        .annotate(n=Count("id"))
        .filter(n__gte=2)
    )
    assert several.values("tenant").distinct().count() >= 3
    expired = Subscription.objects.filter(end_date__lt=TODAY)
    assert expired.count() >= 2
    assert set(expired.values_list("state", flat=True)) == {Subscription.State.EXPIRED}
    assert set(Subscription.objects.values_list("product__code", flat=True)) <= {
        code for code, _, _ in BIZAPPS_PRODUCTS
    }


def test_seed_demo_existing_associations_of_both_kinds(seeded):
    imported = Association.objects.filter(source=Association.Source.IMPORTED)
    m365 = imported.filter(program=Program.OSU_M365)
    assert m365.count() >= 5
    assert set(m365.values_list("status", flat=True)) == {Association.Status.LEGACY}
    bizapps = imported.exclude(program=Program.OSU_M365).select_related("product", "subscription")
    assert bizapps.count() >= 5
    for association in bizapps:
        assert association.status == Association.Status.ACTIVE
        assert association.product.is_dynamics or association.product.code == "power-bi-pro"
        assert association.subscription.tenant_id == association.tenant_id
        assert association.subscription.product_id == association.product_id
        assert association.location.partner_id == association.partner_id
    # The expiry job has work: an active imported association whose subscription has ended.
    assert bizapps.filter(subscription__end_date__lt=TODAY).exists()
    # Imported M365 associations are on workloads the tenant is licensed for.
    for association in m365:
        assert TenantLicense.objects.filter(tenant=association.tenant, product=association.product).exists()


def test_seed_demo_usage_covers_twelve_months_of_every_holding(seeded):
    months = sorted(set(UsageRecord.objects.values_list("month", flat=True)))
    assert months == EXPECTED_MONTHS
    for license in TenantLicense.objects.all():
        records = UsageRecord.objects.filter(tenant=license.tenant_id, product=license.product_id)
        assert sorted(records.values_list("month", flat=True)) == EXPECTED_MONTHS
        assert all(0 < r.active_users <= r.paid_units for r in records)
    current = Subscription.objects.active(on=TODAY)
    for subscription in current:
        assert UsageRecord.objects.filter(
            tenant=subscription.tenant_id, product=subscription.product_id, month=datetime.date(2026, 11, 1)
        ).exists()


def test_seed_demo_prints_the_logins_and_the_sample_customers(seeded):
    output = seeded

    for text in [
        "alex@contoso-partners.example",
        "jamie@contoso-partners.example",
        "sam@fabrikam.example",
        "reviewer@cpor.example",
        PASSWORD,
        "Northwind Traders",
        "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d",
        "5e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        "c0ffee00-1234-4abc-8def-0123456789ab",
        "tailspintoys.onmicrosoft.com",
    ]:
        assert text in output
