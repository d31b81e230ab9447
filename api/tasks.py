"""The API's Celery tasks: thin, idempotent, ids as keyword arguments (STYLE 7). Beat's schedule is in
``cpor/celery.py``; their queues (``webhooks``, ``sweeps``, the default) in ``CELERY_TASK_ROUTES``
(``cpor/settings.py``)."""

from celery import shared_task


@shared_task
def webhook_deliveries_send_task(*, delivery_ids):
    """After a commit that wrote deliveries: send those now if they are due."""
    from api.services.webhooks import deliveries_send_due

    return deliveries_send_due(ids=list(delivery_ids))


@shared_task
def webhooks_send_due_task():
    """The webhook outbox's sweep (beat, every 30 seconds): every due delivery, on its own backoff."""
    from api.services.webhooks import deliveries_send_due

    return deliveries_send_due()


@shared_task
def bulk_import_run_task(*, import_id):
    from api.services.imports import bulk_import_run

    return bulk_import_run(import_id=import_id)


@shared_task
def api_housekeeping_task():
    """Every minute: imports a dead worker left unfinished run again; Idempotency-Key answers past their day go."""
    from api.idempotency import idempotency_records_purge
    from api.services.imports import bulk_imports_resume

    bulk_imports_resume()
    idempotency_records_purge()
