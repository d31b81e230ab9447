"""No English left where a partner or a customer reads Traditional Chinese, and Taiwan's typography (SPEC §15).

Every form of the partner's side and of the customer's page is posted wrong in zh-TW and its errors read; every
partner page, the visitor's pages, the error pages, every email and the POE template are rendered in zh-Hant. Each
text is checked by two heuristics:

- ``english_runs`` (cpor.i18n_scan): a run of two or more English words is English left untranslated. Names are
  not sentences: product and brand names (the allowlist in i18n_scan: the catalog's products, Microsoft 365,
  Dynamics 365, Business Applications, Microsoft Entra...) and the test's own data (ALLOW: companies, people,
  titles) are taken out first, as are addresses, file names, GUIDs, dates and codes.
- ``typography_problems``: a space after full-width punctuation (「狀態： 已拒絕」), a space between two Chinese
  characters (「只提供 使用量」), half-width punctuation or parentheses against Chinese (「狀態:」, 「執行證明 (PoE)」),
  and a list joined with ", " between Chinese items.
"""

# ruff: noqa: RUF001, RUF002, RUF003 (Chinese punctuation is what this module checks)

import datetime
import io
import re
from html.parser import HTMLParser

import polib
import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from docx import Document

from associations.models import Association, UsageRecord, UserPreference
from associations.tests.fixtures import make_tenant, make_user
from claims import account_emails, emails
from claims.models import ClaimEvent, ClaimStatus
from claims.services import claim_request_information
from claims.services.customer import customer_approve, customer_decline, customer_opt_out
from claims.tests.factories import claim_make, claim_make_official
from claims.tests.wizard_steps import (
    BIZAPPS_CONTACTS,
    BIZAPPS_CUSTOMER,
    EXE,
    M365_CUSTOMER,
    TECHNICAL,
    start,
    upload,
    wizard_url,
)
from claims.tokens import opt_out_token_make
from claims.uploads import poe_template_docx
from cpor.i18n_scan import english_runs

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-TW"}
UTC = datetime.UTC
# The tests' own data, shown as typed: companies, people, titles, claim names.
ALLOW = [
    "Contoso Partners",
    "Fabrikam Consulting",
    "Northwind Traders",
    "Adventure Works",
    "Taipei Trading",
    "Dana Customer",
    "IT director",
    "Pat Partner",
    "Toni Tech",
    "CRM lead",
    "Nancy Davolio",
    "Tom Tech",
    "IT lead",
    "Northwind M365",
    "Call us",
]

# Spans the stylesheet shows as blocks (a line of their own).
BLOCK_CLASSES = {"due-waiting"}
BLOCK = {
    "address", "article", "blockquote", "br", "button", "caption", "dd", "details", "div", "dl", "dt", "fieldset",
    "figcaption", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "label", "legend", "li",
    "main", "nav", "ol", "option", "p", "section", "select", "summary", "table", "tbody", "td", "textarea", "th",
    "thead", "title", "tr", "ul",
}  # fmt: skip
ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}


