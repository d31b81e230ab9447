"""Enqueueing Celery tasks, after commit, by their names.

Services never import ``claims.tasks``: the tasks are the layer above, importing services. A task is sent by its
name (``claims.tasks.<name>``, the name its ``@shared_task`` registers and that beat and queued messages use).
"""

import logging
import time
from functools import partial

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

# After a send that failed, the sends of the next seconds in this process are skipped instead of each waiting for
# the broker's socket timeout: a request that enqueues several tasks waits for the broker once at most. (One
# request at a time per process: gunicorn's sync workers and the solo worker pool, so a plain global will do.)
BROKER_DOWN_SECONDS = 5.0
_broker_failed_at = None


def task_send(name, **kwargs):
    """Send ``claims.tasks.<name>`` with these keyword arguments now.

    Bounded: the broker's sockets have timeouts and the publish retries once at most (``cpor/settings.py``,
    "Outages"), so a broker that never answers raises within about a second.
    """
    current_app.send_task(f"claims.tasks.{name}", kwargs=kwargs)


def task_send_guarded(name, **kwargs):
    global _broker_failed_at
    if _broker_failed_at is not None and time.monotonic() - _broker_failed_at < BROKER_DOWN_SECONDS:
        logger.warning("Broker down a moment ago: %s not sent now; the requeue jobs will send it", name)
        return
    try:
        task_send(name, **kwargs)
    except Exception:
        _broker_failed_at = time.monotonic()
        raise
    _broker_failed_at = None


def task_send_on_commit(name, **kwargs):
    """Send the task once the current transaction commits (at once outside one).

    robust: a broker that is down or slow never fails the request that committed the work, and holds it for about
    a second at most (``task_send``; later sends skipped for ``BROKER_DOWN_SECONDS``). PostgreSQL is the source of
    truth and the periodic jobs (``claims_requeue_unvalidated``, the outbox sweep ``emails_send_due``) do the
    work later.
    """
    transaction.on_commit(partial(task_send_guarded, name, **kwargs), robust=True)
