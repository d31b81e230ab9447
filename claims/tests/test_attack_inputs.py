"""Every input (SPEC §14, issue #8): NUL and other control characters, and 100,000-character values, in every query
parameter of every page and every field of every form. Never a 500; the page says what was wrong: the middleware's
page for a control character (cpor.middleware), the field's own message where the partner types."""

import time
import uuid

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from associations.tests.fixtures import make_user, reviewer_login
from claims.models import ClaimStatus, PendingUpload
from claims.services import claim_request_information
from claims.tests.attack import body, routes
from claims.tests.factories import claim_make, claim_make_official
from claims.tests.wizard_steps import (
    BIZAPPS_CONTACTS,
    BIZAPPS_CUSTOMER,
    CONTACTS,
    M365_CUSTOMER,
    PREFIX,
    TECHNICAL,
    pdf_file,
    start,
    step_data,
    upload,
)
from claims.tokens import opt_out_token_make

REFUSED = "Your request contained characters we cannot accept"
SEARCH_REFUSED = "Search for at most 10 words and 200 characters."
NUL, VT = "a\x00b", "a\x0bb"
LONG, DIGITS = "x" * 100_000, "9" * 100_000
# Within the middleware's limit on query strings (4,096 characters): what the views themselves must cope with.
LONGEST, LONGEST_DIGITS = "x" * 4_000, "9" * 4_000
TOO_LONG = "The address of this page is too long (more than 4,096 characters in its query)."
QUERY_VALUES = [NUL, LONG, LONGEST, LONGEST_DIGITS]


def _refused(response, where):
    text = body(response)
    return response.status_code == 400 and REFUSED in text and where in text


# --- the middleware's page, where it says what was wrong -----------------------------------------------------


def test_inputs_list_search_with_nul_is_refused_with_a_message(client_a):
    response = client_a.get(reverse("claims:list"), {"q": NUL})
    assert _refused(response, "the address (parameter “q”)")
    page = response.content.decode()
    assert "<h1>Characters we cannot accept</h1>" in page
    assert "Contoso Partners" in page  # the signed-in layout, navigation included


def test_inputs_list_export_with_nul_is_refused_before_streaming(client_a, partner_a, m365_tenant, products):
    claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], name="Northwind")
    response = client_a.get(reverse("claims:list"), {"q": NUL, "format": "csv"})
    assert not response.streaming
    assert _refused(response, "parameter “q”")
    for name in ("status", "sort", "page"):
        assert _refused(client_a.get(reverse("claims:list"), {name: "\x01"}), f"parameter “{name}”"), name
    # A clean export streams every row to the end.
    lines = body(client_a.get(reverse("claims:list"), {"q": "North", "format": "csv"})).splitlines()
    assert len(lines) == 2 and lines[1].startswith("Northwind,")


def test_inputs_address_and_field_names_with_control_characters_are_refused(client_a):
    assert _refused(client_a.get("/customer/opt-out/a%00b/"), "the address")
    assert _refused(client_a.get(reverse("claims:list") + "?a%00b=1"), "a parameter name in the address")
    response = client_a.post(reverse("claims:create"), {"field\x00": "x"})
    assert _refused(response, "a form field name")


def test_inputs_admin_filter_with_nul_is_refused_with_a_message(client, reviewer):
    reviewer_login(client, reviewer)
    response = client.get(reverse("admin:claims_claim_changelist"), {"status__exact": NUL})
    assert _refused(response, "parameter “status__exact”")
    response = client.get(reverse("admin:claims_claim_changelist"), {"q": "\x1b[2J"})
    assert _refused(response, "parameter “q”")


