"""The customer's page (SPEC §7): signed link, no login, GET shows, only POST acts, clear pages otherwise."""

import datetime
import re
import uuid

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.urls import reverse

from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification
from claims.tests.factories import claim_make
from claims.tokens import SALT, opt_out_token_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
DEADLINE = datetime.datetime(2026, 12, 3, 4, 59, 59, tzinfo=UTC)
BEFORE = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# Opting out of every product, confirmed (behaviour change, issue 17: an action, its products and a confirmation
# step; a bare POST acts on nothing).
OPT_OUT = {"action": "opt_out", "item": ["1", "2"], "confirm": "1"}


@pytest.fixture(autouse=True)
def _before_deadline():
    with time_machine.travel(BEFORE, tick=False):
        yield


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE,
    )


def _url(claim, *, key=None, deadline=None):
    token = opt_out_token_make(submission_key=key or claim.submission_key, deadline=deadline or claim.opt_out_deadline)
    return reverse("customer_opt_out", args=[token])


def test_optout_get_shows_the_request_and_changes_nothing(client, claim, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        response = client.get(_url(claim))

    assert response.status_code == 200
    page = response.content.decode()
    for text in ["Contoso Partners", "1000001", "Microsoft Teams", "Yammer", "Wednesday 2 December 2026, 23:59:59"]:
        assert text in page
    assert 'value="opt_out">Opt out</button>' in page
    assert 'method="post"' in page
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED
    assert not ClaimEvent.objects.exists()


def test_optout_post_opts_out_once(client, claim):
    response = client.post(_url(claim), OPT_OUT)

    assert response.status_code == 200
    assert "You opted out" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT
    # Each product opted out of by the customer (one row each), then the claim's move.
    assert list(ClaimEvent.objects.order_by("pk").values_list("actor", "action")) == [
        ("customer", "item_opted_out"),
        ("customer", "item_opted_out"),
        ("customer", "opted_out"),
    ]
    event = ClaimEvent.objects.get(action="opted_out")
    assert (event.actor, event.user, event.action, event.old_status, event.new_status) == (
        "customer",
        None,
        "opted_out",
        "customer_notified",
        "opted_out",
    )
    # (Besides the customer's notice the claim came with: claims.tests.factories.notices_make.)
    assert list(EmailNotification.objects.exclude(kind="customer_notified").values_list("claim_id", "kind")) == [
        (claim.pk, "opted_out")
    ]


def _without_csrf_token(content):
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)


def test_optout_second_post_is_a_no_op_with_the_same_page(client, claim):
    first = client.post(_url(claim), OPT_OUT)
    second = client.post(_url(claim), OPT_OUT)

    assert second.status_code == 200
    assert "You opted out" in second.content.decode()
    # The same page but for the language switch's CSRF token, masked anew in every response.
    assert _without_csrf_token(first.content) == _without_csrf_token(second.content)
    assert ClaimEvent.objects.count() == 3
    assert EmailNotification.objects.exclude(kind="customer_notified").count() == 1


def test_optout_get_after_opting_out_shows_the_result(client, claim):
    client.post(_url(claim), OPT_OUT)

    response = client.get(_url(claim))

    assert "You opted out" in response.content.decode()


def test_optout_needs_csrf_token(claim):
    strict = Client(enforce_csrf_checks=True)

    assert strict.post(_url(claim), OPT_OUT).status_code == 403
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED


def test_optout_form_post_with_csrf_token_works(claim):
    strict = Client(enforce_csrf_checks=True)
    strict.get(_url(claim))

    response = strict.post(_url(claim), {**OPT_OUT, "csrfmiddlewaretoken": strict.cookies["csrftoken"].value})

    assert response.status_code == 200
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT


def test_optout_wrong_method(client, claim):
    assert client.put(_url(claim)).status_code == 405


