"""The lifecycle's vocabulary (SPEC §2, §5): statuses and their moves, and the reasons reviewers give.

Re-exported by ``claims.models``; kept here so that the models module holds the tables.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    UNDER_REVIEW = "under_review", _("Under review")
    ACTION_REQUIRED = "action_required", _("Partner action required")
    CUSTOMER_NOTIFIED = "customer_notified", _("Awaiting customer")
    OFFICIAL = "official", _("Official")
    OPTED_OUT = "opted_out", _("Customer opted out")
    REJECTED = "rejected", _("Rejected")
    DISPUTED = "disputed", _("Disputed")
    REJECTED_FINAL = "rejected_final", _("Rejected (final)")
    EXPIRED = "expired", _("Expired")
    ENDED = "ended", _("Ended")

    @classmethod
    def open(cls):
        """Still in progress: its items are "pending" for everybody else. A draft is not: it has no items until
        it is submitted, and never counts as pending (SPEC §12)."""
        return [cls.SUBMITTED, cls.UNDER_REVIEW, cls.ACTION_REQUIRED, cls.CUSTOMER_NOTIFIED, cls.DISPUTED]

    @classmethod
    def final(cls):
        return [cls.OPTED_OUT, cls.REJECTED_FINAL, cls.EXPIRED, cls.ENDED]

    @classmethod
    def never_submitted(cls):
        """A partner's unfinished work (a draft, or one that expired as a draft): never shown to reviewers."""
        return [cls.DRAFT, cls.EXPIRED]

    @classmethod
    def needs_action(cls):
        """Waiting for the partner: the navigation's "Needs your action" count (SPEC §12)."""
        return [cls.ACTION_REQUIRED, cls.DRAFT]


# The allowed moves of SPEC §5: from each status, the statuses it may go to. A claim that was disputed and is
# rejected again (by a reviewer, or for no answer) is rejected for good: ``rejected_final``. A customer's notice
# that cannot be delivered sends the claim back to the partner (``customer_notified -> action_required``, the
# system's information request ``notice_undeliverable``); the partner's answer with a corrected address sends the
# notice again (``action_required -> customer_notified``): the reviewer's approval stands (claims.services.notices).
TRANSITIONS = {
    ClaimStatus.DRAFT: {ClaimStatus.SUBMITTED, ClaimStatus.EXPIRED},
    ClaimStatus.SUBMITTED: {ClaimStatus.UNDER_REVIEW, ClaimStatus.REJECTED},
    ClaimStatus.UNDER_REVIEW: {
        ClaimStatus.CUSTOMER_NOTIFIED,
        ClaimStatus.ACTION_REQUIRED,
        ClaimStatus.REJECTED,
        ClaimStatus.REJECTED_FINAL,
    },
    ClaimStatus.ACTION_REQUIRED: {
        ClaimStatus.UNDER_REVIEW,
        ClaimStatus.CUSTOMER_NOTIFIED,
        ClaimStatus.REJECTED,
        ClaimStatus.REJECTED_FINAL,
    },
    ClaimStatus.CUSTOMER_NOTIFIED: {ClaimStatus.OFFICIAL, ClaimStatus.OPTED_OUT, ClaimStatus.ACTION_REQUIRED},
    ClaimStatus.OFFICIAL: {ClaimStatus.ENDED},
    ClaimStatus.OPTED_OUT: set(),
    ClaimStatus.REJECTED: {ClaimStatus.DISPUTED},
    ClaimStatus.DISPUTED: {ClaimStatus.CUSTOMER_NOTIFIED, ClaimStatus.ACTION_REQUIRED, ClaimStatus.REJECTED_FINAL},
    ClaimStatus.REJECTED_FINAL: set(),
    ClaimStatus.EXPIRED: set(),
    ClaimStatus.ENDED: set(),
}

# A rejection may be disputed once, within this many days (SPEC §12); a draft untouched this long expires.
DISPUTE_DAYS = 30
DRAFT_DAYS = 30


class InformationReason(models.TextChoices):
    """Why a reviewer asks the partner for more information (a fixed list; the message says the rest)."""

    POE_INSUFFICIENT = "poe_insufficient", _("The proof of execution does not show the activity")
    POE_UNREADABLE = "poe_unreadable", _("A proof of execution document cannot be read")
    CONTACT_UNVERIFIED = "contact_unverified", _("The customer contact could not be verified")
    ACTIVITY_UNCLEAR = "activity_unclear", _("The activity or its dates are unclear")
    OTHER = "other", _("Other")
    # Set by the system, never offered to reviewers: the customer's notice was refused or bounced (SPEC §5, §7).
    NOTICE_UNDELIVERABLE = "notice_undeliverable", _("The customer contact's address doesn't receive email")

    @classmethod
    def for_reviewers(cls):
        return [(value, label) for value, label in cls.choices if value != cls.NOTICE_UNDELIVERABLE]


class RejectionReason(models.TextChoices):
    POE_INSUFFICIENT = "poe_insufficient", _("The proof of execution does not support the claim")
    NOT_ELIGIBLE = "not_eligible", _("The activity is not eligible for this program")
    DUPLICATE = "duplicate", _("The claim duplicates another claim")
    CUSTOMER_DENIED = "customer_denied", _("The customer does not confirm the engagement")
    OTHER = "other", _("Other")
    # Set by the system, never offered to reviewers.
    VALIDATION = "validation", _("Automatic validation failed")
    NO_RESPONSE = "no_response", _("No response to the information request within 5 business days")

    @classmethod
    def for_reviewers(cls):
        return [(value, label) for value, label in cls.choices if value not in (cls.VALIDATION, cls.NO_RESPONSE)]


REVIEWER_REJECTION_REASONS = RejectionReason.for_reviewers()

# The reason code of an approval the reviewer confirmed, with their reason as its message, over another partner's
# claim awaiting the customer or official, or association (SPEC §8, claims.services.review.claim_approve).
APPROVED_OVER_COMPETING = "over_competing"


class ItemOutcome(models.TextChoices):
    """How one item of a claim ended while the claim went on with the others (SPEC §7, §8); empty while it goes on.
    The reason (a reviewer's rejection reason, a customer's words) and the moment are stored beside it."""

    GOING_ON = "", _("Going on")
    REJECTED = "rejected", _("Rejected by the reviewer")
    OPTED_OUT = "opted_out", _("The customer opted out")
    DECLINED = "declined", _("The customer ended it")


class OptOutWindow(models.TextChoices):
    """Where a claim stands for its customer's opt-out (SPEC §7)."""

    OPEN = "open", _("Open")
    OPTED_OUT = "opted_out", _("Already opted out")
    CLOSED = "closed", _("The window has closed")


class BusinessAppsActivity(models.TextChoices):
    """What the wizard's step 2 offers for Business Applications."""

    USAGE_PRE_SALES = "usage_pre_sales", _("Usage and/or Pre-sales")
    REVENUE_ASSOCIATION = "revenue_association", _("Revenue association")
