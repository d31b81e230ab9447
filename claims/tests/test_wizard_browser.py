"""The claim wizard in Chromium, through the real pages, from the Customer associations list to a submitted
claim; each test ends by checking what PostgreSQL and S3 hold."""

import base64
import re

import pytest
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from associations.tests.fixtures import PASSWORD
from claims.models import Claim, PendingUpload, PoeDocument
from claims.tests.wizard_steps import (
    BIZAPPS_CONTACTS,
    BIZAPPS_CUSTOMER,
    CONTACTS,
    M365_CUSTOMER,
    PDF,
    TECHNICAL,
    docx_bytes,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _login_and_start(page, user):
    page.goto("/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer associations")
    page.get_by_role("link", name="+ Customer association").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Customer")


def _continue(page, name="Continue"):
    page.get_by_role("button", name=name, exact=True).click()


def _customer_step(page, customer):
    page.get_by_label("MPN ID").select_option(customer["location"])
    page.get_by_label("Customer's domain name").fill(customer["domain"])
    page.get_by_label("Directory ID").fill(customer["directory_id"])
    _continue(page)


def _contacts_step(page, *, contacts=CONTACTS, technical=False):
    expect(page.get_by_role("heading", level=2)).to_have_text("Contacts")
    group = page.get_by_role("group", name="Customer contact")
    group.get_by_label("Contact name").fill(contacts["customer_contact_name"])
    group.get_by_label("Title").fill(contacts["customer_contact_title"])
    group.get_by_label("Email").fill(contacts["customer_contact_email"])
    if technical:
        group = page.get_by_role("group", name="Technical contact (Dynamics 365)")
        group.get_by_label("Technical contact name").fill(TECHNICAL["technical_contact_name"])
        group.get_by_label("Title").fill(TECHNICAL["technical_contact_title"])
        group.get_by_label("Email").fill(TECHNICAL["technical_contact_email"])
    else:
        expect(page.get_by_role("group", name="Technical contact (Dynamics 365)")).to_have_count(0)
    group = page.get_by_role("group", name="Your company's contact")
    group.get_by_label("Contact name").fill(contacts["partner_contact_name"])
    group.get_by_label("Email").fill(contacts["partner_contact_email"])
    _continue(page)


def _upload_with_input(page, name, content, mime="application/pdf"):
    expect(page.get_by_role("heading", level=2)).to_have_text("Proof of execution (POE)")
    expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")
    page.locator("#id_poe_files").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": content}])
    row = page.locator("#uploads li.done", has_text=name)
    expect(row.locator("progress")).to_have_js_property("value", 100)


def _submit(page):
    expect(page.get_by_role("heading", level=2)).to_have_text("Comments and review")
    page.get_by_role("textbox", name="Comments").fill("Signed SOW attached.")
    _continue(page, "Submit claim")
    expect(page).to_have_url(re.compile(r"/incentives/customer-associations/\d+/$"))
    expect(page.locator("#claim-status")).to_have_text("Submitted")
    return Claim.objects.get()


def _stored_files(claim, s3_objects):
    documents = list(PoeDocument.objects.filter(claim=claim))
    assert not PendingUpload.objects.exists()
    assert s3_objects() == sorted(document.file.name for document in documents)
    return {document.original_name: default_storage.open(document.file.name).read() for document in documents}


def test_browser_microsoft_365_usage_claim(page, partner_a, m365_tenant, products, s3_objects):
    _login_and_start(page, partner_a.admin)
    _customer_step(page, M365_CUSTOMER)
    page.get_by_label("Microsoft 365").check()
    expect(page.get_by_text("Microsoft 365 offers only Usage.")).to_be_visible()
    expect(page.get_by_label("Revenue association")).to_be_hidden()
    _continue(page)
    page.get_by_label("Name", exact=True).fill("Northwind M365 usage")
    _continue(page, "Create claim")
    page.get_by_label("Microsoft Teams").check()
    page.get_by_label("Exchange Online").check()
    _continue(page)
    _contacts_step(page)
    _upload_with_input(page, "Statement of work.pdf", PDF)
    _continue(page)
    claim = _submit(page)
    expect(page.get_by_role("heading", name="History")).to_be_visible()

    assert (claim.partner, claim.tenant, claim.name) == (partner_a.partner, m365_tenant, "Northwind M365 usage")
    assert (claim.solution_area, claim.activities, claim.comments) == (
        "microsoft_365",
        ["usage"],
        "Signed SOW attached.",
    )
    assert sorted(claim.items.values_list("program", "product__code", "subscription")) == [
        ("osu_m365", "exchange-online", None),
        ("osu_m365", "microsoft-teams", None),
    ]
    assert _stored_files(claim, s3_objects) == {"Statement of work.pdf": PDF}


def test_browser_business_applications_usage_and_pre_sales_with_two_subscriptions(
    page, partner_a, bizapps_tenant, products, s3_objects
):
    _login_and_start(page, partner_a.admin)
    _customer_step(page, BIZAPPS_CUSTOMER)
    page.get_by_label("Business Applications").check()
    page.get_by_label("Usage and/or Pre-sales").check()
    page.get_by_label("Usage", exact=True).check()
    page.get_by_label("Pre-sales", exact=True).check()
    _continue(page)
    page.get_by_label("Name", exact=True).fill("Adventure Works Sales")
    _continue(page, "Create claim")
    subscription = page.get_by_label("Subscription ID for Dynamics 365 Sales")
    expect(subscription).to_be_hidden()
    page.get_by_role("checkbox", name="Dynamics 365 Sales").check()
    expect(subscription).to_be_visible()
    chosen = bizapps_tenant.sales_subscriptions[0]
    subscription.select_option(str(chosen.subscription_id))
    _continue(page)
    _contacts_step(page, contacts=BIZAPPS_CONTACTS, technical=True)
    _upload_with_input(page, "sow.docx", docx_bytes(), "application/octet-stream")
    _continue(page)
    claim = _submit(page)

    assert claim.activities == ["usage", "pre_sales"]
    assert (claim.technical_contact_name, claim.technical_contact_email) == (
        TECHNICAL["technical_contact_name"],
        TECHNICAL["technical_contact_email"],
    )
    assert sorted(claim.items.values_list("program", "product__code", "subscription")) == [
        ("osa_sell", "d365-sales", chosen.pk),
        ("osu_bizapps", "d365-sales", chosen.pk),
    ]
    files = _stored_files(claim, s3_objects)
    assert list(files) == ["sow.docx"]
    assert claim.documents.get().content_type.endswith("wordprocessingml.document")


def test_browser_revenue_association_claim(page, partner_a, bizapps_tenant, products, s3_objects):
    _login_and_start(page, partner_a.admin)
    _customer_step(page, BIZAPPS_CUSTOMER)
    page.get_by_label("Business Applications").check()
    page.get_by_label("Revenue association").check()
    expect(page.get_by_label("Usage", exact=True)).to_be_hidden()
    _continue(page)
    page.get_by_label("Name", exact=True).fill("AW revenue")
    page.get_by_label("Dynamics solution seller name").fill("Sam Seller")
    page.get_by_label("Customer name").fill("Adventure Works AG")
    page.get_by_label("Name of ISV product/solution").fill("AW ERP+")
    _continue(page, "Create claim")
    page.get_by_label("Dynamics 365 Field Service").check()
    _continue(page)
    _contacts_step(page, contacts=BIZAPPS_CONTACTS, technical=True)
    _upload_with_input(page, "proof.pdf", PDF)
    _continue(page)
    expect(page.get_by_text("Sam Seller")).to_be_visible()
    claim = _submit(page)

    assert claim.activities == ["revenue_association"]
    assert (claim.dynamics_seller_name, claim.customer_name, claim.isv_solution_name) == (
        "Sam Seller",
        "Adventure Works AG",
        "AW ERP+",
    )
    assert list(claim.items.values_list("program", "subscription")) == [
        ("revenue_association", bizapps_tenant.field_service_subscription.pk)
    ]
    assert _stored_files(claim, s3_objects) == {"proof.pdf": PDF}


DROP_FILE = """([name, data]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, {type: "application/pdf"}));
    const zone = document.getElementById("drop-zone");
    for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }
}"""


def test_browser_drag_and_drop_upload_with_progress_bar(page, partner_a, m365_tenant, products, s3_objects):
    _login_and_start(page, partner_a.admin)
    _customer_step(page, M365_CUSTOMER)
    page.get_by_label("Microsoft 365").check()
    _continue(page)
    page.get_by_label("Name", exact=True).fill("Dropped proof")
    _continue(page, "Create claim")
    page.get_by_label("Yammer").check()
    _continue(page)
    _contacts_step(page)
    expect(page.locator("#drop-zone")).to_have_attribute("data-ready", "true")
    big = PDF + b"%" * (3 * 1024 * 1024)
    page.evaluate(DROP_FILE, ["dropped.pdf", base64.b64encode(big).decode()])
    progress = page.locator("#uploads li", has_text="dropped.pdf").locator("progress")
    expect(progress).to_have_js_property("value", 100)
    expect(page.locator("#uploads li.done")).to_have_count(1)
    # A renamed executable dropped next: refused with a message, not listed, not stored.
    page.evaluate(DROP_FILE, ["tool.pdf", base64.b64encode(b"MZ\x90\x00" + b"\x00" * 64).decode()])
    expect(page.locator("#upload-errors")).to_contain_text("“tool.pdf” is not a PDF")
    expect(page.locator("#uploads li")).to_have_count(1)
    assert PendingUpload.objects.count() == 1
    # Back and forward again: the file is still there.
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Contacts")
    _continue(page)
    expect(page.locator("#uploads li.done", has_text="dropped.pdf")).to_have_count(1)
    _continue(page)
    claim = _submit(page)

    assert list(claim.items.values_list("program", "product__code")) == [("osu_m365", "yammer")]
    assert _stored_files(claim, s3_objects) == {"dropped.pdf": big}


def test_browser_mismatched_directory_id_is_shown_on_step_one(page, partner_a, m365_tenant, bizapps_tenant, s3_objects):
    _login_and_start(page, partner_a.admin)
    _customer_step(page, {**M365_CUSTOMER, "domain": BIZAPPS_CUSTOMER["domain"]})
    expect(page.get_by_role("heading", level=2)).to_have_text("Customer")
    # exact: the error summary at the top of the step repeats it, prefixed with the field's label.
    expect(page.get_by_text("This Directory ID does not match the domain name.", exact=True)).to_be_visible()
    expect(page.get_by_label("Customer's domain name")).to_have_value(BIZAPPS_CUSTOMER["domain"])
    expect(page.get_by_label("Directory ID")).to_have_value(M365_CUSTOMER["directory_id"])
    assert not Claim.objects.exists()
    assert not PendingUpload.objects.exists()
    assert s3_objects() == []
