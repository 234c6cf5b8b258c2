"""WSGI entry point for gunicorn: `gunicorn jobsite.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")

application = get_wsgi_application()


def _warm_up():
    """Load in each web worker as it boots what its first request would otherwise load: the URLconf (views,
    admin), the Celery app's tasks and its broker transport. Nothing connects here, so a worker boots while
    Redis or the database is down; the first POST /jobs/ then answers as fast as the others."""
    from django.urls import get_resolver

    from jobsite.celery import app

    get_resolver().url_patterns
    app.finalize(auto=True)
    app.connection_for_write().transport


_warm_up()
