"""The Celery application. Broker and result backend come from CELERY_BROKER_URL and
CELERY_RESULT_BACKEND (the roles' environment files), as in a real deployment."""

import importlib
import os

from celery import Celery

# The roles' transport options (a Sentinel broker's master_name and sentinel_kwargs), in the module
# CELERY_CONFIG_MODULE names: merged into the app's own, which would otherwise replace them.
_TRANSPORT = {"visibility_timeout": 600}
if os.environ.get("CELERY_CONFIG_MODULE"):
    _ROLES = importlib.import_module(os.environ["CELERY_CONFIG_MODULE"])
    _BROKER_TRANSPORT = {**_TRANSPORT, **_ROLES.broker_transport_options}
    _RESULT_TRANSPORT = {**_TRANSPORT, **_ROLES.result_backend_transport_options}
else:
    _BROKER_TRANSPORT = _RESULT_TRANSPORT = _TRANSPORT

app = Celery("taskstack_testapp", include=["taskstack_testapp.tasks"])
app.conf.update(
    # A task whose worker process dies is delivered again (the SIGKILL test relies on it).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_track_started=True,
    task_default_queue="celery",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    broker_transport_options=_BROKER_TRANSPORT,
    result_backend_transport_options=_RESULT_TRANSPORT,
    task_send_sent_event=True,
    timezone="UTC",
    beat_schedule={
        "tick-every-5-seconds": {
            "task": "taskstack_testapp.tasks.beat_tick",
            "schedule": float(os.environ.get("TESTAPP_TICK_SECONDS", "5")),
        },
    },
)
