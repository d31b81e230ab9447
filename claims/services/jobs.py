"""Enqueueing Celery tasks, after commit, by their names.

Services never import ``claims.tasks``: the tasks are the layer above, importing services. A task is sent by its
name (``claims.tasks.<name>``, the name its ``@shared_task`` registers and that beat and queued messages use).
"""

from functools import partial

from celery import current_app
from django.db import transaction


def task_send(name, **kwargs):
    """Send ``claims.tasks.<name>`` with these keyword arguments now."""
    current_app.send_task(f"claims.tasks.{name}", kwargs=kwargs)


def task_send_on_commit(name, **kwargs):
    """Send the task once the current transaction commits (at once outside one).

    robust: a broker that is down or slow never fails the request that committed the work. PostgreSQL is the
    source of truth and the periodic jobs (``claims_requeue_unvalidated``, the outbox sweep ``emails_send_due``)
    do the work later.
    """
    transaction.on_commit(partial(task_send, name, **kwargs), robust=True)
