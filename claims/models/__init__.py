"""Claims: a partner's request to become a customer's partner of record, its items, history and proof."""

import datetime
import uuid

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from associations.models import (
    Activity,
    Association,
    Partner,
    PartnerLocation,
    Product,
    Program,
    SolutionArea,
    Subscription,
    Tenant,
)
from associations.validators import ONE_LINE
from associations.wording import words_list
from claims import history
from claims.items import item_key, item_keys_q, programs_for  # noqa: F401 (re-exported)

# Re-exported: the lifecycle's names are claims.models' too.
from claims.vocabulary import (  # noqa: F401
    DISPUTE_DAYS,
    DRAFT_DAYS,
    REVIEWER_REJECTION_REASONS,
    TRANSITIONS,
    BusinessAppsActivity,
    ClaimStatus,
    InformationReason,
    ItemOutcome,
    OptOutWindow,
    RejectionReason,
)
from claims.windows import ClaimWindows

# The contact columns of a claim (SPEC §4 step 5), which an answer to an information request may change (§12).
CONTACT_FIELDS = (
    "customer_contact_name",
    "customer_contact_title",
    "customer_contact_email",
    "technical_contact_name",
    "technical_contact_title",
    "technical_contact_email",
    "partner_contact_name",
    "partner_contact_email",
)


