"""The access sweep (issue #8): every URL pattern of the project, the admin's included, filled with partner B's
real ids in every id form, requested by partner A (incentives admin and incentives user) and by a visitor with GET,
HEAD and POST. No answer is a 500, none carries B's data, and an URL of B's ids answers 404 (403 or 405 where the
role or the method is wrong, 302 to a sign-in page where sign-in is needed). The one page that answers anyone is
the customer's opt-out page for a genuine link: the link itself is the customer's key (SPEC §7)."""

from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse

from claims.models import ClaimStatus, PendingUpload
from claims.tests.attack import B_MARKERS, b_world, body, route_values, routes
from claims.tests.factories import claim_make
from claims.tests.wizard_steps import M365_CUSTOMER, PREFIX, start, step_data


def _sign_in_paths():
    return {resolve_url(settings.LOGIN_URL), reverse("admin:login")}


# What partner A posts everywhere: B's ids where a form takes an id, text where it takes text.
POST_DATA = "comment=A+was+here&reason=A+was+here&submission_key={key}&remove_upload={upload}&action=approve_selected"


@pytest.fixture
def world(partner_a, partner_b, products, m365_tenant):
    world = b_world(partner_b, products)
    world.own_claim_id = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]]).pk
    return world


def _sweep(client, world, *, relogin=None):
    """Request every route with every id form, GET, HEAD and POST; return [(route, url, method, response, text)]."""
    key = world.claims[ClaimStatus.CUSTOMER_NOTIFIED].submission_key
    post = POST_DATA.format(key=key, upload=world.pending.pk)
    answers = []
    for route in routes():
        for n, values in enumerate(route_values(route, world)):
            url = route.url(values)
            for method in ("get", "head", "post"):
                if route.name == "customer_opt_out" and n == 0 and method == "post":
                    # The genuine link's POST is the customer opting out: anyone holding the link may (SPEC §7).
                    continue
                if method == "post":
                    response = client.post(url, post, content_type="application/x-www-form-urlencoded")
                else:
                    response = getattr(client, method)(url)
                answers.append((route, n, url, method.upper(), response, body(response)))
                if relogin and method == "post" and "_auth_user_id" not in client.session:
                    relogin()  # that was a sign-out
    return answers


def _problems(answers):
    problems = []
    for route, n, url, method, response, text in answers:
        status = response.status_code
        where = f"{method} {url[:120]} ({route.name}) -> {status}"
        genuine_link = route.name == "customer_opt_out" and n == 0
        # Another signed link's page (a password reset's) answers anyone with its "this link is not valid" page.
        link_page = "token" in route.params and route.name != "customer_opt_out"
        if status >= 500:
            problems.append(f"{where}: server error")
        if not genuine_link and any(marker in text for marker in B_MARKERS):
            problems.append(f"{where}: partner B's data in the answer")
        if link_page and status in (200, 302, 404):
            continue
        if route.template.startswith("/api/v1/") and status == 401:
            continue  # the partner API takes keys, never a session: without one, 401 (and never a redirect)
        if status in (301, 302, 303, 307, 308):
            location = urlparse(response["Location"])
            if route.params and location.path not in _sign_in_paths():
                problems.append(f"{where}: redirected to {response['Location'][:120]}, not to sign in")
        elif route.params and not genuine_link and status not in (403, 404, 405):
            problems.append(f"{where}: expected 404 (403/405)")
    return problems


@pytest.mark.slow
def test_access_sweep_partner_a_admin_reaches_none_of_partner_bs_urls(world, partner_a):
    client = Client(raise_request_exception=False)
    client.force_login(partner_a.admin)
    before = world.snapshot()

    answers = _sweep(client, world, relogin=lambda: client.force_login(partner_a.admin))

    assert _problems(answers) == []
    assert world.snapshot() == before
    # The sweep reached every pattern, the admin's and the wizard's uploads included, and B's ids were real.
    names = {route.name for route, *_ in answers}
    assert {"claims:detail", "claims:poe_download", "claims:respond", "claims:poe_upload_delete"} <= names
    assert {"admin:claims_claim_change", "admin:claims_claim_poe", "admin:auth_user_password_change"} <= names
    statuses = {(route.name, method, response.status_code) for route, n, _, method, response, _ in answers if n == 0}
    assert ("claims:detail", "GET", 404) in statuses
    assert ("claims:poe_download", "GET", 404) in statuses
    own_claim = f"/customer-associations/{world.own_claim_id}/documents/"
    own_with_b_document = [(method, answer.status_code) for _, _, url, method, answer, _ in answers if own_claim in url]
    assert own_with_b_document == [("GET", 404), ("HEAD", 404), ("POST", 405)]
    assert ("claims:respond", "POST", 404) in statuses
    assert ("claims:disassociate", "POST", 404) in statuses
    assert ("claims:usage_csv", "GET", 404) in statuses
    assert ("claims:poe_upload_delete", "POST", 404) in statuses
    assert ("customer_opt_out", "GET", 200) in statuses
    assert ("admin:claims_claim_change", "GET", 302) in statuses


