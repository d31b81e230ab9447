"""The customer's notice (SPEC §5-§7): the opt-out window starts when the customer's mail server accepts the notice,
and a notice that cannot be delivered sends the claim back to the partner.

1. **Approval** (``claim_approve``) moves the claim to ``customer_notified`` with no dates yet and queues the notice
   (an outbox row belonging to the approval's event).
2. **Accepted** (SMTP 250 for the customer contact's copy): in the transaction that marks the row sent,
   ``customer_notified_at`` (when that attempt started) and ``opt_out_deadline`` are stored, the deadline being the
   one that message states (``claims.emails.notice_deadline``, counted from the same moment), and a
   NOTICE_DELIVERED event records it. Only then can finalization take the claim (PostgreSQL refuses
   ``customer_notified -> official`` without a delivered notice: migration 0013).
3. **Transient failures** (4xx, the server unreachable) keep the row on its retry schedule; the window waits.
4. **Permanent failure** (a 5xx answer for the customer contact's copy, the retry schedule giving up, or a bounce
   report, ``email_bounce_receive``, while the claim still awaits the customer): the row is failed and the claim
   goes back to the partner, ``customer_notified -> action_required`` by the system, with the information reason
   ``notice_undeliverable``, the mail server's words as its message, 5 business days to answer and the partner's
   action_required email. Its dates are cleared: the window never started, or it stops for a customer who never
   got the notice (their link no longer opens the page).
5. **Restart**: the partner answers with a corrected customer contact address (``claim_respond``) and the claim
   goes straight back to ``customer_notified`` with a new notice: the reviewer's approval stands, since nothing the
   reviewer judged changed (the answer may change only the contacts, checked by the contact rule).

The customer contact's copy decides. The technical contact's copy (Dynamics 365, the same message) is noted on the
row when it is refused or bounces, and the claim goes on.

A bounce for the current notice of a claim that no longer awaits the customer (it became official, or the
customer opted out, which takes the link the notice carried) is recorded on the row and as a NOTICE_BOUNCED event
in the claim's history, for the reviewer and the partner to see; the claim does not move. A bounce for an older
notice (one a corrected address replaced) is recorded on its row only.
"""

import logging

from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from claims.bounces import NotADeliveryReport, bounce_address_read, dsn_read
from claims.emails import notice_deadline
from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification, InformationReason
from claims.policy import notice_recipients
from claims.services.notifications import DELIVERY_HOOKS
from claims.services.transitions import claim_event_record, claims_event_record, claims_transition

logger = logging.getLogger(__name__)

NOTICE = EmailNotification.Kind.CUSTOMER_NOTIFIED


def notice_current_id(claim_id):
    """The claim's current notice: its latest customer_notified outbox row (each entry into ``customer_notified``
    queues one), or None."""
    return (
        EmailNotification.objects.filter(claim_id=claim_id, kind=NOTICE)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )


def notices_current_ids(claim_ids):
    """{claim_id: its current notice's id} for many claims, in one query (``notice_current_id``)."""
    return dict(
        EmailNotification.objects.filter(claim_id__in=claim_ids, kind=NOTICE)
        .order_by("claim_id", "-pk")
        .distinct("claim_id")
        .values_list("claim_id", "pk")
    )


def _claim_locked(claim_id):
    return Claim.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=claim_id)


def _awaits(claim, notification_id, current):
    """Whether ``claim`` still waits for the notice ``notification_id`` to be delivered (``current``: the
    claims' current notices, ``notices_current_ids``)."""
    return (
        claim.status == ClaimStatus.CUSTOMER_NOTIFIED
        and claim.opt_out_deadline is None
        and current.get(claim.pk) == notification_id
    )


def claim_notice_delivered(*, notification, attempted_at):
    """The mail server accepted the notice ``notification`` (an EmailNotification just marked sent, in the caller's
    transaction): the opt-out window starts, counted from ``attempted_at`` as the message stated. Nothing happens
    for a notice that is not the claim's current one, or a claim no longer waiting for it. Returns whether the
    window started."""
    return bool(claims_notice_delivered(notifications=[notification], attempted_at=attempted_at))