class _Flow(HTMLParser):
    """The text a reader sees, as the browser lays it out: inline elements run together (whitespace collapsed to one
    space, as HTML does), block elements on lines of their own; user-facing attributes on lines of their own.
    Scripts, styles and hidden inputs are not text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        attributes = dict(attrs)
        if tag in BLOCK or BLOCK_CLASSES & set((attributes.get("class") or "").split()):
            self.parts.append("\n")
        for name, value in attrs:
            visible = name in ATTRIBUTES or (
                name == "value" and tag == "input" and attributes.get("type") in ("submit", "button")
            )
            if visible and value:
                self.parts.append(f"\n{value}\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        if tag in BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def page_text(html):
    """The lines of text of an HTML page (or fragment) as a reader sees them."""
    flow = _Flow()
    flow.feed(html)
    flow.close()
    lines = "".join(flow.parts).split("\n")
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


CJK = "\u3400-\u9fff"
FULL_WIDTH = "、，。：；？！（）「」『』…"
TYPOGRAPHY = [
    # (before a count or a separator it sets apart: 「已拒絕（最終） 1」, 「執行證明（PoE） · 2026-…」)
    (re.compile(f"[{FULL_WIDTH}] (?=[^\\s\\d·→—])"), "a space after full-width punctuation"),
    (re.compile("(?<=\\S) [，。：；？！）」]"), "a space before full-width punctuation"),
    (re.compile(f"[{CJK}] [{CJK}]"), "a space between two Chinese characters"),
    (re.compile(f"[{CJK}][:;,.!?](?:\\s|$)"), "half-width punctuation after Chinese"),
    (re.compile(f"[{CJK}] ?\\((?!s\\))|\\) ?[{CJK}]"), "half-width parentheses around Chinese"),
]
# Django's own format for a day with its weekday ('Y年n月j日 l'): a space Taiwan writes too.
WEEKDAY = re.compile("日 (?=星期)")
# A customer's deadline names its zone after the time ("23:59:59 CST (Asia/Taipei)"): how a time zone is named is
# the times' business (SPEC §15 "Times"), not this check's.
ZONE = re.compile(r" \([A-Z][A-Za-z_]+/[A-Za-z_/]+\)")


def typography_problems(text):
    """Where ``text`` (Chinese) breaks Taiwan's typography: [(what, the place)]."""
    text = ZONE.sub("", WEEKDAY.sub("日", text))
    problems = []
    for pattern, what in TYPOGRAPHY:
        for match in pattern.finditer(text):
            problems.append((what, text[max(0, match.start() - 12) : match.end() + 12]))
    return problems


def problems(text, allow=()):
    """English runs and typography problems of one Chinese text."""
    return [("English", run) for run in english_runs(text, [*ALLOW, *allow])] + typography_problems(text)


class Reader:
    """Collects what each rendered text gets wrong, so that one run names every page and form at once."""

    def __init__(self):
        self.found = {}
        self.read = []

    def html(self, name, html, allow=()):
        assert '<html lang="zh-Hant">' in html or "<html" not in html, f"{name} is not in zh-Hant"
        self.text(name, page_text(html), allow)

    def response(self, name, response, allow=(), *, server_error=False):
        assert (response.status_code >= 500) == server_error, f"{name}: {response.status_code}"
        self.html(name, response.content.decode(), allow)

    def report(self):
        return "\n".join(f"{name}: {what}: {where!r}" for name, found in self.found.items() for what, where in found)

    def text(self, name, text, allow=()):
        self.read.append(name)
        found = problems(text, allow)
        if found:
            self.found[name] = found


@pytest.fixture
def reader():
    return Reader()


