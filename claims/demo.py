"""Demo claims in every status, on top of ``associations.demo`` (called by ``manage.py seed_demo``).

Deterministic and idempotent by claim name: a second run creates nothing. Each claim is written in its status with
the history it would have had, event by event in the order they happened and dated by its own dates (submitted,
validated, the information requests and answers, notified, deadline, rejection, dispute...), all in the past: the
claim's columns (``submitted_at``, ``status_changed_at``, ``customer_notified_at``, ``response_deadline``,
``disputed_at``...) are the dates of its events; an approved claim has its customer's notice, delivered (a sent
outbox row: PostgreSQL makes a claim official only with one). Two ``customer_notified`` claims have an opt-out
deadline already in the past, so a new user of ``make run`` sees beat make them official within a minute (and the
worker write their emails to the mail folder).
"""

import datetime
import hashlib
import itertools
import uuid

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from associations.demo import RELECLOUD_TAIWAN_NAME
from associations.models import Association, PartnerLocation, Program, SolutionArea, Tenant, TenantLicense
from claims.history import claim_content, documents_data
from claims.models import (
    DRAFT_DAYS,
    Claim,
    ClaimEvent,
    ClaimItem,
    ClaimStatus,
    EmailNotification,
    InformationReason,
    PoeDocument,
    RejectionReason,
)
from claims.reasons import english
from claims.services import claim_event_record, claims_transition
from claims.services.due import claims_due_refresh
from claims.windows import ClaimDates

NAMESPACE = uuid.UUID("2f5e7a10-4c1b-5d3e-9f8a-6b7c8d9e0f1a")
POE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# Wizard samples stay free for the new user to claim (but for the Taiwanese customer's one claim, below).
SAMPLES = {"Northwind Traders", "Adventure Works", "Tailspin Toys", RELECLOUD_TAIWAN_NAME}
# Claims on a tenant of their own: the Taiwanese customer's, whose email and page are in zh-Hant (README "Try it"),
# each with two workloads (SPEC §7: the customer may opt out of one and approve the other, or end one of two
# official associations and keep the other).
TAIWAN_CLAIM = "Demo · awaiting customer (Taiwan)"
TAIWAN_OFFICIAL_CLAIM = "Demo · official (Taiwan)"
DEMO_TENANTS = {TAIWAN_CLAIM: RELECLOUD_TAIWAN_NAME, TAIWAN_OFFICIAL_CLAIM: RELECLOUD_TAIWAN_NAME}
# Where seed_demo writes those customers' emails, for the README's links.
TAIWAN_EMAIL = "demo-customer-taiwan.eml"
TAIWAN_OFFICIAL_EMAIL = "demo-customer-taiwan-official.eml"
DAY = datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)
Action = ClaimEvent.Action

# (claim name, MPN ID, story); each gets its own customer workload that nobody holds yet. The story names the
# function below that writes the claim's status, dates and history.
DEMO_CLAIMS = [
    ("Demo · draft", "4100001", "draft"),
    ("Demo · submitted", "4100001", "submitted"),
    ("Demo · under review", "4100001", "under_review"),
    ("Demo · under review (Fabrikam)", "5200001", "under_review_late"),
    ("Demo · partner action required", "4100001", "action_required"),
    ("Demo · awaiting customer", "4100001", "customer_notified"),
    (TAIWAN_CLAIM, "4100001", "customer_notified"),
    ("Demo · awaiting customer, deadline passed", "4100001", "due"),
    ("Demo · awaiting customer, deadline passed (Fabrikam)", "5200001", "due"),
    ("Demo · official", "4100001", "official"),
    (TAIWAN_OFFICIAL_CLAIM, "4100001", "official"),
    ("Demo · customer opted out", "4100002", "opted_out"),
    ("Demo · rejected", "4100001", "rejected"),
    ("Demo · disputed", "4100001", "disputed"),
    ("Demo · rejected (final)", "4100002", "rejected_final"),
    ("Demo · expired draft", "4100001", "expired"),
    ("Demo · ended", "4100003", "ended"),
    # Arbitration (SPEC §8): two partners' claims for one workload of one customer.
    (COMPETING_HOLDER := "Demo · competing, awaiting customer", "4100001", "customer_notified"),
    (COMPETING_RIVAL := "Demo · competing, under review (Fabrikam)", "5200001", "under_review"),
]
REQUEST_CONTACT = "We could not reach the customer contact. Please check the name and the address."
REQUEST_POE = "Please add the signed statement of work that names the customer."
ANSWER = "The customer's IT manager changed: Morgan Lee is the right contact now, at a verified address."
JUSTIFICATION = "The customer confirmed the engagement in writing; the signed statement of work is attached."
PROTECT = "Signed renewal of the managed-services agreement, for the record."


