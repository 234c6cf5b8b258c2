"""The long job, run by a Celery worker (never by the web server), and the periodic clean-up."""

import logging
import os
import socket
import time
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from .models import Job

logger = logging.getLogger(__name__)


def _finish(job_id, status, **fields):
    Job.objects.filter(pk=job_id).update(status=status, finished_at=timezone.now(), **fields)


@shared_task(bind=True, name="jobs.run")
def run_job(self, job_id, seconds):
    """Work for `seconds` (bounded by JOBS_MAX_SECONDS), recording progress and who ran it.

    With acks_late the message is acknowledged only when the task ends, so a job whose worker was killed is
    delivered again: it restarts from STARTED. A job that already finished is never run twice.
    """
    seconds = max(0, min(int(seconds), settings.JOBS_MAX_SECONDS))
    claimed = Job.objects.filter(pk=job_id, status__in=[Job.Status.PENDING, Job.Status.STARTED]).update(
        status=Job.Status.STARTED,
        started_at=timezone.now(),
        worker_node=self.request.hostname or "",
        worker_hostname=socket.gethostname(),
        worker_pid=os.getpid(),
    )
    if not claimed:
        logger.warning("job %s is unknown or already finished: not run again", job_id)
        return {"skipped": True}

    started = time.monotonic()
    try:
        # The "work": sleep in small steps, reporting progress about once a second.
        reported = 0
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(min(0.25, seconds - elapsed))
            if int(elapsed) > reported:
                reported = int(elapsed)
                Job.objects.filter(pk=job_id).update(progress=min(99, int(100 * elapsed / seconds)))
    except SoftTimeLimitExceeded:
        _finish(job_id, Job.Status.FAILURE, error="stopped by the soft time limit")
        raise
    except Exception as exc:
        _finish(job_id, Job.Status.FAILURE, error=f"{type(exc).__name__}: {exc}")
        raise
    result = {"slept": round(time.monotonic() - started, 3), "node": self.request.hostname, "pid": os.getpid()}
    _finish(job_id, Job.Status.SUCCESS, progress=100, result=result)
    return result


@shared_task(name="jobs.prune")
def prune_jobs():
    """Delete finished jobs older than JOBS_KEEP_DAYS (run by beat, see CELERY_BEAT_SCHEDULE)."""
    cutoff = timezone.now() - timedelta(days=settings.JOBS_KEEP_DAYS)
    deleted, _ = Job.objects.filter(status__in=Job.FINISHED, created_at__lt=cutoff).delete()
    return {"deleted": deleted}