@pytest.fixture(autouse=True)
def _english_after():
    """The test client runs requests in this thread: a zh-TW request's language would outlive the test."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


# (a) The heuristics themselves: they find what the testers found, and leave names and codes alone.


def test_i18n_chinese_heuristics_find_english_and_broken_typography():
    assert english_runs("Dynamics 365 Sales has several subscriptions on this tenant: select one.") == [
        "has several subscriptions on this tenant",
        "select one",
    ]
    assert english_runs("Enter the customer's contact name.") == ["Enter the customer's contact name"]
    assert english_runs(
        "An address at northwindtraders.example or another of the customer's domains, or a subdomain of one"
    ) == ["An address at", "or another of the customer's domains", "or a subdomain of one"]
    named = "Dynamics 365 Sales、Power BI Pro 可宣告 · Contoso Partners · nancy@contoso.example · proof-2026.pdf"
    assert english_runs(named, ["Contoso Partners"]) == []
    assert english_runs("9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d · 2026-12-07 23:59 CST · MPN 識別碼 1000001") == []

    assert [what for what, _ in typography_problems("狀態： 已拒絕")] == ["a space after full-width punctuation"]
    assert [what for what, _ in typography_problems("Microsoft 365 只提供 使用量。")] == [
        "a space between two Chinese characters"
    ]
    assert [what for what, _ in typography_problems("更多執行證明 (選用)")] == ["half-width parentheses around Chinese"]
    assert [what for what, _ in typography_problems("狀態:已拒絕")] == []  # no space after: still caught below
    assert typography_problems("狀態: 已拒絕")[0][0] == "half-width punctuation after Chinese"
    assert typography_problems("2026年12月7日 星期一 23:59 · 執行證明（PoE） · Exchange Online、Yammer") == []
    assert page_text("<p>狀態：\n <span>已拒絕</span></p><p>下一行</p>").split("\n") == [
        "狀態： 已拒絕",
        "下一行",
    ]


# (b) Every form's errors in zh-TW.


def _wizard_step(client, step, fields, **extra):
    data = {"claim_wizard-current_step": step, **{f"{step}-{k}": v for k, v in fields.items()}, **extra}
    return client.post(wizard_url(), data, **ZH)


def _current(response):
    return response.context["wizard"]["steps"].current


def test_i18n_chinese_wizard_steps_and_their_errors(
    client_a, partner_a, partner_b, m365_tenant, bizapps_tenant, products, reader
):
    """The wizard's seven steps, each shown and each posted wrong in every way its form refuses."""
    client = client_a
    reader.response("customer", client.get(wizard_url(), **ZH))
    start(client)
    customer_cases = {
        "customer: empty": {},
        "customer: not a GUID, not a domain": {**M365_CUSTOMER, "directory_id": "northwind", "domain": "not a domain"},
        "customer: unknown Directory ID": {**M365_CUSTOMER, "directory_id": "9a3c6b1e-2f4d-4c8a-9e7b-000000000000"},
        "customer: Directory ID of another domain": {**M365_CUSTOMER, "domain": "adventure-works.example"},
        "customer: another partner's MPN ID": {**M365_CUSTOMER, "location": "2000001"},
    }
    for name, fields in customer_cases.items():
        response = _wizard_step(client, "customer", fields)
        assert _current(response) == "customer" and response.context["form"].errors, name
        reader.response(name, response)
    response = _wizard_step(client, "customer", BIZAPPS_CUSTOMER)
    assert _current(response) == "activity"
    reader.response("activity", response)
    activity_cases = {
        "activity: empty": {},
        "activity: Business Applications without an activity": {"solution_area": "business_applications"},
        "activity: Revenue association with Usage": {
            "solution_area": "business_applications",
            "business_activity": "revenue_association",
            "usage": "on",
        },
        "activity: Usage and/or Pre-sales, neither": {
            "solution_area": "business_applications",
            "business_activity": "usage_pre_sales",
        },
        "activity: Microsoft 365 with Pre-sales": {
            "solution_area": "microsoft_365",
            "business_activity": "usage_pre_sales",
            "pre_sales": "on",
        },
    }
    for name, fields in activity_cases.items():
        response = _wizard_step(client, "activity", fields)
        assert _current(response) == "activity" and response.context["form"].errors, name
        reader.response(name, response)
    revenue = {"solution_area": "business_applications", "business_activity": "revenue_association"}
    response = _wizard_step(client, "activity", revenue)
    assert _current(response) == "associate"
    reader.response("associate (Revenue association)", response)
    for name, fields in {
        "associate: empty": {},
        "associate: two lines": {"name": "One\nTwo", "customer_name": "A\tB"},
        "associate: too long": {"name": "x" * 121},
    }.items():
        response = _wizard_step(client, "associate", fields)
        assert _current(response) == "associate" and response.context["form"].errors, name
        reader.response(name, response)
    # Back to Usage: the products step with its several subscriptions.
    _wizard_step(client, "associate", {}, wizard_goto_step="activity")
    usage = {"solution_area": "business_applications", "business_activity": "usage_pre_sales", "usage": "on"}
    assert _current(_wizard_step(client, "activity", usage)) == "associate"
    response = _wizard_step(client, "associate", {"name": "Northwind M365"})
    assert _current(response) == "products"
    reader.response("products", response)
    sales, field_service = products["d365-sales"], products["d365-field-service"]
    for name, fields in {
        "products: none": {},
        "products: Dynamics 365 Sales without its subscription": {"products": [str(sales.pk)]},
        "products: not on the tenant": {"products": [str(products["d365-finance"].pk)]},
        "products: not offered": {"products": ["999999"]},
        "products: a subscription of another tenant": {
            "products": [str(sales.pk)],
            "subscription_d365-sales": "00000000-0000-0000-0000-000000000000",
        },
    }.items():
        response = _wizard_step(client, "products", fields)
        assert _current(response) == "products" and response.context["form"].errors, name
        reader.response(name, response)
    response = _wizard_step(client, "products", {"products": [str(field_service.pk)]})
    assert _current(response) == "contacts"
    reader.response("contacts", response)
    for name, fields in {
        "contacts: empty": {},
        "contacts: not addresses": {
            **BIZAPPS_CONTACTS,
            **TECHNICAL,
            "customer_contact_email": "nancy",
            "technical_contact_email": "tom@",
            "partner_contact_email": "pat at partner",
        },
        "contacts: not at the customer's domains": {
            **BIZAPPS_CONTACTS,
            **TECHNICAL,
            "customer_contact_email": "nancy@elsewhere.example",
            "technical_contact_email": "tom@elsewhere.example",
        },
        "contacts: two lines": {**BIZAPPS_CONTACTS, **TECHNICAL, "customer_contact_name": "Nancy\nDavolio"},
    }.items():
        response = _wizard_step(client, "contacts", fields)
        assert _current(response) == "contacts" and response.context["form"].errors, name
        reader.response(name, response)
    response = _wizard_step(client, "contacts", {**BIZAPPS_CONTACTS, **TECHNICAL})
    assert _current(response) == "poe"
    reader.response("poe", response)
    response = _wizard_step(client, "poe", {})
    assert _current(response) == "poe" and response.context["form"].errors
    reader.response("poe: no file", response)
    refused = client.post(reverse("claims:poe_upload"), {"file": _file("setup.exe", EXE)}, **ZH)
    assert refused.status_code == 400
    reader.text("poe: a refused upload (JSON)", refused.json()["error"])
    assert upload(client).status_code == 201
    response = _wizard_step(client, "poe", {})
    assert _current(response) == "review"
    reader.response("review", response)
    response = _wizard_step(client, "review", {"comments": "x" * 4001})
    assert _current(response) == "review" and response.context["form"].errors
    reader.response("review: comments too long", response)

    assert len(reader.read) > 30
    assert not reader.found, reader.report()


