"""The claim page: every field as submitted, Status, POE downloads through short-lived links, History."""

import datetime
import time
import urllib.parse
import urllib.request

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from claims.models import ClaimEvent, PoeDocument
from claims.tests.wizard_steps import PDF, make_claim


@pytest.fixture
def claim_a(partner_a, m365_tenant, products):
    claim = make_claim(
        partner_a, m365_tenant, [products["microsoft-teams"]], name="Northwind Teams", comments="Rolled out in May."
    )
    document = PoeDocument(
        claim=claim, original_name="Signed SOW.pdf", content_type="application/pdf", size=len(PDF), sha256="0" * 64
    )
    document.file.save("ignored.pdf", ContentFile(PDF), save=False)
    document.save()
    ClaimEvent.objects.create(
        claim=claim,
        actor="system",
        action="validated",
        old_status="submitted",
        new_status="under_review",
        created_at=claim.submitted_at + datetime.timedelta(minutes=1),
    )
    claim.document = document
    return claim


def test_detail_shows_every_field_status_files_and_history(client_a, claim_a):
    response = client_a.get(reverse("claims:detail", args=[claim_a.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for text in [
        "Northwind Teams",
        "Status:",
        "1000001",
        "Northwind Traders",
        claim_a.domain.replace(".", ".<wbr>"),
        str(claim_a.directory_id),
        "Microsoft 365",
        "Usage",
        "Microsoft Teams",
        "OSU-Microsoft 365",
        "Nancy, CIO, nancy<wbr>@northwindtraders.<wbr>onmicrosoft.<wbr>com",
        "Pat, pat<wbr>@example.<wbr>com",
        "Rolled out in May.",
        "Signed SOW.pdf",
        "History",
        "Once you submit your customer association, you can",
    ]:
        assert text in html, text
    assert [event.action for event in response.context["events"]] == ["validated", "submitted"]
    assert html.index("Validated") < html.index('<td data-label="What">Submitted</td>')


def test_detail_query_count(client_a, claim_a, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        assert client_a.get(reverse("claims:detail", args=[claim_a.pk])).status_code == 200


def test_detail_of_another_partners_claim_is_404(client, partner_b, claim_a):
    client.force_login(partner_b.admin)
    assert client.get(reverse("claims:detail", args=[claim_a.pk])).status_code == 404


def test_detail_cannot_be_edited_through_the_page(client_a, claim_a):
    url = reverse("claims:detail", args=[claim_a.pk])
    for method in (client_a.post, client_a.put, client_a.patch, client_a.delete):
        assert method(url, {"name": "Changed"}).status_code == 405
    claim_a.refresh_from_db()
    assert claim_a.name == "Northwind Teams"


def test_poe_download_redirects_to_short_lived_attachment_link(client_a, claim_a, settings):
    response = client_a.get(reverse("claims:poe_download", args=[claim_a.pk, claim_a.document.pk]))
    assert response.status_code == 302
    url = response["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert url.startswith(settings.STORAGES["default"]["OPTIONS"]["endpoint_url"])
    assert claim_a.document.file.name in url
    # botocore signs this endpoint with an absolute expiry ("Expires"); SigV4 would say "X-Amz-Expires".
    if "X-Amz-Expires" in query:
        assert query["X-Amz-Expires"] == [str(settings.POE_LINK_SECONDS)]
    else:
        assert abs(int(query["Expires"][0]) - time.time() - settings.POE_LINK_SECONDS) < 5
    assert query["response-content-disposition"] == ['attachment; filename="Signed SOW.pdf"']
    with urllib.request.urlopen(url) as download:
        assert download.read() == PDF
        assert download.headers["Content-Disposition"] == 'attachment; filename="Signed SOW.pdf"'


def test_poe_download_of_another_partners_file_is_404(client, partner_b, claim_a):
    client.force_login(partner_b.admin)
    assert client.get(reverse("claims:poe_download", args=[claim_a.pk, claim_a.document.pk])).status_code == 404


def test_poe_download_document_of_another_claim_is_404(client_a, claim_a, partner_a, m365_tenant, products):
    other = make_claim(partner_a, m365_tenant, [products["yammer"]], name="Other")
    assert client_a.get(reverse("claims:poe_download", args=[other.pk, claim_a.document.pk])).status_code == 404


def test_poe_download_viewer_of_same_partner_may_download(client, partner_a, claim_a):
    client.force_login(partner_a.viewer)
    assert client.get(reverse("claims:poe_download", args=[claim_a.pk, claim_a.document.pk])).status_code == 302


def test_poe_download_from_local_file_storage_streams_an_attachment(
    client_a, partner_a, m365_tenant, products, settings, tmp_path
):
    # The embedded default (`make run`) keeps files on local disk, which has no signed URLs.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    settings.MEDIA_ROOT = tmp_path
    claim = make_claim(partner_a, m365_tenant, [products["yammer"]], name="Local files")
    document = PoeDocument(
        claim=claim, original_name="Signed SOW.pdf", content_type="application/pdf", size=len(PDF), sha256="0" * 64
    )
    document.file.save("ignored.pdf", ContentFile(PDF), save=False)
    document.save()

    response = client_a.get(reverse("claims:poe_download", args=[claim.pk, document.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="Signed SOW.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == PDF
