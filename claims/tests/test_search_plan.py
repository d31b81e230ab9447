"""The list's search planned from the table's statistics (claims.selectors.search_plan, issue 19): the same claims
found whatever the plan (an ordered walk of the partner's claims, or the trigram index reading the rarest piece),
and the plan each kind of search gets."""

import pytest
from django.urls import reverse

from associations.models import Partner
from claims import selectors
from claims.models import Claim
from claims.selectors import search_plan
from claims.tests.test_list_search import claims  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db
URL = reverse("claims:list")
# A sample in which every claim holds "bench", "customer", "example", "microsoft teams" and "4100001"; no claim
# holds anything the tests search for: every search is an index search.
UNRELATED = [
    f"ca-{n:06d} bench customer {n:05d} bench-customer-{n}.example dana 4100001 microsoft teams" for n in range(100)
]

SEARCHES = [
    ("alpha TEAMS", ["Alpha teams rollout"]),
    ("rollout alpha", ["Alpha teams rollout"]),
    ("Northwind Traders", ["Alpha teams rollout"]),
    ("Blue Yonder", ["Charlie sales"]),
    ("Yammer", ["Alpha teams rollout"]),
    ("Dynamics 365 Sales", ["Charlie sales"]),
    ("northwindtraders.onmicrosoft", ["Alpha teams rollout"]),
    ("2f4d-4c8a", ["Alpha teams rollout"]),
    ("9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d", ["Alpha teams rollout"]),
    ("a", ["Alpha teams rollout", "Charlie sales"]),  # no piece the index can look up: the walk
    # Close matches (a typo): the index reads the word (or an exact word's piece), the rest is checked on its rows.
    ("Yamer", ["Alpha teams rollout"]),
    ("Alpha rolout", ["Alpha teams rollout"]),
    ("Dynamcs 365", ["Charlie sales"]),
    ("adventure-wroks", ["Charlie sales"]),
]


def _sample(monkeypatch, values):
    monkeypatch.setattr(search_plan, "search_sample", lambda: values)


@pytest.fixture(params=["walk", "index"])
def planned(request, monkeypatch, claims):  # noqa: F811 (the fixture)
    """Every plan: a sample of the claims' own search texts (each search matches plenty: the walk), or of claims
    holding none of the words (the index)."""
    if request.param == "walk":
        _sample(monkeypatch, list(Claim.objects.values_list("search_text", flat=True)) * 50)
    else:
        _sample(monkeypatch, UNRELATED)
    return request.param


@pytest.mark.parametrize(("search", "expected"), SEARCHES)
def test_search_finds_the_same_claims_whatever_the_plan(client_a, planned, search, expected):
    response = client_a.get(URL, {"q": search})
    assert response.status_code == 200
    assert sorted(claim.name for claim, _ in response.context["rows"]) == expected


def _sql(search, *, fuzzy=False):
    partner = Partner.objects.first()
    found = selectors.claim_list(partner=partner, search=search, fuzzy=fuzzy).values("pk")
    sql, params = found.query.sql_with_params()
    return sql, [p for p in params if isinstance(p, str)]


def test_search_gives_the_index_its_rarest_piece_only(monkeypatch, claims):  # noqa: F811 (the fixture)
    _sample(monkeypatch, UNRELATED)
    sql, params = _sql("Bench customer 39997")
    assert sql.count("LIKE") == 1
    assert "%39997%" in params
    sql, params = _sql("bench-customer-39997.example")
    assert sql.count("LIKE") == 1 and "%39997%" in params
    # A typo's close matches: the number is exact and whole, its own index reads it (claim_search_numbers, not the
    # trigram index's substring); the close words are checked on its rows.
    sql, params = _sql("Bench custmer 39997", fuzzy=True)
    assert "LIKE" not in sql and "regexp_split_to_array" in sql and "@>" in sql and "39997" in params
    assert "<%" not in sql and "word_similarity" in sql


def test_search_gives_the_index_the_stretch_of_a_typo_that_nothing_holds(monkeypatch, claims):  # noqa: F811
    """The first, exact, search of a typo: "custmer" holds "stme", which no claim of the sample holds, where the
    number's trigrams are in claim numbers ("ca-139997"): the index reads that stretch's trigrams only, not those
    of "cus" and "mer" that every claim holds, nor the number's."""
    _sample(monkeypatch, UNRELATED + [f"ca-{n}39997 claim {n}39997" for n in range(1, 10)])
    sql, params = _sql("Bench custmer 39997")
    assert sql.count("LIKE") == 1 and "%stme%" in params
    # A word without such a stretch is read whole (the sample holds each trigram of "customer").
    sql, params = _sql("Bench customer 39997")
    assert sql.count("LIKE") == 1 and "%39997%" in params


def test_search_that_most_claims_match_walks_the_partners_claims_in_order(monkeypatch, claims):  # noqa: F811
    _sample(monkeypatch, UNRELATED)
    for search in ("Microsoft Teams", "4100001"):
        sql, _ = _sql(search)
        assert "LIKE" not in sql and "STRPOS" in sql.upper(), search


def test_search_without_statistics_is_every_word_for_the_index(monkeypatch, claims):  # noqa: F811 (the fixture)
    _sample(monkeypatch, [])
    sql, _ = _sql("Bench customer 39997")
    assert sql.count("LIKE") == 3
    assert selectors.claim_search_filter("Bench customer", planned=True) == selectors.claim_search_filter(
        "Bench customer"
    )


def test_search_sample_is_read_as_the_app_role_once_in_a_while(claims, django_assert_num_queries):  # noqa: F811
    """pg_stats shows the app role the statistics of the columns it may read (no ANALYZE as that role: the table's
    owner or autovacuum makes them); the sample is read once per SAMPLE_SECONDS, not on every search."""
    search_plan.search_sample_forget()
    with django_assert_num_queries(1):
        sample = search_plan.search_sample()
    assert isinstance(sample, list)
    with django_assert_num_queries(0):
        assert search_plan.search_sample() == sample
    search_plan.search_sample_forget()


def test_search_of_the_reviewers_queue_is_planned_as_the_lists(monkeypatch, claims, reviewer_client):  # noqa: F811
    """The queue's search (claims.admin.queue) finds what the list's finds, with the trigram index given only the
    rarest piece: unplanned, "Bench customer 39999" read every claim holding "bench" at 2,000,000 claims (1.6 s)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _sample(monkeypatch, UNRELATED)
    queue = reverse("admin:claims_claim_changelist")
    with CaptureQueriesContext(connection) as captured:
        response = reviewer_client.get(queue, {"q": "Northwind Traders", "queue": "all"})
    # Every partner's claims: the reviewer's queue is not one partner's list.
    assert sorted(claim.name for claim in response.context["cl"].result_list) == [
        "Alpha teams rollout",
        "Alpha teams rollout (Fabrikam)",
    ]
    searched = [q["sql"] for q in captured.captured_queries if "search_text" in q["sql"]]
    assert searched and all(sql.count("LIKE") == 1 for sql in searched)