def test_inputs_admin_long_search_is_refused_quickly_with_a_message(client, reviewer, partner_a, m365_tenant, products):
    claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], name="Northwind")
    reviewer_login(client, reviewer)
    # 100,000 characters never reach the admin: the query string is too long for any page.
    response = client.get(reverse("admin:claims_claim_changelist"), {"q": "a " * 50_000})
    assert response.status_code == 400 and TOO_LONG in response.content.decode()
    for query in ("a " * 2_000, "x" * 4_000, "a b c d e f g h i j k"):
        started = time.monotonic()
        response = client.get(reverse("admin:claims_claim_changelist"), {"q": query})
        assert time.monotonic() - started < 2
        assert response.status_code == 200
        assert "Search for at most 10 words and 200 characters." in response.content.decode()
    response = client.get(reverse("admin:claims_claim_changelist"), {"q": "North"})
    assert "Search for at most" not in response.content.decode() and "Northwind" in response.content.decode()


def test_inputs_wizard_field_with_nul_is_refused_and_too_long_is_said_at_the_field(client_a, m365_tenant):
    start(client_a)
    response = client_a.post(reverse("claims:create"), step_data("customer", {**M365_CUSTOMER, "domain": NUL}))
    assert _refused(response, "the form field “customer-domain”")
    response = client_a.post(reverse("claims:create"), step_data("customer", {**M365_CUSTOMER, "domain": LONG}))
    assert response.status_code == 200
    assert "Ensure this value has at most 253 characters (it has 100000)." in response.content.decode()


def test_inputs_login_with_nul_is_refused_and_too_long_is_said_at_the_field(client, db):
    response = client.post(reverse("login"), {"username": "admin@partner-a.example\x00", "password": "x"})
    assert _refused(response, "the form field “username”")
    response = client.post(reverse("login"), {"username": LONG, "password": "x"})
    assert response.status_code == 200
    assert "Ensure this value has at most 254 characters (it has 100000)." in response.content.decode()


def test_inputs_upload_xhr_gets_the_refusal_as_json_and_its_file_name_is_checked_by_the_uploader(client_a):
    start(client_a)
    xhr = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}
    response = client_a.post(reverse("claims:poe_upload"), {"file": pdf_file(), "note": NUL}, **xhr)
    assert response.status_code == 400
    assert response.json()["error"].startswith(REFUSED) and "“note”" in response.json()["error"]
    # The browser's file name is the upload code's to judge (claims.uploads.poe_display_name): control characters,
    # which no browser puts in a file name, are refused with its own message, and nothing is stored.
    named = {"file": pdf_file(), "name": "Signed\x00 SOW\x0b.pdf"}
    response = client_a.post(reverse("claims:poe_upload"), named, **xhr)
    assert response.status_code == 400
    assert "contains control characters, which a file name cannot have" in response.json()["error"]
    assert not PendingUpload.objects.exists()


def test_inputs_session_cookie_with_nul_is_dropped_not_a_500(client, partner_a):
    response = client.get(reverse("claims:list"), HTTP_COOKIE='sessionid="\\000abcdefgh"')
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- the partner's forms on the claim page: messages at the field, text kept ------------------------------------


@pytest.fixture
def waiting(partner_a, m365_tenant, products, reviewer):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_request_information(claim=claim, user=reviewer, reason="poe_insufficient", message="Add the signed SOW.")
    claim.refresh_from_db()
    return claim


def test_inputs_answer_comment_control_characters_and_length_are_said_at_the_field(client_a, waiting):
    url = reverse("claims:respond", args=[waiting.pk])
    cases = [
        (NUL, "Null characters are not allowed."),
        (VT, "Remove the invisible control character (U+000B) from this text"),
        (LONG, "Keep your comment under 5,000 characters."),
    ]
    for comment, message in cases:
        response = client_a.post(url, {"comment": comment})
        assert response.status_code == 400
        text = response.content.decode()
        assert message in text, message
        assert f">{comment}</textarea>" in text
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED


def test_inputs_disassociate_reason_control_characters_and_length_are_said_at_the_field(
    client_a, partner_a, m365_tenant, products
):
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["yammer"])
    url = reverse("claims:disassociate", args=[official.pk])
    for reason, message in [
        (NUL, "Null characters are not allowed."),
        ("\x7f", "Remove the invisible control character (U+007F) from this text"),
        (LONG, "Keep the reason under 1,000 characters."),
    ]:
        response = client_a.post(url, {"reason": reason})
        assert response.status_code == 400 and message in response.content.decode(), message
    # Other fields of these forms are the middleware's.
    assert _refused(client_a.post(url, {"reason": "Moved on", "x": NUL}), "the form field “x”")
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL


