#!/usr/bin/env python3
"""Django's command-line utility for development. A deployment runs the installed package's django-admin
with its own settings module (the django_app role installs a `django-manage` wrapper)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
