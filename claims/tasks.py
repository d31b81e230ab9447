"""Celery tasks: thin and idempotent. Each takes ids as keyword arguments and calls one service.

The periodic ones are scheduled in ``cpor/celery.py`` (``beat_schedule``); every queue can be rebuilt from
PostgreSQL by ``lifecycle_requeue_task``. Services send these tasks by name (``claims.services.jobs``) and never
import this module; the tasks import services inside their bodies, so importing this module alone (as a worker
does) loads no service.
"""

import datetime

from celery import shared_task

EMAIL_RETRY_SECONDS = [30, 120, 600, 1800, 3600]


@shared_task
def claim_validate_task(*, claim_id):
    """Validate the claim, and in the same batch other claims waiting (oldest first): a backlog drains a batch
    per task, and the tasks of claims already validated find nothing to do."""
    from claims.services import claims_validate_waiting

    claims_validate_waiting(claim_id=claim_id)


@shared_task(bind=True, max_retries=len(EMAIL_RETRY_SECONDS))
def email_notification_send_task(self, *, notification_id):
    from claims.services import EmailTransientError, email_notification_send

    try:
        email_notification_send(notification_id=notification_id)
    except EmailTransientError as exc:
        raise self.retry(exc=exc, countdown=EMAIL_RETRY_SECONDS[min(self.request.retries, 4)]) from exc


@shared_task
def email_notifications_send_task(*, notification_ids):
    """Send a batch of outbox rows (one task per transition or finalization chunk, not one per email)."""
    from claims.services import EmailTransientError, email_notification_send

    for notification_id in notification_ids:
        try:
            email_notification_send(notification_id=notification_id)
        except EmailTransientError:
            # The row is pending again; its own task retries it with backoff.
            email_notification_send_task.apply_async(
                kwargs={"notification_id": notification_id}, countdown=EMAIL_RETRY_SECONDS[0]
            )


@shared_task
def claims_finalize_due_task():
    from claims.services import claims_finalize_due

    return claims_finalize_due()


@shared_task
def claims_expire_information_requests_task():
    from claims.services import claims_expire_information_requests

    return claims_expire_information_requests()


@shared_task
def associations_end_expired_task():
    from claims.services import associations_end_expired

    return associations_end_expired()


@shared_task
def pending_uploads_purge_task():
    from claims.services import pending_uploads_purge

    return pending_uploads_purge(older_than=datetime.timedelta(days=1))


@shared_task
def claim_counts_compact_task():
    from claims.services import claim_counts_compact

    return claim_counts_compact()


@shared_task
def lifecycle_requeue_task():
    """Rebuild lost work from PostgreSQL: outbox rows still pending, claims submitted but never validated."""
    from claims.services import claims_requeue_unvalidated, emails_requeue_pending

    return {
        "emails": emails_requeue_pending(),
        "claims": claims_requeue_unvalidated(),
    }