# --- the sweep: every query parameter of every page, every field of every form ----------------------------------


@pytest.fixture
def pages(partner_a, m365_tenant, products, reviewer, waiting):
    """{actor: [(url, query parameter names)]}: every page, with the parameters it reads and one it does not."""
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    notified = claim_make(
        partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status=ClaimStatus.CUSTOMER_NOTIFIED
    )
    document = waiting.documents.get()
    token = opt_out_token_make(submission_key=notified.submission_key, deadline=notified.opt_out_deadline)
    common = ["x", "q", "page", "next"]
    partner_pages = [
        (reverse("claims:list"), [*common, "status", "sort", "format"]),
        (reverse("claims:detail", args=[waiting.pk]), common),
        (reverse("claims:poe_download", args=[waiting.pk, document.pk]), common),
        (reverse("claims:usage", args=[official.pk]), common),
        (reverse("claims:usage_csv", args=[official.pk]), common),
        (reverse("claims:create"), common),
        (reverse("claims:poe_template"), common),
        (reverse("home"), common),
    ]
    visitor_pages = [
        (reverse("login"), common),
        (reverse("healthz"), common),
        (reverse("customer_opt_out", args=[token]), common),
        (reverse("admin:login"), common),
    ]
    admin_common = [*common, "o", "p", "all", "e", "_changelist_filters", "_popup", "_to_field"]
    admin_pages = [(reverse("admin:index"), common)]
    request = Client().request().wsgi_request
    request.user = reviewer
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        changelist = model_admin.get_changelist_instance(request)
        filters = [name for spec in changelist.filter_specs for name in spec.expected_parameters()]
        admin_pages.append((reverse("admin:{}_{}_changelist".format(*info)), admin_common + filters))
        if model_admin.has_add_permission(request):
            admin_pages.append((reverse("admin:{}_{}_add".format(*info)), common))
    for name in ("change", "history", "approve", "request_information", "reject"):
        admin_pages.append((reverse(f"admin:claims_claim_{name}", args=[waiting.pk]), admin_common))
    admin_pages.append((reverse("admin:claims_claim_poe", args=[waiting.pk, document.pk]), common))
    # Every other page without parameters (pages added later included), for both.
    listed = {url for url, _ in partner_pages + visitor_pages}
    others = [(route.template, common) for route in routes() if not route.params and not route.is_admin]
    others = [(url, parameters) for url, parameters in others if url not in listed]
    return {"partner": partner_pages + others, "visitor": visitor_pages + others, "reviewer": admin_pages}


def _clients(partner_a, reviewer):
    """A partner, a visitor, and for the admin pages a superuser with a verified TOTP device: every registered admin
    is swept (a reviewer sees a subset of them and gets 403 on the rest)."""
    partner, staff, visitor = (Client(raise_request_exception=False) for _ in range(3))
    partner.force_login(partner_a.admin)
    superuser = make_user("root@cpor.example", is_staff=True)
    superuser.is_superuser = True
    superuser.save(update_fields=["is_superuser"])
    reviewer_login(staff, superuser)
    return {"partner": partner, "reviewer": staff, "visitor": visitor}


@pytest.mark.slow
def test_inputs_sweep_every_query_parameter_of_every_page(pages, partner_a, reviewer):
    clients = _clients(partner_a, reviewer)
    changelists = {url for url, _ in pages["reviewer"] if url.endswith("/") and url.count("/") == 4}
    assert reverse("admin:claims_claim_changelist") in changelists and len(changelists) == len(admin.site._registry)
    problems = []
    for actor, entries in pages.items():
        for url, parameters in entries:
            for parameter in parameters:
                for value in QUERY_VALUES:
                    response = clients[actor].get(url, {parameter: value})
                    text = body(response)
                    where = f"{actor} GET {url}?{parameter}={value[:8]!r}… -> {response.status_code}"
                    refused = response.status_code == 400 and REFUSED in text and f"parameter “{parameter}”" in text
                    too_long = response.status_code == 400 and TOO_LONG in text
                    if response.status_code >= 500:
                        problems.append(where)
                    elif (value == NUL and not refused) or (value == LONG and not too_long):
                        problems.append(f"{where}: no refusal page")
                    elif value == LONGEST and parameter == "q" and url in changelists and SEARCH_REFUSED not in text:
                        problems.append(f"{where}: the admin searched for it")
    assert problems == []


