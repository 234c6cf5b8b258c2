"""Base settings of jobsite, for development and as the base a deployment imports.

A deployment does not edit this file: it renders its own settings module (the django_app role renders
templates/django/settings.py.j2) that starts with `from jobsite.settings import *` and sets SECRET_KEY,
ALLOWED_HOSTS, DATABASES, STATIC_ROOT and the Celery URLs and limits. Nothing secret lives here: without
DJANGO_SECRET_KEY in the environment Django refuses to start.
"""

import os
from pathlib import Path

# Development state (SQLite, collected static files) goes to the working directory, never into the package.
STATE_DIR = Path(os.environ.get("JOBSITE_STATE_DIR", Path.cwd()))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "jobsite.jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "jobsite.urls"
WSGI_APPLICATION = "jobsite.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": STATE_DIR / "db.sqlite3",
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"

# Logs to stderr: the journal of the unit (gunicorn or the Celery worker) keeps them.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}

# Jobs --------------------------------------------------------------------------------------------------

# Longest job a client may ask for, in seconds: keep it well below CELERY_TASK_SOFT_TIME_LIMIT.
JOBS_MAX_SECONDS = 120
# Finished jobs older than this many days are deleted by the periodic jobs.prune task (beat).
JOBS_KEEP_DAYS = 30

# Celery (development defaults; a deployment sets the broker, results and limits) -------------------------

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/1")
CELERY_TIMEZONE = TIME_ZONE
# JSON only: a worker never unpickles what someone managed to put on the broker.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BEAT_SCHEDULE = {
    "prune-finished-jobs": {"task": "jobs.prune", "schedule": 3600.0},
}
