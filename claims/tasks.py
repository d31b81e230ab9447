"""Celery tasks: thin and idempotent. Each takes ids as keyword arguments and calls one service.

The periodic ones are scheduled in ``cpor/celery.py`` (``beat_schedule``); every queue can be rebuilt from
PostgreSQL by ``lifecycle_requeue_task``.
"""

import datetime

from celery import shared_task

from claims import services

EMAIL_RETRY_SECONDS = [30, 120, 600, 1800, 3600]


@shared_task
def claim_validate_task(*, claim_id):
    """Validate the claim, and in the same batch other claims waiting (oldest first): a backlog drains a batch
    per task, and the tasks of claims already validated find nothing to do."""
    services.claims_validate_waiting(claim_id=claim_id)


@shared_task(bind=True, max_retries=len(EMAIL_RETRY_SECONDS))
def email_notification_send_task(self, *, notification_id):
    try:
        services.email_notification_send(notification_id=notification_id)
    except services.EmailTransientError as exc:
        raise self.retry(exc=exc, countdown=EMAIL_RETRY_SECONDS[min(self.request.retries, 4)]) from exc


@shared_task
def email_notifications_send_task(*, notification_ids):
    """Send a batch of outbox rows (one task per transition or finalization chunk, not one per email)."""
    for notification_id in notification_ids:
        try:
            services.email_notification_send(notification_id=notification_id)
        except services.EmailTransientError:
            # The row is pending again; its own task retries it with backoff.
            email_notification_send_task.apply_async(
                kwargs={"notification_id": notification_id}, countdown=EMAIL_RETRY_SECONDS[0]
            )


@shared_task
def claims_finalize_due_task():
    return services.claims_finalize_due()


@shared_task
def claims_expire_information_requests_task():
    return services.claims_expire_information_requests()


@shared_task
def associations_end_expired_task():
    return services.associations_end_expired()


@shared_task
def pending_uploads_purge_task():
    return services.pending_uploads_purge(older_than=datetime.timedelta(days=1))


@shared_task
def claim_counts_compact_task():
    return services.claim_counts_compact()


@shared_task
def lifecycle_requeue_task():
    """Rebuild lost work from PostgreSQL: outbox rows still pending, claims submitted but never validated."""
    return {
        "emails": services.emails_requeue_pending(),
        "claims": services.claims_requeue_unvalidated(),
    }
