"""`siyu serve`: the production web server (granian) on 127.0.0.1 unless told otherwise.

ASGI by default: the WeCom callback POST then runs on its async fast path (siyu.asgi), where a burst of callbacks
shares commits; `--interface wsgi` serves everything through Django's WSGI handler instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from siyu.core.secretbox import uses_demo_key

KEY_HELP = (
    "{setting} is the demo's public key: anyone could forge sessions and read sealed channel credentials.\n"
    "  Set a secret key:  export SIYU_SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\"\n"
    "  (and SIYU_SEAL_KEY likewise if you use a separate sealing key; see docs/deployment.md, Secrets and rotation)\n"
    "  To serve the demo anyway, say so: SIYU_DEMO=1 siyu serve"
)


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
        demo_setting = uses_demo_key()
        if demo_setting and os.environ.get("SIYU_DEMO", "").lower() not in {"1", "true", "yes", "on"}:
            raise CommandError(KEY_HELP.format(setting=demo_setting))
        call_command("collectstatic", interactive=False, verbosity=0)
        granian = os.path.join(os.path.dirname(sys.executable), "granian")
        # asginl: ASGI without the lifespan protocol, which Django does not speak.
        interface, target = (
            ("asginl", "siyu.asgi:application") if options["interface"] == "asgi" else ("wsgi", "siyu.wsgi:application")
        )
        _share_metrics_between_workers(options["port"])
        argv = [
            granian, "--interface", interface, "--host", options["host"], "--port", str(options["port"]),
            "--workers", str(options["workers"]), target,
        ]
        os.execv(granian, argv)  # noqa: S606 - replaces this process with the server


def _share_metrics_between_workers(port: int) -> None:
    """Several worker processes count requests into files in one directory (prometheus_client's multiprocess mode),
    which /metrics adds up; the directory is emptied first so a restart does not count the last run twice."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    else:
        directory = settings.VAR_DIR / f"metrics-{port}"
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
