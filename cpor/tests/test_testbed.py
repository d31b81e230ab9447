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
