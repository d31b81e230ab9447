import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from associations.models import Association, Program, Subscription, UsageRecord
from associations.tests.fixtures import make_subscription, make_tenant


def _m365(partner_actor, tenant, product, **kwargs):
    return Association.objects.create(
        partner=partner_actor.partner,
        location=partner_actor.location,
        program=Program.OSU_M365,
        tenant=tenant,
        product=product,
        **kwargs,
    )


def test_association_two_active_for_one_workload_raise_integrity_error(partner_a, partner_b, m365_tenant, products):
    _m365(partner_a, m365_tenant, products["microsoft-teams"])

    with pytest.raises(IntegrityError), transaction.atomic():
        _m365(partner_b, m365_tenant, products["microsoft-teams"])


def test_association_two_active_for_one_subscription_raise_integrity_error(partner_a, partner_b, bizapps_tenant):
    subscription = bizapps_tenant.sales_subscriptions[0]
    fields = {"program": Program.OSU_BIZAPPS, "tenant": bizapps_tenant, "product": subscription.product}
    Association.objects.create(
        partner=partner_a.partner, location=partner_a.location, subscription=subscription, **fields
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        Association.objects.create(
            partner=partner_b.partner, location=partner_b.location, subscription=subscription, **fields
        )


def test_association_same_subscription_in_another_program_is_fine(partner_a, partner_b, bizapps_tenant):
    subscription = bizapps_tenant.sales_subscriptions[0]
    common = {"tenant": bizapps_tenant, "product": subscription.product, "subscription": subscription}
    Association.objects.create(
        partner=partner_a.partner, location=partner_a.location, program=Program.OSU_BIZAPPS, **common
    )
    Association.objects.create(
        partner=partner_b.partner, location=partner_b.location, program=Program.OSA_SELL, **common
    )

    assert Association.objects.active().count() == 2


def test_association_different_partners_on_different_workloads_are_fine(partner_a, partner_b, m365_tenant, products):
    _m365(partner_a, m365_tenant, products["microsoft-teams"])
    _m365(partner_b, m365_tenant, products["exchange-online"])

    assert Association.objects.active().filter(tenant=m365_tenant).count() == 2


def test_association_ended_one_does_not_block_a_new_one(partner_a, partner_b, m365_tenant, products):
    _m365(
        partner_a,
        m365_tenant,
        products["microsoft-teams"],
        status=Association.Status.ENDED,
        ended_at=timezone.now(),
        end_reason=Association.EndReason.DISASSOCIATED,
    )
    _m365(partner_b, m365_tenant, products["microsoft-teams"])

    assert Association.objects.active().get(tenant=m365_tenant).partner == partner_b.partner


def test_association_legacy_import_does_not_block_a_claim(partner_a, partner_b, m365_tenant, products):
    _m365(partner_a, m365_tenant, products["microsoft-teams"], status=Association.Status.LEGACY, source="imported")
    _m365(partner_b, m365_tenant, products["microsoft-teams"])

    assert Association.objects.active().count() == 1


def test_association_m365_with_a_subscription_is_refused(partner_a, bizapps_tenant, products):
    with pytest.raises(IntegrityError), transaction.atomic():
        _m365(partner_a, bizapps_tenant, products["microsoft-teams"], subscription=bizapps_tenant.power_bi_subscription)


def test_tenant_time_zone_is_the_country_main_zone(m365_tenant, bizapps_tenant):
    assert str(m365_tenant.time_zone) == "America/New_York"
    assert str(bizapps_tenant.time_zone) == "Europe/Berlin"


def test_tenant_primary_domain_is_the_initial_one(products):
    tenant = make_tenant("Litware", domains=["litware.onmicrosoft.com", "a-litware.example"], products=products)

    assert tenant.primary_domain == "litware.onmicrosoft.com"


def test_subscription_active_excludes_expired_suspended_and_future(bizapps_tenant, products):
    day = datetime.date(2026, 11, 24)
    sales = products["d365-sales"]
    ended = make_subscription(bizapps_tenant, sales, end=datetime.date(2026, 11, 23))
    suspended = make_subscription(bizapps_tenant, sales, state=Subscription.State.SUSPENDED)
    future = make_subscription(bizapps_tenant, sales, start=datetime.date(2026, 11, 25))
    last_day = make_subscription(bizapps_tenant, sales, end=day)

    active = set(Subscription.objects.active(on=day))

    assert last_day in active
    assert not {ended, suspended, future} & active
    assert set(bizapps_tenant.sales_subscriptions) <= active


def test_usage_record_month_must_be_the_first_day(m365_tenant, products):
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageRecord.objects.create(
            tenant=m365_tenant,
            product=products["microsoft-teams"],
            month=datetime.date(2026, 11, 2),
            active_users=1,
            paid_units=1,
        )


def test_usage_record_one_per_tenant_product_and_month(m365_tenant, products):
    fields = {"tenant": m365_tenant, "product": products["microsoft-teams"], "month": datetime.date(2026, 11, 1)}
    UsageRecord.objects.create(active_users=1, paid_units=2, **fields)

    with pytest.raises(IntegrityError), transaction.atomic():
        UsageRecord.objects.create(active_users=3, paid_units=4, **fields)