def _free_workloads(tenant_names=None):
    """(tenant, product) pairs licensed, not held and not claimed, in a fixed order: of ``tenant_names``, or of
    every tenant but the wizard's samples."""
    held = set(
        Association.objects.filter(program=Program.OSU_M365)
        .exclude(status=Association.Status.ENDED)
        .values_list("tenant_id", "product_id")
    )
    held |= set(ClaimItem.objects.filter(program=Program.OSU_M365).values_list("tenant_id", "product_id"))
    licenses = TenantLicense.objects.filter(product__solution_area=SolutionArea.MICROSOFT_365)
    licenses = (
        licenses.filter(tenant__name__in=tenant_names) if tenant_names else licenses.exclude(tenant__name__in=SAMPLES)
    )
    licenses = licenses.select_related("tenant", "product").order_by("tenant__name", "product__sort_order")
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
    for name, mpn_id, story in missing:
        location = PartnerLocation.objects.select_related("partner").filter(mpn_id=mpn_id).first()
        pair = _competing_pair() if name == COMPETING_RIVAL else next(free, None)
        if location is None or pair is None:
            continue
        tenant, products = pair[0], [pair[1]]
        if name in DEMO_TENANTS:
            pairs = list(itertools.islice(_free_workloads([DEMO_TENANTS[name]]), 2))
            if not pairs:
                continue
            tenant, products = pairs[0][0], [product for _, product in pairs]
        competing = name == COMPETING_RIVAL
        # Fabrikam's competing claim also asks for a workload nobody holds, so that its Approve page decides product
        # by product (SPEC §8): the contested one with the reviewer's reason, the other on its own.
        extra = [free_product for _, free_product in _free_workloads([tenant.name])][:1] if competing else []
        claim = _claim_create(
            name, location, tenant, products, story, now=now, reviewer=reviewer, competing=competing, extra=extra
        )
        claims_due_refresh(claim_ids=[claim.pk])
        created += 1
    return created


def _competing_pair():
    """The (tenant, product) of Contoso's claim awaiting the customer, which Fabrikam's claim competes for."""
    held = ClaimItem.objects.filter(claim__name=COMPETING_HOLDER).select_related("tenant", "product").first()
    return (held.tenant, held.product) if held is not None else None


def demo_customer_email_write(
    folder, *, name=TAIWAN_CLAIM, filename=TAIWAN_EMAIL, status=ClaimStatus.CUSTOMER_NOTIFIED
):
    """The Taiwanese customer's notice of its demo claim ``name``, written to ``folder`` as ``filename`` (the email
    its outbox row sent, in zh-Hant, with the link to the customer's page), for the README's one click. Returns
    (the file, the page's address), or None when that claim is not there (in ``status``)."""
    from claims.emails import customer_notified_email, opt_out_url

    claim = (
        Claim.objects.select_related("tenant", "partner", "location")
        .filter(name=name, status=status, opt_out_deadline__isnull=False)
        .first()
    )
    if claim is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_bytes(customer_notified_email(claim).message().as_bytes())
    return path, opt_out_url(claim)


def demo_customer_official_email_write(folder):
    """The same for the official Taiwanese demo claim (TAIWAN_OFFICIAL_EMAIL): the notice its customer got then,
    whose link now offers Decline later (SPEC §7)."""
    return demo_customer_email_write(
        folder, name=TAIWAN_OFFICIAL_CLAIM, filename=TAIWAN_OFFICIAL_EMAIL, status=ClaimStatus.OFFICIAL
    )


