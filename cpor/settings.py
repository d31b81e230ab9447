"""Settings for CPOR claims, read from the environment.

Defaults make a fresh checkout run with no service but the embedded PostgreSQL that ``make run`` starts in
``var/postgres`` (local files, a file-system Celery broker, emails written to ``var/mail``). Every variable is
listed in the README's settings table.
"""

import datetime
import re
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from kombu import Exchange, Queue

from cpor.env import env_bool, env_database, env_email, env_int, env_keys, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CPOR_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-DEBUG-mode-0123456789abcdef"
# Earlier secret keys, still accepted when checking signatures (customers' opt-out links, sessions) so that a key
# can be rotated without breaking the links already emailed; remove a key once its links have expired.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")

# History is evidence (SPEC §14, claims.history): the keys of the claims' history chains, [(id, secret), ...]. The
# first signs new events and checkpoints; the others still verify what they signed (rotation). Never stored in
# PostgreSQL: the database's owner cannot recompute a chain.
# With DEBUG and none set: the key `make run` made (so that manage.py commands run beside it verify its history),
# or a fixed development key.
_history_keys_file = VAR_DIR / "history-keys"
HISTORY_KEYS = env_keys(
    "HISTORY_KEYS",
    (_history_keys_file.read_text().strip() if _history_keys_file.is_file() else "") if DEBUG else "",
)
if not HISTORY_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "HISTORY_KEYS must be set when DEBUG is off (id:secret, e.g. "
            "HISTORY_KEYS=2026a:$(python -c 'import secrets; print(secrets.token_urlsafe(48))'))"
        )
    HISTORY_KEYS = [("dev", "insecure-development-history-key-only-for-DEBUG-mode-0123456789")]

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# The absolute base of every link in emails (the customer's opt-out link, password resets), never taken from a
# request. Required with DEBUG off: a default would send customers links to this machine's loopback address.
SITE_URL = (env_str("SITE_URL").strip() or ("http://127.0.0.1:8000" if DEBUG else "")).rstrip("/")
if not SITE_URL:
    raise ImproperlyConfigured("SITE_URL must be set when DEBUG is off (the base of links in emails: https://…)")
if urlsplit(SITE_URL).scheme not in {"http", "https"} or not urlsplit(SITE_URL).netloc:
    raise ImproperlyConfigured(f"SITE_URL must be an http:// or https:// address (got {SITE_URL!r})")

INSTALLED_APPS = [
    # First: its createsuperuser (cpor/management) replaces Django's, to check the password without input too.
    "cpor",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "formtools",
    # Sign-in throttling (failures in PostgreSQL, shared by every web process) and the reviewers' TOTP.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "associations",
    "claims",
    # The partner API, webhooks and bulk import (SPEC §16), above claims.
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every input, headers (SPEC §14): after WhiteNoise, so static files keep their own cache headers; before the
    # session, so that a cookie carrying control characters is dropped before it is looked up.
    "cpor.middleware.NoStoreMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # A body longer than any form needs: refused (413) before anything reads it, with the headers above.
    "cpor.middleware.RequestBodyLimitMiddleware",
    "cpor.middleware.RequestInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language (SPEC §15): the language cookie (set by the switch and on sign-in from the user's saved
    # preference), else Accept-Language. After the session, before CommonMiddleware, as Django asks.
    "django.middleware.locale.LocaleMiddleware",
    "associations.language.SignedInLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # The viewer's time zone (SPEC §15), from its cookie: no query.
    "associations.timezones.ViewerTimeZoneMiddleware",
    "associations.middleware.SessionIdleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a lock-out found while signing in into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cpor.urls"
WSGI_APPLICATION = "cpor.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "associations.context_processors.membership",
                "claims.context_processors.needs_action",
                "django.template.context_processors.csp",
            ],
        },
    },
    # The rows of the busiest list pages (issue 19): 25 rows of a table in Django's template language cost more than
    # the page's SQL and its base layout together; Jinja2 renders them about five times faster. Only fragments
    # that a view renders itself live here (templates/jinja2/); they print what the view prepared, translations
    # included, so every message stays in Django's catalogs. No context processors: a fragment sees its context.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "fragments",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "cpor.jinja2.environment", "autoescape": True},
    },
]
# Forms' widgets and fields in Jinja2 where Django ships the template for it (cpor/jinja2.py).
FORM_RENDERER = "cpor.jinja2.FormRenderer"

