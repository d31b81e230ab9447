"""Automatic validation (SPEC §5): every rule gives its reason; a pass goes to review; a second run is a no-op."""

import datetime

import pytest
from django.core.files.base import ContentFile

from associations.models import Association, PartnerLocation, Program, Subscription
from associations.tests.fixtures import make_subscription, make_tenant
from claims.models import ClaimEvent, ClaimItem, ClaimStatus, EmailNotification, PoeDocument
from claims.services import claim_validate
from claims.tests.factories import PDF_BYTES, PNG_BYTES, claim_make

pytestmark = pytest.mark.django_db


def _validated(claim):
    claim_validate(claim_id=claim.pk)
    claim.refresh_from_db()
    return claim


def _reasons(claim):
    return _validated(claim).rejection_reasons


def test_validate_pass_moves_to_under_review_with_one_event(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])

    assert _validated(claim).status == ClaimStatus.UNDER_REVIEW
    assert claim.rejection_reasons == []
    assert claim.competing is False
    event = claim.events.get()
    assert (event.actor, event.action, event.old_status, event.new_status) == (
        "system",
        "validated",
        "submitted",
        "under_review",
    )
    assert not EmailNotification.objects.exists()


def test_validate_second_run_changes_nothing(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])
    claim_validate(claim_id=claim.pk)

    assert claim_validate(claim_id=claim.pk) is None
    assert ClaimEvent.objects.filter(claim=claim).count() == 1


def test_validate_missing_claim_is_a_no_op(db):
    assert claim_validate(claim_id=987654) is None


def test_validate_failure_rejects_with_reasons_and_queues_partner_email(partner_a, partner_b, m365_tenant, products):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], location=partner_b.location
    )

    assert _reasons(claim) == ["The MPN ID 2000001 does not belong to your organization."]
    assert claim.status == ClaimStatus.REJECTED
    event = claim.events.get()
    assert (event.action, event.reason, event.new_status) == ("validation_failed", "validation", "rejected")
    assert event.message == "The MPN ID 2000001 does not belong to your organization."
    assert list(EmailNotification.objects.values_list("claim_id", "kind", "state")) == [
        (claim.pk, "rejected", "pending")
    ]


def test_validate_inactive_mpn_id(partner_a, m365_tenant, products):
    PartnerLocation.objects.filter(pk=partner_a.location.pk).update(is_active=False)
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])

    assert _reasons(claim) == ["The MPN ID 1000001 is not active."]


def test_validate_unknown_directory_id(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        tenant_id=None,
        directory_id="00000000-0000-4000-8000-000000000001",
    )

    assert _reasons(claim) == ["The Directory ID 00000000-0000-4000-8000-000000000001 is not a known customer tenant."]


def test_validate_domain_of_another_tenant(partner_a, m365_tenant, bizapps_tenant, products):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], domain="adventure-works.example"
    )

    assert _reasons(claim) == [
        "The domain name adventure-works.example does not belong to the tenant of this Directory ID."
    ]


def test_validate_domain_matches_case_insensitively(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], domain="NorthwindTraders.Example."
    )

    assert _validated(claim).status == ClaimStatus.UNDER_REVIEW


def test_validate_product_outside_solution_area(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["power-bi-pro"]])

    assert _reasons(claim) == ["Power BI Pro is not a Microsoft 365 product."]


def test_validate_workload_not_licensed_on_tenant(partner_a, products):
    tenant = make_tenant("Litware", domains=["litware.onmicrosoft.com"], workloads=["exchange-online"])
    claim = claim_make(partner_a, tenant=tenant, products=[products["exchange-online"], products["yammer"]])

    assert _reasons(claim) == ["Yammer is not licensed on this tenant."]


def test_validate_subscription_of_another_tenant(partner_a, bizapps_tenant, products):
    other = make_tenant("Litware", domains=["litware.onmicrosoft.com"])
    foreign = make_subscription(other, products["d365-sales"])
    claim = claim_make(partner_a, tenant=bizapps_tenant, subscriptions=[foreign])

    assert _reasons(claim) == [f"The subscription ID {foreign.subscription_id} does not belong to this tenant."]


def test_validate_expired_subscription(partner_a, bizapps_tenant, products):
    Subscription.objects.filter(pk=bizapps_tenant.power_bi_subscription.pk).update(
        end_date=datetime.date(2026, 1, 31), state=Subscription.State.EXPIRED
    )
    claim = claim_make(partner_a, tenant=bizapps_tenant, subscriptions=[bizapps_tenant.power_bi_subscription])

    assert _reasons(claim) == ["Power BI Pro has no active subscription on this tenant."]


def test_validate_item_held_by_same_partner_is_refused(partner_a, m365_tenant, products):
    Association.objects.create(
        partner=partner_a.partner,
        location=partner_a.location,
        program=Program.OSU_M365,
        tenant=m365_tenant,
        product=products["microsoft-teams"],
    )
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"], products["yammer"]])

    assert _reasons(claim) == ["Microsoft Teams is already associated with your organization."]


def test_validate_item_pending_in_own_other_claim_is_refused(partner_a, m365_tenant, products):
    claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])

    assert _reasons(claim) == ["Yammer is already claimed in another open claim of your organization."]


