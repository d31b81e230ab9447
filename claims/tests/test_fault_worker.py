"""A worker killed with ``kill -9`` in the middle of a validation (SPEC §11): a new worker validates the claim once.

Deterministic: the test holds ``claims_claimevent`` locked (EXCLUSIVE: reads pass, writes wait), so the worker
takes the claim, validates it and writes its outcome, then waits inside its transaction on the history insert.
The test sees it waiting in ``pg_locks``, kills it, releases the table and starts a new worker.
"""

import datetime
import os
import signal

import pytest
from django.conf import settings
from django.db import connection

from claims.models import Claim, ClaimEvent, ClaimStatus
from claims.services import claims_requeue_unvalidated
from claims.services.jobs import task_send
from claims.services.transitions import claim_event_record
from claims.tests.factories import claim_make
from claims.tests.invariants import assert_invariants
from conftest import _stop, _wait_for, celery_worker_start, owner_connect

pytestmark = pytest.mark.django_db(transaction=True)
# Where claim_validate_task waits (cpor/settings.py routes it by name; the test worker's own queue).
VALIDATION_QUEUE = settings.CELERY_TASK_ROUTES["claims.tasks.claim_validate_task"]["queue"]


def _lock_holder():
    """A connection of the test's own (not Django's) to the test database, as its owner: locking the history
    against writers (EXCLUSIVE mode) takes more than the application role's rights on it."""
    return owner_connect(autocommit=False)


def _waiting_on_history():
    """PIDs of the backends waiting for a lock on claims_claimevent."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE relation = 'claims_claimevent'::regclass AND NOT granted ORDER BY pid"
        )
        return [pid for (pid,) in cursor.fetchall()]


def _backend_alive(pid):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


def _validations(claim):
    return list(
        claim.events.filter(action__in=[ClaimEvent.Action.VALIDATED, ClaimEvent.Action.VALIDATION_FAILED]).values_list(
            "action", flat=True
        )
    )


def _status(claim):
    return Claim.objects.values_list("status", flat=True).get(pk=claim.pk)


def test_fault_worker_killed_mid_validation_claim_validated_once(
    partner_a, m365_tenant, products, own_redis, broker_at, tmp_path, s3_objects
):
    own_redis.client().flushall()
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])
    claim_event_record(
        claim=claim, actor=ClaimEvent.Actor.PARTNER, action=ClaimEvent.Action.SUBMITTED, new_status=claim.status
    )
    with broker_at(own_redis.url()):
        first = celery_worker_start(broker_url=own_redis.url(), workdir=tmp_path)
        holder = _lock_holder()
        try:
            holder.execute("LOCK TABLE claims_claimevent IN EXCLUSIVE MODE")
            task_send("claim_validate_task", claim_id=claim.pk)
            _wait_for(lambda: len(_waiting_on_history()) == 1, seconds=30, what="the worker inside validation")
            (backend,) = _waiting_on_history()
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            holder.rollback()
            holder.close()
            _stop(first)
        # Its backend finds its client gone and rolls the whole validation back.
        _wait_for(lambda: not _backend_alive(backend), seconds=30, what="the killed worker's transaction to end")
        assert _status(claim) == ClaimStatus.SUBMITTED
        assert _validations(claim) == []

        second = celery_worker_start(broker_url=own_redis.url(), workdir=tmp_path)
        try:
            # The killed worker's message waits unacknowledged; the requeue job sends the work again, twice here
            # (two beats in a row) to show a repeated task finds nothing more to do.
            assert claims_requeue_unvalidated(older_than=datetime.timedelta(0)) == 1
            _wait_for(lambda: _status(claim) == ClaimStatus.UNDER_REVIEW, seconds=30, what="validation")
            task_send("claim_validate_task", claim_id=claim.pk)
            _wait_for(
                lambda: own_redis.client().llen(VALIDATION_QUEUE) == 0,
                seconds=10,
                what="the repeated task",
            )
            _wait_for(lambda: own_redis.client().hlen("unacked") <= 1, seconds=10, what="the repeated task's ack")
        finally:
            _stop(second)
    assert _validations(claim) == [ClaimEvent.Action.VALIDATED]
    assert_invariants(storage_keys=s3_objects())