def _file(name, content):
    return SimpleUploadedFile(name, content)


def test_i18n_chinese_claim_page_forms_and_their_errors(
    client_a, partner_a, m365_tenant, bizapps_tenant, products, reviewer, reader
):
    """The claim page's forms: the answer (and the notice's correction), the dispute, the protection and Disassociate,
    each posted wrong."""
    client = client_a
    waiting = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.UNDER_REVIEW,
    )
    claim_request_information(claim=waiting, user=reviewer, reason="poe_insufficient", message="Add the SOW.")
    respond = reverse("claims:respond", args=[waiting.pk])
    items = [str(pk) for pk in waiting.items.values_list("pk", flat=True)]
    for name, data in {
        "answer: empty": {},
        "answer: every product removed, addresses wrong": {
            "remove_items": items,
            "customer_contact_email": "dana@elsewhere.example",
            "partner_contact_email": "pat",
        },
        "answer: a contact emptied": {"comment": "Here.", "customer_contact_name": ""},
        "answer: a refused file": {"comment": "Here.", "files": [_file("setup.exe", EXE)]},
    }.items():
        response = client.post(respond, data, **ZH)
        assert response.status_code < 500 and response.context["answer_form"].errors, name
        reader.response(name, response, allow=["Add the SOW"])

    rejected = claim_make(partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status="rejected")
    dispute = reverse("claims:dispute", args=[rejected.pk])
    for name, data in {
        "dispute: empty": {},
        "dispute: too long, a refused file": {"justification": "x" * 5001, "files": [_file("a.exe", EXE)]},
    }.items():
        reader.response(name, client.post(dispute, data, **ZH))

    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["sharepoint-online"])
    protect = reverse("claims:protect", args=[official.pk])
    for name, data in {
        "protect: empty": {},
        "protect: a comment without a file": {"comment": "The new SOW."},
    }.items():
        reader.response(name, client.post(protect, data, **ZH), allow=["The new SOW"])
    reader.response(
        "disassociate: no reason", client.post(reverse("claims:disassociate", args=[official.pk]), {}, **ZH)
    )
    # A refusal said as a message on the page: the claim no longer allows the action.
    client.post(reverse("claims:disassociate", args=[rejected.pk]), {"reason": "x"}, **ZH)
    reader.response(
        "message: only an official association", client.get(reverse("claims:detail", args=[rejected.pk]), **ZH)
    )

    # The system's request after an undeliverable notice: the contacts, with the technical contact (Dynamics 365).
    bounced = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        status=ClaimStatus.ACTION_REQUIRED,
        domain="adventure-works.example",
        customer_contact_email="nancy@adventure-works.example",
    )
    ClaimEvent.objects.create(
        claim=bounced,
        actor="system",
        action="information_requested",
        reason="notice_undeliverable",
        message="550 5.1.1 unknown user",
        old_status="customer_notified",
        new_status="action_required",
    )
    response = client.post(
        reverse("claims:respond", args=[bounced.pk]),
        {"customer_contact_email": "nancy@adventure-works.example", "technical_contact_title": ""},
        **ZH,
    )
    assert response.context["answer_form"].errors
    reader.response("answer to an undeliverable notice", response, allow=["unknown user"])

    assert not reader.found, reader.report()