class _Story:
    """A claim's life told event by event: each step moves the clock forward and records what happened."""

    def __init__(self, tenant, *, submitted, admin, reviewer):
        self.tenant = tenant
        self.admin = admin
        self.reviewer = reviewer
        self.status = ClaimStatus.SUBMITTED
        self.fields = {"submitted_at": submitted, "status_changed_at": submitted, "draft_saved_at": submitted}
        self.events = [
            {"at": submitted, "actor": "partner", "user": admin, "action": Action.SUBMITTED, "new_status": "submitted"}
        ]
        self.documents = [("statement-of-work.pdf", submitted)]
        self.notice = None  # when the customer's notice was delivered

    def deadline(self, moment):
        """The end of an answer (or opt-out) window that starts at ``moment``, as the claim's own (claims.windows)."""
        dates = ClaimDates(status=self.status, country=self.tenant.country, time_zone=self.tenant.time_zone)
        return dates.answer_deadline_after(moment)

    def move(self, at, to, *, actor, action, user=None, **extra):
        self.events.append(
            {"at": at, "actor": actor, "user": user, "action": action, "old_status": self.status, "new_status": to}
            | extra
        )
        self.status = ClaimStatus(to)
        self.fields["status_changed_at"] = at

    def record(self, at, *, action, **extra):
        self.events.append({"at": at, "actor": "partner", "user": self.admin, "action": action} | extra)

    def validated(self, at):
        self.move(at, ClaimStatus.UNDER_REVIEW, actor="system", action=Action.VALIDATED)

    def request(self, at, reason, message):
        self.move(
            at,
            ClaimStatus.ACTION_REQUIRED,
            actor="reviewer",
            user=self.reviewer,
            action=Action.INFORMATION_REQUESTED,
            reason=reason,
            message=message,
        )
        self.fields["response_deadline"] = self.deadline(at)

    def approved(self, at):
        """Approved, and the customer's notice accepted by the mail server in the same minute: the opt-out window
        counts from then (SPEC §6), as the sent outbox row written with the claim records."""
        self.move(at, ClaimStatus.CUSTOMER_NOTIFIED, actor="reviewer", user=self.reviewer, action=Action.APPROVED)
        self.events.append({"at": at, "actor": "system", "user": None, "action": Action.NOTICE_DELIVERED})
        self.fields["customer_notified_at"] = at
        self.fields["opt_out_deadline"] = self.deadline(at)
        self.notice = at

    def finalized(self):
        # The sweep runs every minute: official a minute after the window closed.
        at = self.fields["opt_out_deadline"] + MINUTE
        self.move(at, ClaimStatus.OFFICIAL, actor="system", action=Action.FINALIZED)
        return at

    def rejected(self, at, *, to=ClaimStatus.REJECTED, action=Action.REJECTED, reason=RejectionReason.POE_INSUFFICIENT):
        self.move(at, to, actor="reviewer", user=self.reviewer, action=action, reason=reason)
        self.fields["rejection_reasons"] = [english(RejectionReason(reason).label)]

    def disputed(self, at):
        self.move(
            at, ClaimStatus.DISPUTED, actor="partner", user=self.admin, action=Action.DISPUTED, message=JUSTIFICATION
        )
        self.fields["disputed_at"] = at
        self.documents.append(("customer-confirmation.pdf", at))


