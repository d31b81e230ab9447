"""Who reaches what through the API: another partner's objects are 404 on every operation that names one, a
read-only key writes nothing, a key stops with its revocation or its maker's role."""

import re

import pytest

from api.models import ApiKey, BulkImport
from api.services.drafts import api_draft_create
from api.tests.conftest import NORTHWIND, ApiClient, pdf
from api.v1 import api
from associations.models import Membership, Product
from claims.models import Claim, ClaimEvent, ClaimStatus, PendingUpload
from claims.services import pending_upload_create
from claims.tests.factories import claim_make

# A valid request of every operation that names an object, so that only who asks decides the answer.
CASES = {
    ("get", "/api/v1/claims/{claim_id}"): {},
    ("patch", "/api/v1/claims/{claim_id}"): {"json": {"name": "Renamed"}},
    ("delete", "/api/v1/claims/{claim_id}"): {},
    ("post", "/api/v1/claims/{claim_id}/poe"): {"files": True},
    ("delete", "/api/v1/claims/{claim_id}/poe/{upload_id}"): {},
    ("post", "/api/v1/claims/{claim_id}/submit"): {"json": {}},
    ("post", "/api/v1/claims/{claim_id}/answer"): {"form": {"comment": "Here it is"}},
    ("post", "/api/v1/claims/{claim_id}/dispute"): {"form": {"justification": "Please"}},
    ("post", "/api/v1/claims/{claim_id}/protect"): {"form": {"comment": "More"}, "files": True},
    ("post", "/api/v1/claims/{claim_id}/disassociate"): {"json": {"reason": "Done"}},
    ("post", "/api/v1/claims/{claim_id}/copy"): {"json": {}},
    ("get", "/api/v1/claims/{claim_id}/usage"): {},
    ("get", "/api/v1/imports/{import_id}"): {},
    ("get", "/api/v1/imports/{import_id}/rows"): {},
}


def _operations_with_ids():
    schema = api.get_openapi_schema(path_prefix="/api/v1")
    return {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if re.search(r"\{\w+\}", path)
    }


def _send(client, key, method, path, case):
    headers = {"Authorization": f"Bearer {key}"}
    if "form" in case or "files" in case:
        data = dict(case.get("form", {}))
        if case.get("files"):
            data["file" if path.endswith("/poe") else "files"] = pdf()
        return client.post(path, data, headers=headers)
    if "json" in case:
        return getattr(client, method)(path, case["json"], content_type="application/json", headers=headers)
    return getattr(client, method)(path, headers=headers)


@pytest.fixture
def objects_a(partner_a, m365_tenant):
    """One of partner A's objects of each kind: a draft with an upload, claims in the statuses the operations act
    on, an import."""
    teams = Product.objects.get(code="microsoft-teams")
    draft = api_draft_create(partner=partner_a.partner, user=partner_a.admin, fields=dict(NORTHWIND))
    upload = pending_upload_create(
        partner=partner_a.partner, user=partner_a.admin, wizard_key=str(draft.submission_key), uploaded_file=pdf()
    )
    official = claim_make(partner_a, tenant=m365_tenant, products=[teams], status=ClaimStatus.OFFICIAL)
    bulk_import = BulkImport.objects.create(partner=partner_a.partner, created_by=partner_a.admin, file_name="a.csv")
    return {"draft": draft, "upload": upload, "official": official, "import": bulk_import}


def test_api_access_every_operation_naming_an_object_is_covered_here():
    assert _operations_with_ids() == set(CASES)


def test_api_access_partner_b_gets_404_for_partner_as_objects_on_every_operation(client, key_b, objects_a):
    before = (Claim.objects.count(), ClaimEvent.objects.count(), PendingUpload.objects.count())
    for (method, path), case in CASES.items():
        for claim in (objects_a["draft"], objects_a["official"]):
            url = path.format(claim_id=claim.pk, upload_id=objects_a["upload"].pk, import_id=objects_a["import"].pk)
            response = _send(client, key_b, method, url, case)
            assert response.status_code == 404, (method, url, response.content)
            assert response["Content-Type"] == "application/problem+json"
    assert (Claim.objects.count(), ClaimEvent.objects.count(), PendingUpload.objects.count()) == before
    assert Claim.objects.get(pk=objects_a["draft"].pk).status == ClaimStatus.DRAFT


def test_api_access_partner_b_lists_and_finds_none_of_partner_as_claims(client, key_b, objects_a):
    b = ApiClient(client, key_b)
    assert b.get("/claims").json()["items"] == []
    assert b.get("/claims", q="Northwind").json()["items"] == []


def test_api_access_read_only_key_writes_nothing_on_any_operation(client, read_key_a, objects_a):
    before = (Claim.objects.count(), ClaimEvent.objects.count(), PendingUpload.objects.count())
    schema = api.get_openapi_schema(path_prefix="/api/v1")
    writes = [(m, p) for p, ops in schema["paths"].items() for m in ops if m != "get"]
    assert len(writes) >= 11
    for method, path in writes:
        case = CASES.get((method, path), {"json": dict(NORTHWIND)} if path == "/api/v1/claims" else {"json": {}})
        if path == "/api/v1/imports":
            case = {"form": {}, "files": True}
        url = path.format(
            claim_id=objects_a["draft"].pk, upload_id=objects_a["upload"].pk, import_id=objects_a["import"].pk
        )
        response = _send(client, read_key_a, method, url, case)
        assert response.status_code in (403, 422), (method, url, response.content)
        if response.status_code == 422:  # refused before reading: only a body the schema refuses gets here
            assert path == "/api/v1/imports"
        else:
            assert response.json()["title"] == "This API key only reads"
    assert (Claim.objects.count(), ClaimEvent.objects.count(), PendingUpload.objects.count()) == before
    ok = ApiClient(client, read_key_a).get(f"/claims/{objects_a['draft'].pk}")
    assert ok.status_code == 200
    assert ok.json()["actions"]["continue_editing"] is False


def test_api_access_read_write_key_of_a_maker_who_became_a_viewer_only_reads(client, key_a, partner_a, objects_a):
    Membership.objects.filter(user=partner_a.admin).update(role=Membership.Role.INCENTIVES_USER)
    response = ApiClient(client, key_a).patch(f"/claims/{objects_a['draft'].pk}", {"name": "New"})
    assert response.status_code == 403


def test_api_access_revoked_unknown_or_malformed_keys_get_401(client, key_a, partner_a):
    ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    for key in (key_a, "cpor_nope", key_a[:-1] + ("x" if key_a[-1] != "x" else "y"), ""):
        response = ApiClient(client, key).get("/claims")
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_api_access_a_key_records_its_last_use(client, key_a):
    assert ApiKey.objects.get().last_used_at is None
    ApiClient(client, key_a).get("/claims")
    assert ApiKey.objects.get().last_used_at is not None
