"""The jobs app: a history row per long job, a Celery task that runs it, a JSON API and a page to follow it."""
