"""Usage data of official associations: chart and table, CSV; 404 before official and for other partners."""

import datetime

import pytest
from django.urls import reverse

from associations.models import UsageRecord
from claims.models import ClaimStatus
from claims.tests.factories import claim_make, claim_make_official

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


@pytest.fixture
def official(partner_a, m365_tenant, products):
    claim = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    for month, users, units in [(8, 120, 150), (9, 135, 150), (10, 142, 160)]:
        UsageRecord.objects.create(
            tenant=m365_tenant,
            product=products["microsoft-teams"],
            month=datetime.date(2026, month, 1),
            active_users=users,
            paid_units=units,
        )
    # Not associated through this claim: never shown.
    UsageRecord.objects.create(
        tenant=m365_tenant, product=products["yammer"], month=datetime.date(2026, 10, 1), active_users=9, paid_units=9
    )
    return claim


def test_usage_page_shows_chart_and_table(client_a, official, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = client_a.get(reverse("claims:usage", args=[official.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in page and "<polyline" in page
    assert "<td>October 2026</td><td>142</td><td>160</td>" in page
    assert "Yammer" not in page


def test_usage_csv(client_a, official):
    response = client_a.get(reverse("claims:usage_csv", args=[official.pk]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    directory_id = "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d"
    assert response.content.decode().splitlines() == [
        "Customer,Directory ID,Product,Month,Monthly active users,Paid units",
        f"Northwind Traders,{directory_id},Microsoft Teams,2026-08,120,150",
        f"Northwind Traders,{directory_id},Microsoft Teams,2026-09,135,150",
        f"Northwind Traders,{directory_id},Microsoft Teams,2026-10,142,160",
    ]


def test_usage_viewer_may_see_it(client, partner_a, official):
    client.force_login(partner_a.viewer)

    assert client.get(reverse("claims:usage", args=[official.pk])).status_code == 200


def test_usage_404_before_official(client_a, partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)

    assert client_a.get(reverse("claims:usage", args=[claim.pk])).status_code == 404
    assert client_a.get(reverse("claims:usage_csv", args=[claim.pk])).status_code == 404


def test_usage_404_for_other_partner(client, partner_b, official):
    client.force_login(partner_b.admin)

    assert client.get(reverse("claims:usage", args=[official.pk])).status_code == 404
    assert client.get(reverse("claims:usage_csv", args=[official.pk])).status_code == 404


def test_usage_anonymous_goes_to_login(client, official):
    response = client.get(reverse("claims:usage", args=[official.pk]))

    assert response.status_code == 302
    assert "/login/" in response.url


def test_usage_post_not_allowed(client_a, official):
    assert client_a.post(reverse("claims:usage", args=[official.pk])).status_code == 405