def test_i18n_chinese_visitor_forms_and_pages(client, partner_a, reader):
    """Sign-in, password reset (the request, the sent page, a bad link, the new password's errors, done)."""
    reader.response("sign in", client.get(reverse("login"), **ZH))
    reader.response("sign in: empty", client.post(reverse("login"), {}, **ZH))
    reader.response(
        "sign in: wrong password",
        client.post(reverse("login"), {"username": partner_a.admin.email, "password": "wrong"}, **ZH),
    )
    reader.response("password reset", client.get(reverse("password_reset"), **ZH))
    reader.response("password reset: not an address", client.post(reverse("password_reset"), {"email": "x"}, **ZH))
    reader.response("password reset: sent", client.get(reverse("password_reset_done"), **ZH))
    reader.response("password reset: bad link", client.get("/password-reset/x/y/", **ZH))
    user = partner_a.admin
    link = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    form_page = client.get(link, **ZH, follow=True)
    reader.response("password reset: new password", form_page)
    for name, data in {
        "new password: empty": {},
        "new password: too short, not the same": {"new_password1": "short", "new_password2": "other"},
        "new password: too common": {"new_password1": "password1234", "new_password2": "password1234"},
        "new password: like the address": {"new_password1": "admin@partner-a", "new_password2": "admin@partner-a"},
    }.items():
        response = client.post(form_page.redirect_chain[-1][0] if form_page.redirect_chain else link, data, **ZH)
        assert response.status_code == 200 and response.context["form"].errors, name
        reader.response(name, response)
    reader.response("password reset: done", client.get(reverse("password_reset_complete"), **ZH))

    assert not reader.found, reader.report()


# (c) Every partner page, the customer's page and the error pages in zh-TW.


@pytest.fixture
def claims(partner_a, m365_tenant, bizapps_tenant, products, reviewer):
    """A claim in each status the claim page shows, Business Applications ones included."""
    made = {
        status: claim_make(
            partner_a, tenant=m365_tenant, products=[products["microsoft-teams"], products["yammer"]], status=status
        )
        for status in ClaimStatus.values
        if status not in (ClaimStatus.DRAFT, ClaimStatus.OFFICIAL)
    }
    made["official"] = claim_make_official(partner_a, tenant=m365_tenant, product=products["exchange-online"])
    made["bizapps"] = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=bizapps_tenant.sales_subscriptions[:1],
        programs=("osu_bizapps", "osa_sell"),
        status=ClaimStatus.REJECTED,
        rejection_reasons=[
            "Toni Tech's email address toni@x.example must be at the customer's domain (x.example or a subdomain "
            "of one of its domains).",
            "Your company's contact name is missing.",
            "The proof of execution does not support the claim",
        ],
    )
    claim_request_information(
        claim=made[ClaimStatus.UNDER_REVIEW], user=reviewer, reason="contact_unverified", message="Who is Dana?"
    )
    UsageRecord.objects.create(
        tenant=m365_tenant,
        product=products["exchange-online"],
        month=datetime.date(2026, 10, 1),
        active_users=12,
        paid_units=20,
    )
    made["draft"] = claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=())
    return made


