"""jobsite: a Django project whose web requests hand long jobs to Celery workers and answer at once."""

# Load the Celery app with Django, so that @shared_task binds to it (in gunicorn as in the workers).
from .celery import app as celery_app

__all__ = ("celery_app",)
