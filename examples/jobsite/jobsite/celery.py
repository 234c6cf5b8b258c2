"""The Celery application of jobsite: workers and beat run it with `celery -A jobsite`.

Every Celery setting comes from Django's settings, under the CELERY_ prefix (CELERY_BROKER_URL,
CELERY_TASK_TIME_LIMIT, ...): one place for the web server and the workers.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")

app = Celery("jobsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