def test_i18n_chinese_partner_pages(client_a, claims, reader, settings):
    client = client_a
    reader.response("list", client.get(reverse("claims:list"), **ZH))
    reader.response("list: needs your action", client.get(reverse("claims:list") + "?status=needs_action", **ZH))
    reader.response("list: nothing matches", client.get(reverse("claims:list") + "?q=nothing", **ZH))
    reader.response("list: past the last page", client.get(reverse("claims:list") + "?page=9&after=x", **ZH))
    for name, claim in claims.items():
        if name == "draft":
            continue
        reader.response(
            f"claim: {name}", client.get(reverse("claims:detail", args=[claim.pk]), **ZH), allow=["Who is Dana"]
        )
    official = claims["official"]
    reader.response("usage", client.get(reverse("claims:usage", args=[official.pk]), **ZH))
    reader.response("usage: ended", client.get(reverse("claims:usage", args=[claims[ClaimStatus.ENDED].pk]), **ZH))
    reader.response("draft: delete", client.get(reverse("claims:draft_delete", args=[claims["draft"].pk]), **ZH))
    response = client.post(reverse("claims:copy", args=[claims[ClaimStatus.REJECTED_FINAL].pk]), **ZH, follow=True)
    reader.response("copy: the wizard with its message", response)
    copy = response.context["form"]
    assert response.status_code == 200 and copy is not None

    settings.DRAFTS_MAX_OPEN = 1  # the draft above is the one a person may keep: the limit's page
    limited = client.get(wizard_url(), **ZH)
    assert limited.status_code == 409
    reader.response("drafts: too many open", limited)

    assert len(reader.read) >= 18
    assert not reader.found, reader.report()


@override_settings(DEBUG=False, ROOT_URLCONF="claims.tests.error_urls")
def test_i18n_chinese_error_pages(partner_a, reader):
    visitor = Client(raise_request_exception=False)
    for path in ("/does-not-exist", "/test-errors/500", "/test-errors/400", "/test-errors/403", "/login/?next=%00"):
        reader.response(path, visitor.get(path, **ZH), server_error=path.endswith("500"))
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(partner_a.admin)
    reader.response("csrf", csrf.post(reverse("logout"), **ZH))
    # Pages of states hard to reach from a test client (a body too large, rate limits), from their templates.
    request = RequestFactory().get("/")
    with translation.override("zh-hant"):
        for template, context in {
            "request_too_large.html": {"status": 413, "max_mb": 30, "poe_max_mb": 10, "poe_max_files": 5},
            "request_too_large.html (411)": {"status": 411},
            "registration/locked_out.html": {"minutes": 15, "client": True},
            "registration/locked_out.html (account)": {"minutes": 1},
            "registration/password_reset_limited.html": {"minutes": 60},
            "claims/optout_limited.html": {},
        }.items():
            reader.html(template, render_to_string(template.split(" ")[0], context, request=request))

    assert len(reader.read) == 12
    assert not reader.found, reader.report()


