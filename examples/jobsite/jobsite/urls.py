"""URLs of jobsite: the jobs API and page, a health check for load balancers and systemd, the admin."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from jobsite.jobs import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="jobs:index", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("jobs/", include("jobsite.jobs.urls")),
    path("admin/", admin.site.urls),
]