def _story(story, tenant, *, now, admin, reviewer):
    """The status, columns and events of a claim whose life is ``story``, ending before ``now``."""
    ago = {
        "submitted": 2 / 24,
        "under_review": 3,
        "under_review_late": 9,
        "action_required": 12,
        "customer_notified": 4,
        "due": 25,
        "official": 40,
        "opted_out": 10,
        "rejected": 8,
        "disputed": 20,
        "rejected_final": 50,
        "ended": 70,
    }[story]
    submitted = now - ago * DAY
    life = _Story(tenant, submitted=submitted, admin=admin, reviewer=reviewer)
    if story == "submitted":
        return life
    life.validated(submitted + 2 * MINUTE)
    if story == "action_required":
        # Two information requests: the first answered with edits (each a history row with old and new values).
        first = submitted + DAY
        life.request(first, InformationReason.CONTACT_UNVERIFIED, REQUEST_CONTACT)
        answered = first + DAY
        life.record(answered, action=Action.CHANGED, field="location", old_value="4100002", new_value="4100001")
        for field, old, new in [
            ("customer_contact_name", "Morgan Customer", "Morgan Lee"),
            ("customer_contact_email", f"it@{tenant.primary_domain}", f"morgan.lee@{tenant.primary_domain}"),
        ]:
            life.record(answered, action=Action.CHANGED, field=field, old_value=old, new_value=new)
            life.fields[field] = new
        life.move(
            answered + MINUTE,
            ClaimStatus.UNDER_REVIEW,
            actor="partner",
            user=admin,
            action=Action.RESPONDED,
            message=ANSWER,
        )
        life.request(now - DAY, InformationReason.POE_INSUFFICIENT, REQUEST_POE)
    elif story == "customer_notified":
        life.approved(now - DAY)
    elif story == "due":
        # Notified long enough ago that the 5 business days have passed, whatever the holidays.
        notified = now - 8 * DAY
        while life.deadline(notified) >= now:
            notified -= DAY
        life.approved(notified)
    elif story in ("official", "ended"):
        life.approved(submitted + DAY)
        official = life.finalized()
        life.fields["official_at"] = official
        if story == "official":
            # Protecting the association: more POE with a comment, any time after it became official.
            life.record(
                now - 2 * DAY, action=Action.POE_ADDED, message=PROTECT, new_value="managed-services-renewal.pdf"
            )
            life.documents.append(("managed-services-renewal.pdf", now - 2 * DAY))
        else:
            life.move(
                now - 5 * DAY,
                ClaimStatus.ENDED,
                actor="partner",
                user=admin,
                action=Action.DISASSOCIATED,
                reason="disassociated",
                message="The customer moved in-house.",
            )
    elif story == "opted_out":
        life.approved(submitted + DAY)
        life.move(submitted + 3 * DAY, ClaimStatus.OPTED_OUT, actor="customer", action=Action.OPTED_OUT)
    elif story == "rejected":
        life.rejected(now - 3 * DAY)  # 27 days left to dispute it
    elif story == "disputed":
        life.rejected(submitted + 2 * DAY)
        life.disputed(now - 2 * DAY)
    elif story == "rejected_final":
        life.rejected(submitted + 2 * DAY)
        life.disputed(submitted + 10 * DAY)
        life.rejected(
            submitted + 13 * DAY,
            to=ClaimStatus.REJECTED_FINAL,
            action=Action.DISPUTE_REJECTED,
            reason=RejectionReason.NOT_ELIGIBLE,
        )
    return life


def _draft_data(location, tenant):
    """The wizard's storage after the first Continue: the customer step done, the activity step next."""
    return {
        "step": "activity",
        "step_data": {
            "customer": {
                "customer-location": [location.mpn_id],
                "customer-domain": [tenant.primary_domain],
                "customer-directory_id": [str(tenant.directory_id)],
            }
        },
        "step_files": {},
        "extra_data": {},
    }