@pytest.mark.slow
def test_access_sweep_partner_a_viewer_reaches_none_of_partner_bs_urls(world, partner_a):
    client = Client(raise_request_exception=False)
    client.force_login(partner_a.viewer)
    before = world.snapshot()

    answers = _sweep(client, world, relogin=lambda: client.force_login(partner_a.viewer))

    assert _problems(answers) == []
    assert world.snapshot() == before
    statuses = {(route.name, method, response.status_code) for route, n, _, method, response, _ in answers if n == 0}
    assert ("claims:respond", "POST", 403) in statuses
    assert ("claims:detail", "GET", 404) in statuses


@pytest.mark.slow
def test_access_sweep_visitor_is_sent_to_sign_in(world):
    client = Client(raise_request_exception=False)
    before = world.snapshot()

    answers = _sweep(client, world)

    assert _problems(answers) == []
    assert world.snapshot() == before
    for route, _n, url, _method, response, _text in answers:
        # Signed links (the customer's, a password reset's) answer visitors; every other URL of B's ids sends them
        # to sign in.
        if route.params and "token" not in route.params and response.status_code not in (404, 405):
            if route.template.startswith("/api/v1/"):
                assert response.status_code == 401, url  # the API: problem details, no sign-in page
                continue
            assert response.status_code == 302 and urlparse(response["Location"]).path in _sign_in_paths(), url


def test_access_list_search_and_export_never_find_partner_bs_claims(world, client_a):
    b_claim = world.claims["official"]
    # The page repeats the search in its box: B's data is B's claim names and B's partner name.
    names = [claim.name for claim in world.claims.values()] + ["Fabrikam"]
    for query in ("BSECRET", str(b_claim.directory_id), b_claim.domain, "bsecret-customer"):
        for extra in ({}, {"format": "csv"}, {"status": ClaimStatus.OFFICIAL}):
            response = client_a.get(reverse("claims:list"), {"q": query, **extra})
            assert response.status_code == 200
            text = body(response)
            assert not any(name in text for name in names), (query, extra)


def test_access_wizard_steps_never_reach_partner_bs_data(world, client_a, partner_b, m365_tenant):
    """Every wizard step posted with B's ids: B's location, B's submission key, B's upload in progress."""
    start(client_a)
    url = reverse("claims:create")
    b_claim = world.claims[ClaimStatus.CUSTOMER_NOTIFIED]

    # B's MPN ID is not one of A's locations.
    response = client_a.post(url, step_data("customer", {**M365_CUSTOMER, "location": partner_b.location.mpn_id}))
    assert response.status_code == 200
    assert "This MPN ID is not one of your organization&#x27;s active locations." in response.content.decode()

    # B's submission key, on every step: never B's claim page, never "already submitted".
    for step in ("customer", "activity", "associate", "products", "contacts", "poe", "review"):
        data = {**step_data(step, {}), "submission_key": str(b_claim.submission_key)}
        response = client_a.post(url, data)
        assert response.status_code == 200, step
        text = response.content.decode()
        assert "already submitted" not in text and not any(marker in text for marker in B_MARKERS), step

    # Removing B's upload from A's POE step removes nothing.
    data = {f"{PREFIX}-current_step": "poe", "remove_upload": str(world.pending.pk)}
    assert client_a.post(url, data).status_code == 200
    assert client_a.post(reverse("claims:poe_upload_delete", args=[world.pending.pk])).status_code == 404
    assert PendingUpload.objects.filter(pk=world.pending.pk, partner=partner_b.partner).exists()
