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
from django.test import Client, override_settings

from associations.tests.fixtures import PASSWORD

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
    "DRAFT_MAX_KB",
    "DRAFTS_MAX_OPEN",
    "EMAIL_URL",
    "HISTORY_KEYS",
    "LOG_LEVEL",
    "POE_CLAIM_MAX_FILES",
    "POE_CLAIM_MAX_MB",
    "PASSWORD_RESET_CLIENT_LIMIT",
    "PASSWORD_RESET_CLIENT_MINUTES",
    "PASSWORD_RESET_EMAIL_LIMIT",
    "PASSWORD_RESET_EMAIL_MINUTES",
    "POE_LINK_SECONDS",
    "REDIS_TIMEOUT_MS",
    "REQUEST_MAX_MB",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "SECURE_COOKIES",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
    "SESSION_LIFETIME_HOURS_PARTNER",
    "SESSION_LIFETIME_HOURS_REVIEWER",
    "SIGNIN_CLIENT_FAILURE_LIMIT",
    "SIGNIN_CLIENT_WINDOW_MINUTES",
    "SIGNIN_FAILURE_LIMIT",
    "SIGNIN_LOCKOUT_MINUTES",
    "SITE_URL",
    "TRUSTED_PROXIES",
}
# What conftest.py sets for Playwright; a deployment never has it (check --deploy says so).
TEST_PROCESS_VARIABLES = {"DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE"}
SECRET_KEY = secrets.token_urlsafe(60)
HISTORY_KEY = "2026a:" + secrets.token_urlsafe(48)
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": SECRET_KEY,
    "ALLOWED_HOSTS": "cpor.example",
    "SITE_URL": "https://cpor.example",
    "HISTORY_KEYS": HISTORY_KEY,
}


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


def test_settings_debug_off_without_site_url_fails_naming_it(tmp_path):
    production = {name: value for name, value in PRODUCTION.items() if name != "SITE_URL"}

    assert_fails_naming(run_django(tmp_path, **production), "SITE_URL")
    assert_fails_naming(run_django(tmp_path, **production, SITE_URL="  "), "SITE_URL")


@pytest.mark.parametrize("url", ["cpor.example", "ftp://cpor.example", "https://"])
def test_settings_malformed_site_url_fails_naming_it(tmp_path, url):
    assert_fails_naming(run_django(tmp_path, **PRODUCTION | {"SITE_URL": url}), "SITE_URL")


def test_settings_site_url_is_kept_without_a_trailing_slash(tmp_path):
    assert settings_of(tmp_path, "settings.SITE_URL", **PRODUCTION | {"SITE_URL": "https://cpor.example/"}) == (
        "https://cpor.example"
    )
    # With DEBUG on, this machine's development server.
    assert settings_of(tmp_path, "settings.SITE_URL") == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "name, value",
    [
        ("REQUEST_MAX_MB", "50"),  # below five files of 10 MB: a full form could not be sent
        ("REQUEST_MAX_MB", "big"),
        ("POE_CLAIM_MAX_FILES", "4"),  # below what the wizard alone adds
        ("POE_CLAIM_MAX_MB", "49"),
        ("DRAFT_MAX_KB", "0"),
        ("DRAFTS_MAX_OPEN", "0"),
    ],
)
def test_settings_bad_quotas_fail_naming_them(tmp_path, name, value):
    assert_fails_naming(run_django(tmp_path, **{name: value}), name)


def test_settings_quotas_come_from_the_environment(tmp_path):
    values = settings_of(
        tmp_path,
        "[settings.REQUEST_MAX_BYTES, settings.POE_CLAIM_MAX_FILES, settings.POE_CLAIM_MAX_BYTES,"
        " settings.DRAFT_MAX_BYTES, settings.DRAFTS_MAX_OPEN]",
        REQUEST_MAX_MB="60",
        POE_CLAIM_MAX_FILES="30",
        POE_CLAIM_MAX_MB="200",
        DRAFT_MAX_KB="128",
        DRAFTS_MAX_OPEN="5",
    )

    assert values == [60 * 1024 * 1024, 30, 200 * 1024 * 1024, 128 * 1024, 5]


