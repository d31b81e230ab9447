"""Headers (SPEC §14): a Content-Security-Policy without inline script or style, Cache-Control: no-store on claim
pages, lists, downloads, exports, the wizard, the customer's page and admin; and the CSRF failure page."""

import re
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client, override_settings
from django.urls import reverse

from claims.models import ClaimStatus, PoeDocument
from claims.tests.factories import PDF_BYTES, claim_make, claim_make_official
from claims.tests.wizard_steps import M365_CUSTOMER, start, step_data, upload
from claims.tokens import opt_out_token_make

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _no_store(response):
    return "no-store" in response.get("Cache-Control", "")


def test_csp_header_on_pages_has_no_inline_allowance(client_a):
    response = client_a.get(reverse("claims:list"))
    assert response["Content-Security-Policy"] == POLICY
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_csp_admin_pages_nonces_are_their_headers(client, reviewer):
    """Django's admin marks its tags with the response's nonce (its change list has one inline <style>, for a
    ModelAdmin with actions_on_top and actions_on_bottom off; none here yet); the header names that nonce, and no
    inline script or style exists without it."""
    client.force_login(reviewer)
    for url in (reverse("admin:index"), reverse("admin:claims_claim_changelist"), reverse("admin:auth_user_add")):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "unsafe-inline" not in policy and "script-src 'self';" in policy
        page = response.content.decode()
        nonces = set(re.findall(r'nonce="([\w-]+)"', page))
        assert nonces <= set(re.findall(r"'nonce-([\w-]+)'", policy)), url
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>|<style[^>]*>", page)
        assert all("nonce=" in tag for tag in inline), (url, inline)


def test_csp_templates_have_no_inline_script_style_or_handlers():
    """The pages' templates (not the emails', which no browser policy governs) load scripts and styles as files."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\bstyle=|\son[a-z]+\s*=", re.IGNORECASE)
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group()}"
        for path in TEMPLATES.rglob("*.html")
        if "emails" not in path.parts
        for match in inline.finditer(path.read_text())
    ]
    assert found == []


@pytest.fixture
def claims_a(partner_a, m365_tenant, products):
    waiting = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    notified = claim_make(
        partner_a, tenant=m365_tenant, products=[products["exchange-online"]], status=ClaimStatus.CUSTOMER_NOTIFIED
    )
    return waiting, official, notified


def test_no_store_on_claim_pages_lists_exports_downloads_wizard_and_customer_page(client_a, claims_a, reviewer):
    waiting, official, notified = claims_a
    document = waiting.documents.get()
    token = opt_out_token_make(submission_key=notified.submission_key, deadline=notified.opt_out_deadline)
    start(client_a)
    answers = {
        "list": client_a.get(reverse("claims:list")),
        "list csv": client_a.get(reverse("claims:list"), {"format": "csv"}),
        "claim page": client_a.get(reverse("claims:detail", args=[waiting.pk])),
        "POE download (S3 redirect)": client_a.get(reverse("claims:poe_download", args=[waiting.pk, document.pk])),
        "usage": client_a.get(reverse("claims:usage", args=[official.pk])),
        "usage csv": client_a.get(reverse("claims:usage_csv", args=[official.pk])),
        "wizard step": client_a.post(reverse("claims:create"), step_data("customer", M365_CUSTOMER)),
        "wizard upload": upload(client_a),
        "POE template": client_a.get(reverse("claims:poe_template")),
        "refused input": client_a.get(reverse("claims:list"), {"q": "\x00"}),
        "customer page": Client().get(reverse("customer_opt_out", args=[token])),
        "sign-in page": Client().get(reverse("login")),
    }
    assert answers["list csv"].streaming and answers["POE download (S3 redirect)"].status_code == 302
    staff = Client()
    staff.force_login(reviewer)
    answers.update(
        {
            "admin list": staff.get(reverse("admin:claims_claim_changelist")),
            "admin claim": staff.get(reverse("admin:claims_claim_change", args=[waiting.pk])),
            "admin POE download": staff.get(reverse("admin:claims_claim_poe", args=[waiting.pk, document.pk])),
        }
    )
    assert {name: response.status_code for name, response in answers.items() if response.status_code >= 400} == {
        "refused input": 400
    }
    assert [name for name, response in answers.items() if not _no_store(response)] == []
    # After the customer acts, the page that says so is not kept either.
    assert _no_store(Client().post(reverse("customer_opt_out", args=[token])))


def test_no_store_on_a_poe_file_streamed_from_local_storage(client_a, claims_a, tmp_path):
    """Without S3 (the embedded default) the file comes through Django: the streamed answer is not kept either."""
    waiting = claims_a[0]
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        document = PoeDocument(
            claim=waiting, original_name="local.pdf", content_type="application/pdf", size=10, sha256="0" * 64
        )
        document.file.save("local.pdf", ContentFile(PDF_BYTES), save=True)
        assert default_storage.exists(document.file.name)
        response = client_a.get(reverse("claims:poe_download", args=[waiting.pk, document.pk]))
        assert response.status_code == 200 and response.streaming
        assert b"".join(response.streaming_content) == PDF_BYTES
        assert _no_store(response)


def test_csrf_failure_is_a_clear_page(partner_a, claims_a):
    official = claims_a[1]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(partner_a.admin)
    response = strict.post(reverse("claims:disassociate", args=[official.pk]), {"reason": "Moved on"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired or was sent from elsewhere. Go back, reload the page and try again." in page
    assert "Partner Center" in page and "Contoso Partners" in page  # the site's layout, signed in
    assert "allow cookies" in page  # no CSRF cookie was ever set in this client
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL

    # With the cookie but a wrong token: the same page, without the cookie hint.
    strict.get(reverse("claims:detail", args=[official.pk]))
    response = strict.post(
        reverse("claims:disassociate", args=[official.pk]), {"reason": "Moved on", "csrfmiddlewaretoken": "x" * 64}
    )
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode() and "allow cookies" not in response.content.decode()
    assert _no_store(response)