def test_optout_tampered_token_is_refused(client, claim):
    url = _url(claim)
    token = url.rstrip("/").rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")

    for method in (client.get, client.post):
        response = method(reverse("customer_opt_out", args=[tampered]))
        assert response.status_code == 404
        assert "This link is not valid" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED


def test_optout_garbage_token_is_refused(client, claim):
    response = client.post(reverse("customer_opt_out", args=["not-a-token"]))

    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()


def test_optout_token_signed_for_another_purpose_is_refused(client, claim):
    payload = {"k": claim.submission_key.hex, "e": int(DEADLINE.timestamp())}
    token = signing.dumps(payload)  # right payload, default salt

    assert client.post(reverse("customer_opt_out", args=[token])).status_code == 404
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED


def test_optout_other_claims_key_in_a_token_is_refused(client, claim, partner_a, m365_tenant, products):
    other = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["exchange-online"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE + datetime.timedelta(days=1),
    )
    # The other claim's key signed with this claim's deadline: not a link we ever sent.
    forged = _url(claim, key=other.submission_key, deadline=DEADLINE)
    # This claim's signed token with the key swapped for the other's: the signature no longer matches.
    token = _url(claim).rstrip("/").rsplit("/", 1)[1]
    value, signature = token.rsplit(":", 1)
    body = signing.b64_decode(value.split(":")[0].encode()).replace(
        claim.submission_key.hex.encode(), other.submission_key.hex.encode()
    )
    swapped = signing.b64_encode(body).decode() + value[value.index(":") :] + ":" + signature

    for url in (forged, reverse("customer_opt_out", args=[swapped])):
        assert client.post(url).status_code == 404
    assert set(Claim.objects.values_list("status", flat=True)) == {ClaimStatus.CUSTOMER_NOTIFIED}


def test_optout_unknown_claim_is_refused(client, claim):
    response = client.post(_url(claim, key=uuid.uuid4()))

    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()


def test_optout_link_past_the_deadline_says_so_and_changes_nothing(client, claim):
    # Behaviour change (issue 17): the link lives while the claim does (Decline later once it is official); past
    # the deadline, until the sweep makes it official, it says so and acts on nothing.
    url = _url(claim)

    with time_machine.travel(DEADLINE + datetime.timedelta(seconds=1), tick=False):
        get = client.get(url)
        post = client.post(url, OPT_OUT)

    assert (get.status_code, post.status_code) == (200, 409)
    for response in (get, post):
        assert "The time to answer this request has passed" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED


def test_optout_link_works_at_the_last_second(client, claim):
    url = _url(claim)

    with time_machine.travel(DEADLINE - datetime.timedelta(seconds=1), tick=False):
        response = client.post(url, OPT_OUT)

    assert response.status_code == 200
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT


def test_optout_claim_already_official_shows_closed_page(client, claim):
    # Moved behind the services' back, with the event PostgreSQL requires of every status change.
    Claim.objects.filter(pk=claim.pk).update(status=ClaimStatus.OFFICIAL)
    ClaimEvent.objects.create(
        claim=claim, actor="system", action="finalized", old_status="customer_notified", new_status="official"
    )

    get = client.get(_url(claim))
    post = client.post(_url(claim), OPT_OUT)

    # Official with no association (moved behind the services' back): nothing left for the customer to end.
    assert "This association has ended" in get.content.decode()
    assert 'value="opt_out"' not in get.content.decode()
    assert post.status_code == 409
    assert "This association has ended" in post.content.decode()
    assert list(ClaimEvent.objects.values_list("action", flat=True)) == ["finalized"]


def test_optout_token_holds_no_database_id_or_personal_data(claim):
    token = _url(claim).rstrip("/").rsplit("/", 1)[1]
    payload = signing.loads(token, salt=SALT)

    assert set(payload) == {"k", "e"}
    assert payload["k"] == claim.submission_key.hex
    assert str(claim.pk) not in token.split(":")[0] or len(str(claim.pk)) < 3
    assert "dana" not in token.lower()
