"""The Customer associations page: the partner's claims, search, status filter, sorting, pages, CSV, counts."""

import csv
import datetime
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from claims.exports import csv_row
from claims.models import Claim
from claims.tests.wizard_steps import make_claim

URL = reverse("claims:list")
T0 = datetime.datetime(2026, 11, 2, 9, tzinfo=datetime.UTC)


@pytest.fixture
def claims_a(partner_a, partner_b, m365_tenant, bizapps_tenant, products):
    teams, yammer = products["microsoft-teams"], products["yammer"]
    made = [
        make_claim(partner_a, m365_tenant, [teams, yammer], name="Alpha teams", submitted_at=T0),
        make_claim(
            partner_a,
            m365_tenant,
            [yammer],
            name="Bravo yammer",
            submitted_at=T0 + datetime.timedelta(days=1),
            status=Claim.Status.UNDER_REVIEW,
        ),
        make_claim(
            partner_a,
            bizapps_tenant,
            [products["d365-sales"]],
            name="Charlie sales",
            submitted_at=T0 + datetime.timedelta(days=2),
            status=Claim.Status.REJECTED,
            solution_area="business_applications",
            activities=["usage", "pre_sales"],
        ),
    ]
    make_claim(partner_b, m365_tenant, [teams], name="Fabrikam secret", submitted_at=T0)
    return made


def _names(response):
    return [claim.name for claim, _products in response.context["rows"]]


def test_list_shows_own_claims_newest_first(client_a, claims_a):
    response = client_a.get(URL)
    assert response.status_code == 200
    assert _names(response) == ["Charlie sales", "Bravo yammer", "Alpha teams"]
    html = response.content.decode()
    assert "Fabrikam secret" not in html
    for text in (
        "Claim name",
        "Customer domain",
        "Solution area",
        "Activity",
        "Products",
        "Status",
        "Submitted",
        "Opt-out deadline",
        "Microsoft Teams, Yammer",
        "Usage, Pre-sales",
        "northwindtraders.<wbr>onmicrosoft.<wbr>com",  # break opportunities between the domain's labels
    ):
        assert text in html


def test_list_counts_per_status(client_a, claims_a):
    response = client_a.get(URL)
    counts = {value: count for value, _label, count in response.context["status_counts"]}
    assert counts["submitted"] == 1 and counts["under_review"] == 1 and counts["rejected"] == 1
    assert counts["official"] == 0
    assert response.context["total"] == 3


def test_list_search_by_name_domain_and_directory_id(client_a, claims_a, bizapps_tenant):
    assert _names(client_a.get(URL, {"q": "bravo"})) == ["Bravo yammer"]
    assert _names(client_a.get(URL, {"q": "northwind"})) == ["Bravo yammer", "Alpha teams"]
    assert _names(client_a.get(URL, {"q": str(bizapps_tenant.directory_id).upper()})) == ["Charlie sales"]
    assert _names(client_a.get(URL, {"q": "Fabrikam"})) == []
    assert "No customer associations match." in client_a.get(URL, {"q": "nothing"}).content.decode()


def test_list_status_filter(client_a, claims_a):
    response = client_a.get(URL, {"status": "rejected"})
    assert _names(response) == ["Charlie sales"]
    assert response.context["page"].paginator.count == 1
    # An unknown status is ignored rather than an error.
    assert len(_names(client_a.get(URL, {"status": "bogus"}))) == 3


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Alpha teams", "Bravo yammer", "Charlie sales"]),
        ("-name", ["Charlie sales", "Bravo yammer", "Alpha teams"]),
        ("submitted", ["Alpha teams", "Bravo yammer", "Charlie sales"]),
        ("status", ["Charlie sales", "Alpha teams", "Bravo yammer"]),
        ("solution_area", ["Charlie sales", "Alpha teams", "Bravo yammer"]),
        ("id; DROP TABLE claims_claim", ["Charlie sales", "Bravo yammer", "Alpha teams"]),
        ("partner__name", ["Charlie sales", "Bravo yammer", "Alpha teams"]),
    ],
)
def test_list_sorting_is_whitelisted(client_a, claims_a, sort, expected):
    assert _names(client_a.get(URL, {"sort": sort})) == expected