# Database ---------------------------------------------------------------------------------------------------------

# Without DATABASE_URL: the embedded PostgreSQL that `make run` starts (scripts/run), on its Unix socket in
# var/postgres, so that manage.py commands reach it too. dj-database-url reads a percent-encoded host as the
# socket's directory. (Where that path is too long for a socket the server puts it elsewhere; `make run` then
# exports the exact DATABASE_URL to its processes.)
_embedded_database_url = f"postgres://postgres@{quote(str(VAR_DIR.resolve() / 'postgres'), safe='')}/cpor"
DATABASES = {"default": env_database("DATABASE_URL", _embedded_database_url)}
# Persistent connections: measured here, CONN_MAX_AGE=0 costs about 6x throughput.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 600, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Auth -------------------------------------------------------------------------------------------------------------

# The throttles first: they refuse a client that failed too often (whatever the account), then a locked-out
# account+client, before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "associations.auth.ClientThrottleBackend",
    "axes.backends.AxesStandaloneBackend",
    "associations.auth.EmailBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "claims:list"
LOGOUT_REDIRECT_URL = "login"
# Wherever a password is set (the reset's form, admin, createsuperuser, anything that saves a user after
# set_password: associations.auth.password_validate_on_save): at least 12 characters (OWASP ASVS L2), not one of
# the common passwords, not like the account's email or name.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Sign-in throttle (SPEC §14). Failures are counted per account and client together: counting per account alone
# would let anyone lock a partner out by typing their email, per client alone would lock out a whole office
# behind one NAT address. The database handler keeps the counts in PostgreSQL, shared by every web process, and
# its lock-outs are rows an admin deletes (Axes, Access attempts) to lift them; the cache handler's would be
# invisible in admin and forgotten when Redis restarts, and sign-in must keep working while Redis is down.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("SIGNIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("SIGNIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "associations.auth.signin_username"
AXES_LOCKOUT_CALLABLE = "associations.views.signin_locked_out"
AXES_RESET_ON_SUCCESS = True
# A failure during the lock-out does not push its end further: the page promises a time and keeps to it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# The log names the account and the client of each failure (axes masks both by default): a log that cannot say
# who was tried from where helps nobody investigate. Passwords (always) and TOTP codes are masked.
AXES_SENSITIVE_PARAMETERS = ["otp_token"]
# The client: the connection's peer, or behind the configured proxies the address they saw (cpor/clientip.py).
AXES_CLIENT_IP_CALLABLE = "cpor.clientip.client_ip"
# Per client, across accounts (password spraying: many accounts, one password, one client): after this many failed
# sign-ins from one client (an IPv6 client's /64) within the window, every sign-in from it is refused with the 429
# page, whatever the account, until the oldest of them is older than the window (associations.auth
# .ClientThrottleBackend). Counted in axes' failure log in PostgreSQL, as the per-account throttle is: shared by
# every web process, visible in admin (Axes, Access failures: deleting a client's rows lifts it), and working
# while Redis is down, where a cache's count would have to fail open and so switch the throttle off.
SIGNIN_CLIENT_FAILURE_LIMIT = env_int("SIGNIN_CLIENT_FAILURE_LIMIT", 10, minimum=1)
SIGNIN_CLIENT_WINDOW = datetime.timedelta(minutes=env_int("SIGNIN_CLIENT_WINDOW_MINUTES", 15, minimum=1))
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)

# Sessions end after this long without a request (SPEC §14), and at the latest this long after signing in whatever
# the activity (OWASP ASVS L2); associations.middleware.SessionIdleMiddleware.
SESSION_IDLE_SECONDS_PARTNER = 8 * 60 * 60
SESSION_IDLE_SECONDS_REVIEWER = 30 * 60
SESSION_LIFETIME_SECONDS_PARTNER = env_int("SESSION_LIFETIME_HOURS_PARTNER", 7 * 24, minimum=1) * 60 * 60
SESSION_LIFETIME_SECONDS_REVIEWER = env_int("SESSION_LIFETIME_HOURS_REVIEWER", 12, minimum=1) * 60 * 60
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS_PARTNER

