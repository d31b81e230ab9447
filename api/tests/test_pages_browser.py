"""The partner's API pages in Chromium (SPEC §15): zero axe-core violations (WCAG 2.2 AA) in English and zh-Hant,
nothing wider than a 390 px phone, every control at least 24x24 CSS px, no Content-Security-Policy violation; the
import's progress bar moves from its JSON with no inline script; the docs page shows every operation."""

import pytest
from playwright.sync_api import expect

from api.keys import api_key_create
from api.models import BulkImport, ImportRow, WebhookEndpoint
from api.services.webhooks import deliveries_add
from associations.models import Product
from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimStatus, InformationReason
from claims.services import claim_request_information
from claims.tests.factories import claim_make
from claims.tests.test_accessibility import _axe
from claims.tests.test_phone_layout import OVERFLOW
from claims.tests.test_tap_targets import SMALL_TARGETS

pytestmark = pytest.mark.django_db(transaction=True)

# Swagger UI's own markup on the docs page, which we vendor and do not write: its operation summary is a button
# holding the copy-path button (nested-interactive). Only this rule, only inside #swagger-ui; its colours and sizes
# are ours to fix (static/css/api.css), and checked.
SWAGGER_MARKUP = "nested-interactive"

assert deliveries_add  # the history's hook writes the delivery shown on the endpoint's page


@pytest.fixture
def api_pages(partner_a, m365_tenant, reviewer, settings):
    """Every page of the API's UI with something on it: keys, an endpoint with a delivery, imports running and done."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    api_key_create(partner=partner_a.partner, user=partner_a.admin, name="Our CRM", access="read_write")
    endpoint = WebhookEndpoint.objects.create(
        partner=partner_a.partner,
        created_by=partner_a.admin,
        url="https://crm.contoso-partners.example/cpor/webhooks/receive",
        event_types=["claim.status_changed", "claim.information_requested"],
        secret="whsec_" + "A" * 44,
    )
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    claim_request_information(claim=claim, user=reviewer, reason=InformationReason.OTHER, message="More")
    running = BulkImport.objects.create(
        partner=partner_a.partner,
        created_by=partner_a.admin,
        file_name="q1.csv",
        rows_total=10,
        rows_done=3,
        state="running",
    )
    done = BulkImport.objects.create(
        partner=partner_a.partner,
        created_by=partner_a.admin,
        file_name="q2.csv",
        rows_total=2,
        rows_done=2,
        state="done",
    )
    ImportRow.objects.create(bulk_import=done, line=2, row_key="crm-0001", outcome="submitted", claim=claim)
    ImportRow.objects.create(
        bulk_import=done,
        line=3,
        row_key="crm-0002",
        outcome="error",
        message="directory_id: This Directory ID does not match the domain name.",
    )
    return {
        "keys": "/incentives/integrations/",
        "webhooks": "/incentives/integrations/webhooks/",
        "webhook": f"/incentives/integrations/webhooks/{endpoint.pk}/",
        "imports": "/incentives/integrations/imports/",
        "import running": f"/incentives/integrations/imports/{running.pk}/",
        "import done": f"/incentives/integrations/imports/{done.pk}/",
    }


def _states(page, where):
    """The states beyond the pages as they load: a form with its errors, a key and a secret just made."""
    if where == "keys":
        page.locator("button.primary").click()  # no name: an error at the field
        yield "keys, form errors"
        page.fill("#id_name", "Second CRM")
        page.locator("label[for='id_access_1']").click()
        page.locator("button.primary").click()
        yield "keys, a key just made"
    if where == "webhooks":
        page.fill("#id_url", "http://127.0.0.1:9/hook")
        page.locator("fieldset label.check").first.click()
        page.locator("button.primary").click()
        yield "webhooks, a secret just made"
    if where == "imports":
        page.locator("button.primary").click()
        yield "imports, form errors"


def test_api_pages_in_both_languages_pass_axe_and_fit_a_phone_with_big_enough_targets(
    browser, live_server, partner_a, api_pages
):
    found = []
    for locale in ("en", "zh-TW"):
        context = browser.new_context(base_url=live_server.url, locale=locale, viewport={"width": 390, "height": 844})
        context.set_default_timeout(15_000)
        page = context.new_page()
        violations = []
        page.on(
            "console",
            lambda message, seen=violations: (
                seen.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        try:
            browser_sign_in(page, partner_a.admin, live_server)
            for where, url in [*api_pages.items(), ("docs", "/api/v1/docs")]:
                page.goto(url)
                page.wait_for_load_state("load")
                if where == "docs":
                    page.wait_for_selector(".opblock-summary-path", timeout=20_000)  # Swagger UI drawn
                for name in [where, *_states(page, where)]:
                    page.wait_for_load_state("load")
                    lines = _axe(page, live_server, name)
                    if where == "docs":
                        lines = [line for line in lines if f": {SWAGGER_MARKUP} (" not in line]
                    found += [f"[{locale}] {line}" for line in lines]
                    wide = page.evaluate(OVERFLOW)
                    if wide["doc"] > 390 or wide["body"] > 390:
                        found.append(f"[{locale}] {name}: wider than 390 px: {wide['wide']}")
                    if locale == "en":  # measured in English, as the other pages are (claims.tests.test_tap_targets)
                        small = page.evaluate(SMALL_TARGETS)["problems"]
                        found += [f"[{locale}] {name}: small target {target}" for target in small]
        finally:
            context.close()
        found += [f"[{locale}] CSP: {text}" for text in violations]
    assert found == [], "\n".join(found)


def test_api_pages_import_progress_bar_moves_and_the_page_shows_the_results(page, live_server, partner_a):
    bulk_import = BulkImport.objects.create(
        partner=partner_a.partner,
        created_by=partner_a.admin,
        file_name="q3.csv",
        rows_total=4,
        rows_done=1,
        state="running",
    )
    browser_sign_in(page, partner_a.admin, live_server)
    page.goto(f"/incentives/integrations/imports/{bulk_import.pk}/")
    assert page.locator("#import-bar").get_attribute("value") == "25"
    BulkImport.objects.filter(pk=bulk_import.pk).update(rows_done=3)
    expect(page.locator("#import-bar")).to_have_js_property("value", 75)  # moved by its script, from the JSON
    BulkImport.objects.filter(pk=bulk_import.pk).update(rows_done=4, state="done")
    page.wait_for_selector("text=Download the result file (CSV)")


def test_api_pages_docs_show_every_operation_from_our_own_static_files(page, live_server):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/claims" in paths and "/api/v1/claims/{claim_id}/answer" in paths
    assert all(url.startswith(live_server.url) for url in requests), [
        u for u in requests if not u.startswith(live_server.url)
    ]