def claims_notice_delivered(*, notifications, attempted_at):
    """``claim_notice_delivered`` for the notices of a batch the mail server accepted (marked sent in the caller's
    transaction), in a few statements for the lot: the claims locked (in id order) and their current notices read,
    then the windows started and their NOTICE_DELIVERED events written in one statement each. Returns the ids of
    the claims whose window started."""
    claim_ids = sorted({notification.claim_id for notification in notifications})
    claims = {
        claim.pk: claim
        for claim in Claim.objects.select_for_update(of=("self",))
        .select_related("tenant")
        .filter(pk__in=claim_ids)
        .order_by("pk")
    }
    current = notices_current_ids(claim_ids)
    deadlines = {}
    for notification in notifications:
        claim = claims.get(notification.claim_id)
        if claim is not None and _awaits(claim, notification.pk, current):
            deadlines[claim.pk] = notice_deadline(claim, attempted_at)
    if not deadlines:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE claims_claim AS c SET customer_notified_at = %s, opt_out_deadline = v.deadline, due_at = v.deadline
            FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, deadline)
            WHERE c.id = v.id
            """,
            [attempted_at, list(deadlines), list(deadlines.values())],
        )
    claims_event_record(
        claim_ids=list(deadlines),
        actor=ClaimEvent.Actor.SYSTEM,
        action=ClaimEvent.Action.NOTICE_DELIVERED,
        messages={claim_id: claims[claim_id].customer_contact_email for claim_id in deadlines},
    )
    return list(deadlines)


def claim_notice_undeliverable(*, notification, error, now=None):
    """The notice ``notification`` failed for good (the caller's transaction marked it failed; ``error`` says why,
    in the mail server's words): while the claim awaits the customer and this is its current notice, the claim goes
    back to the partner (see the module's docstring, 4). Returns whether it did."""
    now = now or timezone.now()
    claim = _claim_locked(notification.claim_id)
    if claim.status != ClaimStatus.CUSTOMER_NOTIFIED or notice_current_id(claim.pk) != notification.pk:
        return False
    claims_transition(
        claim_ids=[claim.pk],
        old_status=ClaimStatus.CUSTOMER_NOTIFIED,
        to=ClaimStatus.ACTION_REQUIRED,
        actor=ClaimEvent.Actor.SYSTEM,
        action=ClaimEvent.Action.INFORMATION_REQUESTED,
        reason=InformationReason.NOTICE_UNDELIVERABLE,
        message=error,
        changes={
            "customer_notified_at": None,
            "opt_out_deadline": None,
            "response_deadline": claim.answer_deadline_after(now),
        },
        now=now,
    )
    logger.warning("claim %s: the customer's notice could not be delivered (%s); back to the partner", claim.pk, error)
    return True


class _NoticeDelivery:
    """The customer's notice's part in the outbox's sending (``claims.services.notifications.DELIVERY_HOOKS``)."""

    def message_recipient(self, row):
        return row.claim.customer_contact_email.strip().lower()

    def awaited_among(self, rows):
        current = notices_current_ids({row.claim_id for row in rows})
        return {row.pk for row in rows if _awaits(row.claim, row.pk, current)}

    def sent(self, rows, *, attempted_at):
        claims_notice_delivered(notifications=rows, attempted_at=attempted_at)

    def failed(self, row, *, error, now):
        claim_notice_undeliverable(notification=row, error=error, now=now)


DELIVERY_HOOKS[NOTICE] = _NoticeDelivery()


# Bounces ---------------------------------------------------------------------------------------------------------


class BounceResult(models.TextChoices):
    ACTED = "acted", _("The notice could not be delivered: the claim went back to the partner")
    RECORDED = "recorded", _("Recorded on the email")
    ALREADY = "already", _("Already recorded")
    IGNORED = "ignored", _("Not a permanent failure: nothing to do")


class BounceRefused(Exception):
    """A message we do not act on: not a delivery status report, or one that names none of our emails (unsigned,
    forged or altered bounce address, unknown Message-ID)."""


def _bounce_row_id(report, recipient):
    """The outbox row a report is about: its signed VERP address (the envelope recipient ``recipient`` when the
    mail server gives it, which must then be one; else the addresses the report says it was delivered to), else
    the Message-ID of the returned message."""
    if recipient:
        row_id = bounce_address_read(recipient)
        if row_id is None:
            raise BounceRefused(f"{recipient!r} is not a signed bounce address of ours")
        return row_id
    for address in report.delivered_to:
        row_id = bounce_address_read(address)
        if row_id is not None:
            return row_id
    if report.message_id:
        row_id = EmailNotification.objects.filter(message_id=report.message_id).values_list("pk", flat=True).first()
        if row_id is not None:
            return row_id
    raise BounceRefused("the report names none of our emails (no signed bounce address, no known Message-ID)")


def _technical_copy(row, failure):
    """Whether ``failure`` is about the technical contact's copy of a notice (which does not decide it): who gets
    which copy is ``claims.policy.notice_recipients``."""
    recipients = notice_recipients(row.claim)
    technical, customer = recipients.technical, recipients.customer
    return bool(technical) and failure.is_for(technical) and not failure.is_for(customer)


def email_bounce_receive(*, raw, recipient=""):
    """Act on one bounce report (``raw``: the message's bytes, as the mail server delivered it; ``recipient``: the
    envelope recipient, when the mail server passes it). Returns a BounceResult; raises BounceRefused for input we
    do not act on. Idempotent: a report received twice changes nothing the second time.

    1. Parse it as a delivery status notification (RFC 3464); find the outbox row by its signed VERP address (or
       the returned Message-ID, which must then be exactly one of ours); a VERP address whose returned message has
       another Message-ID is refused.
    2. Only permanent failures (Action: failed, Status 5.x.x) count; anything else is ignored.
    3. Under the row's lock: a failure of the copy that decides the row (for a notice, the customer contact's)
       marks it failed ("Bounced: ...") and, for the claim's current notice while it awaits the customer, sends the
       claim back to the partner (``claim_notice_undeliverable``); for the current notice of a claim that no
       longer awaits the customer, a NOTICE_BOUNCED event records it. A failure of the technical contact's copy
       only is noted on the row.
    """
    try:
        report = dsn_read(raw)
    except NotADeliveryReport as exc:
        raise BounceRefused(f"not a delivery status report: {exc}") from exc
    row_id = _bounce_row_id(report, (recipient or "").strip())
    failures = report.permanent_failures()
    with transaction.atomic():
        row = (
            EmailNotification.objects.select_for_update(of=("self",)).select_related("claim").filter(pk=row_id).first()
        )
        if row is None:
            raise BounceRefused(f"no email {row_id}")
        if report.message_id and row.message_id and report.message_id != row.message_id:
            raise BounceRefused("the returned message is not the one this bounce address was sent with")
        if not failures:
            return BounceResult.IGNORED
        if row.state == EmailNotification.State.FAILED:
            return BounceResult.ALREADY
        notice = row.kind == NOTICE and row.claim_id is not None
        deciding = [f for f in failures if not (notice and _technical_copy(row, f))]
        text = "; ".join(f"{f.final_recipient}: {f.text()}" for f in (deciding or failures))
        if not deciding:
            note = f"Bounced for {text}"
            if note in row.last_error:
                return BounceResult.ALREADY
            row.last_error = f"{row.last_error}; {note}" if row.last_error else note
            EmailNotification.objects.filter(pk=row.pk).update(last_error=row.last_error[:2000])
            return BounceResult.RECORDED
        error = f"Bounced: {text}"[:2000]
        EmailNotification.objects.filter(pk=row.pk).update(state=EmailNotification.State.FAILED, last_error=error)
        if not notice:
            return BounceResult.RECORDED
        if claim_notice_undeliverable(notification=row, error=error):
            return BounceResult.ACTED
        if notice_current_id(row.claim_id) == row.pk:
            claim_event_record(
                claim=row.claim, actor=ClaimEvent.Actor.SYSTEM, action=ClaimEvent.Action.NOTICE_BOUNCED, message=error
            )
        logger.warning("email %s bounced after claim %s stopped waiting for it: %s", row.pk, row.claim_id, error)
        return BounceResult.RECORDED