def test_validate_legacy_imported_m365_association_does_not_count(partner_a, m365_tenant, products):
    Association.objects.create(
        partner=partner_a.partner,
        location=partner_a.location,
        program=Program.OSU_M365,
        tenant=m365_tenant,
        product=products["yammer"],
        status=Association.Status.LEGACY,
        source=Association.Source.IMPORTED,
    )
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])

    assert _validated(claim).status == ClaimStatus.UNDER_REVIEW


def test_validate_item_held_by_other_partner_marks_competing(partner_a, partner_b, m365_tenant, products):
    Association.objects.create(
        partner=partner_b.partner,
        location=partner_b.location,
        program=Program.OSU_M365,
        tenant=m365_tenant,
        product=products["microsoft-teams"],
    )
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"], products["yammer"]])

    assert _validated(claim).status == ClaimStatus.UNDER_REVIEW
    assert claim.competing is True
    assert dict(claim.items.values_list("product__code", "competing")) == {"microsoft-teams": True, "yammer": False}


def test_validate_item_pending_with_other_partner_marks_both_claims(partner_a, partner_b, bizapps_tenant):
    subscription = bizapps_tenant.field_service_subscription
    other = claim_make(partner_b, tenant=bizapps_tenant, subscriptions=[subscription], status=ClaimStatus.UNDER_REVIEW)
    claim = claim_make(partner_a, tenant=bizapps_tenant, subscriptions=[subscription])

    assert _validated(claim).status == ClaimStatus.UNDER_REVIEW
    assert claim.competing is True
    other.refresh_from_db()
    assert other.competing is True
    assert ClaimItem.objects.filter(competing=True).count() == 2


def test_validate_other_program_on_same_subscription_is_not_competing(partner_a, partner_b, bizapps_tenant):
    subscription = bizapps_tenant.field_service_subscription
    claim_make(
        partner_b,
        tenant=bizapps_tenant,
        subscriptions=[subscription],
        programs=[Program.OSA_SELL],
        status=ClaimStatus.UNDER_REVIEW,
    )
    claim = claim_make(partner_a, tenant=bizapps_tenant, subscriptions=[subscription])

    assert _validated(claim).competing is False


def test_validate_contacts_complete_and_valid(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        customer_contact_title=" ",
        customer_contact_email="dana(at)customer",
        partner_contact_name="",
    )

    assert _reasons(claim) == [
        "The customer contact's title is missing.",
        "The customer contact's email address dana(at)customer is not valid.",
        "Your company's contact name is missing.",
    ]


def test_validate_dynamics_needs_technical_contact(partner_a, bizapps_tenant):
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        technical_contact_name="",
        technical_contact_title="",
        technical_contact_email="",
    )

    assert _reasons(claim) == [
        "The customer's technical contact's name is missing.",
        "The customer's technical contact's title is missing.",
        "The customer's technical contact's email address is missing.",
    ]


def test_validate_power_bi_needs_no_technical_contact(partner_a, bizapps_tenant):
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.power_bi_subscription],
        technical_contact_name="",
        technical_contact_title="",
        technical_contact_email="",
    )

    assert _validated(claim).status == ClaimStatus.UNDER_REVIEW


def test_validate_poe_missing(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], documents=())

    assert _reasons(claim) == ["No proof of execution (POE) was uploaded."]


def test_validate_poe_type_by_content_not_name(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        documents=[("proof.pdf", b"MZ\x90\x00 this is an executable"), ("photo.png", PNG_BYTES)],
    )

    assert _reasons(claim) == [
        "The POE file proof.pdf is not an allowed type "
        "(PDF, Word document, Excel workbook, PowerPoint presentation, PNG image, JPEG image, Outlook message)."
    ]


def test_validate_poe_larger_than_10_mb(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    big = PoeDocument(claim=claim, original_name="scan.pdf", content_type="application/pdf", size=1, sha256="0" * 64)
    big.file.save("scan.pdf", ContentFile(PDF_BYTES + b"\x00" * (10 * 1024 * 1024)), save=False)
    big.size = big.file.size
    big.save()

    assert _reasons(claim) == ["The POE file scan.pdf is larger than 10 MB."]


def test_validate_poe_more_than_five_files(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        documents=[(f"proof-{n}.pdf", PDF_BYTES) for n in range(6)],
    )

    assert _reasons(claim) == ["At most 5 POE files are allowed; this claim has 6."]


def test_validate_collects_every_reason(partner_a, products):
    claim = claim_make(
        partner_a,
        tenant=make_tenant("Litware", domains=["litware.onmicrosoft.com"]),
        products=[products["yammer"]],
        documents=(),
        customer_contact_email="",
    )

    assert _reasons(claim) == [
        "Yammer is not licensed on this tenant.",
        "The customer contact's email address is missing.",
        "No proof of execution (POE) was uploaded.",
    ]


def test_validate_queries_do_not_grow_with_items(partner_a, m365_tenant, products, django_assert_max_num_queries):
    m365 = [p for p in products.values() if p.solution_area == "microsoft_365"]
    claim = claim_make(partner_a, tenant=m365_tenant, products=m365, documents=[("a.pdf", PDF_BYTES)] * 3)

    with django_assert_max_num_queries(16):
        claim_validate(claim_id=claim.pk)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.UNDER_REVIEW
