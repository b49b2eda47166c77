"""`siyu serve`: the production web server (granian) on 127.0.0.1 unless told otherwise.

ASGI by default: the WeCom callback POST then runs on its async fast path (siyu.asgi), where a burst of callbacks
shares commits; `--interface wsgi` serves everything through Django's WSGI handler instead.
"""

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
        parser.add_argument(
            "--interface", choices=["asgi", "wsgi"], default=os.environ.get("SIYU_WEB_INTERFACE", "asgi")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        granian = os.path.join(os.path.dirname(sys.executable), "granian")
        # asginl: ASGI without the lifespan protocol, which Django does not speak.
        interface, target = (
            ("asginl", "siyu.asgi:application") if options["interface"] == "asgi" else ("wsgi", "siyu.wsgi:application")
        )
        argv = [
            granian, "--interface", interface, "--host", options["host"], "--port", str(options["port"]),
            "--workers", str(options["workers"]), target,
        ]
        os.execv(granian, argv)  # noqa: S606 - replaces this process with the server
