"""The list's one search box (SPEC §4): claim number, name, customer (the tenant's display name and a revenue
association's customer name), domain, any part of the Directory ID, MPN ID and product name; a one-letter typo
still finds; the count of results is shown; partner B's claims are never found; the trigram index answers it."""

import dataclasses
import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from claims import selectors
from claims.models import Claim, ClaimItem
from claims.selectors import search_plan
from claims.tests.wizard_steps import make_claim

pytestmark = pytest.mark.django_db
URL = reverse("claims:list")


@pytest.fixture
def claims(partner_a, partner_b, m365_tenant, bizapps_tenant, products):
    teams = make_claim(
        partner_a, m365_tenant, [products["microsoft-teams"], products["yammer"]], name="Alpha teams rollout"
    )
    sales = make_claim(
        dataclasses.replace(partner_a, locations=partner_a.locations[1:]),  # at the partner's second MPN ID
        bizapps_tenant,
        [products["d365-sales"]],
        name="Charlie sales",
        solution_area="business_applications",
        activities=["revenue_association"],
        customer_name="Blue Yonder Airlines",
    )
    # Partner B's claim holds every word of partner A's: it must never be found by partner A.
    other = make_claim(
        partner_b,
        m365_tenant,
        [products["yammer"]],
        name="Alpha teams rollout (Fabrikam)",
        customer_name="Blue Yonder Airlines",
    )
    return {"teams": teams, "sales": sales, "other": other}


def _names(response):
    assert response.status_code == 200
    return sorted(claim.name for claim, _cells in response.context["rows"])


def _search(client, text, **params):
    return _names(client.get(URL, {"q": text, **params}))


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("alpha TEAMS", ["Alpha teams rollout"]),  # the claim's name, any case, words in any order
        ("rollout alpha", ["Alpha teams rollout"]),
        ("Northwind Traders", ["Alpha teams rollout"]),  # the tenant's display name
        ("Adventure Works", ["Charlie sales"]),
        ("Blue Yonder", ["Charlie sales"]),  # the revenue association's customer name
        ("Yammer", ["Alpha teams rollout"]),  # a product
        ("Dynamics 365 Sales", ["Charlie sales"]),
        ("northwindtraders.onmicrosoft", ["Alpha teams rollout"]),  # the domain, or part of it
        ("2f4d-4c8a", ["Alpha teams rollout"]),  # part of the Directory ID
        ("5E8F1A2B", ["Charlie sales"]),
        ("9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d", ["Alpha teams rollout"]),  # the whole Directory ID
    ],
)
def test_list_search_finds_by_each_field(client_a, claims, search, expected):
    assert _search(client_a, search) == expected


def test_list_search_finds_by_mpn_id(client_a, claims, partner_a):
    assert _search(client_a, partner_a.locations[0].mpn_id) == ["Alpha teams rollout"]
    assert _search(client_a, partner_a.locations[1].mpn_id) == ["Charlie sales"]


def test_list_search_finds_by_claim_number_in_any_form(client_a, claims):
    teams = claims["teams"]
    number = teams.number
    assert number == f"CA-{teams.pk:06d}"
    for text in (number, number.lower(), f"CA{teams.pk}", f"ca-{teams.pk}", f"CA {teams.pk:06d}"):
        assert _search(client_a, text) == ["Alpha teams rollout"], text
    # Without the prefix, the digits are text: the claim's number holds them.
    assert "Alpha teams rollout" in _search(client_a, f"{teams.pk:06d}")


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("Yamer", ["Alpha teams rollout"]),  # a product, a letter missing
        ("Blue Yondr", ["Charlie sales"]),  # the customer name
        ("Northwid", ["Alpha teams rollout"]),  # the tenant's name
        ("Alpha rolout", ["Alpha teams rollout"]),  # the claim's name, a word as typed and one with a letter missing
        ("Dynamcs 365", ["Charlie sales"]),
        ("Airlnes", ["Charlie sales"]),  # a letter dropped from a longer word ("custmer" was missed at pg_trgm's 0.6)
        ("Nortwind Traders", ["Alpha teams rollout"]),
        ("adventure-wroks", ["Charlie sales"]),  # the domain, two letters swapped
    ],
)
def test_list_search_finds_with_a_one_letter_typo_and_says_so(client_a, claims, typo, expected):
    response = client_a.get(URL, {"q": typo})
    assert _names(response) == expected
    html = response.content.decode()
    assert f"No claim holds “{typo}”. Claims close to it:" in html
    assert response.context["close"] is True