def test_settings_debug_off_without_history_keys_fails_naming_it(tmp_path):
    production = {name: value for name, value in PRODUCTION.items() if name != "HISTORY_KEYS"}
    assert_fails_naming(run_django(tmp_path, **production), "HISTORY_KEYS")


@pytest.mark.parametrize(
    "value",
    [
        "no-colon-" + "x" * 40,  # not id:secret
        "bad id:" + "x" * 40,  # a space in the id
        "2026a:too-short",  # a secret under 32 characters
        "k1:" + "x" * 40 + ",k1:" + "y" * 40,  # one id twice
    ],
)
def test_settings_malformed_history_keys_fail_naming_it(tmp_path, value):
    assert_fails_naming(run_django(tmp_path, **(PRODUCTION | {"HISTORY_KEYS": value})), "HISTORY_KEYS")


def test_settings_history_keys_parse_in_order_the_first_signs(tmp_path):
    older = "2025b:" + "o" * 40
    keys = settings_of(tmp_path, "settings.HISTORY_KEYS", **(PRODUCTION | {"HISTORY_KEYS": f"{HISTORY_KEY}, {older}"}))

    assert keys == [HISTORY_KEY.split(":", 1), older.split(":", 1)]
    # With DEBUG a development key, so that a fresh checkout runs; the one `make run` made once there is one, so
    # that manage.py commands beside it verify its history (scripts/run writes var/history-keys).
    assert settings_of(tmp_path, "settings.HISTORY_KEYS[0][0]") == "dev"
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "history-keys").write_text(f"{HISTORY_KEY}\n")
    assert settings_of(tmp_path, "settings.HISTORY_KEYS") == [HISTORY_KEY.split(":", 1)]
    production = settings_of(tmp_path, "settings.HISTORY_KEYS", **(PRODUCTION | {"HISTORY_KEYS": older}))
    assert production == [older.split(":", 1)]  # the variable wins


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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMAIL_BOUNCE_ADDRESS", "bounces"),
        ("EMAIL_BOUNCE_ADDRESS", "bounces+x@cpor.example"),
        ("EMAIL_BOUNCE_ADDRESS", "Bounces <bounces@cpor.example>"),
        ("EMAIL_BOUNCE_TOKEN", "short"),
    ],
)
def test_settings_bad_bounce_settings_fail_naming_them(tmp_path, name, value):
    assert_fails_naming(run_django(tmp_path, **{name: value}), name)


def test_settings_bounce_address_defaults_to_the_senders_domain(tmp_path):
    values = settings_of(
        tmp_path,
        "[settings.EMAIL_BOUNCE_ADDRESS, settings.EMAIL_BOUNCE_TOKEN]",
        DEFAULT_FROM_EMAIL="Claims <claims@mail.contoso.example>",
    )

    assert values == ["bounces@mail.contoso.example", ""]


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
            # Django's SMTP backend, which also tells which recipients the server refused (cpor.mail).
            "BACKEND": "cpor.mail.SmtpBackend",
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
    # The SMTP backend (Django's, subclassed) accepts those options.
    assert backend == ["SmtpBackend", "mail.example", 587, "u", "p", True, False]


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


@pytest.mark.parametrize(
    "name, value",
    [
        ("SIGNIN_FAILURE_LIMIT", "0"),
        ("SIGNIN_LOCKOUT_MINUTES", "soon"),
        ("SIGNIN_CLIENT_FAILURE_LIMIT", "0"),
        ("SIGNIN_CLIENT_WINDOW_MINUTES", "-5"),
        ("SESSION_LIFETIME_HOURS_PARTNER", "a week"),
        ("SESSION_LIFETIME_HOURS_REVIEWER", "0"),
        ("PASSWORD_RESET_EMAIL_LIMIT", "0"),
        ("PASSWORD_RESET_EMAIL_MINUTES", "1.5"),
        ("PASSWORD_RESET_CLIENT_LIMIT", "none"),
        ("PASSWORD_RESET_CLIENT_MINUTES", "0"),
    ],
)
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