class Claim(ClaimWindows, models.Model):
    """A partner's customer association request, as the wizard submits it.

    The fields a partner entered are frozen once the claim is submitted (a PostgreSQL trigger guards them);
    reviewers and jobs change only the status and lifecycle fields, through ``claims.services``.
    """

    Status = ClaimStatus

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="claims", verbose_name=_("partner"))
    location = models.ForeignKey(
        PartnerLocation, on_delete=models.PROTECT, related_name="claims", verbose_name=_("partner location")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="claims_created",
        verbose_name=_("created by"),
    )
    name = models.CharField(_("name"), max_length=120, validators=ONE_LINE)

    # What the partner typed (kept as typed), and the tenant it resolved to when one matched.
    domain = models.CharField(_("domain name"), max_length=253)
    directory_id = models.UUIDField(_("Directory ID"))
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="claims",
        verbose_name=_("customer tenant"),
    )

    solution_area = models.CharField(_("solution area"), max_length=30, choices=SolutionArea.choices)
    activities = models.JSONField(
        _("activities"), default=list, help_text=_("Activity values: usage, pre_sales, revenue_association.")
    )

    # Revenue association only.
    dynamics_seller_name = models.CharField(
        _("Dynamics solution seller name"), max_length=200, blank=True, validators=ONE_LINE
    )
    customer_name = models.CharField(_("customer name"), max_length=200, blank=True, validators=ONE_LINE)
    isv_solution_name = models.CharField(
        _("Name of ISV product/solution"), max_length=200, blank=True, validators=ONE_LINE
    )

    # Contacts (SPEC §4 step 5).
    customer_contact_name = models.CharField(_("customer contact name"), max_length=200, validators=ONE_LINE)
    customer_contact_title = models.CharField(_("customer contact title"), max_length=200, validators=ONE_LINE)
    customer_contact_email = models.EmailField(_("customer contact email"))
    technical_contact_name = models.CharField(
        _("technical contact name"), max_length=200, blank=True, validators=ONE_LINE
    )
    technical_contact_title = models.CharField(
        _("technical contact title"), max_length=200, blank=True, validators=ONE_LINE
    )
    technical_contact_email = models.EmailField(_("technical contact email"), blank=True)
    partner_contact_name = models.CharField(_("your company's contact name"), max_length=200, validators=ONE_LINE)
    partner_contact_email = models.EmailField(_("your company's contact email"))

    comments = models.TextField(_("comments"), blank=True)

    # Lifecycle (changed only through claims.services.transitions).
    status = models.CharField(_("status"), max_length=20, choices=ClaimStatus.choices, default=ClaimStatus.SUBMITTED)
    competing = models.BooleanField(
        _("competing"), default=False, help_text=_("Another partner holds or claims one of its items.")
    )
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)
    status_changed_at = models.DateTimeField(_("status changed"), default=timezone.now)
    # Stored when the customer's notice is accepted, never at approval (SPEC §6, claims.services.notices).
    customer_notified_at = models.DateTimeField(_("customer notified"), null=True, blank=True)
    opt_out_deadline = models.DateTimeField(_("opt-out deadline"), null=True, blank=True)
    response_deadline = models.DateTimeField(
        _("answer due"), null=True, blank=True, help_text=_("When a partner action required request expires.")
    )
    rejection_reasons = models.JSONField(_("rejection reasons"), default=list, blank=True)
    # A rejection may be disputed once (SPEC §12): set when it is, and never again (migration 0010).
    disputed_at = models.DateTimeField(_("disputed"), null=True, blank=True)
    # The challenge notice (SPEC §8, claims.services.challenges): when the holders of the items this claim competes
    # for were told. Validation sets it at once for a claim that challenges nobody; a challenger's stays empty until
    # its task has run, so a lost task is sent again (claims_requeue_challenges).
    challenges_checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Drafts (SPEC §12): the wizard's step data as posted (formtools' storage: {step: {field: [values]}}, and
    # "current_step"), kept server-side from the first Continue; emptied when the claim is submitted. A draft
    # untouched for DRAFT_DAYS after draft_saved_at (its last save; for a submitted claim, its last save as a
    # draft) expires.
    draft_data = models.JSONField(default=dict, blank=True)
    draft_saved_at = models.DateTimeField(default=timezone.now)

    # One submit creates one claim, however often the final POST arrives.
    submission_key = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)

    # The list's search text (number, name, domain, Directory ID, customer, MPN ID, products): migration 0015.
    search_text = models.TextField(default="", editable=False)
    # What the claim waits for, by when (claims.due), stored for the list's Due sort (claims.services.due).
    due_at = models.DateTimeField(_("due"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["-submitted_at", "-id"]
        indexes = [
            # The list page's sorts (claims.selectors.CLAIM_SORTS): each is a (partner, column, id) index, read
            # forwards or backwards, so a page is the first rows of one index range, however many claims the
            # partner has. (partner, status, submitted_at, id) also serves a status filter in the default order.
            models.Index(fields=["partner", "-submitted_at", "-id"], name="claim_partner_submitted"),
            models.Index(fields=["partner", "status", "submitted_at", "id"], name="claim_partner_status"),
            models.Index(fields=["partner", "name", "id"], name="claim_partner_name"),
            models.Index(fields=["partner", "domain", "id"], name="claim_partner_domain"),
            models.Index(fields=["partner", "solution_area", "id"], name="claim_partner_solution_area"),
            models.Index(fields=["partner", "opt_out_deadline", "id"], name="claim_partner_opt_out_deadline"),
            models.Index(fields=["partner", "due_at", "id"], name="claim_partner_due"),
            models.Index(fields=["due_at"], condition=Q(status="rejected"), name="claim_dispute_due"),
            # The review queue (claims.admin.queue): the claims a reviewer decides next, by review due date.
            models.Index(
                fields=["due_at", "id"],
                condition=Q(status__in=["submitted", "under_review", "disputed"]),
                name="claim_review_due",
            ),
            models.Index(fields=["status", "-submitted_at"], name="claim_status_submitted"),
            # The reviewers' list of every claim (claims.admin.queue "All claims"), and of a status, in the queue's
            # order; the status included, so that a deep page skips submitted claims in the index alone.
            models.Index(fields=["due_at", "id"], include=["status"], name="claim_due"),
            models.Index(fields=["status", "due_at", "id"], name="claim_status_due"),
            # The deadline sweeps scan only the claims that wait on a deadline.
            models.Index(
                fields=["opt_out_deadline"],
                condition=Q(status="customer_notified"),
                name="claim_opt_out_due",
            ),
            models.Index(
                fields=["response_deadline"],
                condition=Q(status="action_required"),
                name="claim_response_due",
            ),
            models.Index(fields=["directory_id"], name="claim_directory_id"),
            models.Index(fields=["draft_saved_at"], condition=Q(status="draft"), name="claim_draft_due"),
            models.Index(
                fields=["status_changed_at"],
                condition=Q(competing=True, challenges_checked_at__isnull=True),
                name="claim_challenge_unchecked",
            ),
        ]
        constraints = [
            # Both dates once the customer's notice is delivered, neither before (claims.services.notices).
            models.CheckConstraint(
                condition=Q(customer_notified_at__isnull=True, opt_out_deadline__isnull=True)
                | Q(customer_notified_at__isnull=False, opt_out_deadline__isnull=False),
                name="claim_notified_has_deadline",
            ),
            models.CheckConstraint(
                condition=~Q(status="action_required") | Q(response_deadline__isnull=False),
                name="claim_action_required_has_deadline",
            ),
            models.CheckConstraint(
                condition=~Q(status="disputed") | Q(disputed_at__isnull=False),
                name="claim_disputed_has_disputed_at",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def number(self):
        """What partners and customers quote: "CA-000123", the id on 6 digits or more (as migration 0015's SQL)."""
        return f"CA-{self.pk:06d}"

    @property
    def is_open(self):
        return self.status in ClaimStatus.open()

    @property
    def time_zone(self):
        """Where deadlines are shown: the customer tenant's main time zone, in which they were computed (SPEC §6)."""
        return self.tenant.time_zone if self.tenant_id else datetime.UTC

    @property
    def country(self):
        """Whose public holidays its business days skip (SPEC §6): the customer tenant's country; None (weekends
        only) while the claim has no tenant."""
        return self.tenant.country if self.tenant_id else None

    # The windows (review, answer, opt-out, dispute, draft) are ClaimWindows' methods (claims.windows).

    @property
    def is_revenue_association(self):
        return Activity.REVENUE_ASSOCIATION in self.activities

    def get_activities_display(self):
        labels = dict(Activity.choices)
        return words_list(labels.get(a, a) for a in self.activities)


class ClaimItemQuerySet(models.QuerySet):
    def going_on(self):
        """The items nobody ended (no reviewer rejected them, no customer opted out of or declined them)."""
        return self.filter(outcome="")


class ClaimItem(models.Model):
    """One thing a claim asks for in one program: (tenant, workload) for osu_m365, a subscription otherwise.

    Decisions are per item (SPEC §7, §8): a reviewer may reject some items and approve the others, a customer may
    opt out of some or end some after they became official; the claim goes on with the rest. ``outcome`` records
    such an end, once (PostgreSQL refuses to change it afterwards), through ``claims.services.items``.
    """

    Outcome = ItemOutcome

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="items", verbose_name=_("claim"))
    program = models.CharField(_("program"), max_length=30, choices=Program.choices)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("customer tenant")
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("subscription")
    )
    competing = models.BooleanField(_("competing"), default=False)
    association = models.OneToOneField(
        Association,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="claim_item",
        verbose_name=_("association"),
    )
    outcome = models.CharField(
        _("outcome"), max_length=20, choices=Outcome.choices, blank=True, default="", db_default=""
    )
    outcome_reason = models.TextField(_("outcome reason"), blank=True, default="", db_default="")
    outcome_at = models.DateTimeField(_("outcome at"), null=True, blank=True)

    objects = ClaimItemQuerySet.as_manager()

    class Meta:
        verbose_name = _("claim item")
        verbose_name_plural = _("claim items")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=ItemOutcome.values) & (Q(outcome="") | Q(outcome_at__isnull=False)),
                name="claimitem_outcome_known_and_dated",
            ),
            models.UniqueConstraint(
                fields=["claim", "program", "product"],
                condition=Q(subscription__isnull=True),
                name="claimitem_unique_workload",
            ),
            models.UniqueConstraint(
                fields=["claim", "program", "subscription"],
                condition=Q(subscription__isnull=False),
                name="claimitem_unique_subscription",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "product", "program"], name="claimitem_workload_key"),
            models.Index(fields=["subscription", "program"], name="claimitem_subscription_key"),
        ]

    def __str__(self):
        return f"{self.get_program_display()} · {self.product}"


