"""The fault suite's invariants helper fails on what it is there to catch (or the fault tests would prove nothing)."""

import datetime
import re

import pytest
from django.utils import timezone

from claims.models import ClaimEvent, PendingUpload
from claims.services.transitions import claim_event_record
from claims.tests.factories import claim_make
from claims.tests.invariants import assert_invariants


def test_invariants_hold_for_a_submitted_claim_with_its_event(partner_a, m365_tenant, products, s3_objects):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])
    claim_event_record(claim=claim, actor=ClaimEvent.Actor.PARTNER, action="submitted", new_status=claim.status)
    assert_invariants(storage_keys=s3_objects())


def test_invariants_catch_a_status_without_its_event(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])
    with pytest.raises(AssertionError, match=re.escape(f"claims whose status is not their last event's: [({claim.pk}")):
        assert_invariants()


def test_invariants_catch_an_object_no_row_owns(partner_a, m365_tenant, products, s3_objects):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])
    claim_event_record(claim=claim, actor=ClaimEvent.Actor.PARTNER, action="submitted", new_status=claim.status)
    with pytest.raises(AssertionError, match="stored objects no row owns: \\['poe/orphan'\\]"):
        assert_invariants(storage_keys=[*s3_objects(), "poe/orphan"])


def test_invariants_catch_an_abandoned_upload_the_purge_did_not_take(partner_a):
    PendingUpload.objects.create(
        partner=partner_a.partner,
        user=partner_a.admin,
        wizard_key="w",
        file="poe/old",
        original_name="old.pdf",
        content_type="application/pdf",
        size=1,
        sha256="0" * 64,
        created_at=timezone.now() - datetime.timedelta(days=2),
    )
    with pytest.raises(AssertionError, match="1 abandoned uploads older than a day"):
        assert_invariants(sweep=False)
    assert_invariants()  # the purge (the sweep) takes it
    assert not PendingUpload.objects.exists()
