"""Helpers for the claim tests: sample POE files, walking the wizard with the test client, making claims."""

import io
import uuid

import olefile  # noqa: F401 (the MSG sample below is checked with it in test_uploads)
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from claims.models import Claim, ClaimEvent, ClaimItem

PREFIX = "claim_wizard"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


def docx_bytes():
    from docx import Document

    out = io.BytesIO()
    document = Document()
    document.add_paragraph("Statement of work, signed.")
    document.save(out)
    return out.getvalue()


def pdf_file(name="proof.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def step_data(step, fields):
    data = {f"{PREFIX}-current_step": step}
    for key, value in fields.items():
        data[f"{step}-{key}"] = value
    return data


def wizard_url():
    return reverse("claims:create")


def start(client):
    """Open the wizard; return the run's submission key."""
    response = client.get(wizard_url())
    assert response.status_code == 200
    return response.context["submission_key"]


def post_step(client, step, fields, **extra):
    data = step_data(step, fields)
    data.update(extra)
    return client.post(wizard_url(), data)


def upload(client, content=PDF, name="proof.pdf", **extra):
    return client.post(reverse("claims:poe_upload"), {"file": SimpleUploadedFile(name, content), **extra})


M365_CUSTOMER = {
    "location": "1000001",
    "domain": "northwindtraders.example",
    "directory_id": "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d",
}
BIZAPPS_CUSTOMER = {
    "location": "1000001",
    "domain": "adventure-works.example",
    "directory_id": "5e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
}
CONTACTS = {
    "customer_contact_name": "Nancy Davolio",
    "customer_contact_title": "CIO",
    "customer_contact_email": "nancy@northwindtraders.example",
    "partner_contact_name": "Pat Partner",
    "partner_contact_email": "pat@partner-a.example",
}
TECHNICAL = {
    "technical_contact_name": "Tom Tech",
    "technical_contact_title": "IT lead",
    "technical_contact_email": "tom@adventure-works.example",
}


def walk_m365(client, products, *, comments="", name="Northwind M365"):
    """Walk a Microsoft 365 Usage claim up to (not including) the final submit; returns the submission key."""
    key = start(client)
    assert post_step(client, "customer", M365_CUSTOMER).context["wizard"]["steps"].current == "activity"
    assert post_step(client, "activity", {"solution_area": "microsoft_365"}).context["wizard"]["steps"].current == (
        "associate"
    )
    assert post_step(client, "associate", {"name": name}).context["wizard"]["steps"].current == "products"
    response = post_step(client, "products", {"products": [str(p.pk) for p in products]})
    assert response.context["wizard"]["steps"].current == "contacts", response.context["form"].errors
    assert post_step(client, "contacts", CONTACTS).context["wizard"]["steps"].current == "poe"
    assert upload(client).status_code == 201
    assert post_step(client, "poe", {}).context["wizard"]["steps"].current == "review"
    return key


def submit(client, key, comments=""):
    return post_step(client, "review", {"comments": comments}, submission_key=key)


def make_claim(actor, tenant, products, *, status=Claim.Status.SUBMITTED, name="Claim", submitted_at=None, **fields):
    """A claim written straight to the database (for list and page tests that do not need the wizard)."""
    now = submitted_at or timezone.now()
    claim = Claim.objects.create(
        partner=actor.partner,
        location=actor.location,
        created_by=actor.admin,
        name=name,
        domain=fields.pop("domain", tenant.primary_domain),
        directory_id=tenant.directory_id,
        tenant=tenant,
        solution_area=fields.pop("solution_area", "microsoft_365"),
        activities=fields.pop("activities", ["usage"]),
        customer_contact_name="Nancy",
        customer_contact_title="CIO",
        customer_contact_email="nancy@example.com",
        partner_contact_name="Pat",
        partner_contact_email="pat@example.com",
        status=status,
        submitted_at=now,
        status_changed_at=now,
        submission_key=uuid.uuid4(),
        **fields,
    )
    ClaimItem.objects.bulk_create(
        ClaimItem(claim=claim, program="osu_m365", tenant=tenant, product=product) for product in products
    )
    ClaimEvent.objects.create(claim=claim, actor="partner", action="submitted", new_status=status)
    return claim
