"""Settings for the test suite: PostgreSQL, Redis and a loopback S3 server, whatever the shell exports.

The values are set before ``cpor.settings`` reads the environment; ``TEST_*`` variables override them.
"""

import os
import socket


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker_redis_url(name, default, number):
    """``name``'s Redis URL for pytest-xdist worker ``number``: its database number lowered by two per worker
    (13 and 14 for the first worker, 11 and 12 for the second, ...), so that no worker flushes another's data."""
    from urllib.parse import urlsplit, urlunsplit

    from django.core.exceptions import ImproperlyConfigured

    url = os.environ.get(name) or default
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    db = base - 2 * number
    if db < 0:
        raise ImproperlyConfigured(
            f"{name}: Redis database {base} leaves none for pytest-xdist worker gw{number} (each worker takes the "
            "number two below the previous one's); give a higher database number or fewer workers"
        )
    return urlunsplit(parts._replace(path=f"/{db}"))


# pytest-xdist runs the tests in worker processes gw0, gw1, ...: each has its own test database (pytest-django adds
# the suffix), Redis databases, cache key prefix, Celery queue and S3 bucket and server. Its values go back into
# the environment, so that a process a test starts (a Celery worker, gunicorn) inherits them as they are.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if WORKER and os.environ.get("CPOR_TEST_WORKER") != WORKER:
    _number = int(WORKER.removeprefix("gw"))
    os.environ.update(
        {
            "TEST_CELERY_BROKER_URL": _worker_redis_url("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14", _number),
            "TEST_CACHE_URL": _worker_redis_url("TEST_CACHE_URL", "redis://127.0.0.1:6379/13", _number),
            "CPOR_TEST_WORKER": WORKER,
        }
    )
    os.environ.pop("TEST_S3_PORT", None)  # each worker starts a moto server of its own
_suffix = f"-{WORKER}" if WORKER else ""

S3_PORT = int(os.environ.get("TEST_S3_PORT") or _free_port())
os.environ["TEST_S3_PORT"] = str(S3_PORT)
os.environ.update(
    {
        "DEBUG": "1",
        "DATABASE_URL": os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cpor"),
        "CELERY_BROKER_URL": os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
        "CACHE_URL": os.environ.get("TEST_CACHE_URL", "redis://127.0.0.1:6379/13"),
        "AWS_STORAGE_BUCKET_NAME": f"cpor-test{_suffix}",
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{S3_PORT}",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # The history chains' key (SPEC §14): fixed, so that a test's worker and subprocesses sign alike.
        "HISTORY_KEYS": "test:test-only-history-key-0123456789abcdefghijklmnop",
    }
)
os.environ.pop("EMAIL_URL", None)

from cpor.env import env_email  # noqa: E402
from cpor.settings import *  # noqa: E402,F403
from cpor.settings import CELERY_TASK_DEFAULT_QUEUE as PRODUCTION_DEFAULT_QUEUE  # noqa: E402
from cpor.settings import CELERY_TASK_ROUTES as PRODUCTION_ROUTES  # noqa: E402
from cpor.settings import celery_queues  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# pytest-django swaps every mailer for locmem in the test process. A Celery worker started by the tests writes
# its emails as .eml files where the test can read them.
# A worker that must speak SMTP (the SMTP fault test) gets TEST_EMAIL_URL instead.
MAILERS = {
    "default": env_email("TEST_EMAIL_URL")
    or {"BACKEND": "cpor.mail.EmlFileBackend", "OPTIONS": {"file_path": os.environ.get("TEST_EMAIL_DIR", "")}}
}
# The worker's own cache keys and Celery queues: production's routes with every queue renamed into the worker's own
# names (the default queue cpor-test-gwN, the others cpor-test-gwN-validation, ...), so that a Celery worker a test
# starts (with no -Q: every queue of CELERY_TASK_QUEUES) consumes this worker's queues only, routed as in production.
CACHES["default"]["KEY_PREFIX"] = f"cpor-test{_suffix}"  # noqa: F405
CELERY_TASK_DEFAULT_QUEUE = f"cpor-test{_suffix}"


def _own_queue(name):
    """The test worker's name for production's queue ``name``."""
    return CELERY_TASK_DEFAULT_QUEUE if name == PRODUCTION_DEFAULT_QUEUE else f"{CELERY_TASK_DEFAULT_QUEUE}-{name}"


CELERY_TASK_ROUTES = {task: {**route, "queue": _own_queue(route["queue"])} for task, route in PRODUCTION_ROUTES.items()}
CELERY_TASK_QUEUES = celery_queues(CELERY_TASK_DEFAULT_QUEUE, CELERY_TASK_ROUTES)
# Tests serve static files through the finders (DEBUG); no collectstatic output to point WhiteNoise at.
STATIC_ROOT = None
