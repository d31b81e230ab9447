"""Branded error pages (SPEC §15): 400, 403, 404, 500, the CSRF failure and "association ended", with DEBUG off as
under `make run`; never Django's technical pages."""

from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from claims.models import ClaimStatus
from claims.services.finalization import claim_disassociate
from claims.tests.factories import claim_make_official
from cpor.tests.test_settings_env import load_settings

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
# What `make run` (scripts/run) exports for the web server, the worker and beat.
MAKE_RUN_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-test-secret-key-that-is-long-enough-for-django-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,[::1]",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "SITE_URL": "http://127.0.0.1:8000",
    "HISTORY_KEYS": "test:a-test-history-key-that-is-long-enough-0123456789",
}
# Django's debug pages say these; the branded pages never do.
TECHNICAL = ("URLconf", "Using the URLconf", "Traceback", "Django tried these URL patterns", "Page not found (404)")
# Plain static storage: the manifest WhiteNoise uses with DEBUG off exists only after collectstatic.
PLAIN_STATIC = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def _assert_branded(response, status, heading):
    page = response.content.decode()
    assert response.status_code == status
    assert f"<h1>{heading}</h1>" in page
    assert 'href="/"' in page and "Go to the home page" in page
    assert 'class="skip-link"' in page
    for text in TECHNICAL:
        assert text not in page


@pytest.fixture
def visitor():
    return Client(raise_request_exception=False)


@override_settings(DEBUG=False, STORAGES=PLAIN_STATIC)
def test_error_pages_404_branded(visitor):
    _assert_branded(visitor.get("/does-not-exist"), 404, "We can't find that page")


@override_settings(DEBUG=False, STORAGES=PLAIN_STATIC, ROOT_URLCONF="claims.tests.error_urls")
def test_error_pages_500_400_403_branded(visitor):
    _assert_branded(visitor.get("/test-errors/500"), 500, "Something went wrong on our side")
    _assert_branded(visitor.get("/test-errors/400"), 400, "We could not understand that request")
    _assert_branded(visitor.get("/test-errors/403"), 403, "You don't have access to this page")


@override_settings(DEBUG=False, STORAGES=PLAIN_STATIC)
def test_error_pages_csrf_failure_branded(partner_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(partner_a.admin)

    response = client.post(reverse("logout"))

    _assert_branded(response, 403, "This form has expired")
    assert "Your browser did not send our cookie" in response.content.decode()


def test_error_pages_usage_link_after_disassociation_says_ended(client_a, partner_a, m365_tenant, products):
    claim = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    claim_disassociate(claim=claim, user=partner_a.admin, reason="Contract over")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ENDED

    for name in ("claims:usage", "claims:usage_csv"):
        response = client_a.get(reverse(name, args=[claim.pk]))
        page = response.content.decode()
        assert response.status_code == 410
        assert "<h1>This association has ended</h1>" in page
        assert "Its usage data is no longer available." in page
        assert f'href="{reverse("claims:detail", args=[claim.pk])}"' in page


def test_error_pages_ended_claim_of_another_partner_stays_404(client, partner_a, partner_b, m365_tenant, products):
    claim = claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])
    claim_disassociate(claim=claim, user=partner_a.admin, reason="Contract over")
    client.force_login(partner_b.admin)

    assert client.get(reverse("claims:usage", args=[claim.pk])).status_code == 404


def test_error_pages_make_run_settings_have_debug_off_over_plain_http(tmp_path):
    """The settings scripts/run gives the web server: DEBUG off (no technical pages), yet usable over HTTP on
    127.0.0.1 (no HTTPS redirect, cookies not Secure-only)."""
    s = load_settings(tmp_path, **MAKE_RUN_ENV)

    served = [s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.ALLOWED_HOSTS]
    assert served == [False, False, False, False, ["127.0.0.1", "localhost", "[::1]"]]
    script = (ROOT / "scripts" / "run").read_text()
    in_script = {"ALLOWED_HOSTS": "127.0.0.1,localhost,[::1]", "SITE_URL": "http://127.0.0.1:$port"}
    for name, value in MAKE_RUN_ENV.items():
        if name not in ("SECRET_KEY", "HISTORY_KEYS"):  # made once into var/ by scripts/run
            value = in_script.get(name, value)
            assert f'{name}="${{{name}:-{value}}}"' in script
    assert 'DEBUG=1 "$bin/python" manage.py seed_demo' in script