# Password reset by email (SPEC §14), through the outbox. At most this many emails to one address within the
# period, counted in PostgreSQL (claims.services.password_resets: a hard cap across processes, with the cache down
# too), and this many requests from one client within its period (django-ratelimit in the cache, failing open).
# Beyond either: the 429 page.
PASSWORD_RESET_EMAIL_LIMIT = env_int("PASSWORD_RESET_EMAIL_LIMIT", 3, minimum=1)
PASSWORD_RESET_EMAIL_MINUTES = env_int("PASSWORD_RESET_EMAIL_MINUTES", 60, minimum=1)
PASSWORD_RESET_CLIENT_LIMIT = env_int("PASSWORD_RESET_CLIENT_LIMIT", 10, minimum=1)
PASSWORD_RESET_CLIENT_MINUTES = env_int("PASSWORD_RESET_CLIENT_MINUTES", 60, minimum=1)
# The reviewers' TOTP devices name this issuer in authenticator apps.
OTP_TOTP_ISSUER = "CPOR claims"

# Internationalisation ---------------------------------------------------------------------------------------------

# SPEC §15: English and Traditional Chinese (Taiwan). One catalog for the whole project, locale/zh_Hant, compiled to
# .mo by scripts/compile_messages.py (make run, make test); dates and numbers follow the active language (Django 6
# always localizes). English is the default: a request without Accept-Language, a saved preference or the
# language cookie gets it.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hant", "繁體中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switch's cookie (associations.language): a year, sent over HTTPS only outside DEBUG, unreadable by scripts.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Taiwan groups numbers by thousands (1,234); Django's zh_Hant formats do not group at all.
FORMAT_MODULE_PATH = ["cpor.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static and uploaded files ----------------------------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = VAR_DIR / "media"

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as _botocore_config

    # POE files and wizard uploads in progress live in S3 so that web nodes stay stateless.
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
            # Download links for POE files are short-lived.
            "querystring_expire": env_int("POE_LINK_SECONDS", 300, minimum=10),
            # An S3 that accepts connections and never answers must not hold a partner's request for botocore's
            # default 60 s per read with retries: a short connect, a bounded read, one retry.
            "client_config": _botocore_config(
                connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 2, "mode": "standard"}
            ),
        },
    }
else:
    default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
