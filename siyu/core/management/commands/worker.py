"""`siyu worker`: run the background worker until interrupted: the database backend's worker, or, with
`SIYU_TASK_BACKEND=rq`, an RQ worker on Redis (with RQ's scheduler for deferred jobs), running the same tasks.

Its log stays readable: per-task lines only at debug level (`-v 2` or SIYU_LOG_LEVEL=DEBUG), failures always, and one
status line a minute (tasks done, failed, queued)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from siyu.core import jobs, worker_log


class Command(BaseCommand):
    help = "Run the background worker that executes queued tasks (sends, syncs, callback processing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls when idle")
        parser.add_argument("--batch", action="store_true", help="exit when the queue is empty")
        parser.add_argument("--status-every", type=float, default=60.0,
                            help="seconds between status lines (tasks done, failed, queued); 0: none")

    def handle(self, *args: Any, **options: Any) -> None:
        if not jobs.default_transactional():
            self._rq(batch=options["batch"], verbosity=options["verbosity"])
            return
        verbose = options["verbosity"] >= 2 or logging.getLogger().isEnabledFor(logging.DEBUG)
        worker_log.demote_task_lines(verbose=verbose)
        stop = None
        if options["status_every"] > 0 and not options["batch"]:
            stop = worker_log.start_status_lines(self.stdout.write, every_s=options["status_every"])
        extra = ["--batch"] if options["batch"] else []
        try:
            call_command("db_worker", "--interval", str(options["interval"]), *extra,
                         verbosity=options["verbosity"])
        finally:
            if stop is not None:
                stop.set()

    def _rq(self, *, batch: bool, verbosity: int) -> None:
        """Every queue RQ knows, jobs built by django-tasks-rq's Job class; `--batch`: stop when they are empty."""
        from django.conf import settings  # noqa: PLC0415

        queues = list(getattr(settings, "RQ_QUEUES", {"default": {}}))
        extra = ["--burst"] if batch else []
        call_command("rqworker", *queues, "--job-class", "django_tasks_rq.Job", "--with-scheduler", *extra,
                     verbosity=verbosity)
