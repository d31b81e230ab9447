"""Partners see deadlines in the customer tenant's time zone, as the customer's email and page show them."""

import datetime

import pytest
from django.urls import reverse

from claims.models import ClaimStatus
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


@pytest.fixture
def notified(partner_a, bizapps_tenant):
    # Adventure Works is in Germany: 22:59:59 UTC on 1 December is 23:59:59 CET (UTC+1 in winter).
    return claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=datetime.datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC),
        name="Field Service",
    )


def test_deadline_list_shows_tenant_local_time(client_a, notified):
    page = client_a.get(reverse("claims:list")).content.decode()

    assert (
        '<time datetime="2026-12-01T22:59:59+00:00"><span class="nowrap">2026-12-01</span> '
        '<span class="nowrap">23:59 CET</span></time>'
    ) in page


def test_deadline_claim_page_shows_tenant_local_time(client_a, notified):
    page = client_a.get(reverse("claims:detail", args=[notified.pk])).content.decode()

    assert "2026-12-01 23:59:59 CET" in page
    assert "Tuesday 1 December 2026, 23:59:59 CET" in page
    assert "22:59" not in page


def test_deadline_response_shown_in_tenant_local_time(client_a, partner_a, m365_tenant, products):
    # Northwind Traders is in the United States (America/New_York): 04:59:59 UTC on 8 December is 23:59:59 EST
    # on Monday 7 December.
    waiting = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.ACTION_REQUIRED,
        response_deadline=datetime.datetime(2026, 12, 8, 4, 59, 59, tzinfo=UTC),
    )

    page = client_a.get(reverse("claims:detail", args=[waiting.pk])).content.decode()

    assert "Monday 7 December 2026, 23:59:59 EST" in page
