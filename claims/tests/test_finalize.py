"""Finalization (SPEC §5/§6): due customer_notified claims become official with their Associations."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from associations.models import Association, Program
from associations.tests.fixtures import make_subscription
from claims.models import ClaimEvent, ClaimStatus, EmailNotification
from claims.services import associations_end_expired, claims_finalize_due
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
PAST = NOW - datetime.timedelta(minutes=1)


def _notified(actor, tenant, *, deadline=PAST, **kwargs):
    return claim_make(
        actor, tenant=tenant, status=ClaimStatus.CUSTOMER_NOTIFIED, opt_out_deadline=deadline, documents=(), **kwargs
    )


def _emails():
    """The outbox, without the customer's notices: each notified claim comes with its delivered notice
    (claims.tests.factories.notices_make), which finalization needs and leaves alone."""
    return EmailNotification.objects.exclude(kind=EmailNotification.Kind.CUSTOMER_NOTIFIED)


def test_finalize_makes_due_claims_official_with_associations(partner_a, m365_tenant, bizapps_tenant, products):
    m365 = _notified(partner_a, m365_tenant, products=[products["microsoft-teams"], products["yammer"]])
    bizapps = _notified(
        partner_a,
        bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        programs=[Program.OSU_BIZAPPS, Program.OSA_SELL],
    )

    assert claims_finalize_due(now=NOW) == 2

    for claim in (m365, bizapps):
        claim.refresh_from_db()
        assert claim.status == ClaimStatus.OFFICIAL
        assert claim.status_changed_at == NOW
        items = list(claim.items.select_related("association"))
        assert all(item.association.status == Association.Status.ACTIVE for item in items)
        assert all(item.association.partner_id == partner_a.partner.pk for item in items)
        assert all(item.association.location_id == partner_a.location.pk for item in items)
        assert all(item.association.source == Association.Source.CLAIM for item in items)
    assert sorted(
        Association.objects.values_list("program", "product__code", "subscription_id", "tenant_id", "started_at")
    ) == sorted(
        [
            ("osu_m365", "microsoft-teams", None, m365_tenant.pk, NOW),
            ("osu_m365", "yammer", None, m365_tenant.pk, NOW),
            ("osu_bizapps", "d365-field-service", bizapps_tenant.field_service_subscription.pk, bizapps_tenant.pk, NOW),
            ("osa_sell", "d365-field-service", bizapps_tenant.field_service_subscription.pk, bizapps_tenant.pk, NOW),
        ]
    )
    assert sorted(ClaimEvent.objects.values_list("claim_id", "actor", "action", "old_status", "new_status")) == [
        (m365.pk, "system", "finalized", "customer_notified", "official"),
        (bizapps.pk, "system", "finalized", "customer_notified", "official"),
    ]
    assert sorted(_emails().values_list("claim_id", "kind")) == [
        (m365.pk, "official"),
        (bizapps.pk, "official"),
    ]


def test_finalize_leaves_claims_before_their_deadline_and_other_statuses(partner_a, m365_tenant, products):
    waiting = _notified(partner_a, m365_tenant, products=[products["yammer"]], deadline=NOW + datetime.timedelta(1))
    opted = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["exchange-online"]],
        status=ClaimStatus.OPTED_OUT,
        opt_out_deadline=PAST,
        documents=(),
    )

    assert claims_finalize_due(now=NOW) == 0

    waiting.refresh_from_db()
    opted.refresh_from_db()
    assert (waiting.status, opted.status) == (ClaimStatus.CUSTOMER_NOTIFIED, ClaimStatus.OPTED_OUT)
    assert not Association.objects.exists()


def test_finalize_second_run_changes_nothing(partner_a, m365_tenant, products):
    _notified(partner_a, m365_tenant, products=[products["yammer"]])
    claims_finalize_due(now=NOW)

    assert claims_finalize_due(now=NOW) == 0
    assert Association.objects.count() == 1
    assert ClaimEvent.objects.count() == 1
    assert _emails().count() == 1


def test_finalize_in_chunks(partner_a, m365_tenant, products):
    m365 = [p for p in products.values() if p.solution_area == "microsoft_365"]
    claims = [_notified(partner_a, m365_tenant, products=[product]) for product in m365[:7]]

    assert claims_finalize_due(now=NOW, batch_size=3) == 7
    assert {c.status for c in type(claims[0]).objects.all()} == {ClaimStatus.OFFICIAL}


def test_finalize_queries_do_not_grow_with_the_batch(partner_a, m365_tenant, products, django_assert_max_num_queries):
    m365 = [p for p in products.values() if p.solution_area == "microsoft_365"]
    for product in m365:
        _notified(partner_a, m365_tenant, products=[product])

    with django_assert_max_num_queries(20):
        assert claims_finalize_due(now=NOW, batch_size=500) == len(m365)


def test_finalize_chunk_of_10_and_of_100_claims_use_the_same_queries(partner_a, partner_b, bizapps_tenant, products):
    def finalize(n):
        """N due claims, every fifth replacing partner B's imported association; the queries of one chunk."""
        subscriptions = [make_subscription(bizapps_tenant, products["d365-sales"]) for _ in range(n)]
        for subscription in subscriptions[::5]:
            Association.objects.create(
                partner=partner_b.partner,
                location=partner_b.location,
                program=Program.OSU_BIZAPPS,
                tenant=bizapps_tenant,
                product=subscription.product,
                subscription=subscription,
                source=Association.Source.IMPORTED,
            )
        claims = [_notified(partner_a, bizapps_tenant, subscriptions=[s]) for s in subscriptions]
        with CaptureQueriesContext(connection) as queries:
            assert claims_finalize_due(now=NOW, batch_size=500) == n
        assert {c.status for c in type(claims[0]).objects.filter(pk__in=[c.pk for c in claims])} == {"official"}
        assert EmailNotification.objects.filter(claim__in=claims, kind="replaced").count() == n // 5
        return len(queries)

    assert finalize(10) == finalize(100)
    assert Association.objects.active().filter(partner=partner_a.partner).count() == 110
    assert not Association.objects.active().filter(partner=partner_b.partner).exists()


