"""Celery queues by kind (README "Capacity plan"): every task of ours has a route decision in one place
(``CELERY_TASK_ROUTES``), a worker with no -Q consumes every queue, and the tests route as production does, into
queues of their own per pytest-xdist worker."""

from django.conf import settings

import cpor.settings as production
from cpor.celery import app

# The decision for every task, by kind; a new task fails the test until it is added to the routes (and here).
EXPECTED = {
    "validation": {"claims.tasks.claim_validate_task", "claims.tasks.claim_challenges_notify_task"},
    "email": {
        "claims.tasks.emails_send_due_task",
        "claims.tasks.email_notifications_send_task",
        "claims.tasks.email_notification_send_task",
    },
    "webhooks": {"api.tasks.webhooks_send_due_task", "api.tasks.webhook_deliveries_send_task"},
    "sweeps": {
        "claims.tasks.claims_finalize_due_task",
        "claims.tasks.claims_expire_information_requests_task",
        "claims.tasks.answer_reminders_send_task",
        "claims.tasks.associations_end_expired_task",
        "claims.tasks.pending_uploads_purge_task",
        "claims.tasks.claims_expire_drafts_task",
        "claims.tasks.claims_due_lapse_task",
        "claims.tasks.lifecycle_requeue_task",
        "claims.tasks.claim_counts_compact_task",
        "claims.tasks.history_checkpoint_task",
        "api.tasks.api_housekeeping_task",
    },
    "celery": {"api.tasks.bulk_import_run_task", "cpor.ping"},
}


def _our_tasks():
    """Every task a worker registers (autodiscovery runs when a worker starts: here on demand), Celery's own aside."""
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_celery_every_task_of_ours_has_a_route_and_no_route_names_a_missing_task():
    tasks = _our_tasks()

    assert len(tasks) == 20
    assert tasks == set(production.CELERY_TASK_ROUTES)
    assert tasks == set(settings.CELERY_TASK_ROUTES)


def test_celery_production_routes_by_kind():
    routed = {}
    for task, route in production.CELERY_TASK_ROUTES.items():
        routed.setdefault(route["queue"], set()).add(task)

    assert production.CELERY_TASK_DEFAULT_QUEUE == "celery"
    assert routed == EXPECTED


def test_celery_beat_entries_go_to_sweeps_but_the_outboxes_to_their_kind():
    """Beat names no queue: its entries are routed by task name like every other send. The two outbox sweeps,
    which drain a backlog batch after batch, run on their kind's queue, so that a backlog of emails or slow webhook
    endpoints never holds up finalization."""
    queues = {
        name: production.CELERY_TASK_ROUTES[entry["task"]]["queue"] for name, entry in app.conf.beat_schedule.items()
    }

    assert all(set(entry) == {"task", "schedule"} for entry in app.conf.beat_schedule.values())
    assert {name: queue for name, queue in queues.items() if queue != "sweeps"} == {
        "emails-send-due": "email",
        "webhooks-send-due": "webhooks",
    }
    assert len(queues) == 13


def test_celery_test_routes_are_productions_in_this_test_workers_own_queues():
    own = settings.CELERY_TASK_DEFAULT_QUEUE

    assert own.startswith("cpor-test")
    assert {task: route["queue"] for task, route in settings.CELERY_TASK_ROUTES.items()} == {
        task: own if route["queue"] == "celery" else f"{own}-{route['queue']}"
        for task, route in production.CELERY_TASK_ROUTES.items()
    }


def test_celery_router_sends_each_task_to_its_queue_and_a_worker_consumes_them_all():
    """What the app does with the settings: the router's queue for each task, and the queues a worker started with no
    -Q consumes (``make run``'s one worker, the tests' workers), the default one first."""
    for task, route in settings.CELERY_TASK_ROUTES.items():
        assert app.amqp.router.route({}, task)["queue"].name == route["queue"]
    own = settings.CELERY_TASK_DEFAULT_QUEUE
    assert list(app.amqp.queues) == [own, *(f"{own}-{kind}" for kind in ("validation", "email", "webhooks", "sweeps"))]
    assert [queue.name for queue in production.CELERY_TASK_QUEUES] == [
        "celery",
        "validation",
        "email",
        "webhooks",
        "sweeps",
    ]
