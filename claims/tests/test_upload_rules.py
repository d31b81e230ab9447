"""The upload rules in one place (SPEC §17, claims.uploads.POE_RULES): the count, types and sizes the server checks
are the ones every drop zone states in its data attributes, the one uploader (static/js/poe-upload.js) checks in the
browser only what the page says, and on a phone it speaks of no dragging, offers its own button and drops a file
the server refused from its list."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from playwright.sync_api import expect

from associations.tests.fixtures import browser_sign_in
from claims.models import ClaimStatus
from claims.services import claim_reject
from claims.tests.factories import PDF_BYTES, claim_make
from claims.tests.test_answer_browser import DROP_FILE
from claims.tests.wizard_steps import CONTACTS, M365_CUSTOMER, PDF, post_step, start
from claims.uploads import POE_RULES

EXE = b"MZ\x90\x00" + b"\x00" * 64


def _zone_attributes(page_html, form_id=None):
    html = page_html.split(f'id="{form_id}"', 1)[1] if form_id else page_html
    return html.split("data-poe-dropzone", 1)[1].split(">", 1)[0]


@pytest.fixture
def rejected(partner_a, reviewer, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_reject(claim=claim, user=reviewer, reason="poe_insufficient")
    return claim


@pytest.mark.django_db
def test_upload_rules_every_drop_zone_states_the_servers_rules(client_a, rejected, m365_tenant, products, settings):
    settings.POE_MAX_FILES, settings.POE_MAX_BYTES = 3, 4096
    stated = (
        f'data-max-files="3" data-max-bytes="4096" data-accept="{POE_RULES.accept}" data-types="{POE_RULES.mime_types}"'
    )
    claim_page = client_a.get(reverse("claims:detail", args=[rejected.pk])).content.decode()
    # The wizard's POE step: through the customer, activity, name, products and contacts steps.
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    post_step(client_a, "activity", {"solution_area": "microsoft_365"})
    post_step(client_a, "associate", {"name": "Rules"})
    post_step(client_a, "products", {"products": [str(products["yammer"].pk)]})
    wizard_page = post_step(client_a, "contacts", CONTACTS).content.decode()

    assert stated in _zone_attributes(claim_page, "dispute-form")
    assert stated in _zone_attributes(wizard_page) and 'id="drop-zone"' in wizard_page
    assert POE_RULES.accept == ".pdf,.docx,.xlsx,.pptx,.png,.jpg,.jpeg,.msg"
    assert "application/pdf" in POE_RULES.mime_types.split(",")
    assert "Up to 3 files of 4.0\xa0KB each" in claim_page and "Up to 3 files of 4.0\xa0KB each" in wizard_page


@pytest.mark.django_db
def test_upload_rules_the_server_refuses_what_the_page_states(client_a, rejected, settings):
    settings.POE_MAX_FILES, settings.POE_MAX_BYTES = 2, 2000
    url = reverse("claims:dispute", args=[rejected.pk])

    def post(*files):
        return client_a.post(url, {"justification": "Signed SOW.", "files": list(files)})

    too_large = post(SimpleUploadedFile("big.pdf", PDF_BYTES + b"0" * 2000))
    assert too_large.status_code == 400
    assert "“big.pdf” is larger than 2.0\xa0KB: each file can be at most 2.0\xa0KB." in too_large.content.decode()
    too_many = post(*(SimpleUploadedFile(f"p{n}.pdf", PDF_BYTES) for n in range(3)))
    assert too_many.status_code == 400 and "You can add at most 2 files at a time." in too_many.content.decode()
    wrong = post(SimpleUploadedFile("tool.pdf", EXE))
    assert wrong.status_code == 400 and "We check what the file contains" in wrong.content.decode()
    # The refused file's name goes back to the uploader, which takes it off its list.
    assert 'data-refused="[&quot;tool.pdf&quot;]"' in wrong.content.decode()
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED


def _drop(page, name, content, mime="application/pdf"):
    page.evaluate(DROP_FILE, [name, base64.b64encode(content).decode(), mime])


@pytest.mark.django_db(transaction=True)
def test_upload_rules_the_uploader_takes_its_limits_from_the_page(page, live_server, partner_a, rejected, settings):
    settings.POE_MAX_FILES, settings.POE_MAX_BYTES = 2, 2000
    browser_sign_in(page, partner_a.admin, live_server)
    page.goto(f"/incentives/customer-associations/{rejected.pk}/")
    zone = page.locator("#dispute-form [data-poe-dropzone]")
    expect(zone).to_have_attribute("data-ready", "true")
    rules = page.evaluate("window.cporPoeUpload.rulesOf(document.querySelector('#dispute-form [data-poe-dropzone]'))")
    assert (rules["maxFiles"], rules["maxBytes"]) == (2, 2000)
    errors, files = zone.locator("[data-poe-errors]"), zone.locator("[data-poe-list] li")

    _drop(page, "big.pdf", PDF + b"0" * 2000)
    expect(errors).to_contain_text("“big.pdf” is larger than 2.0 KB: each file can be at most 2.0 KB.")
    _drop(page, "a.pdf", PDF)
    _drop(page, "b.pdf", PDF)
    _drop(page, "c.pdf", PDF)
    expect(errors).to_contain_text("You can add at most 2 files. Remove one before adding “c.pdf”.")
    expect(files).to_have_count(2)
    expect(zone.locator("[data-poe-count]")).to_have_text("2 files chosen. No more files can be added.")


@pytest.mark.django_db(transaction=True)
def test_upload_rules_drop_zone_on_a_touch_phone(browser, live_server, partner_a, rejected):
    """A phone (390 by 844 px, touch, Chromium's mobile emulation): no "drag" anywhere, the zone's own button instead
    of the native "Choose Files / No file chosen", a count line that stays true, and a file the server refused leaves
    the list while the others stay chosen."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        browser_sign_in(page, partner_a.admin, live_server)
        page.goto(f"/incentives/customer-associations/{rejected.pk}/")
        assert page.evaluate("matchMedia('(hover: none)').matches || matchMedia('(pointer: coarse)').matches")
        zone = page.locator("#dispute-form [data-poe-dropzone]")
        expect(zone).to_have_attribute("data-ready", "true")
        assert "drag" not in page.locator("main").inner_text().lower()
        choose = zone.get_by_role("button", name="Choose files")
        expect(choose).to_be_visible()
        # The native control is out of sight (and of the Tab order): the button opens the chooser.
        assert page.evaluate("document.getElementById('dispute-files').getBoundingClientRect().width") <= 1
        assert page.evaluate("document.getElementById('dispute-files').tabIndex") == -1
        with page.expect_file_chooser() as chooser:
            choose.tap()
        chooser.value.set_files(
            files=[
                {"name": "signed sow.pdf", "mimeType": "application/pdf", "buffer": PDF},
                {"name": "tool.pdf", "mimeType": "application/pdf", "buffer": EXE},
            ]
        )
        files = zone.locator("[data-poe-list] li")
        expect(files).to_have_count(2)
        expect(zone.locator("[data-poe-count]")).to_have_text("2 files chosen. You can add 3 more files.")

        page.get_by_label("Business justification").fill("The customer signed the SOW.")
        page.get_by_role("button", name="Dispute", exact=True).tap()
        # The server refused tool.pdf (by content): the form comes back with its message, without that file.
        expect(page.locator("#dispute-files_error")).to_contain_text("“tool.pdf” is not a PDF")
        zone = page.locator("#dispute-form [data-poe-dropzone]")
        expect(zone.locator("[data-poe-list] li")).to_have_count(1)
        expect(zone.locator("[data-poe-list] li")).to_contain_text("signed sow.pdf")
        expect(zone.locator("[data-poe-count]")).to_have_text("1 file chosen. You can add 4 more files.")
        assert "drag" not in page.locator("main").inner_text().lower()
    finally:
        context.close()
    rejected.refresh_from_db()
    assert rejected.status == ClaimStatus.REJECTED


@pytest.mark.django_db(transaction=True)
def test_upload_rules_desktop_still_says_drag(page, live_server, partner_a, rejected):
    browser_sign_in(page, partner_a.admin, live_server)
    page.goto(f"/incentives/customer-associations/{rejected.pk}/")
    expect(page.locator("#dispute-form [data-poe-dropzone]")).to_have_attribute("data-ready", "true")
    expect(page.locator("#dispute-form [data-poe-hint]")).to_have_text("Drag files here, or browse")
    expect(page.locator("#dispute-form [data-poe-hint]")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_upload_rules_wizard_drop_zone_on_a_touch_phone(browser, live_server, partner_a, m365_tenant, products):
    """The wizard's POE step on the same phone: no "drag" in its words, its own button, each file sent at once, and a
    file the server refused leaves the list (the count line counts the stored ones)."""
    from claims.tests.test_wizard_browser import _contacts_step, _continue, _customer_step, _login_and_start

    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        _login_and_start(page, partner_a.admin)
        _customer_step(page, M365_CUSTOMER)
        page.get_by_label("Microsoft 365").check()
        _continue(page)
        page.get_by_label("Name", exact=True).fill("Phone proof")
        _continue(page, "Create claim")
        page.get_by_label("Yammer").check()
        _continue(page)
        _contacts_step(page)
        expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")
        assert "drag" not in page.locator("main").inner_text().lower()
        expect(page.get_by_text("Choose files, or start from our template.")).to_be_visible()
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Choose files").tap()
        chooser.value.set_files(
            files=[
                {"name": "sow.pdf", "mimeType": "application/pdf", "buffer": PDF},
                {"name": "tool.pdf", "mimeType": "application/pdf", "buffer": EXE},
            ]
        )
        expect(page.locator("#upload-errors")).to_contain_text("“tool.pdf” is not a PDF")
        expect(page.locator("#uploads li")).to_have_count(1)
        expect(page.locator("#uploads li.done")).to_contain_text("sow.pdf")
        expect(page.locator("[data-poe-count]")).to_have_text("1 file uploaded. You can add 4 more files.")
    finally:
        context.close()
