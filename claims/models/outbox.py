"""The outbox: one EmailNotification per email (``claims.services.notifications`` sends them)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from associations.models import Association

# The kinds of email about a user's account rather than a claim.
USER_KINDS = ("password_reset", "webhook_disabled")


class EmailNotification(models.Model):
    """The outbox: one row per (event, kind), so that each email is sent at most once per event; and one per
    password reset asked for (no claim: the account's ``user``, the ``address`` asked for, the user-less row of an
    address without an account sends nothing).

    Delivery is one retry schedule driven by the row (``claims.services.notifications``): a pending row is due
    at ``next_attempt_at`` and a sweep sends the due rows; a transient failure moves ``next_attempt_at`` later.
    """

    class Kind(models.TextChoices):
        CUSTOMER_NOTIFIED = "customer_notified", _("Customer: opt-out notice")
        ACTION_REQUIRED = "action_required", _("Partner: action required")
        REJECTED = "rejected", _("Partner: rejected")
        OFFICIAL = "official", _("Partner: official")
        OPTED_OUT = "opted_out", _("Partner: customer opted out")
        # SPEC §7: the customer ended some products and the claim goes on with the others.
        ITEMS_OPTED_OUT = "items_opted_out", _("Partner: customer opted out of some products")
        ITEMS_DECLINED = "items_declined", _("Partner: customer ended some associations")
        ENDED = "ended", _("Partner: ended")
        REPLACED = "replaced", _("Other partner: association replaced")
        REJECTED_FINAL = "rejected_final", _("Partner: rejected (final)")
        ANSWER_REMINDER = "answer_reminder", _("Partner: answer due tomorrow")
        PASSWORD_RESET = "password_reset", _("User: password reset link")
        WEBHOOK_DISABLED = "webhook_disabled", _("User: webhook endpoint disabled")
        CHALLENGED = "challenged", _("Partner: another partner claims its products")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    claim = models.ForeignKey("claims.Claim", on_delete=models.CASCADE, null=True, blank=True, related_name="emails")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # PASSWORD_RESET: the account (none for an address without one) and the address asked for, lower-cased. No
    # token: the link is made when the message is built, valid for PASSWORD_RESET_TIMEOUT from then.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    address = models.EmailField(blank=True, default="", db_default="")
    # What an email without a claim is about, for its builder (WEBHOOK_DISABLED: the endpoint's id; built by the
    # layer that registered the kind, ``claims.emails.ACCOUNT_EMAIL_BUILDERS``).
    reference = models.CharField(max_length=40, blank=True, default="", db_default="")
    # The event that caused it (SPEC §5): one email of a kind per event, so a second information request gets
    # its own. Null for rows written before emails belonged to events (one per claim and kind, as then).
    event = models.ForeignKey(
        "claims.ClaimEvent", on_delete=models.PROTECT, null=True, blank=True, related_name="emails"
    )
    # For REPLACED: the association that was ended (one email per replaced association).
    association = models.ForeignKey(Association, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # When a pending row is next due; once claimed, when its attempt started (a notice's deadline counts from it).
    # db_default: rows inserted by plain SQL (the benchmarks') are due at once.
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now, db_default=Now())
    # The Message-ID of every attempt, drawn at the first one, so that a message resent after a lost reply
    # (the server took it, the connection died before its "250") carries the same id and receivers drop it.
    message_id = models.CharField(max_length=255, blank=True, default="", db_default="")

    class Meta:
        verbose_name = _("email notification")
        verbose_name_plural = _("email notifications")
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="pending") | Q(next_attempt_at__isnull=False),
                name="emailnotification_pending_is_scheduled",
            ),
            # Claims' emails have a claim; a user's (a password reset, a webhook endpoint disabled) has none, an
            # address, and perhaps a user.
            models.CheckConstraint(
                condition=Q(kind__in=USER_KINDS, claim=None, event=None, association=None, address__gt="")
                | (~Q(kind__in=USER_KINDS) & Q(claim__isnull=False, user=None, address="")),
                name="emailnotification_claim_or_user",
            ),
            models.UniqueConstraint(
                fields=["event", "kind"],
                condition=Q(association__isnull=True, event__isnull=False),
                name="emailnotification_one_per_event_kind",
            ),
            models.UniqueConstraint(
                fields=["claim", "kind"],
                condition=Q(association__isnull=True, event__isnull=True),
                name="emailnotification_one_per_claim_kind",
            ),
            models.UniqueConstraint(
                fields=["claim", "kind", "association"],
                condition=Q(association__isnull=False),
                name="emailnotification_one_per_association",
            ),
        ]
        indexes = [
            # The sweep: pending rows by due time.
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="emailnotification_due"),
            # The password reset's limit per address: its recent rows.
            models.Index(
                fields=["address", "created_at"], condition=Q(kind="password_reset"), name="emailnotification_reset"
            ),
        ]

    def __str__(self):
        return f"{self.claim_id or self.address}: {self.kind} ({self.state})"
