"""The worker's log is readable: per-task lines only at debug level, failures always, one status line a minute."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django_tasks_db.models import DBTaskResult

from siyu.core import worker_log
from siyu.core.timeutil import now


@pytest.fixture
def tasks_logger() -> Iterator[logging.Logger]:
    log = logging.getLogger(worker_log.TASKS_LOGGER)
    saved = list(log.filters), log.level, log.propagate, log.disabled
    # another test (or the demo's logging config) may have quietened this logger: start from a plain one
    log.setLevel(logging.NOTSET)
    log.propagate, log.disabled = True, False
    yield log
    log.filters[:] = saved[0]
    log.setLevel(saved[1])
    log.propagate, log.disabled = saved[2], saved[3]


def test_task_lines_are_debug_and_failures_stay(tasks_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    worker_log.demote_task_lines(verbose=False)
    tasks_logger.info("Task id=1 path=x state=SUCCESSFUL")
    tasks_logger.error("Task id=2 path=x state=FAILED")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", "Task id=2 path=x state=FAILED")]

    caplog.clear()
    assert worker_log.demote_task_lines(verbose=True) in tasks_logger.filters  # the same filter, switched
    assert sum(isinstance(f, worker_log.DemoteTaskLines) for f in tasks_logger.filters) == 1
    tasks_logger.info("Task id=3 path=x state=RUNNING")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("DEBUG", "Task id=3 path=x state=RUNNING")]


def _task(status: str, finished_minutes_ago: float | None) -> DBTaskResult:
    at = now()
    return DBTaskResult(
        status=status, args_kwargs={"args": [], "kwargs": {}}, task_path="siyu.x.tasks.t", backend_name="default",
        queue_name="default", run_after=at,
        finished_at=None if finished_minutes_ago is None else at - timedelta(minutes=finished_minutes_ago),
    )


@pytest.mark.django_db
def test_status_line_counts_the_last_minute_and_the_queue() -> None:
    DBTaskResult.objects.bulk_create(
        [_task("SUCCESSFUL", 0.2) for _ in range(3)]
        + [_task("SUCCESSFUL", 2)]  # before the minute
        + [_task("FAILED", 0.5) for _ in range(2)]
        + [_task("FAILED", 5)]
        + [_task("READY", None) for _ in range(4)]
        + [_task("RUNNING", None)]
    )
    status = worker_log.status_since(now() - timedelta(minutes=1))
    assert status == worker_log.WorkerStatus(done=3, failed=2, queued=4)
    assert status.line(1) == "worker: 3 tasks done, 2 failed in the last minute; 4 queued"