POE_LINK_SECONDS = env_int("POE_LINK_SECONDS", 300, minimum=10)
# One form post (the wizard's POE step, an answer, a dispute, a protection) carries at most POE_MAX_FILES files of
# POE_MAX_BYTES each.
POE_MAX_FILES = 5
POE_MAX_BYTES = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
_MB = 1024 * 1024
# The largest request body read at all (cpor.middleware.RequestBodyLimitMiddleware): a longer declared
# Content-Length gets the 413 page before a byte of the body is read. Default: a form post's five files of 10 MB
# with their multipart framing and fields, and a little room.
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_MB", 52, minimum=(POE_MAX_FILES * POE_MAX_BYTES) // _MB + 1) * _MB
# Every POE file a claim may ever hold, over its submission, answers, dispute and protections together
# (claims.services.submission.claim_poe_add): at least what the wizard alone may add.
POE_CLAIM_MAX_FILES = env_int("POE_CLAIM_MAX_FILES", 20, minimum=POE_MAX_FILES)
POE_CLAIM_MAX_BYTES = env_int("POE_CLAIM_MAX_MB", 100, minimum=(POE_MAX_FILES * POE_MAX_BYTES) // _MB) * _MB
# Drafts (SPEC §12): the size of one draft's saved wizard data (``draft_data``) and how many drafts one partner user
# may keep open at once.
DRAFT_MAX_BYTES = env_int("DRAFT_MAX_KB", 256, minimum=64) * 1024
DRAFTS_MAX_OPEN = env_int("DRAFTS_MAX_OPEN", 20, minimum=1)

# The partner API (SPEC §16) ------------------------------------------------------------------------------------

# Requests per minute per API key (api.ratelimit: counted in the cache, failing open); beyond it 429 with
# Retry-After.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 120, minimum=1)
# An Idempotency-Key's answer is kept this long (api.idempotency).
IDEMPOTENCY_HOURS = 24
# Webhook endpoints are HTTPS and never resolve to a private, loopback, link-local, reserved or multicast address
# (checked when registered and again before each delivery: api.ssrf). This switch lets plain http:// to the
# loopback address through, for `make run` and the tests only; start-up says so loudly (api.apps).
WEBHOOKS_ALLOW_LOOPBACK = env_bool("WEBHOOKS_ALLOW_LOOPBACK", False)

# Cache (rate limits, sessions; shared between web nodes when Redis is configured) ---------------------------------

CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
# Sessions stay in the database (Django's default), not cached_db: its cache delete is not guarded, so with Redis
# down signing in or out would fail, and a session deleted meanwhile could come back from a stale cache entry.
# The read it would save costs about half a millisecond.

# Celery -----------------------------------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Queues by kind (README "Capacity plan"), so that a backlog of one kind never delays another: every task of ours is
# routed here by its name, the one place (beat's entries and the tasks services send by name alike), and a test
# fails on a task with no decision. `validation` validates claims and sends the challenge notices that follow;
# `email` sends the outbox (its wake-ups and its sweep, which drains a backlog batch after batch); `webhooks`
# delivers to partners' endpoints (slow or down endpoints wait on no one else's work); `sweeps` is beat's other
# periodic jobs; the default queue keeps the bulk imports (long runs) and the test bed's ping. A worker started
# without -Q consumes every queue (CELERY_TASK_QUEUES); `-Q email` etc. runs one kind on a machine of its own.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "claims.tasks.claim_validate_task": {"queue": "validation"},
    "claims.tasks.claim_challenges_notify_task": {"queue": "validation"},
    "claims.tasks.emails_send_due_task": {"queue": "email"},
    "claims.tasks.email_notifications_send_task": {"queue": "email"},
    "claims.tasks.email_notification_send_task": {"queue": "email"},
    "api.tasks.webhooks_send_due_task": {"queue": "webhooks"},
    "api.tasks.webhook_deliveries_send_task": {"queue": "webhooks"},
    "claims.tasks.claims_finalize_due_task": {"queue": "sweeps"},
    "claims.tasks.claims_expire_information_requests_task": {"queue": "sweeps"},
    "claims.tasks.answer_reminders_send_task": {"queue": "sweeps"},
    "claims.tasks.associations_end_expired_task": {"queue": "sweeps"},
    "claims.tasks.pending_uploads_purge_task": {"queue": "sweeps"},
    "claims.tasks.claims_expire_drafts_task": {"queue": "sweeps"},
    "claims.tasks.claims_due_lapse_task": {"queue": "sweeps"},
    "claims.tasks.lifecycle_requeue_task": {"queue": "sweeps"},
    "claims.tasks.claim_counts_compact_task": {"queue": "sweeps"},
    "claims.tasks.history_checkpoint_task": {"queue": "sweeps"},
    "api.tasks.api_housekeeping_task": {"queue": "sweeps"},
    "api.tasks.bulk_import_run_task": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "cpor.ping": {"queue": CELERY_TASK_DEFAULT_QUEUE},
}


def celery_queues(default, routes):
    """Every queue the routes name, the default first: what a worker with no -Q consumes."""
    names = dict.fromkeys([default, *(route["queue"] for route in routes.values())])
    return [Queue(name, Exchange(name), routing_key=name) for name in names]


CELERY_TASK_QUEUES = celery_queues(CELERY_TASK_DEFAULT_QUEUE, CELERY_TASK_ROUTES)

# Outages (SPEC §14) -------------------------------------------------------------------------------------------------

# A broker or cache that accepts connections but never answers delays no request by more than two seconds: every
# socket to Redis has a connect and a read timeout, and nothing in a request retries more than once. Work that is
# not enqueued is not lost: PostgreSQL is the source of truth and lifecycle_requeue_task rebuilds the queue.
REDIS_TIMEOUT = env_int("REDIS_TIMEOUT_MS", 500, minimum=50) / 1000
if REDIS_TIMEOUT > 0.6:
    raise ImproperlyConfigured("REDIS_TIMEOUT_MS must be at most 600 (a request may wait on it three times)")
