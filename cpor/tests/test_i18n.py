"""English and Traditional Chinese (SPEC §15), the Python side: the catalog complete and up to date, every
user-facing Python string marked, the language switch remembered per user, Accept-Language for visitors, the
customer's email and page in the tenant's language, rejection reasons in the reader's language."""

import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from associations.models import Tenant, UserPreference
from associations.tests.fixtures import PASSWORD, make_tenant, make_user
from claims import reasons
from claims.models import ClaimStatus, EmailNotification
from claims.services import claim_approve, claim_reject, email_notification_send
from claims.tests.factories import claim_make
from claims.tokens import opt_out_token_make
from cpor.i18n_scan import unmarked_in_source, unmarked_strings

ROOT = Path(settings.BASE_DIR)
CATALOG = ROOT / "locale" / "zh_Hant" / "LC_MESSAGES"
UTC = datetime.UTC
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.fixture(autouse=True)
def _english_after():
    """The test client runs requests in this thread: LocaleMiddleware's choice would outlive the test."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _catalogs():
    return sorted(CATALOG.glob("*.po"))


def _key(entry):
    return (entry.msgctxt or "", entry.msgid)


# (a) The catalog: complete, and up to date with the code.


def test_i18n_catalog_every_msgid_has_a_translation():
    assert _catalogs(), "locale/zh_Hant/LC_MESSAGES/django.po is missing"
    problems = []
    for path in _catalogs():
        for entry in polib.pofile(str(path)):
            if entry.obsolete:
                continue
            translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
            if entry.fuzzy or not all(t.strip() for t in translations):
                problems.append(f"{path.name}: {entry.msgid!r} is untranslated or fuzzy")
                continue
            # A translation that drops or renames a placeholder would raise, or lose the value, when formatted.
            wanted = set(PLACEHOLDER.findall(entry.msgid))
            for text in translations:
                if set(PLACEHOLDER.findall(text)) != wanted:
                    problems.append(f"{path.name}: {entry.msgid!r} and its translation name different placeholders")
    assert problems == []


def test_i18n_catalog_has_every_string_the_code_marks(tmp_path):
    """makemessages on a copy of the code (GNU gettext's xgettext: scripts/ensure-services installs it): every
    msgid it finds must be in the committed catalog."""
    copy = tmp_path / "repo"
    # static/vendor: third-party code (axe-core, Swagger UI), never our catalog's strings.
    ignore = shutil.ignore_patterns("tests", "__pycache__", "*.pyc", "*.mo", "vendor")
    for name in ["associations", "claims", "api", "cpor", "templates", "static"]:
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    (copy / "locale").mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cpor.test_settings", "PYTHONPATH": str(copy)}
    for domain in ["django", "djangojs"]:
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "zh_Hant", "-d", domain, "--no-location"],
            cwd=copy,
            env=env,
            check=True,
            capture_output=True,
        )
    made = sorted((copy / "locale" / "zh_Hant" / "LC_MESSAGES").glob("*.po"))
    assert [p.name for p in made][:1] == ["django.po"]
    missing = []
    for path in made:
        committed = CATALOG / path.name
        have = {_key(e) for e in polib.pofile(str(committed)) if not e.obsolete} if committed.exists() else set()
        missing += [f"{path.name}: {e.msgid!r}" for e in polib.pofile(str(path)) if e.msgid and _key(e) not in have]
    assert missing == [], "run makemessages -l zh_Hant and translate the new strings"


def test_i18n_compiled_catalog_translates():
    with translation.override("zh-hant"):
        assert translation.gettext("Customer opted out") == "客戶已選擇退出"
        assert str(ClaimStatus.OFFICIAL.label) == "已生效"
    assert str(ClaimStatus.OFFICIAL.label) == "Official"


# (b) Every user-facing Python string marked.


def test_i18n_python_user_facing_strings_are_marked():
    assert unmarked_strings() == []


def test_i18n_scanner_finds_unmarked_strings():
    source = """
from django import forms
from django.contrib import messages
from django.db import models
from django.utils.translation import gettext as _

class Status(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", _("Done")

class Form(forms.Form):
    name = forms.CharField(label="Name", help_text=_("Yours"), error_messages={"required": "Enter it."})

def view(request, n):
    messages.success(request, f"{n} saved.")
    messages.error(request, _("Failed."))
    raise forms.ValidationError("No.")

class Filter(admin.SimpleListFilter):
    title = "program"

    def act(self, request):
        self.message_user(request, "Done.")
        self.message_user(request, _("Done."))
"""
    assert [why for _line, why in unmarked_in_source(source)] == [
        "Status label",
        "label=",
        "error_messages",
        "messages.success",
        "ValidationError",
        "title",
        "message_user",
    ]


def test_i18n_scanner_finds_messages_in_dicts_error_messages_and_item_assignments():
    """What the wizard's contacts step held in English (a dict of required messages looked up later, error messages
    and help texts set on its fields after they were made, add_error with a plain string) is found too; code-like
    values, marked strings and lines that say they are English only are not."""
    source = """
from django import forms
from django.utils.translation import gettext as _

class ContactsForm(forms.Form):
    REQUIRED = {"name": "Enter the customer's contact name.", "email": _("Enter the email.")}
    SORTS = {"name": "name", "status": "-submitted_at", "allow": "GET, HEAD, POST"}

    def __init__(self, *args, domain, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.error_messages["required"] = self.REQUIRED[name]
            field.error_messages["invalid"] = "Enter a valid email address."
            self.fields[name].error_messages["max_length"] = f"Keep {name} short."
        self.fields["email"].help_text = f"An address at {domain}, or a subdomain of one."
        self.fields["email"].label = _("Email")
        self.error_messages = {"mismatch": "The two do not match."}

    def clean(self):
        self.add_error("email", "Dynamics 365 Sales has several subscriptions on this tenant: select one.")
        self.add_error("email", _("Select one."))
        errors = {}
        errors["name"] = "Enter a shorter name."
        errors["code"] = "too_long"
        raise PoeStorageError("The file storage is not available.")

DEMO = {"contact": "Morgan Customer"}  # i18n: English only (demo data)
"""
    found = unmarked_in_source(source)
    assert [why for _line, why in found] == [
        "dict value",
        "error_messages[...]",
        "error_messages[...]",
        ".help_text",
        "error_messages",
        "add_error",
        "[...] =",
        "PoeStorageError",
    ]
    lines = source.splitlines()
    assert "Enter the customer's contact name." in lines[found[0][0] - 1]
    assert "Enter a shorter name." in lines[found[6][0] - 1]


# (c) The language switch, remembered per user.


def _sign_in(client, email):
    response = client.post(reverse("login"), {"username": email, "password": PASSWORD})
    assert response.status_code == 302
    return response


def _lang(response):
    return re.search(r'<html lang="([^"]+)"', response.content.decode()).group(1)


def test_i18n_language_switch_is_remembered_per_user_across_sign_in_and_browsers(client, partner_a):
    user = partner_a.admin
    _sign_in(client, user.email)
    assert _lang(client.get(reverse("claims:list"))) == "en"

    response = client.post(reverse("set_language"), {"language": "zh-hant", "next": reverse("claims:list")})

    assert response.status_code == 302 and response["Location"] == reverse("claims:list")
    assert UserPreference.objects.get(user=user).language == "zh-hant"
    page = client.get(reverse("claims:list"))
    assert _lang(page) == "zh-Hant"
    assert page["Content-Language"] == "zh-hant"

    client.post(reverse("logout"))
    other_browser = Client()
    response = _sign_in(other_browser, user.email)
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    assert _lang(other_browser.get(reverse("claims:list"))) == "zh-Hant"
    # The first browser, signed in again, too.
    _sign_in(client, user.email)
    assert _lang(client.get(reverse("claims:list"))) == "zh-Hant"

    # Back to English: saved as well.
    other_browser.post(reverse("set_language"), {"language": "en", "next": reverse("claims:list")})
    assert UserPreference.objects.get(user=user).language == "en"
    third = Client(headers={"accept-language": "zh-TW"})
    _sign_in(third, user.email)
    assert _lang(third.get(reverse("claims:list"))) == "en"


def test_i18n_language_switch_refuses_an_unknown_language_and_a_foreign_next(client, partner_a):
    _sign_in(client, partner_a.admin.email)

    response = client.post(reverse("set_language"), {"language": "xx", "next": "https://evil.example/"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert not UserPreference.objects.filter(user=partner_a.admin).exists()
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_i18n_visitor_switch_sets_the_cookie_only(client, db):
    response = client.post(reverse("set_language"), {"language": "zh-hant", "next": reverse("login")})

    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    assert UserPreference.objects.count() == 0
    assert _lang(client.get(reverse("login"))) == "zh-Hant"


def test_i18n_switch_is_in_the_top_bar_in_the_other_language(client, partner_a):
    _sign_in(client, partner_a.admin.email)

    english = client.get(reverse("claims:list")).content.decode()
    client.post(reverse("set_language"), {"language": "zh-hant", "next": "/"})
    chinese = client.get(reverse("claims:list")).content.decode()

    assert 'name="language" value="zh-hant" lang="zh-Hant">繁體中文</button>' in english
    assert 'name="language" value="en" lang="en">English</button>' in chinese


# (d) Accept-Language for visitors.


def test_i18n_accept_language_zh_tw_gets_zh_hant(client, db):
    response = client.get(reverse("login"), headers={"accept-language": "zh-TW,zh;q=0.9,en;q=0.8"})

    assert _lang(response) == "zh-Hant"
    assert response["Content-Language"] == "zh-hant"
    # The sign-in form's error is Python's (associations.forms).
    response = client.post(
        reverse("login"), {"username": "nobody@example.com", "password": "wrong"}, headers={"accept-language": "zh-TW"}
    )
    assert "此電子郵件地址和密碼不符合任何帳戶。請檢查兩者後再試一次。" in response.content.decode()


def test_i18n_no_accept_language_gets_english(client, db):
    response = client.get(reverse("login"))

    assert _lang(response) == "en"
    response = client.post(reverse("login"), {"username": "nobody@example.com", "password": "wrong"})
    assert "That email and password do not match an account." in response.content.decode()


# (e) Customer emails in the tenant's language; partner emails in the contact's saved language.


def _approve_and_send(claim, reviewer, mailoutbox):
    with time_machine.travel(datetime.datetime(2026, 11, 30, 9, 0, tzinfo=UTC), tick=False):
        claim_approve(claim=claim, user=reviewer)
        notification = EmailNotification.objects.get(claim=claim, kind="customer_notified")
        assert email_notification_send(notification_id=notification.pk) is True
    (message,) = mailoutbox
    return message


def test_i18n_tenant_language_is_zh_hant_for_taiwan_only():
    assert Tenant(country="TW").language == "zh-hant"
    assert Tenant(country="US").language == "en"
    assert Tenant(country="CN").language == "en"


def test_i18n_customer_email_for_a_taiwan_tenant_is_in_zh_hant(partner_a, reviewer, products, mailoutbox):
    tenant = make_tenant(
        "Taipei Trading", domains=["taipeitrading.onmicrosoft.com"], country="TW", workloads=["microsoft-teams"]
    )
    claim = claim_make(
        partner_a, tenant=tenant, products=[products["microsoft-teams"]], status=ClaimStatus.UNDER_REVIEW
    )

    message = _approve_and_send(claim, reviewer, mailoutbox)

    # Taipei: Monday 30 Nov 17:00; five business days later, Monday 7 December, 23:59:59, named by its city.
    assert "台北時間 2026年12月7日 星期一 23:59:59" in message.body
    assert "台北時間 2026年12月7日 星期一 23:59:59" in message.alternatives[0][0]
    assert "Asia/Taipei" not in message.body and "CST" not in message.body


def test_i18n_customer_email_for_a_us_tenant_is_in_english(partner_a, reviewer, m365_tenant, products, mailoutbox):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], status=ClaimStatus.UNDER_REVIEW
    )
    # The partner's contact reads Chinese: the customer's email is still in the tenant's language.
    contact = make_user(claim.partner_contact_email)
    UserPreference.objects.create(user=contact, language="zh-hant")

    message = _approve_and_send(claim, reviewer, mailoutbox)

    assert message.subject == "Contoso Partners asks to be your partner of record"
    assert "Monday 7 December 2026, 23:59:59 New York time" in message.body


def _rejected_email(claim, reviewer, mailoutbox):
    claim_reject(claim=claim, user=reviewer, reason="other", message="Call us.")
    notification = EmailNotification.objects.get(claim=claim, kind="rejected")
    assert email_notification_send(notification_id=notification.pk) is True
    (message,) = mailoutbox
    return message


def test_i18n_partner_email_in_the_contacts_saved_language(partner_a, reviewer, m365_tenant, products, mailoutbox):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], status=ClaimStatus.UNDER_REVIEW
    )
    contact = make_user(claim.partner_contact_email)
    UserPreference.objects.create(user=contact, language="zh-hant")

    message = _rejected_email(claim, reviewer, mailoutbox)

    # Stored in English whatever the reviewer's language; the email shows it in the contact's.
    claim.refresh_from_db()
    assert claim.rejection_reasons == ["Other", "Call us."]
    assert "其他" in message.body and "Call us." in message.body


def test_i18n_partner_email_in_english_without_a_saved_language(partner_a, reviewer, m365_tenant, products, mailoutbox):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], status=ClaimStatus.UNDER_REVIEW
    )

    message = _rejected_email(claim, reviewer, mailoutbox)

    assert "Other" in message.body and "其他" not in message.body


# The customer's page in the tenant's language.


def test_i18n_customer_page_in_the_tenant_language_unless_the_visitor_chose(partner_a, products):
    tenant = make_tenant(
        "Taipei Trading", domains=["taipeitrading.onmicrosoft.com"], country="TW", workloads=["microsoft-teams"]
    )
    deadline = datetime.datetime(2026, 12, 3, 15, 59, 59, tzinfo=UTC)
    claim = claim_make(
        partner_a,
        tenant=tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=deadline,
    )
    url = reverse("customer_opt_out", args=[opt_out_token_make(submission_key=claim.submission_key, deadline=deadline)])

    with time_machine.travel(datetime.datetime(2026, 11, 30, 12, 0, tzinfo=UTC), tick=False):
        # An English browser opening the link from the email: the tenant's language.
        customer = Client(headers={"accept-language": "en-US"})
        response = customer.get(url)
        assert _lang(response) == "zh-Hant"
        assert response["Content-Language"] == "zh-hant"
        assert "星期四" in response.content.decode()  # the deadline, Thursday 3 December in Taipei
        # The visitor switched to English on the page: their choice wins.
        customer.post(reverse("set_language"), {"language": "en", "next": url})
        assert _lang(customer.get(url)) == "en"


# (f) Rejection reasons in the reader's language.


def test_i18n_rejection_reason_on_the_claim_page_in_zh_hant(client, partner_a, m365_tenant):
    stored = [
        reasons.reason_text("mpn_inactive", mpn_id="1000001"),
        reasons.reason_text("name_missing", who=reasons.WHO_CUSTOMER),
        "The reviewer's own words.",
    ]
    claim = claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.REJECTED, rejection_reasons=stored)
    _sign_in(client, partner_a.admin.email)
    url = reverse("claims:detail", args=[claim.pk])

    english = client.get(url).content.decode()
    client.post(reverse("set_language"), {"language": "zh-hant", "next": url})
    chinese = client.get(url).content.decode()

    assert "The MPN ID 1000001 is not active." in english
    assert "MPN 識別碼 1000001 未啟用。" in chinese
    assert "缺少客戶連絡人的姓名。" in chinese
    assert "The reviewer&#x27;s own words." in chinese


def test_i18n_every_rejection_reason_template_translates_back(db):
    for key, template in reasons.TEMPLATES.items():
        params = {name: f"v{n}" for n, name in enumerate(PLACEHOLDER.findall(template))}
        if "who" in params:
            params["who"] = reasons.WHO_TECHNICAL
        if "solution_area" in params:
            params["solution_area"] = "Business Applications"
        stored = reasons.reason_text(key, **params)
        assert reasons.reason_display(stored) == stored
        with translation.override("zh-hant"):
            shown = reasons.reason_display(stored)
        assert shown != stored and not re.search(r"[a-z]{4,}", shown.replace("Business Applications", "")), key
