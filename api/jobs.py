"""Sending the API's Celery tasks after commit, by name, with claims' guard (a broker that is down never fails the
request that committed the work: the beat sweeps rebuild the queue from PostgreSQL)."""

import logging
import time
from functools import partial

from celery import current_app
from django.db import transaction

from claims.services import jobs

logger = logging.getLogger(__name__)


def _send_guarded(name, **kwargs):
    if jobs._broker_failed_at is not None and time.monotonic() - jobs._broker_failed_at < jobs.BROKER_DOWN_SECONDS:
        logger.warning("Broker down a moment ago: %s not sent now; the sweep will send it", name)
        return
    try:
        current_app.send_task(name, kwargs=kwargs)
    except Exception:
        jobs._broker_failed_at = time.monotonic()
        raise
    jobs._broker_failed_at = None


def task_send_on_commit(name, **kwargs):
    """Send the task ``name`` (its full name, e.g. ``api.tasks.x``) once the current transaction commits."""
    transaction.on_commit(partial(_send_guarded, name, **kwargs), robust=True)