def test_finalize_competing_claim_replaces_other_partners_imported_association(
    partner_a, partner_b, m365_tenant, products
):
    held = Association.objects.create(
        partner=partner_b.partner,
        location=partner_b.location,
        program=Program.OSU_M365,
        tenant=m365_tenant,
        product=products["microsoft-teams"],
        source=Association.Source.IMPORTED,
    )
    claim = _notified(partner_a, m365_tenant, products=[products["microsoft-teams"]], competing=True)

    claims_finalize_due(now=NOW)

    held.refresh_from_db()
    assert (held.status, held.end_reason, held.ended_at) == ("ended", "replaced", NOW)
    assert Association.objects.active().get().partner_id == partner_a.partner.pk
    assert sorted(_emails().values_list("claim_id", "kind", "association_id")) == [
        (claim.pk, "official", None),
        (claim.pk, "replaced", held.pk),
    ]


def test_finalize_competing_claim_ends_the_other_partners_claim(partner_a, partner_b, m365_tenant, products):
    earlier = _notified(partner_b, m365_tenant, products=[products["microsoft-teams"]])
    claims_finalize_due(now=NOW - datetime.timedelta(days=30))
    claim = _notified(partner_a, m365_tenant, products=[products["microsoft-teams"]], competing=True)

    claims_finalize_due(now=NOW)

    earlier.refresh_from_db()
    assert earlier.status == ClaimStatus.ENDED
    old = earlier.items.get().association
    assert (old.status, old.end_reason) == ("ended", "replaced")
    assert claim.items.get().association.status == "active"
    ended = ClaimEvent.objects.get(claim=earlier, new_status="ended")
    assert (ended.actor, ended.action, ended.reason) == ("system", "replaced", "replaced")
    # The other partner gets its "ended" email (not a second "replaced" one).
    assert sorted(_emails().values_list("claim_id", "kind")) == [
        (earlier.pk, "ended"),
        (earlier.pk, "official"),
        (claim.pk, "official"),
    ]