def test_i18n_chinese_customer_pages(partner_a, products, reader):
    """The customer's page in the tenant's language (Taiwan), in every state (issue 17): the request, an opt-out's
    confirmation, an error, after opting out of one product, after approving, official (Decline later), a decline's
    confirmation, after ending one, ended, opted out of everything, past the deadline, and a link that is not valid."""
    tenant = make_tenant(
        "Taipei Trading",
        domains=["taipeitrading.onmicrosoft.com"],
        country="TW",
        workloads=["microsoft-teams", "yammer", "exchange-online", "sharepoint-online", "onedrive-for-business"],
    )

    def link(codes, **fields):
        claim = claim_make(
            partner_a, tenant=tenant, products=[products[c] for c in codes], status="customer_notified", **fields
        )
        token = opt_out_token_make(submission_key=claim.submission_key, deadline=claim.opt_out_deadline)
        return reverse("customer_opt_out", args=[token])

    url = link(["microsoft-teams", "yammer"])
    customer = Client()
    reader.response("customer: the request", customer.get(url))
    reader.response("customer: opt-out confirm", customer.post(url, {"action": "opt_out", "item": ["2"]}))
    reader.response("customer: error", customer.post(url, {"action": "opt_out", "confirm": "1"}))
    reader.response(
        "customer: opted out of one", customer.post(url, {"action": "opt_out", "item": ["2"], "confirm": "1"})
    )
    reader.response("customer: approved", customer.post(url, {"action": "approve"}))
    reader.response("customer: official", customer.get(url))
    reader.response("customer: decline confirm", customer.post(url, {"action": "decline", "item": ["1"]}))
    reader.response(
        "customer: ended", customer.post(url, {"action": "decline", "item": ["1"], "confirm": "1", "reason": "好"})
    )
    both = link(["exchange-online", "sharepoint-online"])
    customer.post(both, {"action": "approve"})
    declined = customer.post(both, {"action": "decline", "item": ["2"], "confirm": "1"})
    reader.response("customer: ended one", declined)
    everything = link(["onedrive-for-business"])
    reader.response(
        "customer: opted out", customer.post(everything, {"action": "opt_out", "item": ["1"], "confirm": "1"})
    )
    past = datetime.datetime(2026, 1, 5, tzinfo=UTC)
    reader.response("customer: deadline passed", Client(**ZH).get(link(["yammer"], opt_out_deadline=past)))
    reader.response("customer: not a link", Client(**ZH).get("/customer/opt-out/not-a-token/"))

    assert not reader.found, reader.report()


# (d) Every email in zh-Hant; (e) the POE template.


def _zh_contact(claim):
    contact = make_user(claim.partner_contact_email)
    UserPreference.objects.create(user=contact, language="zh-hant")


def _read_email(reader, name, message, allow=()):
    assert message is not None, name
    reader.text(f"{name}: subject", message.subject, allow)
    reader.text(f"{name}: text", message.body, allow)
    reader.html(f"{name}: html", message.alternatives[0][0], allow)


def test_i18n_chinese_every_email(partner_a, m365_tenant, bizapps_tenant, products, reviewer, reader):
    m365_tenant.country = "TW"
    m365_tenant.save(update_fields=["country"])
    for user in (partner_a.admin, partner_a.viewer):  # the replaced email's and the password reset's readers
        UserPreference.objects.create(user=user, language="zh-hant")
    claims = {}
    for status in (
        "customer_notified",
        "action_required",
        "rejected",
        "rejected_final",
        "official",
        "opted_out",
        "ended",
    ):
        claims[status] = claim_make(
            partner_a,
            tenant=m365_tenant,
            products=[products["microsoft-teams"], products["yammer"]],
            status=status,
            rejection_reasons=["The proof of execution does not support the claim", "Call us."],
        )
    _zh_contact(claims["official"])
    notified = claims["customer_notified"]
    ClaimEvent.objects.create(
        claim=claims["ended"],
        actor="partner",
        action="disassociated",
        message="Moved in-house.",
        old_status="official",
        new_status="ended",
    )
    request = ClaimEvent.objects.create(
        claim=claims["action_required"],
        actor="reviewer",
        action="information_requested",
        reason="poe_insufficient",
        message="Add the SOW.",
        old_status="under_review",
        new_status="action_required",
    )
    bounced = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status="action_required")
    bounce = ClaimEvent.objects.create(
        claim=bounced,
        actor="system",
        action="information_requested",
        reason="notice_undeliverable",
        message="550 5.1.1 unknown user",
        old_status="customer_notified",
        new_status="action_required",
    )
    allow = ["Add the SOW", "Call us", "Moved in", "unknown user"]
    _read_email(reader, "customer_notified", emails.customer_notified_email(notified), allow)
    _read_email(reader, "action_required", emails.action_required_email(claims["action_required"], request), allow)
    _read_email(reader, "action_required (bounce)", emails.action_required_email(bounced, bounce), allow)
    _read_email(reader, "answer_reminder", emails.answer_reminder_email(claims["action_required"], request), allow)
    _read_email(reader, "answer_reminder (bounce)", emails.answer_reminder_email(bounced, bounce), allow)
    for kind in ("rejected", "rejected_final", "official", "opted_out", "ended"):
        _read_email(reader, kind, getattr(emails, f"{kind}_email")(claims[kind]), allow)
    association = Association.objects.create(
        partner=partner_a.partner,
        location=partner_a.location,
        program="osu_bizapps",
        tenant=bizapps_tenant,
        product=products["d365-sales"],
        subscription=bizapps_tenant.sales_subscriptions[0],
    )
    _read_email(reader, "replaced", emails.replaced_email(association), allow)
    _read_email(reader, "password_reset", account_emails.password_reset_email(partner_a.viewer))
    # The customer's choices per product (issue 17): the partner is told which.
    both = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["exchange-online"], products["sharepoint-online"]],
        status="customer_notified",
    )
    customer_opt_out(claim=both, item_ids=[both.items.order_by("pk").last().pk])
    event = both.events.get(action="item_opted_out")
    _read_email(reader, "items_opted_out", emails.items_opted_out_email(both, event), allow)
    customer_approve(claim=both)
    customer_decline(claim=both, item_ids=[both.items.order_by("pk").first().pk], reason="Moved in-house.")
    event = both.events.get(action="item_declined")
    _read_email(reader, "items_declined", emails.items_declined_email(both, event), allow)

    assert len(reader.read) == 14 * 3
    assert not reader.found, reader.report()