if CACHE_URL:
    # redis-py's Connection retries nothing by default. A cache read then errs within the timeout: whatever reads
    # the cache (rate limits) must fail open on that error (SPEC §14).
    CACHES["default"]["OPTIONS"] = {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "socket_connect_timeout": REDIS_TIMEOUT,
        "socket_timeout": REDIS_TIMEOUT,
        # One connection attempt when a publisher opens a channel (kombu's default retries for
        # broker_connection_timeout); a worker's consumer keeps reconnecting by its own settings below.
        "max_retries": 0,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT
# Publishing: one more try on a fresh connection (a pooled one broken by a Redis restart), none after that.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
# A worker that loses the broker reconnects forever (every queued job is in PostgreSQL anyway).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None

# Email ------------------------------------------------------------------------------------------------------------

DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "CPOR claims <no-reply@cpor.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Bounces (claims.bounces, README "Bounces"): every email's envelope sender is bounces+<row>-<signature>@<domain>
# of this mailbox (VERP), while its From stays DEFAULT_FROM_EMAIL; the mail server's delivery reports come back
# through POST /mail/bounces/ (EMAIL_BOUNCE_TOKEN) or `manage.py claims_bounce_receive` (a pipe transport).
EMAIL_BOUNCE_ADDRESS = env_str(
    "EMAIL_BOUNCE_ADDRESS", "bounces@" + (parseaddr(DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "cpor.example")
)
_bounce_local, _bounce_at, _bounce_domain = EMAIL_BOUNCE_ADDRESS.rpartition("@")
if not (_bounce_local and _bounce_at and _bounce_domain) or re.search(r"[\s+@<>\"]", _bounce_local + _bounce_domain):
    raise ImproperlyConfigured(
        f"EMAIL_BOUNCE_ADDRESS must be a plain mailbox such as bounces@example.com, without '+' (got "
        f"{EMAIL_BOUNCE_ADDRESS!r}): the signed bounce addresses add '+<row>-<signature>' to it"
    )
# The shared secret of the bounce webhook (sent as "Authorization: Bearer <token>"); empty turns it off (404).
EMAIL_BOUNCE_TOKEN = env_str("EMAIL_BOUNCE_TOKEN")
if EMAIL_BOUNCE_TOKEN and len(EMAIL_BOUNCE_TOKEN) < 32:
    raise ImproperlyConfigured("EMAIL_BOUNCE_TOKEN must be at least 32 characters (or empty to turn the webhook off)")
MAIL_DIR = VAR_DIR / "mail"
MAILERS = {
    # Without EMAIL_URL: one .eml file per message in var/mail, to open with any mail program or read as text.
    "default": env_email("EMAIL_URL")
    or {"BACKEND": "cpor.mail.EmlFileBackend", "OPTIONS": {"file_path": str(MAIL_DIR)}},
}

# Security ---------------------------------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
# SECURE_COOKIES=0 only for a plain-HTTP run on this machine with DEBUG off (`make run`: no debug pages there).
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
# Secure cookies get `__Host-` names: a browser keeps such a cookie only if it came over HTTPS, with Secure, Path=/
# and no Domain, so neither a plain-HTTP page nor a sibling subdomain can plant or overwrite the session, CSRF or
# language cookie. Plain names over `make run`'s plain HTTP (a browser refuses `__Host-` cookies there) and in tests.
_COOKIE_PREFIX = "__Host-" if SECURE_COOKIES else ""
SESSION_COOKIE_NAME = f"{_COOKIE_PREFIX}sessionid"
CSRF_COOKIE_NAME = f"{_COOKIE_PREFIX}csrftoken"
LANGUAGE_COOKIE_NAME = f"{_COOKIE_PREFIX}django_language"
# The viewer's time zone (associations.timezones): set at sign-in from the saved choice and by the settings page.
TIME_ZONE_COOKIE_NAME = f"{_COOKIE_PREFIX}cpor_time_zone"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
# The reverse proxies whose X-Forwarded-For is believed (cpor/clientip.py): the client is the right-most address
# in it that is not one of them. Without any, REMOTE_ADDR is the client and X-Forwarded-For is ignored (anyone can
# send one). BEHIND_PROXY alone means a proxy on this machine.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", ["127.0.0.1", "::1"] if BEHIND_PROXY else [])
# django-ratelimit's "ip" key is that client; a limit the cache cannot count lets the request through.
RATELIMIT_IP_META_KEY = "cpor.clientip.ratelimit_ip"
RATELIMIT_FAIL_OPEN = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere: our templates load static files only. Django admin's change list has one
# <style> element (for a ModelAdmin without action bars), which carries the per-response nonce (the csp context
# processor); nothing else gets one.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    # POE downloads from S3 are redirects of links, never form posts.
    "form-action": [CSP.SELF],
}
CSRF_FAILURE_VIEW = "cpor.views.csrf_failure"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # django-axes announces itself at INFO in every process (management commands included); its sign-in failures
    # and lock-outs are WARNINGs and still reach the log.
    "loggers": {"axes": {"level": "WARNING"}},
}
