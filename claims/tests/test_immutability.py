"""Submitted claims cannot be edited: PostgreSQL refuses changes to what the partner entered, even through
QuerySet.update(); the status and lifecycle fields stay writable."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from claims.models import Claim, ClaimEvent, ClaimItem, PoeDocument
from claims.tests.wizard_steps import make_claim


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    claim = make_claim(partner_a, m365_tenant, [products["microsoft-teams"]], name="Frozen")
    PoeDocument.objects.create(
        claim=claim, file="poe/x", original_name="x.pdf", content_type="application/pdf", size=1, sha256="0" * 64
    )
    return claim


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Changed"),
        ("domain", "evil.example"),
        ("directory_id", uuid.uuid4()),
        ("customer_contact_email", "other@example.com"),
        ("comments", "edited"),
        ("activities", ["pre_sales"]),
        ("submitted_at", timezone.now()),
        ("submission_key", uuid.uuid4()),
        ("isv_solution_name", "Other"),
    ],
)
def test_claim_partner_fields_cannot_be_updated(claim, field, value):
    with pytest.raises(IntegrityError, match="A submitted customer association cannot be edited"), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(**{field: value})
    claim.refresh_from_db()
    assert claim.name == "Frozen"


def test_claim_partner_and_location_cannot_be_updated(claim, partner_b):
    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(partner=partner_b.partner, location=partner_b.location)


def test_claim_save_of_edited_field_is_refused(claim):
    claim.name = "Changed through save()"
    with pytest.raises(IntegrityError), transaction.atomic():
        claim.save()


def test_claim_status_and_lifecycle_fields_stay_writable(claim):
    now = timezone.now()
    updated = Claim.objects.filter(pk=claim.pk).update(
        status=Claim.Status.UNDER_REVIEW, competing=True, status_changed_at=now, rejection_reasons=["x"]
    )
    # With the event PostgreSQL requires of every status change (migration 0008).
    ClaimEvent.objects.create(
        claim=claim, actor="system", action="validated", old_status="submitted", new_status="under_review"
    )
    assert updated == 1
    claim.refresh_from_db()
    assert (claim.status, claim.competing) == ("under_review", True)


def test_claim_created_by_may_only_become_null(claim, partner_a):
    other = get_user_model().objects.create_user("other@partner-a.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(created_by=other)
    partner_a.admin.delete()  # on_delete=SET_NULL updates the claim
    claim.refresh_from_db()
    assert claim.created_by is None


def test_claim_item_key_cannot_be_updated_but_lifecycle_can(claim, products):
    item = claim.items.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        ClaimItem.objects.filter(pk=item.pk).update(product=products["yammer"])
    with pytest.raises(IntegrityError), transaction.atomic():
        ClaimItem.objects.filter(pk=item.pk).update(program="osa_sell")
    assert ClaimItem.objects.filter(pk=item.pk).update(competing=True) == 1


def test_poe_document_file_cannot_be_swapped(claim):
    document = claim.documents.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        PoeDocument.objects.filter(pk=document.pk).update(file="poe/other")
    assert PoeDocument.objects.filter(pk=document.pk).update(in_response=True) == 1


def test_claim_is_never_deleted_with_its_rows(claim):
    # History is evidence (migration 0008; claims/tests/test_history_evidence.py): not even by the ORM's cascade.
    with pytest.raises(IntegrityError, match="History is evidence"), transaction.atomic():
        claim.delete()
    assert Claim.objects.filter(pk=claim.pk).exists() and ClaimItem.objects.filter(claim=claim).exists()