def test_finalize_partly_replaced_claim_stays_official_and_other_partner_is_told(
    partner_a, partner_b, m365_tenant, products
):
    earlier = _notified(partner_b, m365_tenant, products=[products["microsoft-teams"], products["yammer"]])
    claims_finalize_due(now=NOW - datetime.timedelta(days=30))
    claim = _notified(partner_a, m365_tenant, products=[products["yammer"]], competing=True)

    claims_finalize_due(now=NOW)

    earlier.refresh_from_db()
    assert earlier.status == ClaimStatus.OFFICIAL
    replaced = earlier.items.get(product=products["yammer"]).association
    assert replaced.status == "ended"
    assert EmailNotification.objects.filter(kind="replaced").get().association_id == replaced.pk
    assert EmailNotification.objects.get(kind="replaced").claim_id == claim.pk


def test_finalize_two_competing_claims_in_one_batch_leave_one_active(partner_a, partner_b, m365_tenant, products):
    first = _notified(partner_b, m365_tenant, products=[products["yammer"]], deadline=PAST - datetime.timedelta(1))
    second = _notified(partner_a, m365_tenant, products=[products["yammer"]], deadline=PAST)

    claims_finalize_due(now=NOW)

    assert Association.objects.active().get().partner_id == partner_a.partner.pk
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ClaimStatus.ENDED, ClaimStatus.OFFICIAL)


def test_finalize_reassociates_partners_own_legacy_m365_association(partner_a, m365_tenant, products):
    legacy = Association.objects.create(
        partner=partner_a.partner,
        location=partner_a.location,
        program=Program.OSU_M365,
        tenant=m365_tenant,
        product=products["yammer"],
        status=Association.Status.LEGACY,
        source=Association.Source.IMPORTED,
    )
    _notified(partner_a, m365_tenant, products=[products["yammer"]])

    claims_finalize_due(now=NOW)

    legacy.refresh_from_db()
    assert (legacy.status, legacy.end_reason) == ("ended", "reassociated")
    assert not EmailNotification.objects.filter(kind="replaced").exists()


def test_end_expired_ends_imported_dynamics_and_claims(partner_a, partner_b, bizapps_tenant, products):
    sales, _ = bizapps_tenant.sales_subscriptions
    imported = Association.objects.create(
        partner=partner_b.partner,
        location=partner_b.location,
        program=Program.OSU_BIZAPPS,
        tenant=bizapps_tenant,
        product=products["d365-sales"],
        subscription=sales,
        source=Association.Source.IMPORTED,
    )
    claim = _notified(partner_a, bizapps_tenant, subscriptions=[bizapps_tenant.power_bi_subscription])
    claims_finalize_due(now=NOW)
    type(sales).objects.filter(pk__in=[sales.pk, bizapps_tenant.power_bi_subscription.pk]).update(
        end_date=datetime.date(2026, 11, 30)
    )

    assert associations_end_expired(today=datetime.date(2026, 12, 1)) == 2
    assert associations_end_expired(today=datetime.date(2026, 12, 1)) == 0

    imported.refresh_from_db()
    assert (imported.status, imported.end_reason) == ("ended", "subscription_ended")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ENDED
    assert ClaimEvent.objects.filter(claim=claim, action="subscription_ended", new_status="ended").count() == 1
    assert EmailNotification.objects.filter(claim=claim, kind="ended").count() == 1


def test_end_expired_keeps_active_subscriptions(partner_a, bizapps_tenant):
    _notified(partner_a, bizapps_tenant, subscriptions=[bizapps_tenant.power_bi_subscription])
    claims_finalize_due(now=NOW)

    assert associations_end_expired(today=datetime.date(2026, 12, 1)) == 0
    assert Association.objects.active().count() == 1