def test_settings_account_limits_come_from_the_environment(tmp_path):
    values = settings_of(
        tmp_path,
        "[settings.SIGNIN_CLIENT_FAILURE_LIMIT, settings.SIGNIN_CLIENT_WINDOW.total_seconds(),"
        " settings.SESSION_LIFETIME_SECONDS_PARTNER, settings.SESSION_LIFETIME_SECONDS_REVIEWER,"
        " settings.PASSWORD_RESET_EMAIL_LIMIT, settings.PASSWORD_RESET_EMAIL_MINUTES,"
        " settings.PASSWORD_RESET_CLIENT_LIMIT, settings.PASSWORD_RESET_CLIENT_MINUTES]",
        SIGNIN_CLIENT_FAILURE_LIMIT="25",
        SIGNIN_CLIENT_WINDOW_MINUTES="30",
        SESSION_LIFETIME_HOURS_PARTNER="48",
        SESSION_LIFETIME_HOURS_REVIEWER="8",
        PASSWORD_RESET_EMAIL_LIMIT="2",
        PASSWORD_RESET_EMAIL_MINUTES="120",
        PASSWORD_RESET_CLIENT_LIMIT="20",
        PASSWORD_RESET_CLIENT_MINUTES="30",
    )

    assert values == [25, 1800.0, 48 * 3600, 8 * 3600, 2, 120, 20, 30]


COOKIE_NAMES = "[settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, settings.LANGUAGE_COOKIE_NAME]"


def test_settings_production_cookie_names_start_with_host_prefix(tmp_path):
    assert settings_of(tmp_path, COOKIE_NAMES, **PRODUCTION) == [
        "__Host-sessionid",
        "__Host-csrftoken",
        "__Host-django_language",
    ]
    # `make run`'s plain HTTP (a browser refuses a __Host- cookie there) and DEBUG keep the plain names.
    plain = ["sessionid", "csrftoken", "django_language"]
    assert settings_of(tmp_path, COOKIE_NAMES, **PRODUCTION, SECURE_COOKIES="0") == plain
    assert settings_of(tmp_path, COOKIE_NAMES) == plain


def test_settings_production_time_zone_cookie_has_the_host_prefix(tmp_path):
    """The viewer's time zone cookie (associations.timezones) follows the language cookie's rules."""
    assert settings_of(tmp_path, "[settings.TIME_ZONE_COOKIE_NAME]", **PRODUCTION) == ["__Host-cpor_time_zone"]
    assert settings_of(tmp_path, "[settings.TIME_ZONE_COOKIE_NAME]", **PRODUCTION, SECURE_COOKIES="0") == [
        "cpor_time_zone"
    ]


COOKIE_SETTINGS = [
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_PATH",
    "SESSION_COOKIE_DOMAIN",
    "CSRF_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_PATH",
    "CSRF_COOKIE_DOMAIN",
    "LANGUAGE_COOKIE_NAME",
    "LANGUAGE_COOKIE_SECURE",
    "LANGUAGE_COOKIE_PATH",
    "LANGUAGE_COOKIE_DOMAIN",
]


@pytest.mark.django_db
def test_settings_production_cookies_keep_the_host_prefix_rules(tmp_path, monkeypatch, partner_a):
    """In this process: cpor/settings.py read as production reads it, its cookie settings applied, and the cookies
    a sign-in and the language switch set over HTTPS. A browser keeps a `__Host-` cookie only with Secure, Path=/
    and no Domain."""
    production = deployment_env(tmp_path, **PRODUCTION)
    for key in set(os.environ) - set(production):
        monkeypatch.delenv(key)
    for key, value in production.items():
        monkeypatch.setenv(key, value)
    values = runpy.run_path(str(ROOT / "cpor" / "settings.py"))
    monkeypatch.undo()
    cookies = {name: values[name] for name in COOKIE_SETTINGS if name in values}  # else Django's defaults

    with override_settings(**cookies):
        client = Client()
        client.get("/login/", secure=True)
        signed_in = client.post("/login/", {"username": partner_a.admin.email, "password": PASSWORD}, secure=True)
        switched = client.post("/language/", {"language": "zh-hant", "next": "/"}, secure=True)

    assert signed_in.status_code == 302
    assert switched.status_code == 302
    set_cookies = {**signed_in.cookies, **switched.cookies}
    assert set(set_cookies) >= {"__Host-sessionid", "__Host-csrftoken", "__Host-django_language"}
    for name in ("__Host-sessionid", "__Host-csrftoken", "__Host-django_language"):
        morsel = set_cookies[name]
        assert (morsel["secure"], morsel["path"], morsel["domain"]) == (True, "/", ""), name