def test_list_search_numbers_match_as_typed(client_a, claims, partner_a):
    """An MPN ID (or any number) one digit off is another one: no close matches for numbers."""
    assert partner_a.locations[0].mpn_id == "1000001"
    response = client_a.get(URL, {"q": "1000003"})
    assert _names(response) == [] and response.context["close"] is False


def test_list_search_close_matches_hold_a_number_whole(client_a, partner_a, m365_tenant, products):
    """The close matches of a typo are the claims of what was meant: a number in them is that number, whatever its
    leading zeros, not a piece of every longer number that holds it (a claim number, a customer's number)."""
    for name in ("Rollout 739997", "Rollout 1739997", "Rollout 7399970", "Rollout 0073917"):
        make_claim(partner_a, m365_tenant, [products["yammer"]], name=name)
    response = client_a.get(URL, {"q": "Rolout 739997"})
    assert _names(response) == ["Rollout 739997"] and response.context["close"] is True
    assert _search(client_a, "Rolout 73917") == ["Rollout 0073917"]
    assert _search(client_a, "Rolout 000073917") == ["Rollout 0073917"]
    assert _search(client_a, "Rolout 7399") == []
    # The words as typed still hold any part of a number: "7399" is in three claims' numbers.
    assert _search(client_a, "Rollout 7399") == ["Rollout 1739997", "Rollout 739997", "Rollout 7399970"]


def test_list_search_close_matches_only_when_nothing_holds_the_words(client_a, claims):
    response = client_a.get(URL, {"q": "Yammer"})
    assert _names(response) == ["Alpha teams rollout"]
    assert response.context["close"] is False
    assert "Claims close to it" not in response.content.decode()
    # Nothing near: the page says nothing matches.
    response = client_a.get(URL, {"q": "zzqqxx"})
    assert _names(response) == [] and "No customer associations match." in response.content.decode()


def test_list_search_never_finds_another_partners_claims(client_a, claims):
    other = claims["other"]
    assert _search(client_a, "Fabrikam") == []
    assert _search(client_a, other.number) == []
    assert _search(client_a, "Fabrikm") == []  # nor close to it
    assert "Alpha teams rollout (Fabrikam)" not in client_a.get(URL, {"q": "alpha"}).content.decode()


def test_list_search_shows_the_count_of_results(client_a, claims, partner_a, m365_tenant, products, monkeypatch):
    html = client_a.get(URL, {"q": "northwind"}).content.decode()
    assert '<p class="search-found" id="search-found" role="status">1 claim found.</p>' in html
    assert 'aria-describedby="search-found"' in html
    for number in range(2):
        make_claim(partner_a, m365_tenant, [products["yammer"]], name=f"Northwind extra {number}")
    assert "3 claims found." in client_a.get(URL, {"q": "northwind"}).content.decode()
    # Past the cap the count stops: counting every match of a common word is what a page must not pay.
    monkeypatch.setattr(selectors.claim_lists, "SEARCH_COUNT_MAX", 2)
    assert "More than 2 claims found." in client_a.get(URL, {"q": "northwind"}).content.decode()


def test_list_search_in_traditional_chinese(client_a, claims):
    html = client_a.get(URL, {"q": "Yamer"}, headers={"accept-language": "zh-TW"}).content.decode()
    assert "沒有宣告包含「Yamer」。以下是相近的宣告：" in html  # noqa: RUF001 (zh-Hant punctuation)
    assert "找到 1 筆宣告。" in html


