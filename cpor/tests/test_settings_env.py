"""cpor/settings.py read from the environment, as a deployment starts it: executed afresh in this process each
time (runpy), with exactly the given settings variables in the environment."""

import io
import json
import os
import runpy
import secrets
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
# Everything cpor/settings.py reads; the test process has set some of them (cpor/test_settings.py).
SETTINGS_VARIABLES = {
    "ALLOWED_HOSTS",
    "AWS_ACCESS_KEY_ID",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_REGION_NAME",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_STORAGE_BUCKET_NAME",
    "BEHIND_PROXY",
    "CACHE_URL",
    "CELERY_BROKER_URL",
    "CONN_MAX_AGE",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "DEBUG",
    "DEFAULT_FROM_EMAIL",
    "EMAIL_URL",
    "LOG_LEVEL",
    "POE_LINK_SECONDS",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
    "SIGNIN_FAILURE_LIMIT",
    "SIGNIN_LOCKOUT_MINUTES",
    "SITE_URL",
    "TRUSTED_PROXIES",
}
# What conftest.py sets for Playwright; a deployment never has it (check --deploy says so).
TEST_PROCESS_VARIABLES = {"DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE"}
SECRET_KEY = secrets.token_urlsafe(60)
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "cpor.example"}


def deployment_env(tmp_path, **env):
    """This process's environment without any settings variable, plus exactly ``env`` (for a process of its own)."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTINGS_VARIABLES and key not in TEST_PROCESS_VARIABLES
    }
    return clean | {"DJANGO_SETTINGS_MODULE": "cpor.settings", "CPOR_VAR_DIR": str(tmp_path / "var")} | env


def load_settings(tmp_path, **env):
    """cpor/settings.py executed afresh in this process with exactly the given settings variables (and
    ``CPOR_VAR_DIR`` in ``tmp_path``): its values as attributes. The environment is restored afterwards."""
    wanted = {"CPOR_VAR_DIR": str(tmp_path / "var")} | env
    saved = {key: os.environ.get(key) for key in SETTINGS_VARIABLES | wanted.keys()}
    for key in SETTINGS_VARIABLES:
        os.environ.pop(key, None)
    os.environ.update(wanted)
    try:
        return types.SimpleNamespace(**runpy.run_path(str(ROOT / "cpor" / "settings.py")))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Started:
    """How reading the settings ended, as a process starting with them would report it."""

    returncode: int
    stderr: str
    settings: types.SimpleNamespace | None


def run_django(tmp_path, **env):
    """Read cpor.settings with exactly the given settings variables: a failure comes back as a non-zero
    ``returncode`` with the traceback in ``stderr``, as a process starting with these settings would print it."""
    try:
        return Started(0, "", load_settings(tmp_path, **env))
    except Exception as exc:
        return Started(1, "".join(traceback.format_exception(exc)), None)


def settings_of(tmp_path, expression, **env):
    """The JSON value of a settings expression, e.g. ``settings.DATABASES['default']``."""
    result = run_django(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    value = eval(expression, {"settings": result.settings})
    return json.loads(json.dumps(value, default=str))


def assert_fails_naming(result, name):
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "url",
    [
        "postgres://user@host:notaport/db",
        "mysql://x",
        "nonsense",
        "postgres://user@db.example:5432/",
        "postgres://user@db.example:99999/cpor",
    ],
)
def test_settings_malformed_database_url_fails_naming_it(tmp_path, url):
    assert_fails_naming(run_django(tmp_path, DATABASE_URL=url), "DATABASE_URL")


def test_settings_malformed_database_url_error_does_not_print_the_password(tmp_path):
    result = run_django(tmp_path, DATABASE_URL="mysql://cpor:hunter2secret@db.example/cpor")

    assert_fails_naming(result, "DATABASE_URL")
    assert "hunter2secret" not in result.stderr


def test_settings_debug_off_without_secret_key_fails_naming_it(tmp_path):
    assert_fails_naming(run_django(tmp_path, DEBUG="0", ALLOWED_HOSTS="cpor.example"), "SECRET_KEY")


def test_settings_debug_off_without_allowed_hosts_fails_naming_it(tmp_path):
    assert_fails_naming(run_django(tmp_path, DEBUG="0", SECRET_KEY=SECRET_KEY), "ALLOWED_HOSTS")


def test_settings_malformed_debug_fails_naming_it(tmp_path):
    assert_fails_naming(run_django(tmp_path, DEBUG="maybe"), "DEBUG")


@pytest.mark.parametrize("value", ["ten", "-1", "1.5"])
@pytest.mark.parametrize("database_url", ["postgres://cpor@db.example:5432/cpor", None])
def test_settings_bad_conn_max_age_fails_naming_it(tmp_path, value, database_url):
    env = {"CONN_MAX_AGE": value} | ({"DATABASE_URL": database_url} if database_url else {})

    assert_fails_naming(run_django(tmp_path, **env), "CONN_MAX_AGE")


@pytest.mark.parametrize(
    "url",
    [
        "smtp://mail.example:notaport",
        "smtp://u:p@mail.example:99999",
        "http://mail.example",
        "smtp://",
        "mail.example:587",
        "smtp://mail.example:587?starttls=maybe",
        "smtp://mail.example:587?tls=1",
        "smtps://mail.example:465?starttls=1",
    ],
)
def test_settings_malformed_email_url_fails_naming_it(tmp_path, url):
    assert_fails_naming(run_django(tmp_path, EMAIL_URL=url), "EMAIL_URL")


def test_settings_postgres_database_url_parses_with_persistent_connections(tmp_path):
    database = settings_of(
        tmp_path, "settings.DATABASES['default']", DATABASE_URL="postgres://cpor:s%40cret@db.example:6543/cpor_prod"
    )

    assert {key: database[key] for key in ["ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT"]} == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "cpor_prod",
        "USER": "cpor",
        "PASSWORD": "s@cret",
        "HOST": "db.example",
        "PORT": 6543,
    }
    assert database["CONN_MAX_AGE"] == 600
    assert database["CONN_HEALTH_CHECKS"] is True


def test_settings_conn_max_age_zero_turns_persistent_connections_off(tmp_path):
    database = settings_of(
        tmp_path, "settings.DATABASES['default']", DATABASE_URL="postgres://cpor@db/cpor", CONN_MAX_AGE="0"
    )

    assert database["CONN_MAX_AGE"] == 0


def test_settings_email_url_with_starttls_gives_the_smtp_mailer(tmp_path):
    from django.core.mail import mailers

    result = run_django(tmp_path, EMAIL_URL="smtp://u:p@mail.example:587?starttls=1")

    assert result.returncode == 0, result.stderr
    mailers_setting = json.loads(json.dumps(result.settings.MAILERS))
    with override_settings(MAILERS=result.settings.MAILERS):
        m = mailers["default"]
        backend = [type(m).__name__, m.host, m.port, m.username, m.password, m.use_tls, m.use_ssl]
    assert mailers_setting == {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "mail.example",
                "port": 587,
                "username": "u",
                "password": "p",
                "use_ssl": False,
                "use_tls": True,
                "timeout": 20,
            },
        }
    }
    # Django's own SMTP backend accepts those options.
    assert backend == ["EmailBackend", "mail.example", 587, "u", "p", True, False]


def test_settings_smtps_email_url_uses_implicit_tls_on_465(tmp_path):
    options = settings_of(tmp_path, "settings.MAILERS['default']['OPTIONS']", EMAIL_URL="smtps://mail.example")

    assert (options["port"], options["use_ssl"], options["use_tls"]) == (465, True, False)


def test_settings_defaults_need_no_service_but_the_embedded_postgres(tmp_path):
    values = settings_of(
        tmp_path,
        "[settings.DEBUG, settings.DATABASES['default'], settings.CELERY_BROKER_URL,"
        " settings.MAILERS['default']['BACKEND'], settings.STORAGES['default']['BACKEND']]",
    )

    debug, database, broker, mailer, storage = values
    assert debug is True
    # The socket of the PostgreSQL that `make run` starts in var/postgres (scripts/run).
    assert {key: database[key] for key in ["ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT"]} == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "cpor",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(tmp_path / "var" / "postgres"),
        "PORT": "",
    }
    assert database["CONN_MAX_AGE"] == 600
    assert database["CONN_HEALTH_CHECKS"] is True
    assert [broker, mailer, storage] == [
        "filesystem://",
        "cpor.mail.EmlFileBackend",
        "django.core.files.storage.FileSystemStorage",
    ]


def test_settings_default_database_socket_follows_a_var_dir_with_odd_characters(tmp_path):
    var_dir = tmp_path / "my var #1%"

    host = settings_of(tmp_path, "settings.DATABASES['default']['HOST']", CPOR_VAR_DIR=str(var_dir))

    assert host == str(var_dir / "postgres")


def test_settings_database_url_on_a_socket_directory_parses(tmp_path):
    database = settings_of(
        tmp_path, "settings.DATABASES['default']", DATABASE_URL="postgres://postgres@%2Frun%2Fpg%20x:5433/cpor"
    )

    assert [database["HOST"], database["PORT"], database["NAME"]] == ["/run/pg x", 5433, "cpor"]


# The URLs of other engines, built from parts so that a search of the code for them finds only real uses.
@pytest.mark.parametrize(
    "scheme, rest", [("sqlite", ":///var/cpor.db"), ("sqlite", "://:memory:"), ("mysql", "://u@h/db")]
)
def test_settings_other_database_url_is_refused_naming_it(tmp_path, scheme, rest):
    result = run_django(tmp_path, DATABASE_URL=scheme + rest)

    assert_fails_naming(result, "DATABASE_URL")
    assert "postgres://" in result.stderr.strip().splitlines()[-1]


def test_settings_production_passes_check_deploy_without_warnings(tmp_path):
    production = load_settings(tmp_path, **PRODUCTION)
    # Every setting production reads differently, but the database (the check does not connect): the apps are the
    # same, so the registry stays as it is.
    from django.conf import settings

    changed = {
        name: value
        for name, value in vars(production).items()
        if name.isupper() and name != "DATABASES" and getattr(settings, name, object()) != value
    }
    stdout, stderr = io.StringIO(), io.StringIO()
    with override_settings(**changed), mock.patch.dict(os.environ):
        for name in TEST_PROCESS_VARIABLES:
            os.environ.pop(name, None)
        call_command("check", "--deploy", "--fail-level", "WARNING", stdout=stdout, stderr=stderr)

    assert "INSTALLED_APPS" not in changed and changed["ALLOWED_HOSTS"] == ["cpor.example"]
    assert "System check identified no issues (0 silenced)." in stdout.getvalue()
    assert "WARNINGS" not in stdout.getvalue() + stderr.getvalue()


def test_settings_production_turns_on_the_secure_defaults(tmp_path):
    values = settings_of(
        tmp_path,
        "[settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SECURE_SSL_REDIRECT,"
        " settings.SECURE_HSTS_SECONDS, settings.ALLOWED_HOSTS]",
        **PRODUCTION,
    )

    assert values == [True, True, True, 31536000, ["cpor.example"]]


@pytest.mark.parametrize("name, value", [("SIGNIN_FAILURE_LIMIT", "0"), ("SIGNIN_LOCKOUT_MINUTES", "soon")])
def test_settings_bad_signin_limits_fail_naming_them(tmp_path, name, value):
    assert_fails_naming(run_django(tmp_path, **{name: value}), name)


def test_settings_signin_limits_come_from_the_environment(tmp_path):
    values = settings_of(
        tmp_path,
        "[settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds(), settings.BEHIND_PROXY]",
        SIGNIN_FAILURE_LIMIT="7",
        SIGNIN_LOCKOUT_MINUTES="30",
        BEHIND_PROXY="1",
    )

    assert values == [7, 1800.0, True]
