import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from cpor.tests.test_settings_env import deployment_env

ROOT = Path(__file__).resolve().parents[2]
# /healthz through Django's test client in a fresh process with the given DATABASE_URL: no mocks.
HEALTHZ = (
    "import django, json\n"
    "django.setup()\n"
    "from django.test.utils import setup_test_environment\n"
    "setup_test_environment()\n"
    "from django.test import Client\n"
    "response = Client().get('/healthz')\n"
    "print(json.dumps([response.status_code, response.content.decode()]))\n"
)


def _healthz_in_a_fresh_process(tmp_path, database_url):
    result = subprocess.run(
        [sys.executable, "-c", HEALTHZ],
        cwd=ROOT,
        env=deployment_env(tmp_path, DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_healthz_is_ok_after_one_database_round_trip(client, db, django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Content-Type"].startswith("text/plain")
    assert "no-cache" in response["Cache-Control"]
    assert captured.captured_queries[0]["sql"] == "SELECT 1"


def test_healthz_answers_head_for_load_balancers(client, db):
    assert client.head("/healthz").status_code == 200


def test_healthz_post_is_405(client, db):
    response = client.post("/healthz")

    assert response.status_code == 405
    assert sorted(response["Allow"].split(", ")) == ["GET", "HEAD"]


def test_healthz_is_503_when_the_database_is_down(tmp_path):
    # Nothing listens on port 1: the connection is refused at once.
    assert _healthz_in_a_fresh_process(tmp_path, "postgres://postgres@127.0.0.1:1/x") == [
        503,
        "database unavailable\n",
    ]


def test_healthz_is_ok_in_a_fresh_process_whose_database_answers(tmp_path):
    # The control for the test above: the same process on the PostgreSQL server the tests use.
    database = settings.DATABASES["default"]
    url = f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT'] or 5432}/postgres"

    assert _healthz_in_a_fresh_process(tmp_path, url) == [200, "ok\n"]
