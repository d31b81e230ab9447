"""The partner's API pages: keys made (shown once), listed with their last use and revoked; webhook endpoints with
their delivery log and Redeliver; bulk imports with their progress and result file. Incentives admins only; another
partner's objects are 404."""

import pytest

from api.keys import api_key_authenticate, api_key_create
from api.models import ApiKey, BulkImport, ImportRow, WebhookDelivery, WebhookEndpoint
from api.tests.conftest import ApiClient
from associations.models import Product
from claims.models import ClaimStatus, InformationReason
from claims.services import claim_request_information
from claims.tests.factories import claim_make


def test_pages_key_is_shown_once_stored_hashed_and_works(client_a, partner_a):
    response = client_a.post("/incentives/integrations/", {"name": "Our CRM", "access": "read_write"})
    assert response.status_code == 200
    raw = response.context["created"]
    assert raw.startswith("cpor_") and raw in response.content.decode()
    key = ApiKey.objects.get()
    assert raw.split("_")[2] not in (key.secret_hash, key.prefix)  # only a hash of the secret is kept
    assert api_key_authenticate(raw).partner == partner_a.partner
    again = client_a.get("/incentives/integrations/")
    assert raw not in again.content.decode()
    assert f"cpor_{key.prefix}_…" in again.content.decode()


def test_pages_key_list_shows_the_last_use_and_revoke_stops_the_key(client, client_a, partner_a):
    _key, raw = api_key_create(partner=partner_a.partner, user=partner_a.admin, name="CRM", access="read")
    assert "Never" in client_a.get("/incentives/integrations/").content.decode()
    ApiClient(client, raw).get("/claims")
    client.force_login(partner_a.admin)
    page = client.get("/incentives/integrations/").content.decode()
    assert "Never" not in page
    client.post(f"/incentives/integrations/keys/{ApiKey.objects.get().pk}/revoke/")
    assert ApiKey.objects.get().revoked_at is not None
    assert ApiClient(client, raw).get("/claims").status_code == 401


def test_pages_are_for_incentives_admins_only(client, partner_a):
    client.force_login(partner_a.viewer)
    for url in ("/incentives/integrations/", "/incentives/integrations/webhooks/", "/incentives/integrations/imports/"):
        assert client.get(url).status_code == 403


def test_pages_other_partners_keys_endpoints_and_imports_are_404(client, partner_a, partner_b):
    key, _raw = api_key_create(partner=partner_b.partner, user=partner_b.admin, name="B", access="read")
    endpoint = WebhookEndpoint.objects.create(
        partner=partner_b.partner, created_by=partner_b.admin, url="https://b.example/", event_types=[], secret="x"
    )
    bulk_import = BulkImport.objects.create(partner=partner_b.partner, created_by=partner_b.admin, file_name="b.csv")
    client.force_login(partner_a.admin)
    assert client.post(f"/incentives/integrations/keys/{key.pk}/revoke/").status_code == 404
    assert client.get(f"/incentives/integrations/webhooks/{endpoint.pk}/").status_code == 404
    assert client.post(f"/incentives/integrations/webhooks/{endpoint.pk}/enable/", {"enabled": "0"}).status_code == 404
    for suffix in ("", "progress/", "result.csv"):
        assert client.get(f"/incentives/integrations/imports/{bulk_import.pk}/{suffix}").status_code == 404
    assert ApiKey.objects.get().revoked_at is None
    assert WebhookEndpoint.objects.get().enabled


def test_pages_webhook_endpoint_registered_shows_its_secret_once_and_refuses_plain_http(client_a, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    refused = client_a.post(
        "/incentives/integrations/webhooks/",
        {"url": "http://crm.example/hook", "event_types": ["claim.status_changed"]},
    )
    assert refused.status_code == 400
    assert "HTTPS only" in refused.content.decode()
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    made = client_a.post(
        "/incentives/integrations/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "event_types": ["claim.status_changed"]},
    )
    assert made.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in made.content.decode()
    assert endpoint.secret not in client_a.get("/incentives/integrations/webhooks/").content.decode()


def test_pages_delivery_log_shows_attempts_and_redeliver_queues_it_again(client_a, partner_a, m365_tenant, reviewer):
    endpoint = WebhookEndpoint.objects.create(
        partner=partner_a.partner,
        created_by=partner_a.admin,
        url="https://crm.example/hook",
        event_types=["claim.information_requested"],
        secret="whsec_" + "A" * 44,
    )
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    claim_request_information(claim=claim, user=reviewer, reason=InformationReason.OTHER, message="More please")
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="delivered", delivered_at=delivery.created_at)
    page = client_a.get(f"/incentives/integrations/webhooks/{endpoint.pk}/")
    assert "claim.information_requested" in page.content.decode()
    response = client_a.post(f"/incentives/integrations/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 302
    assert WebhookDelivery.objects.get().state == "pending"


def test_pages_import_shows_progress_as_json_and_its_result_file(client_a, partner_a):
    bulk_import = BulkImport.objects.create(
        partner=partner_a.partner,
        created_by=partner_a.admin,
        file_name="c.csv",
        rows_total=4,
        rows_done=2,
        state="running",
    )
    progress = client_a.get(f"/incentives/integrations/imports/{bulk_import.pk}/progress/").json()
    assert (progress["percent"], progress["finished"], progress["rows_done"]) == (50, False, 2)
    ImportRow.objects.create(bulk_import=bulk_import, line=2, row_key="crm-1", outcome="error", message="=bad")
    BulkImport.objects.filter(pk=bulk_import.pk).update(state="done", rows_done=4)
    page = client_a.get(f"/incentives/integrations/imports/{bulk_import.pk}/")
    assert "crm-1" in page.content.decode()
    result = client_a.get(f"/incentives/integrations/imports/{bulk_import.pk}/result.csv")
    assert result["Content-Disposition"].startswith("attachment")
    assert b"crm-1,error,,'=bad" in result.content  # no formula for a spreadsheet


@pytest.mark.parametrize("url", ["/api/v1/docs", "/incentives/integrations/imports/template.csv"])
def test_pages_docs_and_template_are_served(client_a, url):
    response = client_a.get(url)
    assert response.status_code == 200
