"""`siyu demo`: migrate, seed the demo enterprise once, then run the console and the worker in the foreground."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

DEMO_USER = "admin"
DEMO_PASSWORD = "siyu-demo"  # noqa: S105 - the printed demo login, documented in the README


class Command(BaseCommand):
    help = "Migrate, seed a demo enterprise and serve the console, worker and simulator on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.SIYU_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        port: int = options["port"]
        call_command("migrate", interactive=False, verbosity=0)
        user_model = get_user_model()
        if not user_model.objects.filter(username=DEMO_USER).exists():
            user_model.objects.create_superuser(DEMO_USER, "admin@example.com", DEMO_PASSWORD)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings"}
        manage = [sys.executable, "-m", "siyu.manage"]
        children = [
            subprocess.Popen([*manage, "db_worker", "--interval", "1"], env=env),  # noqa: S603
            subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env),  # noqa: S603
        ]
        self.stdout.write(
            self.style.SUCCESS(
                f"Siyu demo on http://127.0.0.1:{port}/  login: {DEMO_USER} / {DEMO_PASSWORD}  (Ctrl-C stops)"
            )
        )
        try:
            children[1].wait()
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                child.wait(timeout=10)
