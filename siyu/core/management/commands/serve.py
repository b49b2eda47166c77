"""`siyu serve`: the production web server (granian, WSGI) on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve the console and the API with granian (collects static files first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.SIYU_PORT)
        parser.add_argument("--workers", type=int, default=int(os.environ.get("SIYU_WEB_WORKERS", "2")))

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        granian = os.path.join(os.path.dirname(sys.executable), "granian")
        argv = [
            granian, "--interface", "wsgi", "--host", options["host"], "--port", str(options["port"]),
            "--workers", str(options["workers"]), "siyu.wsgi:application",
        ]
        os.execv(granian, argv)  # noqa: S606 - replaces this process with the server