def test_list_pagination(client_a, partner_a, m365_tenant, products):
    for number in range(30):
        make_claim(
            partner_a,
            m365_tenant,
            [products["yammer"]],
            name=f"Claim {number:02}",
            submitted_at=T0 + datetime.timedelta(minutes=number),
        )
    first = client_a.get(URL)
    assert len(first.context["rows"]) == 25 and first.context["page"].paginator.num_pages == 2
    second = client_a.get(URL, {"page": 2})
    assert _names(second) == [f"Claim {number:02}" for number in range(4, -1, -1)]
    assert "page=1" in second.content.decode()
    assert _names(client_a.get(URL, {"page": 99})) == _names(second)  # past the end: the last page
    assert _names(client_a.get(URL, {"page": "x"})) == _names(first)


def test_list_query_count_does_not_grow(client_a, partner_a, m365_tenant, products, django_assert_max_num_queries):
    for number in range(40):
        make_claim(partner_a, m365_tenant, [products["yammer"], products["microsoft-teams"]], name=f"C{number}")
    with django_assert_max_num_queries(12):
        response = client_a.get(URL, {"sort": "name"})
    assert len(response.context["rows"]) == 25
    with django_assert_max_num_queries(12):
        client_a.get(URL, {"q": "C1", "status": "submitted"})


