import uuid

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from conftest import _wait_for
from cpor.celery import ping


def test_default_storage_round_trips_bytes_through_s3(s3_objects):
    payload = bytes(range(256)) * 100
    name = default_storage.save("poe/test/proof.bin", ContentFile(payload))

    assert s3_objects("poe/") == [name]
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == payload


def test_task_enqueued_on_redis_is_run_by_real_worker(celery_worker):
    token = uuid.uuid4().hex

    ping.delay(token=token)

    _wait_for(lambda: cache.get(f"cpor:ping:{token}"), seconds=20, what="the ping task")
    assert cache.get(f"cpor:ping:{token}")


def test_real_worker_with_no_queue_option_consumes_every_routed_queue(celery_worker):
    """``make run``'s one worker and the tests' workers pass no -Q: they consume the default queue and every queue
    the routes name (this test worker's own names), and run what is sent to each."""
    from django.conf import settings

    from cpor.celery import app

    queues = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    consumed = app.control.inspect(timeout=5).active_queues()
    assert [sorted(queue["name"] for queue in names) for names in consumed.values()] == [sorted(queues)]
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} == set(queues)

    tokens = {queue: uuid.uuid4().hex for queue in queues}
    for queue, token in tokens.items():
        ping.apply_async(kwargs={"token": token}, queue=queue)
    for queue, token in tokens.items():
        _wait_for(lambda token=token: cache.get(f"cpor:ping:{token}"), seconds=20, what=f"the ping on {queue}")
    assert all(cache.get(f"cpor:ping:{token}") for token in tokens.values())
