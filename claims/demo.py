"""Demo claims in every status, on top of ``associations.demo`` (called by ``manage.py seed_demo``).

Deterministic and idempotent by claim name: a second run creates nothing. Two ``customer_notified`` claims have an
opt-out deadline already in the past, so a new user of ``make run`` sees beat make them official within a minute
(and the worker write their emails to the mail folder).
"""

import datetime
import hashlib
import uuid

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from associations.models import Association, PartnerLocation, Program, SolutionArea, Tenant, TenantLicense
from claims.deadlines import deadline_after
from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, InformationReason, PoeDocument
from claims.services import claim_event_record

NAMESPACE = uuid.UUID("2f5e7a10-4c1b-5d3e-9f8a-6b7c8d9e0f1a")
POE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# Wizard samples stay free for the new user to claim.
SAMPLES = {"Northwind Traders", "Adventure Works", "Tailspin Toys"}

# (claim name, MPN ID, status); each gets its own customer workload that nobody holds yet.
DEMO_CLAIMS = [
    ("Demo · submitted", "4100001", ClaimStatus.SUBMITTED),
    ("Demo · under review", "4100001", ClaimStatus.UNDER_REVIEW),
    ("Demo · under review (Fabrikam)", "5200001", ClaimStatus.UNDER_REVIEW),
    ("Demo · partner action required", "4100001", ClaimStatus.ACTION_REQUIRED),
    ("Demo · awaiting customer", "4100001", ClaimStatus.CUSTOMER_NOTIFIED),
    ("Demo · awaiting customer, deadline passed", "4100001", "due"),
    ("Demo · awaiting customer, deadline passed (Fabrikam)", "5200001", "due"),
    ("Demo · official", "4100001", ClaimStatus.OFFICIAL),
    ("Demo · customer opted out", "4100002", ClaimStatus.OPTED_OUT),
    ("Demo · rejected", "4100001", ClaimStatus.REJECTED),
    ("Demo · ended", "4100003", ClaimStatus.ENDED),
]


def _free_workloads():
    """(tenant, product) pairs licensed, not held and not claimed, in a fixed order."""
    held = set(
        Association.objects.filter(program=Program.OSU_M365)
        .exclude(status=Association.Status.ENDED)
        .values_list("tenant_id", "product_id")
    )
    held |= set(ClaimItem.objects.filter(program=Program.OSU_M365).values_list("tenant_id", "product_id"))
    licenses = (
        TenantLicense.objects.filter(product__solution_area=SolutionArea.MICROSOFT_365)
        .exclude(tenant__name__in=SAMPLES)
        .select_related("tenant", "product")
        .order_by("tenant__name", "product__sort_order")
    )
    for license in licenses:
        if (license.tenant_id, license.product_id) not in held:
            yield license.tenant, license.product


def demo_claims_ensure(*, now=None):
    """Create the demo claims that are missing; returns how many were created."""
    now = now or timezone.now()
    existing = set(Claim.objects.filter(name__in=[name for name, _, _ in DEMO_CLAIMS]).values_list("name", flat=True))
    missing = [row for row in DEMO_CLAIMS if row[0] not in existing]
    if not missing or not Tenant.objects.exists():
        return 0
    reviewer = get_user_model().objects.filter(is_staff=True).order_by("pk").first()
    free = _free_workloads()
    created = 0
    for name, mpn_id, status in missing:
        location = PartnerLocation.objects.select_related("partner").filter(mpn_id=mpn_id).first()
        pair = next(free, None)
        if location is None or pair is None:
            continue
        tenant, product = pair
        _claim_create(name, location, tenant, product, status, now=now, reviewer=reviewer)
        created += 1
    return created


