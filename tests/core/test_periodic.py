from __future__ import annotations

from typing import Any

from django.core.management import call_command

from siyu.core import periodic


class _FakeTask:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def enqueue(self, *args: Any) -> None:
        self.calls.append(args)


def test_jobs_fall_due_by_their_own_interval() -> None:
    fast, slow = _FakeTask(), _FakeTask()
    periodic.register_periodic("test.fast", fast, every_s=10)
    periodic.register_periodic("test.slow", slow, every_s=100)
    try:
        last: dict[str, float] = {}
        first = {job.name for job in periodic.due(last, 1000.0)}
        assert {"test.fast", "test.slow"} <= first  # never run: due at once
        last.update({"test.fast": 1000.0, "test.slow": 1000.0})
        later = {job.name for job in periodic.due(last, 1015.0)}
        assert "test.fast" in later and "test.slow" not in later
        assert "test.slow" in {job.name for job in periodic.due(last, 1100.0)}
    finally:
        periodic._JOBS.pop("test.fast")
        periodic._JOBS.pop("test.slow")


def test_scheduler_once_enqueues_each_registered_job_with_its_args() -> None:
    task = _FakeTask()
    periodic.register_periodic("test.args", task, every_s=60, args=(False,))
    try:
        real = {job.name: job for job in periodic.periodic_jobs() if not job.name.startswith("test.")}
        for name in real:
            periodic._JOBS.pop(name)
        call_command("scheduler", "--once")
        assert task.calls == [(False,)]
    finally:
        periodic._JOBS.pop("test.args")
        periodic._JOBS.update(real)


def test_apps_register_their_periodic_jobs() -> None:
    names = {job.name for job in periodic.periodic_jobs()}
    assert {"orders.expire_unpaid", "promotions.expire_coupons", "wecom.housekeeping"} <= names
