import json
import subprocess
import sys
from pathlib import Path

from django.db import connection

from conftest import database_url
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


def test_healthz_is_a_template_and_one_indexed_query(client, db, django_assert_num_queries):
    # SPEC §11 measures pages against /healthz, "a template and one indexed query".
    with django_assert_num_queries(1) as captured:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert [template.name for template in response.templates] == ["healthz.html"]
    assert "<p>ok</p>" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "no-cache" in response["Cache-Control"]
    sql = captured.captured_queries[0]["sql"]
    assert sql.startswith('SELECT "associations_partner"."id"')
    assert sql.endswith('FROM "associations_partner" ORDER BY "associations_partner"."id" ASC LIMIT 1')
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using associations_partner_pkey" in plan or "Index Only Scan" in plan, plan


def test_healthz_signed_in_makes_the_same_one_query(client, partner_a, django_assert_num_queries):
    # The template is rendered without the request: no session, user or membership read for a monitor or a
    # browser that sends its session cookie.
    client.force_login(partner_a.admin)
    with django_assert_num_queries(1):
        response = client.get("/healthz")

    assert response.status_code == 200


def test_healthz_answers_head_for_load_balancers(client, db):
    assert client.head("/healthz").status_code == 200


def test_healthz_post_is_405(client, db):
    response = client.post("/healthz")

    assert response.status_code == 405
    assert sorted(response["Allow"].split(", ")) == ["GET", "HEAD"]


def test_healthz_is_503_when_the_database_is_down(tmp_path):
    # Nothing listens on port 1: the connection is refused at once.
    status, content = _healthz_in_a_fresh_process(tmp_path, "postgres://postgres@127.0.0.1:1/x")
    assert status == 503
    assert "<p>database unavailable</p>" in content


def test_healthz_is_ok_in_a_fresh_process_whose_database_answers(tmp_path, django_db_setup):
    # The control for the test above: the same process on the migrated test database.
    status, content = _healthz_in_a_fresh_process(tmp_path, database_url(connection.settings_dict["NAME"]))
    assert status == 200
    assert "<p>ok</p>" in content


def test_healthz_is_503_when_the_database_has_no_schema(tmp_path):
    # The server answers but the application's tables are not there (an unmigrated database): not healthy.
    status, content = _healthz_in_a_fresh_process(tmp_path, database_url("postgres"))
    assert status == 503
    assert "<p>database unavailable</p>" in content
