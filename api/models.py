"""The partner API's rows (SPEC §16): API keys, the idempotency of POSTs, webhook endpoints with their outbox and
delivery log, and bulk imports with their per-row results."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from associations.models import Partner
from associations.validators import ONE_LINE


class ApiKey(models.Model):
    """A partner's key to the API: shown once when it is made, stored as its prefix (to find it) and the SHA-256 of
    its secret (``api.keys``). It acts as the incentives admin who made it, never beyond what that person may do
    now; a read-only key only reads."""

    class Access(models.TextChoices):
        READ = "read", _("Read only")
        READ_WRITE = "read_write", _("Read and write")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100, validators=ONE_LINE)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    access = models.CharField(_("access"), max_length=10, choices=Access.choices, default=Access.READ)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix})"

    @property
    def active(self):
        return self.revoked_at is None

    @property
    def masked(self):
        """The key as the partner's page shows it: its prefix, never its secret."""
        return f"cpor_{self.prefix}_…"


class IdempotencyRecord(models.Model):
    """The answer to a POST sent with an ``Idempotency-Key`` (``api.idempotency``): the same key gets the same
    answer, a different body with it 422. Kept for IDEMPOTENCY_HOURS."""

    class State(models.TextChoices):
        STARTED = "started", "started"  # i18n: English only (internal)
        DONE = "done", "done"  # i18n: English only (internal)

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.STARTED)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(default=b"", blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_one_per_key")]

    def __str__(self):
        return f"{self.method} {self.path} ({self.key})"


class WebhookEvent(models.TextChoices):
    """What a partner may subscribe an endpoint to (SPEC §16); ``api.events`` says which history rows are which."""

    STATUS_CHANGED = "claim.status_changed", _("A claim's status changed")
    INFORMATION_REQUESTED = "claim.information_requested", _("A reviewer asked for more information")
    CUSTOMER_APPROVED = "claim.customer_approved", _("The customer approved")
    CUSTOMER_DECLINED = "claim.customer_declined", _("The customer opted out or ended an association")
    ASSOCIATION_OFFICIAL = "association.official", _("An association became official")
    ASSOCIATION_ENDED = "association.ended", _("An association ended")


class WebhookEndpoint(models.Model):
    """Where a partner wants its events: an HTTPS address, the events it picked and the secret its deliveries are
    signed with (Standard Webhooks: ``whsec_`` and base64). An endpoint failing for WEBHOOK_DISABLE_AFTER is
    disabled and its owner emailed."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(_("address"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True, validators=ONE_LINE)
    event_types = ArrayField(models.CharField(max_length=40, choices=WebhookEvent.choices))
    secret = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Since when every attempt failed (cleared by a success): three days of it disable the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """The outbox: one row per (endpoint, history row), written in the transaction of the history row; sent by
    Celery (``api.services.webhooks``) until it succeeds once, on its own backoff schedule."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    claim_event = models.ForeignKey("claims.ClaimEvent", on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=40, choices=WebhookEvent.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "claim_event"], name="webhookdelivery_one_per_event"),
            models.CheckConstraint(
                condition=~Q(state="pending") | Q(next_attempt_at__isnull=False),
                name="webhookdelivery_pending_is_scheduled",
            ),
            models.CheckConstraint(
                condition=~Q(state="delivered") | Q(delivered_at__isnull=False),
                name="webhookdelivery_delivered_is_dated",
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="webhookdelivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_log"),
        ]

    def __str__(self):
        return f"{self.event_type} -> {self.endpoint_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One attempt of a delivery: the delivery log the partner reads."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    redelivery = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.delivery_id}: {self.status_code or self.error}"


class BulkImport(models.Model):
    """A CSV of claims (and a ZIP of their POE files), imported row by row by a Celery task (``api.services
    .imports``); each row's result is an ImportRow."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Could not be read")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="bulk_imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    file_name = models.CharField(max_length=255)
    # The uploaded files in the default storage, deleted once the import is done (the rows keep the results).
    csv_key = models.CharField(max_length=200, blank=True)
    zip_key = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.file_name


class ImportRow(models.Model):
    """One CSV row's result: its line, its key (``external_id``, else a hash of the row), what became of it."""

    class Outcome(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        DRAFT = "draft", _("Saved as a draft")
        ALREADY = "already", _("Already imported")
        ERROR = "error", _("Not imported")

    bulk_import = models.ForeignKey(BulkImport, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField()
    row_key = models.CharField(max_length=100)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    claim = models.ForeignKey("claims.Claim", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["line"]
        constraints = [models.UniqueConstraint(fields=["bulk_import", "line"], name="importrow_one_per_line")]

    def __str__(self):
        return f"{self.bulk_import_id}:{self.line} {self.outcome}"
