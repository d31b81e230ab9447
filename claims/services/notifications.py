"""The outbox: one EmailNotification row per email, written in the transaction that caused it, sent after commit
at most once (SPEC §5, §11)."""

import datetime
import smtplib

from django.db import connection
from django.db.models import F
from django.utils import timezone

from claims import emails
from claims.models import ClaimStatus, EmailNotification
from claims.services.jobs import task_send, task_send_on_commit

EMAIL_KIND_FOR_STATUS = {
    ClaimStatus.CUSTOMER_NOTIFIED: EmailNotification.Kind.CUSTOMER_NOTIFIED,
    ClaimStatus.ACTION_REQUIRED: EmailNotification.Kind.ACTION_REQUIRED,
    ClaimStatus.REJECTED: EmailNotification.Kind.REJECTED,
    ClaimStatus.OFFICIAL: EmailNotification.Kind.OFFICIAL,
    ClaimStatus.OPTED_OUT: EmailNotification.Kind.OPTED_OUT,
    ClaimStatus.ENDED: EmailNotification.Kind.ENDED,
}

EMAIL_MAX_ATTEMPTS = 6


class EmailTransientError(Exception):
    """Sending failed in a way worth retrying (the row is back to pending)."""


def outbox_add_for_transition(*, claim_ids, status):
    """The emails a move to ``status`` sends, if any (one per claim)."""
    kind = EMAIL_KIND_FOR_STATUS.get(status)
    if kind:
        outbox_add([(claim_id, kind, None) for claim_id in claim_ids])


def outbox_add(rows):
    """Queue emails: ``rows`` are (claim_id, kind, association_id). Sent after commit, each at most once.

    One INSERT from arrays (at batch sizes bulk_create's per-object work cost more than the insert itself). The
    partial unique constraints on EmailNotification make a second row for the same (claim, kind[, association])
    a no-op (a second information request on one claim is recorded in the history, but its email is not sent
    again).
    """
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO claims_emailnotification (claim_id, kind, association_id, state, created_at, attempts,
                                                  last_error)
            SELECT v.claim_id, v.kind, v.association_id, %(pending)s, %(now)s, 0, ''
            FROM unnest(%(claims)s::bigint[], %(kinds)s::text[], %(associations)s::bigint[])
                AS v(claim_id, kind, association_id)
            ON CONFLICT DO NOTHING
            """,
            {
                "claims": [c for c, _, _ in rows],
                "kinds": [str(k) for _, k, _ in rows],
                "associations": [a for _, _, a in rows],
                "pending": str(EmailNotification.State.PENDING),
                "now": timezone.now(),
            },
        )
    ids = []
    for kind in {k for _, k, _ in rows}:
        claim_ids = [c for c, k, _ in rows if k == kind]
        ids += EmailNotification.objects.filter(
            claim_id__in=claim_ids, kind=kind, state=EmailNotification.State.PENDING
        ).values_list("pk", flat=True)
    if ids:
        # With the broker down the rows stay pending and emails_requeue_pending sends them later.
        emails_enqueue_on_commit(ids)


def emails_enqueue_on_commit(ids):
    task_send_on_commit("email_notifications_send_task", notification_ids=list(ids))


def emails_enqueue(ids):
    task_send("email_notifications_send_task", notification_ids=list(ids))


def _smtp_transient(exc):
    """4xx replies, lost connections and network errors are worth retrying; 5xx replies are not."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # SMTPException subclasses OSError: anything else from smtplib is permanent, plain network errors are not.
    return not isinstance(exc, smtplib.SMTPException)


def email_notification_send(*, notification_id):
    """Send one outbox row, at most once.

    1. Claim it with a conditional UPDATE pending -> sending (committed before anything is sent): a second
       task for the same row, or a re-enqueue, finds nothing to claim.
    2. Send; mark ``sent``. A worker that dies between send and mark leaves the row in ``sending``: it is never
       resent automatically (at most once) and shows in admin.
    3. A transient SMTP failure puts the row back to ``pending`` and raises EmailTransientError for the task to
       retry with backoff; a permanent one, or the last attempt, marks it ``failed``.
    """
    claimed = EmailNotification.objects.filter(pk=notification_id, state=EmailNotification.State.PENDING).update(
        state=EmailNotification.State.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    notification = EmailNotification.objects.select_related(
        "claim__partner", "claim__location", "claim__tenant", "association__partner", "association__product"
    ).get(pk=notification_id)
    mark = EmailNotification.objects.filter(pk=notification_id, state=EmailNotification.State.SENDING)
    try:
        message = emails.notification_email(notification)
        if message is not None:
            message.send()
    except (smtplib.SMTPException, OSError) as exc:
        retry = _smtp_transient(exc) and notification.attempts < EMAIL_MAX_ATTEMPTS
        mark.update(
            state=EmailNotification.State.PENDING if retry else EmailNotification.State.FAILED,
            last_error=str(exc)[:2000],
        )
        if retry:
            raise EmailTransientError(str(exc)) from exc
        return False
    except Exception as exc:
        mark.update(state=EmailNotification.State.FAILED, last_error=repr(exc)[:2000])
        raise
    mark.update(state=EmailNotification.State.SENT, sent_at=timezone.now(), last_error="")
    return True


def email_notifications_send_again(*, notification_ids):
    """An admin's "Send again" for rows stuck in ``sending`` (the worker died mid-send; someone checked the mail
    log) or ``failed``: back to pending and enqueued. Returns how many rows were queued again."""
    ids = list(
        EmailNotification.objects.filter(
            pk__in=notification_ids, state__in=[EmailNotification.State.SENDING, EmailNotification.State.FAILED]
        ).values_list("pk", flat=True)
    )
    if ids:
        EmailNotification.objects.filter(pk__in=ids).update(state=EmailNotification.State.PENDING)
        emails_enqueue_on_commit(ids)
    return len(ids)


def email_notifications_mark_sent(*, notification_ids):
    """An admin's "Mark as sent" for rows stuck in ``sending`` whose message the mail log shows delivered.
    Returns how many rows were marked."""
    return EmailNotification.objects.filter(pk__in=notification_ids, state=EmailNotification.State.SENDING).update(
        state=EmailNotification.State.SENT, sent_at=timezone.now(), last_error=""
    )


def emails_requeue_pending(*, older_than=datetime.timedelta(minutes=5), now=None, limit=1000):
    """Re-enqueue outbox rows still pending after a while (lost broker, dead worker before claiming them)."""
    now = now or timezone.now()
    ids = list(
        EmailNotification.objects.filter(state=EmailNotification.State.PENDING, created_at__lt=now - older_than)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    if ids:
        emails_enqueue(ids)
    return len(ids)
