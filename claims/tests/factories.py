"""Claims for lifecycle tests, written directly as rows (no wizard): Claim, ClaimItems, PoeDocuments."""

import datetime
import itertools
import uuid

from django.core.files.base import ContentFile
from django.utils import timezone

from associations.models import Activity, Program, SolutionArea, UsageRecord
from claims.models import Claim, ClaimItem, ClaimStatus, EmailNotification, PoeDocument
from claims.services.due import claims_due_refresh

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
_names = itertools.count(1)


def claim_make(
    actor,
    *,
    tenant,
    products=(),
    subscriptions=(),
    programs=(Program.OSU_BIZAPPS,),
    status=ClaimStatus.SUBMITTED,
    location=None,
    name=None,
    documents=(("proof.pdf", PDF_BYTES),),
    opt_out_deadline=None,
    response_deadline=None,
    notice="sent",
    **fields,
):
    """A claim of ``actor`` (a PartnerActor) for ``products`` (Microsoft 365 workloads) or ``subscriptions``
    (Business Applications, one item per subscription and program), in ``status``.

    A ``customer_notified`` claim comes with its customer's notice (SPEC §6, claims.services.notices): by default
    delivered (a ``sent`` outbox row, its dates and deadline set), or with ``notice="pending"`` still on its way (a
    pending row, no dates yet)."""
    now = timezone.now()
    # The customer's contacts are at the tenant's domain (SPEC §5).
    primary_domain = tenant.primary_domain
    solution_area = SolutionArea.BUSINESS_APPLICATIONS if subscriptions else SolutionArea.MICROSOFT_365
    activities = (
        [Activity.USAGE]
        if not subscriptions
        else sorted(
            {
                Program.OSU_BIZAPPS: Activity.USAGE,
                Program.OSA_SELL: Activity.PRE_SALES,
                Program.REVENUE_ASSOCIATION: Activity.REVENUE_ASSOCIATION,
            }[p]
            for p in programs
        )
    )
    values = {
        "partner": actor.partner,
        "location": location or actor.location,
        "created_by": actor.admin,
        "name": name or f"Claim {next(_names)}",
        "domain": primary_domain,
        "directory_id": tenant.directory_id,
        "tenant": tenant,
        "solution_area": solution_area,
        "activities": activities,
        "customer_contact_name": "Dana Customer",
        "customer_contact_title": "IT director",
        "customer_contact_email": f"dana@{primary_domain}",
        "partner_contact_name": "Pat Partner",
        "partner_contact_email": f"claims@{actor.admin.email.split('@')[1]}",
        "status": status,
        "submitted_at": now,
        "status_changed_at": now,
        "submission_key": uuid.uuid4(),
    }
    if subscriptions:
        values.update(
            technical_contact_name="Toni Tech",
            technical_contact_title="CRM lead",
            technical_contact_email=f"toni@{primary_domain}",
        )
    delivered = status != ClaimStatus.CUSTOMER_NOTIFIED or notice == "sent"
    if delivered and status in (
        ClaimStatus.CUSTOMER_NOTIFIED,
        ClaimStatus.OFFICIAL,
        ClaimStatus.OPTED_OUT,
        ClaimStatus.ENDED,
    ):
        values["customer_notified_at"] = now
        values["opt_out_deadline"] = opt_out_deadline or now + datetime.timedelta(days=7)
    if status == ClaimStatus.ACTION_REQUIRED:
        values["response_deadline"] = response_deadline or now + datetime.timedelta(days=7)
    if status == ClaimStatus.DISPUTED:
        values["disputed_at"] = now
    values.update(fields)
    claim = Claim.objects.create(**values)
    items = [ClaimItem(claim=claim, program=Program.OSU_M365, tenant=tenant, product=p) for p in products]
    items += [
        ClaimItem(claim=claim, program=program, tenant=tenant, product=s.product, subscription=s)
        for s in subscriptions
        for program in programs
    ]
    ClaimItem.objects.bulk_create(items)
    for filename, content in documents:
        document = PoeDocument(
            claim=claim, original_name=filename, content_type="application/pdf", size=len(content), sha256="0" * 64
        )
        document.file.save(filename, ContentFile(content), save=True)
    if status == ClaimStatus.CUSTOMER_NOTIFIED:
        notices_make([claim], state=notice)
    # What it waits for, by when (Claim.due_at), as the services write it.
    claims_due_refresh(claim_ids=[claim.pk])
    return claim


def notices_make(claims, *, state="sent"):
    """The customer's notice of each of ``claims`` (awaiting the customer), written as outbox rows: ``sent`` at the
    claim's ``customer_notified_at`` (what PostgreSQL asks of a claim that becomes official: a sent notice since it
    entered ``customer_notified``), or ``pending``. One INSERT for a bulk of claims."""
    rows = []
    for claim in claims:
        sent_at = claim.customer_notified_at if state == "sent" else None
        rows.append(
            EmailNotification(
                claim=claim,
                kind=EmailNotification.Kind.CUSTOMER_NOTIFIED,
                state=state,
                created_at=claim.status_changed_at,
                attempts=1 if state == "sent" else 0,
                sent_at=sent_at,
                next_attempt_at=sent_at or claim.status_changed_at,
                message_id=f"<notice-{claim.submission_key.hex}@cpor.example>" if state == "sent" else "",
            )
        )
    return EmailNotification.objects.bulk_create(rows)


def claim_make_official(actor, *, tenant, product):
    """A Microsoft 365 claim made official the way production does it: notified, then finalized past its deadline."""
    from claims.services import claims_finalize_due

    claim = claim_make(
        actor,
        tenant=tenant,
        products=[product],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC),
        documents=(),
    )
    claims_finalize_due(now=datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC))
    claim.refresh_from_db()
    return claim


def usage_records_make(tenant, product, months=(7, 8, 9), year=2026):
    """Monthly usage of ``product`` on ``tenant``: 10x the month's number of active users, 12x paid units."""
    return [
        UsageRecord.objects.create(
            tenant=tenant,
            product=product,
            month=datetime.date(year, month, 1),
            active_users=10 * month,
            paid_units=12 * month,
        )
        for month in months
    ]