def _walk_to_review(client, steps):
    """Post each (step, fields) in turn; every step must be accepted."""
    start(client)
    for step, fields in steps:
        if step == "poe":
            assert upload(client).status_code == 201
        response = client.post(reverse("claims:create"), step_data(step, fields))
        assert response.status_code == 200 and not response.context["form"].errors, (step, response.context["form"])


def _wizard_steps(products, bizapps_tenant):
    m365 = [
        ("customer", M365_CUSTOMER),
        ("activity", {"solution_area": "microsoft_365"}),
        ("associate", {"name": "Northwind M365"}),
        ("products", {"products": [str(products["microsoft-teams"].pk)]}),
        ("contacts", CONTACTS),
        ("poe", {}),
    ]
    sales = bizapps_tenant.sales_subscriptions[0]
    sales_fields = {"products": [str(products["d365-sales"].pk)], "subscription_d365-sales": str(sales.subscription_id)}
    revenue = [
        ("customer", BIZAPPS_CUSTOMER),
        ("activity", {"solution_area": "business_applications", "business_activity": "revenue_association"}),
        (
            "associate",
            {"name": "AW revenue", "dynamics_seller_name": "Seller", "customer_name": "AW", "isv_solution_name": "ISV"},
        ),
        ("products", sales_fields),
        ("contacts", {**BIZAPPS_CONTACTS, **TECHNICAL}),
        ("poe", {}),
    ]
    return {"microsoft 365": m365, "revenue association": revenue}


@pytest.mark.slow
def test_inputs_sweep_every_field_of_every_wizard_step(client_a, products, m365_tenant, bizapps_tenant):
    """Both wizard paths (their forms differ: revenue fields, subscriptions, the technical contact), every field
    of every step and the wizard's own fields. The review step is posted with a comment too long, so that no
    claim is ever submitted."""
    client_a.raise_request_exception = False
    url = reverse("claims:create")
    problems = []
    for path, steps in _wizard_steps(products, bizapps_tenant).items():
        _walk_to_review(client_a, steps)
        for step, fields in [*steps, ("review", {"comments": "x" * 4001})]:
            # "Back" to the step (from the review step) shows its form: its fields, the dynamic ones included.
            response = client_a.post(url, {**step_data(step, fields), "wizard_goto_step": step})
            assert response.context["wizard"]["steps"].current == step
            names = [f"{step}-{name}" for name in response.context["form"].fields]
            names += [f"{PREFIX}-current_step", "submission_key", "wizard_goto_step", "remove_upload", "x"]
            for name in names:
                for value in (NUL, VT, LONG):
                    response = client_a.post(url, {**step_data(step, fields), name: value})
                    where = f"{path} {step} {name}={value[:6]!r} -> {response.status_code}"
                    if response.status_code >= 500:
                        problems.append(where)
                    elif value in (NUL, VT) and not _refused(response, f"the form field “{name}”"):
                        problems.append(f"{where}: no refusal page")
                    elif value is LONG and name.startswith(f"{step}-") and response.status_code != 200:
                        problems.append(f"{where}: not the wizard's page")
    assert problems == []
    rows = client_a.get(reverse("claims:list")).context["rows"]
    assert {claim.status for claim, _ in rows} <= {"draft"}  # drafts of the walks (SPEC §12), nothing submitted


