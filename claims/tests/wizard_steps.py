"""Helpers for the claim tests: sample POE files, walking the wizard with the test client, making claims."""

import io
import uuid
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from claims.models import Claim, ClaimEvent, ClaimItem
from claims.services.due import claims_due_refresh

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


def upload(client, content=PDF, filename="proof.pdf", **extra):
    return client.post(reverse("claims:poe_upload"), {"file": SimpleUploadedFile(filename, content), **extra})


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
# The customer's contacts are at one of the tenant's domains (SPEC §5): Northwind Traders' for M365_CUSTOMER,
# Adventure Works' for BIZAPPS_CUSTOMER.
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
BIZAPPS_CONTACTS = {**CONTACTS, "customer_contact_email": "nancy@adventure-works.example"}


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
    primary_domain = tenant.primary_domain
    claim = Claim.objects.create(
        partner=actor.partner,
        location=actor.location,
        created_by=actor.admin,
        name=name,
        domain=fields.pop("domain", primary_domain),
        directory_id=tenant.directory_id,
        tenant=tenant,
        solution_area=fields.pop("solution_area", "microsoft_365"),
        activities=fields.pop("activities", ["usage"]),
        customer_contact_name="Nancy",
        customer_contact_title="CIO",
        customer_contact_email=f"nancy@{primary_domain}",
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
    if status != "draft":  # a draft has no history yet, so its partner may still delete it (migration 0008)
        ClaimEvent.objects.create(claim=claim, actor="partner", action="submitted", new_status=status)
    # What it waits for, by when (Claim.due_at), as the services write it.
    claims_due_refresh(claim_ids=[claim.pk])
    return claim


def ole_bytes(stream_names):
    """A minimal OLE compound file (CFB v3) holding empty streams with these names.

    Enough for an Outlook message's signature streams ("__properties_version1.0", "__substg1.0_...") or, with
    other names, for a compound file that is not a message (e.g. a Word 97 "WordDocument").
    """
    import struct

    free, end, fat_sector, nostream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16
    header += struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\x00" * 6
    header += struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
    header += struct.pack("<I", 0) + struct.pack("<I", free) * 108
    fat = struct.pack("<II", fat_sector, end) + struct.pack("<I", free) * 126

    def entry(name, kind, left=nostream, right=nostream, child=nostream):
        encoded = name.encode("utf-16-le") + b"\x00\x00" if name else b""
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", left, right, child)
            + b"\x00" * 16
            + b"\x00" * 4
            + b"\x00" * 16
            + struct.pack("<IQ", end, 0)
        )

    names = list(stream_names)
    entries = [entry("Root Entry", 5, child=1 if names else nostream)]
    for index, name in enumerate(names, start=1):
        entries.append(entry(name, 2, right=index + 1 if index < len(names) else nostream))
    while len(entries) % 4:
        entries.append(entry("", 0))
    directory = b"".join(entries)
    return header + fat + directory


def msg_bytes():
    return ole_bytes(["__properties_version1.0", "__substg1.0_0037001F", "__substg1.0_1000001F"])


def ooxml_bytes(main_part, main_type):
    """A minimal Office Open XML package: [Content_Types].xml naming ``main_part`` with ``main_type``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Override PartName="/{main_part}" ContentType="{main_type}"/></Types>',
        )
        archive.writestr(main_part, "<x/>")
    return out.getvalue()
