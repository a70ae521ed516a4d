"""MagFlow settings, read from the environment (see .env.example).

With no environment at all MagFlow runs locally: SQLite, django-q2 on the ORM
broker, the local-memory cache. DATABASE_URL and REDIS_URL switch to
PostgreSQL and Redis for production and scale-out.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# A development key that the system check `magflow.E001` refuses when DEBUG is off.
INSECURE_SECRET_KEY = "django-insecure-magflow-development-key-change-me"
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "accounts",
    "emag",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into a refusal.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "magflow.urls"
WSGI_APPLICATION = "magflow.wsgi.application"
ASGI_APPLICATION = "magflow.asgi.application"

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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions make SQLite writers queue for the lock instead of
    # failing with "database is locked" when the worker and the web server write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # No Memoize nodes: PostgreSQL's planner puts one on a search's probe of emag_productsearch, keyed
    # by the offers' product_id, which repeats across accounts but not along the one account's offers
    # a page walks, so every lookup misses and pays the cache's upkeep: ~1.3 ms of a 6 ms search query at
    # 100,000 offers. No other query of MagFlow's gains measurably from one (the products list's
    # prefetch: within 0.1 ms). Options given in DATABASE_URL (?options=...) replace this.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c enable_memoize=off")
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", env.str("TEST_DATABASE_NAME", default="test_magflow")
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache and Redis ----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "magflow"}}

# --- Authentication -----------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend with one permission query per request instead of two (accounts/backends.py).
    "accounts.backends.PermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The demo administrator of `make run`; the check `magflow.E003` refuses it with DEBUG off.
DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_ADMIN_PASSWORD = "secret"

# django-axes: 5 failures per username, and separately per client address, lock for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "Europe/Bucharest"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "magflow" / "static"]

# --- REST API -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",  # simplejwt's, user and permissions in one query
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "magflow.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "magflow.api.Pagination",
    "DEFAULT_PARSER_CLASSES": ["magflow.api.SizeLimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["magflow.api.FastJSONRenderer"],  # DRF's JSON, written by orjson
    "EXCEPTION_HANDLER": "magflow.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="6000/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MagFlow API",
    "DESCRIPTION": "eMAG Marketplace back-office: seller accounts, products, offers, syncs and monitoring.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema and the docs pages need a logged-in user (session or JWT), like the rest of the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and ReDoc served from our own static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`; each choice set gets a name of its own in the schema.
    "ENUM_NAME_OVERRIDES": {
        "OfferStatusEnum": "emag.models.Offer.Status",
        "SyncRunStatusEnum": "emag.models.SyncRun.Status",
        "AccountStateEnum": "emag.api.legacy.ACCOUNT_STATES",
        "OverallStateEnum": "emag.api.legacy.OVERALL_STATES",
    },
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=30),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="django-insecure-magflow-jwt-signing-key-change-me"),
    "USER_ID_FIELD": "id",
    "UPDATE_LAST_LOGIN": True,
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# --- Background work (django-q2) ---------------------------------------------
# timeout < retry, so a slow task is killed before the broker hands it out again.
# MagFlow counts attempts itself (SyncRun.attempts): django-q2 cannot count a
# worker that the OS killed.
Q_CLUSTER = {
    "name": "magflow",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=3600),
    "retry": env.int("Q_RETRY", default=3900),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
    "poll": 0.5,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- MagFlow ------------------------------------------------------------------
# Fernet keys, comma-separated: the first encrypts, all decrypt.
MAGFLOW_ENCRYPTION_KEYS = env.list("MAGFLOW_ENCRYPTION_KEY", default=[])
EMAG_CONNECT_TIMEOUT = env.float("EMAG_CONNECT_TIMEOUT", default=5.0)
EMAG_READ_TIMEOUT = env.float("EMAG_READ_TIMEOUT", default=30.0)
EMAG_MAX_TRIES = env.int("EMAG_MAX_TRIES", default=5)
EMAG_MAX_RESPONSE_BYTES = env.int("EMAG_MAX_RESPONSE_BYTES", default=20 * 1024 * 1024)
EMAG_RATE_LIMIT_ENABLED = env.bool("EMAG_RATE_LIMIT_ENABLED", default=True)
EMAG_RATE_LIMIT_MARGIN_SECONDS = env.float("EMAG_RATE_LIMIT_MARGIN_SECONDS", default=0.05)
SYNC_PAGE_SIZE = env.int("SYNC_PAGE_SIZE", default=100)
SYNC_HEARTBEAT_STALE_SECONDS = env.int("SYNC_HEARTBEAT_STALE_SECONDS", default=120)
SYNC_MAX_CONSECUTIVE_FAILED_PAGES = env.int("SYNC_MAX_CONSECUTIVE_FAILED_PAGES", default=3)
SYNC_MAX_ATTEMPTS = env.int("SYNC_MAX_ATTEMPTS", default=3)
# Threads (each with its own database connection) that store pages while the next ones are read (PostgreSQL).
SYNC_WRITERS = env.int("SYNC_WRITERS", default=2)
# Threads (each with its own eMAG client) that read and parse pages ahead, in turn (PostgreSQL).
SYNC_READERS = env.int("SYNC_READERS", default=2)
SYNC_RUN_RETENTION_DAYS = env.int("SYNC_RUN_RETENTION_DAYS", default=90)
API_CALL_RETENTION_DAYS = env.int("API_CALL_RETENTION_DAYS", default=14)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
BACKUP_DIR = env.path("BACKUP_DIR", default=BASE_DIR / "backups")
# Archives the daily backup keeps in BACKUP_DIR, and the days of sync runs each archive holds.
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)
BACKUP_SYNC_RUN_DAYS = env.int("BACKUP_SYNC_RUN_DAYS", default=30)

# --- Security (production) ----------------------------------------------------
# HTTPS=true when MagFlow is served over TLS (directly or behind a proxy that sets
# X-Forwarded-Proto): secure cookies, HSTS and the redirect to https follow.
HTTPS = env.bool("HTTPS", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
    },
}
