"""Partners see every time in their own zone (SPEC §15), and a customer's deadline also on the customer's clock,
named by its city: never an IANA name nor an abbreviation or offset."""

import datetime

import pytest
from django.urls import reverse

from claims.models import ClaimStatus
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


@pytest.fixture
def notified(partner_a, bizapps_tenant):
    # Adventure Works is in Germany: 22:59:59 UTC on 1 December is 23:59:59 in Berlin (UTC+1 in winter), and
    # 06:59:59 on 2 December in Taipei.
    return claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=datetime.datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC),
        name="Field Service",
    )


@pytest.fixture
def in_taipei(client_a, settings):
    client_a.cookies[settings.TIME_ZONE_COOKIE_NAME] = "Asia/Taipei"
    return client_a


def test_deadline_list_shows_the_viewers_time(in_taipei, notified):
    page = in_taipei.get(reverse("claims:list")).content.decode()

    assert (
        '<time datetime="2026-12-02T06:59:59+08:00"><span class="nowrap">2026-12-02</span> '
        '<span class="nowrap">06:59</span></time>'
    ) in page
    assert page.count("Times on this page are in Taipei time (your time zone).") == 1
    # The customer's clock beside it, named by its city (SPEC §15).
    assert '<span class="cell-sub">2026-12-01 23:59 Berlin time</span>' in page
    assert "CET" not in page and "+08" not in page.replace("+08:00", "") and "Asia/" not in page


def test_deadline_claim_page_shows_the_viewers_time_and_the_customers(in_taipei, notified):
    page = in_taipei.get(reverse("claims:detail", args=[notified.pk])).content.decode()

    assert "2026-12-02 06:59 (2026-12-01 23:59 Berlin time)" in page
    assert "Wednesday 2 December 2026, 06:59 (2026-12-01 23:59 Berlin time)" in page
    assert "22:59" not in page and "CET" not in page and "Europe/" not in page


def test_deadline_response_shown_in_the_viewers_time_with_the_customers(client_a, partner_a, m365_tenant, products):
    # Northwind Traders is in the United States (New York): 04:59:59 UTC on 8 December is 23:59:59 on Monday
    # 7 December there; a viewer without a zone of their own sees UTC, said once.
    waiting = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.ACTION_REQUIRED,
        response_deadline=datetime.datetime(2026, 12, 8, 4, 59, 59, tzinfo=UTC),
    )

    page = client_a.get(reverse("claims:detail", args=[waiting.pk])).content.decode()

    assert "Tuesday 8 December 2026, 04:59 (2026-12-07 23:59 New York time)" in page
    assert page.count("Times on this page are in UTC (your time zone).") == 1
    assert "EST" not in page and "America/" not in page