def _claim_create(name, location, tenant, product, status, *, now, reviewer):
    admin = (
        get_user_model()
        .objects.filter(membership__partner=location.partner, membership__role="incentives_admin")
        .order_by("pk")
        .first()
    )
    submitted = now - datetime.timedelta(days=9)
    due = status == "due"
    status = ClaimStatus.CUSTOMER_NOTIFIED if due else ClaimStatus(status)
    fields = {}
    if status in (ClaimStatus.CUSTOMER_NOTIFIED, ClaimStatus.OFFICIAL, ClaimStatus.OPTED_OUT, ClaimStatus.ENDED):
        notified = now - datetime.timedelta(days=8 if due or status != ClaimStatus.CUSTOMER_NOTIFIED else 1)
        fields["customer_notified_at"] = notified
        fields["opt_out_deadline"] = (
            now - datetime.timedelta(minutes=5)
            if due
            else deadline_after(notified, country=tenant.country, time_zone=tenant.time_zone)
        )
    if status == ClaimStatus.ACTION_REQUIRED:
        fields["response_deadline"] = deadline_after(now, country=tenant.country, time_zone=tenant.time_zone)
    if status == ClaimStatus.REJECTED:
        fields["rejection_reasons"] = ["The proof of execution does not support the claim"]
    claim = Claim.objects.create(
        partner=location.partner,
        location=location,
        created_by=admin,
        name=name,
        domain=tenant.primary_domain,
        directory_id=tenant.directory_id,
        tenant=tenant,
        solution_area=SolutionArea.MICROSOFT_365,
        activities=["usage"],
        customer_contact_name="Morgan Customer",
        customer_contact_title="IT manager",
        customer_contact_email=f"it@{tenant.primary_domain}",
        partner_contact_name=admin.get_full_name() if admin else "Partner contact",
        partner_contact_email=admin.email if admin else "partner@example.com",
        status=status,
        submitted_at=submitted,
        status_changed_at=now,
        submission_key=uuid.uuid5(NAMESPACE, name),
        **fields,
    )
    item = ClaimItem.objects.create(claim=claim, program=Program.OSU_M365, tenant=tenant, product=product)
    document = PoeDocument(
        claim=claim,
        original_name="statement-of-work.pdf",
        content_type="application/pdf",
        size=len(POE_PDF),
        sha256=hashlib.sha256(POE_PDF).hexdigest(),
        uploaded_at=submitted,
        uploaded_by=admin,
    )
    document.file.save("statement-of-work.pdf", ContentFile(POE_PDF), save=True)
    claim_event_record(
        claim=claim, actor="partner", user=admin, action=ClaimEvent.Action.SUBMITTED, new_status=ClaimStatus.SUBMITTED
    )
    if status in (ClaimStatus.OFFICIAL, ClaimStatus.ENDED):
        association = Association.objects.create(
            partner=location.partner,
            location=location,
            program=Program.OSU_M365,
            tenant=tenant,
            product=product,
            started_at=fields["opt_out_deadline"],
            status=Association.Status.ENDED if status == ClaimStatus.ENDED else Association.Status.ACTIVE,
            ended_at=now if status == ClaimStatus.ENDED else None,
            end_reason=Association.EndReason.DISASSOCIATED if status == ClaimStatus.ENDED else "",
            end_message="The customer moved this workload in-house." if status == ClaimStatus.ENDED else "",
        )
        item.association = association
        item.save(update_fields=["association"])
    if status != ClaimStatus.SUBMITTED:
        actor, user, action, reason, message = {
            ClaimStatus.UNDER_REVIEW: ("system", None, "validated", "", ""),
            ClaimStatus.ACTION_REQUIRED: (
                "reviewer",
                reviewer,
                "information_requested",
                InformationReason.POE_INSUFFICIENT,
                "Please add the signed statement of work that names the customer.",
            ),
            ClaimStatus.CUSTOMER_NOTIFIED: ("reviewer", reviewer, "approved", "", ""),
            ClaimStatus.OFFICIAL: ("system", None, "finalized", "", ""),
            ClaimStatus.OPTED_OUT: ("customer", None, "opted_out", "", ""),
            ClaimStatus.REJECTED: ("reviewer", reviewer, "rejected", "poe_insufficient", ""),
            ClaimStatus.ENDED: ("partner", admin, "disassociated", "disassociated", "The customer moved in-house."),
        }[status]
        ClaimEvent.objects.create(
            claim=claim,
            created_at=now,
            actor=actor,
            user=user,
            action=action,
            new_status=status,
            reason=reason,
            message=message,
        )
    return claim