class ClaimEvent(models.Model):
    """One row of a claim's history."""

    class Actor(models.TextChoices):
        PARTNER = "partner", _("Partner")
        REVIEWER = "reviewer", _("Reviewer")
        CUSTOMER = "customer", _("Customer")
        SYSTEM = "system", _("System")

    class Action(models.TextChoices):
        """What happened. Stored as the value; the field has no choices so that history rows written before an
        action was added or renamed stay readable."""

        SUBMITTED = "submitted", _("Submitted")
        VALIDATED = "validated", _("Validated")
        VALIDATION_FAILED = "validation_failed", _("Validation failed")
        APPROVED = "approved", _("Approved")
        INFORMATION_REQUESTED = "information_requested", _("Information requested")
        RESPONDED = "responded", _("Responded")
        REJECTED = "rejected", _("Rejected")
        NO_RESPONSE = "no_response", _("No response")
        OPTED_OUT = "opted_out", _("Opted out")
        FINALIZED = "finalized", _("Finalized")
        REPLACED = "replaced", _("Replaced")
        DISASSOCIATED = "disassociated", _("Disassociated")
        SUBSCRIPTION_ENDED = "subscription_ended", _("Subscription ended")
        # SPEC §12: the partner's whole claim life.
        EXPIRED = "expired", _("Expired")
        CHANGED = "changed", _("Changed")
        POE_ADDED = "poe_added", _("Proof of execution added")
        DISPUTED = "disputed", _("Disputed")
        DISPUTE_REJECTED = "dispute_rejected", _("Rejected (final)")
        # The customer's notice (claims.services.notices): accepted (the window starts), or bounced too late.
        NOTICE_DELIVERED = "notice_delivered", _("Notice delivered to the customer")
        NOTICE_BOUNCED = "notice_bounced", _("Notice to the customer bounced")
        # SPEC §7, §8: one item ended while the claim goes on (ClaimItem.outcome).
        ITEM_REJECTED = "item_rejected", _("Product rejected")
        ITEM_OPTED_OUT = "item_opted_out", _("Customer opted out of a product")
        ITEM_DECLINED = "item_declined", _("Customer ended the association")
        # SPEC §8: another partner's claim competes for items this claim has awaiting the customer or official
        # (``claims.services.challenges``; the event's data names the challenging claim, never shown to the partner).
        CHALLENGED = "challenged", _("Another partner claimed these products")
        # SPEC §7: the customer's page. Approve now (the claim official at once, and each item it made official),
        # and the end of the whole association when the customer ended its last product.
        CUSTOMER_APPROVED = "customer_approved", _("Customer approved")
        ITEM_APPROVED = "item_approved", _("Customer approved a product")
        CUSTOMER_DECLINED = "customer_declined", _("Customer ended the association")

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="events", verbose_name=_("claim"))
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    actor = models.CharField(_("who"), max_length=10, choices=Actor.choices)
    # PROTECT: a history row is evidence and PostgreSQL refuses to change it (migration 0008), so a user who
    # acted on claims is deactivated, never deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("user")
    )
    action = models.CharField(_("action"), max_length=40)
    old_status = models.CharField(_("old status"), max_length=20, choices=ClaimStatus.choices, blank=True)
    new_status = models.CharField(_("new status"), max_length=20, choices=ClaimStatus.choices, blank=True)
    reason = models.CharField(_("reason"), max_length=60, blank=True)
    message = models.TextField(_("message"), blank=True)
    # A partner's change to a submitted claim (an answer's edits, SPEC §12): field, old and new value as text.
    field = models.CharField(_("field"), max_length=60, blank=True, default="", db_default="")
    old_value = models.TextField(_("old value"), blank=True, default="", db_default="")
    new_value = models.TextField(_("new value"), blank=True, default="", db_default="")
    # History is evidence (SPEC §14, claims.history, migrations 0008, 0012): data is what the event says the claim
    # holds; save() signs the row with the key named key_id; PostgreSQL checks the link, refuses changes, sets xact_id.
    data = models.JSONField(default=dict, blank=True, editable=False, db_default=models.Value({}, models.JSONField()))
    prev_hash = models.CharField(max_length=64, editable=False, db_default="")
    hash = models.CharField(max_length=64, editable=False, db_default="")
    key_id = models.CharField(max_length=20, editable=False, db_default="")
    xact_id = models.BigIntegerField(editable=False, null=True)

    class Meta:
        verbose_name = _("history event")
        verbose_name_plural = _("claim history")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["claim", "-created_at"], name="claimevent_claim_created"),
            # The reviewer's numbers (claims.selectors.review): the decisions of a week or a month, read from the
            # index alone (their claims included), newest first.
            models.Index(
                fields=["created_at"],
                include=["claim"],
                condition=Q(
                    actor="reviewer",
                    action__in=["approved", "information_requested", "rejected", "dispute_rejected"],
                ),
                name="claimevent_reviewer_decided",
            ),
        ]
        constraints = [
            # A chain never forks: one successor per event, one first event per claim, whatever the isolation.
            models.UniqueConstraint(fields=["claim", "prev_hash"], name="claimevent_chain_one_successor"),
        ]

    def __str__(self):
        return f"{self.claim_id}: {self.action}"

    def save(self, *args, **kwargs):
        """A new event is signed under its claim's row lock, in one transaction with its INSERT (batches: services)."""
        if self._state.adding and not (isinstance(self.hash, str) and self.hash):  # unsigned (or a database default)
            with transaction.atomic():
                list(Claim.objects.select_for_update(no_key=True).filter(pk=self.claim_id).values_list("pk"))
                last = ClaimEvent.objects.filter(claim_id=self.claim_id).order_by("-id").values_list("hash", flat=True)
                self.prev_hash = last.first() or history.GENESIS
                self.key_id, self.hash = history.event_sign(self.prev_hash, vars(self))  # its field values
                return super().save(*args, **kwargs)
        return super().save(*args, **kwargs)


