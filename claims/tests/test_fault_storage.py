"""S3 unreachable at the wizard's final step (SPEC §11, §14): a clear page to try again, no claim, no orphan.

The session's S3 server is shared by every test, so the outage is the storage pointed at a closed loopback port
for the one request, with the project's own S3 options otherwise.
"""

import copy

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from claims.models import Claim, PendingUpload, PoeDocument
from claims.tests.invariants import assert_invariants
from claims.tests.wizard_steps import submit, walk_m365
from conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def _storage_at(endpoint):
    storages = copy.deepcopy(settings.STORAGES)
    storages["default"]["OPTIONS"]["endpoint_url"] = endpoint
    return storages


def test_fault_s3_unreachable_at_submit_retryable_page_no_claim_no_orphan(client_a, products, m365_tenant, s3_objects):
    key = walk_m365(client_a, [products["microsoft-teams"]])
    (upload,) = PendingUpload.objects.all()

    with override_settings(STORAGES=_storage_at(f"http://127.0.0.1:{free_port()}")):
        response = submit(client_a, key)
    assert response.status_code == 200
    assert response.context["wizard"]["steps"].current == "review"
    assert response.context["form"].non_field_errors() == [
        "The file storage is not available. Nothing was submitted: select Submit claim to try again."
    ]
    assert not Claim.objects.exclude(status="draft").exists()
    assert not PoeDocument.objects.exists()
    # The upload still belongs to the wizard run, object and row: nothing stored that nobody owns.
    assert list(PendingUpload.objects.values_list("pk", flat=True)) == [upload.pk]
    assert s3_objects() == [upload.file.name]
    assert_invariants(storage_keys=s3_objects())

    # S3 is back: the same button submits the claim, with the same object.
    response = submit(client_a, key)
    claim = Claim.objects.get(submission_key=key)
    assert response.status_code == 302
    assert response.url == reverse("claims:detail", args=[claim.pk])
    assert list(claim.documents.values_list("file", flat=True)) == [upload.file.name]
    assert not PendingUpload.objects.exists()
    assert_invariants(storage_keys=s3_objects())
