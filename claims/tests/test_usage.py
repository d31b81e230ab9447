"""Usage data of official associations: chart and table, CSV; 404 before official and for other partners."""

import datetime
import itertools
import re
from types import SimpleNamespace

import pytest
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import translation
from django.utils.translation import pgettext

from associations.models import UsageRecord
from claims.charts import label_width, nice_ticks, usage_chart
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
    assert response.content.startswith(b"\xef\xbb\xbfCustomer,")  # a UTF-8 BOM: Excel then reads it as UTF-8
    # Months as dates (ISO 8601, the month's first day) that a spreadsheet reads as dates, not text.
    assert response.content.decode("utf-8-sig").splitlines() == [
        "Customer,Directory ID,Product,Month,Monthly active users,Paid units",
        f"Northwind Traders,{directory_id},Microsoft Teams,2026-08-01,120,150",
        f"Northwind Traders,{directory_id},Microsoft Teams,2026-09-01,135,150",
        f"Northwind Traders,{directory_id},Microsoft Teams,2026-10-01,142,160",
    ]
    page = client_a.get(reverse("claims:usage", args=[official.pk])).content.decode()
    assert "<td>October 2026</td><td>142</td><td>160</td>" in page


def test_usage_chart_y_axis_has_round_ticks(client_a, official):
    page = client_a.get(reverse("claims:usage", args=[official.pk])).content.decode()
    svg = page[page.index("<svg") : page.index("</svg>")]
    ticks = re.findall(r'<text x="[\d.]+" y="([\d.]+)" dy="0.35em" text-anchor="end" class="tick">([^<]+)</text>', svg)
    # The highest value is 160: steps of 50 up to 200, 0 on the base line and 200 at the top.
    assert [label for _, label in ticks] == ["0", "50", "100", "150", "200"]
    assert [float(y) for y, _ in ticks] == [210.0, 161.0, 112.0, 63.0, 14.0]
    assert re.findall(r'class="tick">([A-Z][a-z]+ \d{4})</text>', svg) == ["Aug 2026", "Oct 2026"]
    # 160 paid units in October: the dashed line ends at 160 / 200 of the axis.
    units = re.search(r'<polyline points="([^"]+)"[^>]*stroke-dasharray', svg).group(1)
    assert units.split()[-1].endswith(f",{210 - 160 * 196 / 200:.1f}")


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (1, [0, 1]),
        (7, [0, 2, 4, 6, 8]),
        (108, [0, 50, 100, 150]),
        (160, [0, 50, 100, 150, 200]),
        (1000, [0, 250, 500, 750, 1000]),
        (12_345, [0, 5000, 10000, 15000]),
        (0, [0, 1]),
    ],
)
def test_usage_chart_nice_ticks(top, ticks):
    assert nice_ticks(top) == ticks


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


@pytest.mark.parametrize("language", ["en", "zh-hant"])
@pytest.mark.parametrize("months", [1, 2, 3, 4, 6, 12, 13, 24])
def test_usage_chart_month_labels_never_overlap(language, months):
    """The month labels at the phone's font size (claims.charts.label_width): the first and the newest month always,
    none overlapping its neighbour (a Chinese 2026年10月 is wider than Oct 2026), all within the chart."""
    records = [
        SimpleNamespace(month=datetime.date(2025 + n // 12, n % 12 + 1, 1), active_users=n, paid_units=n)
        for n in range(months)
    ]
    with translation.override(language):
        chart = usage_chart(records)
        month = pgettext("month on the usage chart's axis", "M Y")
        first, newest = date_filter(records[0].month, month), date_filter(records[-1].month, month)
    labels = chart["labels"]
    spans = []
    for label in labels:
        x, width = float(label["x"]), label_width(label["text"])
        start = {"start": x, "middle": x - width / 2, "end": x - width}[label["anchor"]]
        spans.append((start, start + width))
    assert (labels[0]["text"], labels[-1]["text"]) == (first, newest)
    assert all(before[1] < after[0] for before, after in itertools.pairwise(spans))
    assert spans[0][0] >= 0 and spans[-1][1] <= chart["width"]