def test_list_search_close_matches_page_on_with_their_own_links(client_a, partner_a, m365_tenant, products):
    for number in range(27):
        make_claim(partner_a, m365_tenant, [products["yammer"]], name=f"Rollout {number:02}")
    first = client_a.get(URL, {"q": "Rolout"})
    assert len(first.context["rows"]) == 25 and first.context["close"]
    assert "close=1" in first.context["query"]
    second = client_a.get(URL, {"q": "Rolout", "close": "1", "page": 2})
    assert len(second.context["rows"]) == 2 and second.context["close"]
    csv = b"".join(client_a.get(URL, {"q": "Rolout", "close": "1", "format": "csv"}).streaming_content)
    assert csv.decode("utf-8-sig").count("Rollout ") == 27


def test_list_search_text_follows_the_claim_its_items_tenant_location_and_products(
    claims, m365_tenant, partner_a, products
):
    # Waiting for the partner's answer: the one status in which an item may be removed (SPEC §12).
    teams = make_claim(
        partner_a,
        m365_tenant,
        [products["microsoft-teams"], products["yammer"]],
        name="Alpha teams rollout",
        status=Claim.Status.ACTION_REQUIRED,
        response_deadline=datetime.datetime(2027, 1, 6, tzinfo=datetime.UTC),
    )

    def text():
        return Claim.objects.values_list("search_text", flat=True).get(pk=teams.pk)

    assert text() == (
        f"{teams.number.lower()} alpha teams rollout northwindtraders.onmicrosoft.com "
        "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d northwind traders 1000001 microsoft teams yammer"
    )
    ClaimItem.objects.filter(claim=teams, product=products["yammer"]).delete()
    assert "yammer" not in text()
    m365_tenant.name = "Northwind Holdings"
    m365_tenant.save()
    assert "northwind holdings" in text()
    products["microsoft-teams"].name = "Microsoft Teams Premium"
    products["microsoft-teams"].save()
    assert "microsoft teams premium" in text()
    location = partner_a.locations[0]
    location.mpn_id = "1000009"
    location.save()
    assert "1000009" in text()


@pytest.mark.parametrize("fuzzy", [False, True], ids=["words", "close"])
def test_list_search_reads_the_trigram_index(claims, partner_a, fuzzy):
    """Both kinds of search are conditions the trigram index answers: with sequential scans priced out (at a few
    rows the planner rightly prefers them), PostgreSQL reads the condition from claim_search_trgm. (On the list it
    is ANDed with the partner and the sort: the planner then weighs that index against the sort's.)"""
    condition = selectors.claim_search_filter("Yamer" if fuzzy else "yammer words", fuzzy=fuzzy)
    sql, params = Claim.objects.filter(condition).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "claim_search_trgm" in plan, plan


@pytest.mark.parametrize(
    "text",
    [
        "ca-000123 rollout 00716 bench-customer-716.example 9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d 1000001 365",
        "claim 0 and 000 and 0100 and 10 x90x 7",
    ],
)
def test_list_search_numbers_are_the_same_in_python_and_in_the_index(text):
    """The plan counts a number's claims in the sample as the index holds them (search_plan.NUMBERS_SPLIT)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT regexp_split_to_array(%s, %s)", [text, search_plan.NUMBERS_SPLIT])
        indexed = set(cursor.fetchone()[0]) - {""}
    assert search_plan._numbers(text) == indexed


def test_list_search_whole_numbers_read_their_own_index(claims):
    """The condition of a whole number is the expression of migration 0022's index, as the planner matches it."""
    sql, params = Claim.objects.filter(search_plan.number_whole("0739997")).values("pk").query.sql_with_params()
    assert params == ("739997",)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "claim_search_numbers" in plan, plan


def test_list_search_query_count_stays_flat_with_the_close_matches(client_a, partner_a, m365_tenant, products):
    def queries(text):
        client_a.get(URL, {"q": text})
        with CaptureQueriesContext(connection) as captured:
            assert client_a.get(URL, {"q": text}).status_code == 200
        return len(captured)

    make_claim(partner_a, m365_tenant, [products["yammer"]], name="Rollout 1")
    few = queries("Rolout"), queries("rollout")
    for number in range(40):
        make_claim(partner_a, m365_tenant, [products["yammer"]], name=f"Rollout {number + 2}")
    assert (queries("Rolout"), queries("rollout")) == few
    assert max(few) <= 12
