"""The wizard fixes of SPEC §13 in Chromium: Continue waits for an upload in flight; stale errors go."""

import re

import pytest
from playwright.sync_api import expect

from claims.models import PendingUpload
from claims.tests.test_wizard_browser import (
    _contacts_step,
    _continue,
    _customer_step,
    _login_and_start,
    _stored_files,
    _submit,
)
from claims.tests.wizard_steps import EXE, M365_CUSTOMER, PDF

pytestmark = pytest.mark.django_db(transaction=True)


def _to_poe(page, user):
    _login_and_start(page, user)
    _customer_step(page, M365_CUSTOMER)
    page.get_by_label("Microsoft 365").check()
    _continue(page)
    page.get_by_label("Name", exact=True).fill("Slow proof")
    _continue(page, "Create claim")
    page.get_by_label("Yammer").check()
    _continue(page)
    _contacts_step(page)
    expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")


def _choose(page, name, content, mime="application/pdf"):
    page.locator("#id_poe_files").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": content}])


def test_browser_continue_waits_for_the_upload_in_flight(page, partner_a, m365_tenant, products, s3_objects):
    _to_poe(page, partner_a.admin)
    held = []
    # The upload request is held until the test lets it go: a slow connection, without a sleep.
    page.route(re.compile(r"/customer-associations/new/uploads/$"), lambda route: held.append(route))
    _choose(page, "Statement of work.pdf", PDF)
    page.wait_for_function("document.querySelectorAll('#uploads li').length === 1")
    _continue(page)
    expect(page.locator("#upload-status")).to_have_text("Waiting for 1 upload to finish…")
    expect(page.locator("#upload-status")).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("heading", level=2)).to_have_text("Proof of execution (POE)")
    assert PendingUpload.objects.count() == 0 and len(held) == 1
    held[0].continue_()
    # Once stored, the Continue that was waiting goes ahead on its own.
    expect(page.get_by_role("heading", level=2)).to_have_text("Comments and review")
    page.unroute(re.compile(r"/customer-associations/new/uploads/$"))
    claim = _submit(page)
    assert _stored_files(claim, s3_objects) == {"Statement of work.pdf": PDF}


def test_browser_stale_upload_and_step_errors_disappear(page, partner_a, m365_tenant, products, s3_objects):
    _to_poe(page, partner_a.admin)
    _continue(page)  # no file: the server says so
    expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Add at least one proof of execution file.")
    _choose(page, "tool.pdf", EXE)
    expect(page.locator("#upload-errors")).to_contain_text("“tool.pdf” is not a PDF")
    # The refused file does not make the step's message stale: nothing was stored.
    expect(summary).to_have_count(1)
    _choose(page, "Statement of work.pdf", PDF)
    expect(page.locator("#uploads li.done")).to_have_count(1)
    expect(page.locator("#upload-errors")).to_have_text("")
    expect(page.locator(".error-summary")).to_have_count(0)
    # An error after the upload goes again when the file is removed.
    _choose(page, "tool.pdf", EXE)
    expect(page.locator("#upload-errors")).to_contain_text("“tool.pdf” is not a PDF")
    page.locator("#uploads li.done").get_by_role("button", name="Remove").click()
    expect(page.locator("#uploads li")).to_have_count(0)
    expect(page.locator("#upload-errors")).to_have_text("")
    assert PendingUpload.objects.count() == 0


def test_browser_field_error_goes_when_the_field_changes(page, partner_a, m365_tenant, products):
    _login_and_start(page, partner_a.admin)
    _continue(page)  # nothing entered: an error per field
    expect(page.locator("#wizard-form")).to_have_attribute("data-ready", "true")
    domain = page.get_by_label("Customer's domain name")
    expect(domain).to_have_attribute("aria-invalid", "true")
    summary = page.locator(".error-summary")
    expect(summary.locator("li")).to_have_count(3)
    domain.fill(M365_CUSTOMER["domain"])
    expect(domain).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_customer-domain_error")).to_have_count(0)
    expect(summary.locator("li")).to_have_count(2)
    expect(page.locator(".field-error")).to_have_count(2)
    page.get_by_label("Directory ID").fill(M365_CUSTOMER["directory_id"])
    page.get_by_label("MPN ID").select_option(M365_CUSTOMER["location"])
    expect(page.locator(".error-summary")).to_have_count(0)
    expect(page.locator(".field-error")).to_have_count(0)