def test_i18n_chinese_poe_template(products, reader):
    with translation.override("zh-hant"):
        content = poe_template_docx(
            partner_name="Contoso Partners",
            mpn_id="1000001",
            customer_name="Northwind Traders",
            domain="northwindtraders.example",
            directory_id="9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d",
            products=["Exchange Online", "Yammer"],
        )
    document = Document(io.BytesIO(content))
    lines = [paragraph.text for paragraph in document.paragraphs]
    lines += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    text = "\n".join(lines)
    reader.text("POE template", text)

    assert "Exchange Online、Yammer" in text and "執行證明" in text
    assert not reader.found, reader.report()


# (f) The catalog itself: one term per action, Taiwan's typography in every translation.


def test_i18n_chinese_catalog_terms_and_typography():
    folder = settings.BASE_DIR / "locale" / "zh_Hant" / "LC_MESSAGES"
    catalog = [*polib.pofile(str(folder / "django.po")), *polib.pofile(str(folder / "djangojs.po"))]
    translations = {}
    for entry in catalog:
        if entry.obsolete:
            continue
        texts = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        translations[(entry.msgctxt, entry.msgid)] = texts
    everything = [text for texts in translations.values() for text in texts]

    # Disassociate: one term, the glossary's, for the action and its button (never 結束關聯).
    assert translations[(None, "Disassociate")] == translations[(None, "End the association")] == ["解除關聯"]
    assert [text for text in everything if "結束關聯" in text] == []
    # Optional: （選填）, full-width, never (選用) nor half-width parentheses.
    assert [text for text in everything if "選用" in text or "(選填)" in text] == []
    # Your company's contact, as the glossary says (the claim page's label and the rejection reasons alike).
    assert translations[(None, "Your company's contact")] == ["貴公司的連絡人"]
    assert [text for text in everything if "貴公司連絡人的" in text] == []
    # Claims are counted with 筆.
    assert [text for text in everything if re.search(r"個\s*宣告", text) and "另一個宣告" not in text] == []
    assert translations[(None, "Available to claim")] == ["可宣告"]
    assert translations[(None, ", ")] == ["、"]
    # Typography (markup and placeholders aside: %(name)s may be Latin text).
    problems = {}
    for (_context, msgid), texts in translations.items():
        for text in texts:
            plain = re.sub(r"<[^>]+>", "", text)
            found = [what for what, _ in typography_problems(plain)]
            if found:
                problems[msgid] = (text, found)
    assert problems == {}
