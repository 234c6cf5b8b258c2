"""A Celery test application for the role scenarios (celery -A taskstack_testapp.app)."""
