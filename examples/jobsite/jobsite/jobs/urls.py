from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("", views.jobs, name="index"),
    path("csrf/", views.csrf, name="csrf"),
    path("<uuid:job_id>/", views.job_status, name="status"),
]
