"""`siyu scheduler`: enqueue the registered periodic jobs when they fall due (expiring unpaid orders, coupons...)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from siyu.core.periodic import due, periodic_jobs


class Command(BaseCommand):
    help = "Enqueue periodic jobs for the worker when they fall due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="enqueue every job once and exit")
        parser.add_argument("--tick", type=float, default=5.0)

    def handle(self, *args: Any, **options: Any) -> None:
        last: dict[str, float] = {}
        names = ", ".join(job.name for job in periodic_jobs())
        self.stdout.write(f"scheduler: {names or 'no jobs registered'}")
        while True:
            now = time.monotonic()
            for job in due(last, now):
                job.task.enqueue(*job.args)
                last[job.name] = now
            if options["once"]:
                return
            time.sleep(options["tick"])