def test_inputs_sweep_every_field_of_the_other_forms(client, partner_a, reviewer, waiting, m365_tenant, products):
    """Sign-in (partner and admin), sign-out, the customer's opt-out page, the answer and disassociate forms, the
    reviewer's decisions and list actions, and every admin add form."""
    clients = _clients(partner_a, reviewer)
    notified = claim_make(
        partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status=ClaimStatus.CUSTOMER_NOTIFIED
    )
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    under_review = claim_make(partner_a, tenant=m365_tenant, products=[products["sharepoint-online"]])
    token = opt_out_token_make(submission_key=notified.submission_key, deadline=notified.opt_out_deadline)
    forms = [
        ("visitor", reverse("login"), {"username": "admin@partner-a.example", "password": "wrong", "next": "/"}),
        ("visitor", reverse("admin:login"), {"username": "reviewer@cpor.example", "password": "wrong", "next": "/"}),
        ("partner", reverse("claims:respond", args=[waiting.pk]), {"comment": "Here it is."}),
        ("partner", reverse("claims:disassociate", args=[official.pk]), {"reason": ""}),
        ("reviewer", reverse("admin:claims_claim_request_information", args=[under_review.pk]), {"reason": "other"}),
        ("reviewer", reverse("admin:claims_claim_reject", args=[under_review.pk]), {"reason": "", "message": ""}),
        (
            "reviewer",
            reverse("admin:claims_claim_changelist"),
            {"action": "reject_selected", "_selected_action": str(under_review.pk), "index": "0", "select_across": "0"},
        ),
        ("reviewer", reverse("admin:claims_claim_changelist"), {"action": "reject_selected", "apply": "1"}),
    ]
    request = Client().request().wsgi_request
    request.user = reviewer
    for model, model_admin in admin.site._registry.items():
        if model_admin.has_add_permission(request):
            info = model._meta.app_label, model._meta.model_name
            response = clients["reviewer"].get(reverse("admin:{}_{}_add".format(*info)))
            fields = dict.fromkeys(response.context["adminform"].form.fields, "")
            forms.append(("reviewer", reverse("admin:{}_{}_add".format(*info)), fields))
    problems = []
    for actor, url, fields in forms:
        for name in [*fields, "x"]:
            for value in (NUL, VT, LONG):
                response = clients[actor].post(url, {**fields, name: value})
                where = f"{actor} POST {url} {name}={value[:6]!r} -> {response.status_code}"
                field_message = {"comment", "reason"} & {name} and "/incentives/" in url
                if response.status_code >= 500:
                    problems.append(where)
                elif value in (NUL, VT) and not field_message and not _refused(response, f"the form field “{name}”"):
                    problems.append(f"{where}: no refusal page")
    # The customer's page: nothing posted with it is read, but a control character is still refused (and nothing
    # happens); sign-out last, since it signs out.
    response = clients["visitor"].post(reverse("customer_opt_out", args=[token]), {"x": NUL})
    assert _refused(response, "the form field “x”")
    assert _refused(clients["partner"].post(reverse("logout"), {"next": NUL}), "the form field “next”")
    assert problems == []
    notified.refresh_from_db()
    assert notified.status == ClaimStatus.CUSTOMER_NOTIFIED


def test_inputs_long_ids_and_tokens_in_the_address_are_not_found(client_a):
    for url in (
        f"/incentives/customer-associations/{'9' * 100_000}/",
        f"/incentives/customer-associations/{2**63}/documents/1/",
        f"/incentives/customer-associations/new/uploads/{uuid.uuid4()}{'a' * 1000}/delete/",
        f"/customer/opt-out/{'a' * 100_000}/",
        "/incentives/customer-associations/%00/",
    ):
        assert client_a.get(url).status_code == 404, url[:80]
    assert client_a.get(reverse("claims:list"), {"page": LONGEST_DIGITS}).status_code == 200
    assert client_a.get(reverse("claims:list"), {"page": LONGEST_DIGITS, "q": "x"}).status_code == 200
    response = client_a.get(reverse("claims:list"), {"page": DIGITS})
    assert response.status_code == 400 and TOO_LONG in response.content.decode()