def poe_upload_to(instance, filename):
    # Generated keys only: the uploader's file name never reaches the storage, so two partners uploading
    # "proof.pdf" at the same moment never touch each other's object.
    return f"poe/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class PoeDocumentQuerySet(models.QuerySet):
    def with_challenge_mark(self):
        """Each document with ``after_challenge``: uploaded after another partner's claim challenged its claim (a
        ``challenged`` event of its claim before its upload, SPEC §8), e.g. to protect the association."""
        challenged = ClaimEvent.objects.filter(
            claim_id=models.OuterRef("claim_id"),
            action=ClaimEvent.Action.CHALLENGED,
            created_at__lt=models.OuterRef("uploaded_at"),
        )
        return self.annotate(after_challenge=models.Exists(challenged))


class PoeDocument(models.Model):
    """A proof of execution file owned by a claim."""

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="documents", verbose_name=_("claim"))
    file = models.FileField(_("file"), upload_to=poe_upload_to, max_length=200)
    original_name = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=120)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("uploaded by")
    )
    in_response = models.BooleanField(
        _("in response to a request"), default=False, help_text=_("Added to answer an information request.")
    )
    # The wizard and the partner's answer sniff every file before storing it under a key of its own that is never
    # overwritten: validation trusts that verdict and reads the object again only for rows that lack it.
    content_checked = models.BooleanField(
        default=False, help_text=_("content_type was found in this object's bytes by the POE sniffer.")
    )

    objects = PoeDocumentQuerySet.as_manager()

    class Meta:
        verbose_name = _("POE document")
        verbose_name_plural = _("POE documents")
        ordering = ["uploaded_at", "id"]

    def __str__(self):
        return self.original_name


class PendingUpload(models.Model):
    """A POE file uploaded in the wizard whose claim is not submitted yet.

    Stored in the same storage as POE files (never a web node's disk). Submitting the claim turns it into a
    PoeDocument; a periodic job deletes the ones abandoned for more than a day.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    wizard_key = models.CharField(max_length=64, db_index=True)
    file = models.FileField(upload_to=poe_upload_to, max_length=200)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("upload in progress")
        verbose_name_plural = _("uploads in progress")

    def __str__(self):
        return self.original_name


# The list's counters and the outbox live in modules of their own (claims.models.counts, claims.models.outbox).
from claims.models.counts import PartnerClaimCount, PartnerClaimCountDelta  # noqa: E402, F401
from claims.models.outbox import EmailNotification  # noqa: E402, F401
