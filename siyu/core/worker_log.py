"""A readable worker log: the task library's per-task lines ("Task id=… path=… state=RUNNING/SUCCESSFUL") are demoted to
debug (shown only with SIYU_LOG_LEVEL=DEBUG or `siyu worker -v 2`), failures stay errors with their traceback, and the
worker prints one status line a minute instead: tasks done and failed in that minute, and tasks queued now."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import close_old_connections
from django.db.models import Count, Q
from django_tasks_db.models import DBTaskResult

from siyu.core.timeutil import now

TASKS_LOGGER = "django_tasks"


class DemoteTaskLines(logging.Filter):
    """Per-task INFO lines become DEBUG records, dropped unless `verbose`; warnings and errors pass unchanged."""

    def __init__(self, *, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.verbose


def demote_task_lines(*, verbose: bool) -> DemoteTaskLines:
    """Install the filter on the task library's logger (once) and return it."""
    tasks_logger = logging.getLogger(TASKS_LOGGER)
    for existing in tasks_logger.filters:
        if isinstance(existing, DemoteTaskLines):
            existing.verbose = verbose
            return existing
    installed = DemoteTaskLines(verbose=verbose)
    tasks_logger.addFilter(installed)
    return installed


@dataclass(frozen=True)
class WorkerStatus:
    done: int
    failed: int
    queued: int

    def line(self, minutes: float) -> str:
        span = "minute" if minutes == 1 else f"{minutes:g} minutes"
        return f"worker: {self.done} tasks done, {self.failed} failed in the last {span}; {self.queued} queued"


def status_since(since: datetime) -> WorkerStatus:
    """One aggregate query over the task table: finished since `since` by outcome, and waiting now."""
    figures = DBTaskResult.objects.aggregate(
        done=Count("id", filter=Q(status="SUCCESSFUL", finished_at__gte=since)),
        failed=Count("id", filter=Q(status="FAILED", finished_at__gte=since)),
        queued=Count("id", filter=Q(status="READY")),
    )
    return WorkerStatus(done=figures["done"], failed=figures["failed"], queued=figures["queued"])


def start_status_lines(write: Callable[[str], object], *, every_s: float = 60.0) -> threading.Event:
    """A daemon thread writing one status line every `every_s` seconds; set the returned event to stop it."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every_s):
            try:
                write(status_since(now() - timedelta(seconds=every_s)).line(every_s / 60))
            finally:
                close_old_connections()

    threading.Thread(target=run, name="siyu-worker-status", daemon=True).start()
    return stop