def _claim_create(name, location, tenant, products, story, *, now, reviewer, competing=False, extra=()):
    """The claim of ``story`` for ``products`` (competing or not) and the ``extra`` products (never competing)."""
    admin = (
        get_user_model()
        .objects.filter(membership__partner=location.partner, membership__role="incentives_admin")
        .order_by("pk")
        .first()
    )
    values = {
        "partner": location.partner,
        "location": location,
        "created_by": admin,
        "name": name,
        "domain": tenant.primary_domain,
        "directory_id": tenant.directory_id,
        "tenant": tenant,
        "solution_area": SolutionArea.MICROSOFT_365,
        "activities": ["usage"],
        "customer_contact_name": "Morgan Customer",  # i18n: English only (demo data: a person's name)
        "customer_contact_title": "IT manager",  # i18n: English only (demo data: what the partner typed)
        "customer_contact_email": f"it@{tenant.primary_domain}",
        "partner_contact_name": admin.get_full_name() if admin else "Partner contact",
        "partner_contact_email": admin.email if admin else "partner@example.com",
        "submission_key": uuid.uuid5(NAMESPACE, name),
        # Another partner's claim awaits the customer for its workload (validation would say so: SPEC §5).
        "competing": competing,
    }
    if story in ("draft", "expired"):
        return _draft_create(values, location, tenant, story, now=now)
    life = _story(story, tenant, now=now, admin=admin, reviewer=reviewer)
    official_at = life.fields.pop("official_at", None)
    claim = Claim.objects.create(status=life.status, **(values | life.fields))
    items = [
        ClaimItem.objects.create(
            claim=claim, program=Program.OSU_M365, tenant=tenant, product=product, competing=competing
        )
        for product in products
    ] + [
        ClaimItem.objects.create(claim=claim, program=Program.OSU_M365, tenant=tenant, product=other) for other in extra
    ]
    documents = []
    for filename, uploaded_at in life.documents:
        document = PoeDocument(
            claim=claim,
            original_name=filename,
            content_type="application/pdf",
            size=len(POE_PDF),
            sha256=hashlib.sha256(POE_PDF).hexdigest(),
            uploaded_at=uploaded_at,
            uploaded_by=admin,
        )
        document.file.save(filename, ContentFile(POE_PDF), save=True)
        documents.append(document)
    _events_content(life.events, claim, items, documents)
    # In the order they happened: the hash chain follows the ids (SPEC §14).
    approval = None
    for event in life.events:
        if event["action"] == Action.NOTICE_DELIVERED:
            event["message"] = claim.customer_contact_email
        recorded = claim_event_record(claim=claim, created_at=event.pop("at"), **event)
        if recorded.action == Action.APPROVED:
            approval = recorded
    if life.notice is not None:
        # The notice the approval queued, sent (PostgreSQL makes a claim official only with it: migration 0013).
        EmailNotification.objects.create(
            claim=claim,
            kind=EmailNotification.Kind.CUSTOMER_NOTIFIED,
            event=approval,
            state=EmailNotification.State.SENT,
            created_at=life.notice,
            attempts=1,
            sent_at=life.notice,
            next_attempt_at=life.notice,
            message_id=f"<demo-{claim.submission_key.hex}@cpor.example>",
        )
    if claim.status in (ClaimStatus.OFFICIAL, ClaimStatus.ENDED):
        ended = claim.status == ClaimStatus.ENDED
        for item in items:
            association = Association.objects.create(
                partner=location.partner,
                location=location,
                program=Program.OSU_M365,
                tenant=tenant,
                product=item.product,
                started_at=official_at,
                status=Association.Status.ENDED if ended else Association.Status.ACTIVE,
                ended_at=claim.status_changed_at if ended else None,
                end_reason=Association.EndReason.DISASSOCIATED if ended else "",
                end_message="The customer moved this workload in-house." if ended else "",
            )
            item.association = association
            item.save(update_fields=["association"])
    return claim


def _events_content(events, claim, items, documents):
    """What each event of the story says the claim holds (SPEC §14, ``claims.history``): the SUBMITTED event the
    claim as submitted (the answer's edits undone, the documents of that moment), each edit what it set, each
    later moment's documents on its event."""
    submitted = events[0]
    snapshot = claim_content(claim, items, [d for d in documents if d.uploaded_at == submitted["at"]])
    for event in reversed(events):
        if event["action"] != Action.CHANGED:
            continue
        if event["field"] == "location":
            old = PartnerLocation.objects.get(partner_id=claim.partner_id, mpn_id=event["old_value"])
            event["data"] = {"set": {"location_id": claim.location_id}}
            snapshot["claim"]["location_id"] = old.pk
        else:
            event["data"] = {"set": {event["field"]: event["new_value"]}}
            snapshot["claim"][event["field"]] = event["old_value"]
    submitted["data"] = {"snapshot": snapshot}
    for event in events[1:]:
        added = [d for d in documents if d.uploaded_at == event["at"]]
        if added:
            event["data"] = {**event.get("data", {}), "documents_added": documents_data(added)}


def _draft_create(values, location, tenant, story, *, now):
    """A draft (saved two days ago, no items or history yet), or one that expired untouched: its one event."""
    saved = now - (2 * DAY if story == "draft" else (DRAFT_DAYS + 9) * DAY)
    claim = Claim.objects.create(
        status=ClaimStatus.DRAFT,
        submitted_at=saved,
        status_changed_at=saved,
        draft_saved_at=saved,
        draft_data=_draft_data(location, tenant),
        **values,
    )
    if story == "expired":
        # The sweep's move (through the one status write, dated when it ran), a few minutes after the 30 days ran
        # out: the claim's first event. Its files (none here) would have been purged.
        expired = saved + DRAFT_DAYS * DAY + 3 * MINUTE
        claims_transition(
            claim_ids=[claim.pk],
            old_status=ClaimStatus.DRAFT,
            to=ClaimStatus.EXPIRED,
            actor="system",
            action=Action.EXPIRED,
            now=expired,
        )
        claim.refresh_from_db()
    return claim
