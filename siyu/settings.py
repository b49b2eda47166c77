"""Django settings for Siyu, read from SIYU_* environment variables with embedded defaults for the demo."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import dj_database_url

from siyu.core import storage_settings
from siyu.ops.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SIYU_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in {"1", "true", "yes", "on"}


# The demo's key: public, so `siyu serve` refuses it unless demo mode is explicit (SIYU_DEMO=1).
SIYU_DEMO_SECRET_KEY = "siyu-demo-secret-key-change-me-in-production-0123456789"  # noqa: S105
SECRET_KEY = os.environ.get("SIYU_SECRET_KEY", SIYU_DEMO_SECRET_KEY)
# The key that seals stored channel credentials (siyu.core.secretbox); unset, SECRET_KEY seals them. Set it to rotate
# SECRET_KEY freely; rotating this one needs `siyu reseal_secrets` (docs/deployment.md, "Secrets and rotation").
SIYU_SEAL_KEY = os.environ.get("SIYU_SEAL_KEY", "")
DEBUG = _env_bool("SIYU_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("SIYU_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("SIYU_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "siyu.core",
    "siyu.org",
    "siyu.customers",
    "siyu.channels",
    "siyu.channels.wecom",
    "siyu.channels.official_account",
    "siyu.channels.sms",
    "siyu.catalog",
    "siyu.promotions",
    "siyu.orders",
    "siyu.storefront",
    "siyu.analytics",
    "siyu.audiences",
    "siyu.finance",
    "siyu.loyalty",
    "siyu.referrals",
    "siyu.automation",
    "siyu.messaging",
    "siyu.content",
    "siyu.setup",
    "siyu.exports",
    "siyu.ops",  # request ids, metrics, readiness, `siyu consistency` (no models)
    "siyu.seed",
    "siyu.console",
]
if importlib.util.find_spec("simulator") is not None:  # the channel simulator (`siyu simulate`), outside the product
    INSTALLED_APPS.append("simulator")

MIDDLEWARE = [
    "siyu.ops.requestid.RequestIdMiddleware",  # first: every log line of the request carries its id
    "siyu.ops.metrics.MetricsMiddleware",  # requests by route and status (served at /metrics, docs/deployment.md)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "siyu.console.middleware.ChineseByDefaultMiddleware",  # the console is Chinese unless the user switches
    "django.middleware.locale.LocaleMiddleware",
    "siyu.api.middleware.ApiLanguageMiddleware",  # the API answers in Accept-Language's language, else English
    "django.middleware.common.CommonMiddleware",
    "siyu.api.middleware.RejectNulMiddleware",  # 400, not a 500 from PostgreSQL, for NUL in API input
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "siyu.urls"
WSGI_APPLICATION = "siyu.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("SIYU_DATABASE_URL", f"sqlite:///{VAR_DIR / 'siyu.sqlite3'}"),
        conn_max_age=int(os.environ.get("SIYU_DB_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the console read while the worker and the simulator write; a busy timeout instead of "database locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "siyu" / "locale"]
FORMAT_MODULE_PATH = ["siyu.formats"]  # numbers grouped by thousands in Chinese as in English (siyu/formats/)
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Uploaded files (content materials) go through Django's storage API: the local disk in the demo; in production
# SIYU_STORAGE_BACKEND=s3 with SIYU_S3_BUCKET (and SIYU_S3_ENDPOINT_URL, SIYU_S3_REGION, keys, ...) stores them in
# S3-compatible object storage through django-storages (siyu/core/storage_settings.py, docs/deployment.md), and
# nothing else changes. Files are served through the console (scoped), never from a public media URL.
MEDIA_ROOT = Path(os.environ.get("SIYU_MEDIA_DIR", VAR_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": storage_settings.default_storage(os.environ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The WeCom JS-SDK script the chat-toolbar sidebar loads (jweixin-1.2.0.js, served from your own host); empty: the
# WeCom account's base URL + /jssdk.js, which is the simulator's stand-in in the demo.
SIYU_WECOM_JSSDK_URL = os.environ.get("SIYU_WECOM_JSSDK_URL", "")
# Uploads above this spool to a temporary file instead of memory; each material kind has its own size limit
# (siyu/content/uploads.py), checked before the content is read.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
STATIC_ROOT = VAR_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# The task queue: the database (django-tasks-db, the default: one machine, jobs commit with the rows they name), or
# `SIYU_TASK_BACKEND=rq` for Redis through django-tasks-rq (several worker machines; `SIYU_REDIS_URL`), with the same
# task code. Any other value is a backend's dotted path (tests use django_tasks' ImmediateBackend).
_TASK_BACKEND = os.environ.get("SIYU_TASK_BACKEND", "django_tasks_db.DatabaseBackend")
if _TASK_BACKEND == "rq":
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": os.environ.get("SIYU_REDIS_URL", "redis://127.0.0.1:6379/0"),
                             "DEFAULT_TIMEOUT": 900}}
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
else:
    TASKS = {"default": {"BACKEND": _TASK_BACKEND}}

# Plain lines for a terminal, or `SIYU_LOG_FORMAT=json` for one JSON object a line (time, level, logger, message,
# request_id, process) for a log shipper; every line written while serving a request carries its id.
LOGGING = logging_config(os.environ.get("SIYU_LOG_FORMAT", "plain"), os.environ.get("SIYU_LOG_LEVEL", "WARNING"))
# A scraper sends `Authorization: Bearer <token>` to /metrics; unset, /metrics answers 404.
SIYU_METRICS_TOKEN = os.environ.get("SIYU_METRICS_TOKEN", "")
# Personal data in raw channel traffic (callback bodies, outbound call payloads) is erased after this many days.
SIYU_RAW_RETENTION_DAYS = int(os.environ.get("SIYU_RAW_RETENTION_DAYS", "90"))

# Siyu's own settings.
SIYU_CURRENCY = "CNY"
# The address the platforms call back (https://scrm.example.com), shown in the channel-account pages; left empty,
# the console shows the address it was reached on.
SIYU_PUBLIC_URL = os.environ.get("SIYU_PUBLIC_URL", "")
# When set, the first-run wizard (/setup/) asks for this token, so nobody who reaches a fresh install before its
# owner can claim it. `siyu setup` on the server needs none.
SIYU_SETUP_TOKEN = os.environ.get("SIYU_SETUP_TOKEN", "")
SIYU_PORT = int(os.environ.get("SIYU_PORT", "8000"))
SIYU_SIMULATOR_PORT = int(os.environ.get("SIYU_SIMULATOR_PORT", str(SIYU_PORT + 1)))

# Sign-in rate limit: this many failures per username, and per client address, within the window lock both out until
# the oldest counted failure leaves the window. Behind a reverse proxy, name the header that carries the client's
# address (its last entry is used: the one your proxy appended), or every visitor shares the proxy's address.
SIYU_LOGIN_MAX_FAILURES = int(os.environ.get("SIYU_LOGIN_MAX_FAILURES", "10"))
SIYU_LOGIN_WINDOW_S = int(os.environ.get("SIYU_LOGIN_WINDOW_S", "900"))
# The SMS provider the H5 mall's phone sign-in sends its codes through (siyu.channels.sms.client); the demo points
# it at the simulator's /sms. Unset, phone sign-in answers that codes cannot be sent.
SIYU_SMS_BASE_URL = os.environ.get("SIYU_SMS_BASE_URL", "")
# The secret the SMS provider signs its delivery receipts and inbound replies with (siyu.channels.sms.wire). One
# provider account per deployment: a setting, not a ChannelAccount row. The default is the demo simulator's secret
# (siyu.channels.demo_accounts.SMS_CALLBACK_SECRET); a real deployment sets its own.
SIYU_SMS_CALLBACK_SECRET = os.environ.get("SIYU_SMS_CALLBACK_SECRET", "siyu-demo-sms-callback-secret-0001")
# Campaign sends: how long a worker's claim on a batch of deliveries lasts before another worker may retake it.
SIYU_CAMPAIGN_LEASE_S = int(os.environ.get("SIYU_CAMPAIGN_LEASE_S", "60"))
SIYU_CLIENT_IP_HEADER = os.environ.get("SIYU_CLIENT_IP_HEADER", "")

# The analytics engine (siyu/analytics/engine; docs/analytics.md): "auto" queries the `siyu analytics` process when
# it answers for this database, else builds a private in-memory copy; "remote" or "local" force one of them.
SIYU_ANALYTICS = os.environ.get("SIYU_ANALYTICS", "auto")
SIYU_ANALYTICS_PORT = int(os.environ.get("SIYU_ANALYTICS_PORT", str(SIYU_PORT + 2)))
SIYU_ANALYTICS_URL = os.environ.get("SIYU_ANALYTICS_URL", f"http://127.0.0.1:{SIYU_ANALYTICS_PORT}")
SIYU_ANALYTICS_DIR = Path(os.environ.get("SIYU_ANALYTICS_DIR", VAR_DIR / "analytics"))
SIYU_ANALYTICS_LOCAL_TTL = float(os.environ.get("SIYU_ANALYTICS_LOCAL_TTL", "2"))
