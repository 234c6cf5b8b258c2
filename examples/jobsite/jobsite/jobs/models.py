"""The history of long jobs: one row per request, written by the web request and updated by the worker."""

import uuid

from django.db import models


class Job(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"   # stored and sent to the broker; no worker has started it yet
        STARTED = "STARTED"   # a worker runs it
        SUCCESS = "SUCCESS"
        FAILURE = "FAILURE"

    FINISHED = (Status.SUCCESS, Status.FAILURE)

    # A random public id: job URLs cannot be enumerated by counting.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task_id = models.CharField("Celery task id", max_length=255, unique=True)
    seconds = models.PositiveIntegerField("requested duration (s)")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    progress = models.PositiveSmallIntegerField("progress (%)", default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Who ran it: the Celery node (POOL@HOST), the machine and the process.
    worker_node = models.CharField(max_length=255, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"job {self.id} ({self.status})"

    @property
    def done(self):
        return self.status in self.FINISHED

    def as_dict(self):
        def iso(value):
            return value.isoformat() if value else None

        return {
            "id": str(self.id),
            "task_id": self.task_id,
            "status": self.status,
            "done": self.done,
            "seconds": self.seconds,
            "progress": self.progress,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "result": self.result,
            "error": self.error,
            "worker": {"node": self.worker_node, "hostname": self.worker_hostname, "pid": self.worker_pid},
        }
