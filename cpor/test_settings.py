"""Settings for the test suite: PostgreSQL, Redis and a loopback S3 server, whatever the shell exports.

The values are set before ``cpor.settings`` reads the environment; ``TEST_*`` variables override them.
"""

import os
import socket


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


S3_PORT = int(os.environ.get("TEST_S3_PORT") or _free_port())
os.environ.update(
    {
        "DEBUG": "1",
        "DATABASE_URL": os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cpor"),
        "CELERY_BROKER_URL": os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
        "CACHE_URL": os.environ.get("TEST_CACHE_URL", "redis://127.0.0.1:6379/13"),
        "AWS_STORAGE_BUCKET_NAME": "cpor-test",
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

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# pytest-django swaps every mailer for locmem in the test process. A Celery worker started by the tests writes
# its emails as .eml files where the test can read them.
# A worker that must speak SMTP (the SMTP fault test) gets TEST_EMAIL_URL instead.
MAILERS = {
    "default": env_email("TEST_EMAIL_URL")
    or {"BACKEND": "cpor.mail.EmlFileBackend", "OPTIONS": {"file_path": os.environ.get("TEST_EMAIL_DIR", "")}}
}
# Tests serve static files through the finders (DEBUG); no collectstatic output to point WhiteNoise at.
STATIC_ROOT = None
