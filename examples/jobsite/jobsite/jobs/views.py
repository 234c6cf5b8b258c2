"""The jobs API and page.

POST /jobs/            enqueue a job: 202 + the job as JSON (JSON clients), or a redirect to the page (forms)
GET  /jobs/<id>/       the job's status as JSON, polled until "done" is true
GET  /jobs/            the page: a form and the recent jobs, followed with fetch()
GET  /jobs/csrf/       a CSRF token (and its cookie) for API clients
GET  /healthz          200 when the application and its database answer, 503 otherwise

CSRF protection stays on for every POST, the JSON API included: a JSON client first GETs /jobs/csrf/, then
POSTs with the csrftoken cookie and an X-CSRFToken header. Exempting the API would let any web page a
logged-in operator visits start jobs on their behalf (and a real application's jobs do real work).
"""

import json
import logging
import uuid

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from .models import Job
from .tasks import run_job

logger = logging.getLogger(__name__)


@require_GET
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.exception("health check: the database does not answer")
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


@require_GET
def csrf(request):
    return JsonResponse({"csrfToken": get_token(request)})


def _wants_json(request):
    return request.content_type == "application/json" or "application/json" in request.headers.get("Accept", "")


def _requested_seconds(request):
    """The requested duration, or None when it is missing or out of range."""
    if request.content_type == "application/json":
        try:
            value = json.loads(request.body or b"{}").get("seconds")
        except (ValueError, AttributeError):
            return None
    else:
        value = request.POST.get("seconds")
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return seconds if 1 <= seconds <= settings.JOBS_MAX_SECONDS else None


@require_http_methods(["GET", "POST"])
def jobs(request):
    if request.method == "GET":
        return render(request, "jobs/index.html", {
            "jobs": Job.objects.all()[:20],
            "max_seconds": settings.JOBS_MAX_SECONDS,
            "watch": request.GET.get("job", ""),
        })

    seconds = _requested_seconds(request)
    if seconds is None:
        message = f"seconds must be a whole number from 1 to {settings.JOBS_MAX_SECONDS}"
        return JsonResponse({"error": message}, status=400)

    # The row first (committed: the request runs in autocommit mode), then the message that names it, so a
    # worker never receives a job it cannot find. The web request never waits for the job itself.
    job = Job.objects.create(task_id=str(uuid.uuid4()), seconds=seconds)
    try:
        run_job.apply_async(args=[str(job.pk), seconds], task_id=job.task_id)
    except Exception as exc:  # kombu.exceptions.OperationalError and friends: the broker is unreachable
        logger.exception("job %s could not be queued", job.pk)
        Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILURE, finished_at=timezone.now(),
                                             error=f"not queued: {type(exc).__name__}")
        return JsonResponse({"error": "the job queue is unavailable, try again later", "id": str(job.pk)},
                            status=503)

    status_url = reverse("jobs:status", args=[job.pk])
    if not _wants_json(request):
        return HttpResponseRedirect(f"{reverse('jobs:index')}?job={job.pk}")
    response = JsonResponse({**job.as_dict(), "status_url": status_url}, status=202)
    response["Location"] = status_url
    return response


@require_GET
def job_status(request, job_id):
    job = get_object_or_404(Job, pk=job_id)
    return JsonResponse(job.as_dict())
