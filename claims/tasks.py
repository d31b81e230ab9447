"""Celery tasks: thin and idempotent. Each takes ids as keyword arguments and calls one service.

The periodic ones are scheduled in ``cpor/celery.py`` (``beat_schedule``); every queue can be rebuilt from
PostgreSQL by ``lifecycle_requeue_task`` (emails: by the outbox sweep, ``emails_send_due_task``). Services send
these tasks by name (``claims.services.jobs``) and never import this module; the tasks import services inside
their bodies, so importing this module alone (as a worker does) loads no service. Each task waits on the queue of
its kind (``CELERY_TASK_ROUTES`` in ``cpor/settings.py``, by name): a new task needs its route there.
"""

import datetime

from celery import shared_task


@shared_task
def claim_validate_task(*, claim_id):
    """Validate the claim, and in the same batch other claims waiting (oldest first): a backlog drains a batch
    per task, and the tasks of claims already validated find nothing to do."""
    from claims.services import claims_validate_waiting

    claims_validate_waiting(claim_id=claim_id)


@shared_task
def claim_challenges_notify_task(*, claim_ids):
    """The challenge notice (SPEC §8): the holders of the items these validated claims compete for are told, once
    per challenge however often this runs."""
    from claims.services.challenges import claim_challenges_notify

    return claim_challenges_notify(claim_ids=claim_ids)


@shared_task
def emails_send_due_task():
    """The outbox sweep (beat, every 30 seconds): every due email, on its row's schedule. A run that runs out of
    time (a backlog) sends this task again at once."""
    from claims.services import emails_send_due

    return emails_send_due(follow_up=True)


@shared_task
def email_notifications_send_task(*, notification_ids):
    """Wake-up after a commit that queued emails: send those rows now if they are due. A failure reschedules the
    row; nothing here retries or enqueues (the sweep is the one retry chain)."""
    from claims.services import emails_send_due

    return emails_send_due(ids=list(notification_ids))


@shared_task
def email_notification_send_task(*, notification_id):
    """Kept for messages queued before the retry schedule (their name must still resolve): sends the row only if
    it is due, with no retries of its own."""
    from claims.services import emails_send_due

    return emails_send_due(ids=[notification_id])


@shared_task
def claims_finalize_due_task():
    from claims.services import claims_finalize_due

    return claims_finalize_due()


@shared_task
def claims_expire_information_requests_task():
    from claims.services import claims_expire_information_requests

    return claims_expire_information_requests()


@shared_task
def answer_reminders_send_task():
    """The reminder one business day before an answer is due (beat): once per information request."""
    from claims.services import answer_reminders_send

    return answer_reminders_send()


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
    """Rebuild lost work from PostgreSQL: claims submitted but never validated, challengers whose holders were
    never told (SPEC §8). (Pending emails need no requeue: ``emails_send_due_task`` sweeps their rows.)"""
    from claims.services import claims_requeue_unvalidated
    from claims.services.challenges import claims_requeue_challenges

    return {"claims": claims_requeue_unvalidated(), "challenges": claims_requeue_challenges()}


@shared_task
def claims_expire_drafts_task():
    """Drafts untouched for 30 days become expired and lose their uploads (beat, hourly)."""
    from claims.services.drafts import claims_expire_drafts

    return claims_expire_drafts()


@shared_task
def claims_due_lapse_task():
    """Rejections whose dispute window has passed have nothing due any more: their due date is cleared, so the
    list's Due sort stops counting it (beat, hourly). Idempotent."""
    from claims.services.due import claims_due_lapse

    return claims_due_lapse()


@shared_task
def history_checkpoint_task():
    """History is evidence (SPEC §14): a signed checkpoint of every claim's chain head, outside PostgreSQL (beat,
    hourly). Idempotent: a second run writes a second, equally valid checkpoint."""
    from claims.services.evidence import history_checkpoint_write

    return history_checkpoint_write()