def test_list_csv_export_of_filtered_list(client_a, claims_a, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = client_a.get(URL, {"status": "submitted", "format": "csv"})
        raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbfClaim name,")  # a UTF-8 BOM: Excel then reads it as UTF-8
    body = raw.decode("utf-8-sig")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="customer-associations-')
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == [
        "Claim name",
        "Claim number",
        "Customer",
        "Customer domain",
        "Directory ID",
        "MPN ID",
        "Solution area",
        "Activity",
        "Products",
        "Status",
        "Submitted",
        "Opt-out deadline",
    ]
    assert rows[1][:10] == [
        "Alpha teams",
        claims_a[0].number,
        "Northwind Traders",
        "northwindtraders.onmicrosoft.com",
        "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d",
        "1000001",
        "Microsoft 365",
        "Usage",
        "Microsoft Teams; Yammer",
        "Submitted",
    ]
    assert len(rows) == 2


def _row_texts(html, name):
    """The text of each cell of the list's row for the claim called ``name``, as a reader sees it."""
    row = next(tr for tr in re.findall(r"<tr>(.*?)</tr>", html, re.S) if f">{name}</a>" in tr)
    return [" ".join(re.sub(r"<[^>]+>", "", td).split()) for td in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_list_csv_dates_as_the_page_shows_them(client_a, partner_a, m365_tenant, products, settings):
    client_a.cookies[settings.TIME_ZONE_COOKIE_NAME] = "America/New_York"  # the viewer's zone (SPEC §15)
    make_claim(
        partner_a,
        m365_tenant,
        [products["yammer"]],
        name="Waiting",
        status=Claim.Status.CUSTOMER_NOTIFIED,
        submitted_at=datetime.datetime(2026, 11, 2, 23, 30, tzinfo=datetime.UTC),
        customer_notified_at=datetime.datetime(2026, 11, 3, tzinfo=datetime.UTC),
        opt_out_deadline=datetime.datetime(2026, 11, 10, 4, 59, 59, tzinfo=datetime.UTC),
    )
    page = _row_texts(client_a.get(URL).content.decode(), "Waiting")
    body = b"".join(client_a.get(URL, {"format": "csv"}).streaming_content).decode("utf-8-sig")
    csv_row = list(csv.reader(io.StringIO(body)))[1]
    # Both in the viewer's zone (New York), as the page shows them; the page names the zone once.
    assert page[6:8] == csv_row[-2:] == ["2026-11-02", "2026-11-09 23:59"]


def test_list_csv_neutralises_formulas(client_a, partner_a, m365_tenant, products):
    make_claim(partner_a, m365_tenant, [products["yammer"]], name="=HYPERLINK(1)")
    body = b"".join(client_a.get(URL, {"format": "csv"}).streaming_content).decode()
    assert list(csv.reader(io.StringIO(body)))[1][0] == "'=HYPERLINK(1)"


# Cells a spreadsheet splitting the line on a comma, a semicolon or a tab would otherwise turn into a formula.
FORMULA_CELLS = [
    "Q4;=1+1",
    "a,=1",
    "x\t@SUM(A1:A9)",
    "=1+1",
    "+1",
    "-1",
    "@SUM(1)",
    "\t=1",
    "a; -1",
    'a;"=1',
    "n\r\n=1",
    '"=1',
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("cell", FORMULA_CELLS)
@pytest.mark.parametrize("separator", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_list_csv_cell_is_no_formula_whatever_the_separator(cell, separator):
    line = csv_row(["Contoso", cell, 7])

    # A spreadsheet reading quotes, and one that splits the bare line, whatever the quotes say.
    cells = [*next(csv.reader(io.StringIO(line), delimiter=separator)), *line.split(separator)]
    assert not [text for text in cells if text.lstrip(' "')[:1] in TRIGGERS]
    # Read as written (comma-separated), the cell is the text with apostrophes before its triggers, nothing else.
    name, written, count = next(csv.reader(io.StringIO(line)))
    assert (name, written.replace("'", ""), count) == ("Contoso", cell, "7")
    assert written.lstrip(' "').startswith("'") == (cell.lstrip(' "')[:1] in TRIGGERS)


@pytest.mark.parametrize("cell", ["Northwind Traders", "north-wind.example", "Microsoft 365 - E3", 'The "best" one'])
def test_list_csv_cell_without_a_formula_is_kept(cell):
    assert next(csv.reader(io.StringIO(csv_row([cell, 12])))) == [cell, "12"]


def test_list_csv_export_quotes_a_cell_with_a_semicolon_formula(client_a, partner_a, m365_tenant, products):
    make_claim(partner_a, m365_tenant, [products["yammer"]], name="Q4;=1+1")

    body = b"".join(client_a.get(URL, {"format": "csv"}).streaming_content).decode("utf-8-sig")

    assert body.splitlines()[1].startswith('"Q4;\'=1+1",')
    assert not [cell for cell in body.splitlines()[1].split(";") if cell.lstrip(' "')[:1] in TRIGGERS]


def test_list_create_button_for_admin_only(client, client_a, partner_a, claims_a):
    assert ">+ Customer association</a>" in client_a.get(URL).content.decode()
    client.force_login(partner_a.viewer)
    response = client.get(URL)
    assert response.status_code == 200 and len(response.context["rows"]) == 3
    assert "+ Customer association" not in response.content.decode()
    assert client.get(reverse("claims:create")).status_code == 403


def test_list_post_not_allowed(client_a):
    assert client_a.post(URL).status_code == 405


def test_list_empty(client_a):
    assert "No customer associations yet." in client_a.get(URL).content.decode()


def _claims(actor, tenant, products, count, *, name="Claim", status=Claim.Status.SUBMITTED):
    for number in range(count):
        make_claim(
            actor,
            tenant,
            [products["yammer"]],
            name=f"{name} {number:02}",
            status=status,
            submitted_at=T0 + datetime.timedelta(minutes=number),
        )


def test_list_search_pages_by_previous_and_next(client_a, partner_a, m365_tenant, products):
    _claims(partner_a, m365_tenant, products, 30, name="Match")
    _claims(partner_a, m365_tenant, products, 3, name="Other")
    first = client_a.get(URL, {"q": "match"})
    assert _names(first) == [f"Match {n:02}" for n in range(29, 4, -1)]
    html = first.content.decode()
    # No count of the matches: "more results" and a Next link instead of "Page 1 of 2 · 30 claims".
    assert "Page 1 · more results" in html and " of " not in html.split('class="pagination"')[1]
    assert 'page=2" rel="next">Next</a>' in html and 'rel="prev"' not in html
    second = client_a.get(URL, {"q": "match", "page": 2})
    assert _names(second) == [f"Match {n:02}" for n in range(4, -1, -1)]
    html = second.content.decode()
    assert "Page 2</span>" in html and "more results" not in html
    assert 'page=1" rel="prev">Previous</a>' in html and 'rel="next"' not in html
    past = client_a.get(URL, {"q": "match", "page": 3})
    assert _names(past) == [] and "No more results." in past.content.decode()
    assert _names(client_a.get(URL, {"q": "match", "page": "x"})) == _names(first)
    # The counts per status stay the partner's totals.
    assert first.context["total"] == 33


def test_list_pages_read_from_either_end(client_a, partner_a, m365_tenant, products):
    # Pages past the middle are read with the ordering reversed: every page must still be the right slice.
    _claims(partner_a, m365_tenant, products, 60)
    expected = [f"Claim {n:02}" for n in range(60)]
    for sort, order in (("name", expected), ("-submitted", expected[::-1])):
        pages = [_names(client_a.get(URL, {"sort": sort, "page": page})) for page in (1, 2, 3)]
        assert pages == [order[:25], order[25:50], order[50:]]
        assert client_a.get(URL, {"sort": sort, "page": 3}).context["page"].paginator.num_pages == 3


def test_list_status_filter_pages_use_that_status_count(client_a, partner_a, m365_tenant, products):
    _claims(partner_a, m365_tenant, products, 27, name="Review", status=Claim.Status.UNDER_REVIEW)
    _claims(partner_a, m365_tenant, products, 4, name="New")
    response = client_a.get(URL, {"status": "under_review", "page": 2, "sort": "name"})
    assert response.context["page"].paginator.count == 27
    assert _names(response) == ["Review 25", "Review 26"]
    assert "Page 2 of 2 · 27 claims" in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [{}, {"sort": "name"}, {"status": "submitted"}, {"q": "claim"}, {"q": "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d"}],
)
def test_list_query_count_same_for_3_and_60_claims(client_a, partner_a, m365_tenant, products, params):
    def queries():
        client_a.get(URL, params)  # warm: the session and anything cached per process
        with CaptureQueriesContext(connection) as captured:
            response = client_a.get(URL, params)
        assert response.status_code == 200 and response.context["rows"]
        return len(captured)

    _claims(partner_a, m365_tenant, products, 3)
    few = queries()
    _claims(partner_a, m365_tenant, products, 57, name="More")
    assert queries() == few <= 6


def test_list_csv_shows_no_submitted_date_for_a_draft_as_the_page(client_a, partner_a, m365_tenant, products):
    """A draft (and an expired draft) was never submitted: its ``submitted_at`` is when the wizard started it,
    which neither the page nor the CSV shows as a submission date."""
    for name, status in (("Unfinished", Claim.Status.DRAFT), ("Abandoned", Claim.Status.EXPIRED), ("Sent", None)):
        make_claim(
            partner_a,
            m365_tenant,
            [products["yammer"]],
            name=name,
            submitted_at=T0,
            **({"status": status} if status else {}),
        )
    html = client_a.get(URL).content.decode()
    body = b"".join(client_a.get(URL, {"format": "csv"}).streaming_content).decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(body))
    submitted = {row[0]: row[header.index("Submitted")] for row in rows}
    statuses = {row[0]: row[header.index("Status")] for row in rows}

    assert submitted == {"Unfinished": "", "Abandoned": "", "Sent": "2026-11-02"}
    assert statuses == {"Unfinished": "Draft", "Abandoned": "Expired", "Sent": "Submitted"}
    for name in submitted:
        assert _row_texts(html, name)[6] == submitted[name], name


def test_list_rows_escape_what_partners_typed(client_a, partner_a, m365_tenant, products):
    """The rows are a Jinja2 fragment (claims.views.claim_list._table): a name is printed escaped, as text."""
    make_claim(partner_a, m365_tenant, [products["yammer"]], name='<img src=x onerror="alert(1)"> & co')
    body = client_a.get(URL).content.decode()
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; co</a>" in body


def test_list_draft_row_names_its_links_for_a_screen_reader(client_a, partner_a, m365_tenant, products):
    from claims.models import ClaimStatus
    from claims.tests.factories import claim_make

    yammer = [products["yammer"]]
    draft = claim_make(partner_a, tenant=m365_tenant, products=yammer, status=ClaimStatus.DRAFT, name="Q4")
    body = client_a.get(URL).content.decode()
    assert f'href="{reverse("claims:draft_edit", args=[draft.pk])}" aria-label="Continue editing Q4">' in body
    assert 'class="button small" aria-label="Delete draft Q4">Delete draft</a>' in body
    # In Traditional Chinese, the same links' names from the same catalog.
    body = client_a.get(URL, HTTP_ACCEPT_LANGUAGE="zh-Hant").content.decode()
    assert 'aria-label="繼續編輯 Q4"' in body
