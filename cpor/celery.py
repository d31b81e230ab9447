import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpor.settings")

app = Celery("cpor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic job, in one place. Deadlines live on the rows and are swept here (never delayed tasks); each
# job is safe to run twice at once (SKIP LOCKED, conditional updates). Entries name no queue: each task goes to the
# queue CELERY_TASK_ROUTES gives its name (cpor/settings.py), `sweeps` but for the outbox sweeps (email, webhooks).
app.conf.beat_schedule = {
    "claims-finalize-due": {"task": "claims.tasks.claims_finalize_due_task", "schedule": 30.0},
    "claims-expire-information-requests": {
        "task": "claims.tasks.claims_expire_information_requests_task",
        "schedule": 60.0,
    },
    # The partner's reminder one business day before an answer is due (sent once per request: its outbox row).
    "answer-reminders-send": {"task": "claims.tasks.answer_reminders_send_task", "schedule": 900.0},
    "associations-end-expired": {"task": "claims.tasks.associations_end_expired_task", "schedule": 300.0},
    "pending-uploads-purge": {"task": "claims.tasks.pending_uploads_purge_task", "schedule": 600.0},
    "claims-expire-drafts": {"task": "claims.tasks.claims_expire_drafts_task", "schedule": 3600.0},
    # The list's Due sort: a rejection's dispute window, once passed, is due no more.
    "claims-due-lapse": {"task": "claims.tasks.claims_due_lapse_task", "schedule": 3600.0},
    # The outbox: each pending email is sent when its row says it is due (retries back off up to 24 hours).
    "emails-send-due": {"task": "claims.tasks.emails_send_due_task", "schedule": 30.0},
    "lifecycle-requeue": {"task": "claims.tasks.lifecycle_requeue_task", "schedule": 60.0},
    # Folds the list page's count deltas into the counters; one run at a time (advisory lock).
    "claim-counts-compact": {"task": "claims.tasks.claim_counts_compact_task", "schedule": 60.0},
    # History is evidence (SPEC §14): the chains' heads, signed, in the file storage (claims.services.evidence).
    "history-checkpoint": {"task": "claims.tasks.history_checkpoint_task", "schedule": 3600.0},
    # The partner API (SPEC §16): the webhook outbox, and unfinished imports and old Idempotency-Key answers.
    "webhooks-send-due": {"task": "api.tasks.webhooks_send_due_task", "schedule": 30.0},
    "api-housekeeping": {"task": "api.tasks.api_housekeeping_task", "schedule": 60.0},
}


@app.task(name="cpor.ping")
def ping(*, token):
    """Proves a worker is consuming the broker: records the token in the shared cache for a minute."""
    from django.core.cache import cache
    from django.utils import timezone

    cache.set(f"cpor:ping:{token}", timezone.now().isoformat(), 60)
    return token


@worker_init.connect
def worker_database_role_check(**kwargs):
    _database_role_check("Celery worker")


@beat_init.connect
def beat_database_role_check(**kwargs):
    _database_role_check("Celery beat")


def _database_role_check(process):
    """The worker and beat refuse a superuser or owner role as the web server does (cpor.database_role). Celery logs
    and swallows an exception from a signal handler; SystemExit stops the process."""
    import django
    from django.core.exceptions import ImproperlyConfigured

    django.setup()
    from cpor.database_role import database_role_check

    try:
        database_role_check(process)
    except ImproperlyConfigured as exc:
        raise SystemExit(f"django.core.exceptions.ImproperlyConfigured: {exc}") from None
