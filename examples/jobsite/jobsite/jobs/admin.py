from django.contrib import admin

from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Read-only history: jobs are created by the API and updated by the workers only."""

    list_display = ("id", "status", "seconds", "created_at", "finished_at", "worker_node", "worker_pid")
    list_filter = ("status",)
    search_fields = ("id", "task_id", "worker_node")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
