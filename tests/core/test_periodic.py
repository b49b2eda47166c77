from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from siyu.core import periodic
from siyu.core.models import PeriodicClaim
from tests.races import race


class _FakeTask:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def enqueue(self, *args: Any) -> None:
        self.calls.append(args)


@pytest.mark.django_db
def test_each_job_runs_once_a_period_however_many_schedulers_run() -> None:
    fast, slow = _FakeTask(), _FakeTask()
    periodic.register_periodic("test.fast", fast, every_s=10)
    periodic.register_periodic("test.slow", slow, every_s=100)
    real = _only_test_jobs()
    try:
        a_seen: dict[str, int] = {}
        b_seen: dict[str, int] = {}
        # 1000 s is period 100 of the 10 s job and period 10 of the 100 s job: both due on a fresh database
        assert {j.name for j in periodic.run_due(a_seen, 1000.0, "a")} == {"test.fast", "test.slow"}
        assert periodic.run_due(b_seen, 1001.0, "b") == []  # a second scheduler in the same periods
        assert periodic.run_due(a_seen, 1009.9, "a") == []  # the same scheduler's next tick
        assert [j.name for j in periodic.run_due(b_seen, 1010.0, "b")] == ["test.fast"]  # period 101: b wins it
        assert periodic.run_due(a_seen, 1012.0, "a") == []
        assert {j.name for j in periodic.run_due(a_seen, 1100.0, "a")} == {"test.fast", "test.slow"}
        assert fast.calls == [(), (), ()] and slow.calls == [(), ()]
        owners = list(PeriodicClaim.objects.filter(name="test.fast").order_by("period")
                      .values_list("period", "claimed_by"))
        assert owners == [(100, "a"), (101, "b"), (110, "a")]
    finally:
        _restore(real, "test.fast", "test.slow")


@pytest.mark.django_db
def test_old_claims_are_forgotten() -> None:
    job = periodic.PeriodicJob(name="test.old", task=_FakeTask(), every_s=60)
    assert periodic.claim(job, 1, "a") and periodic.claim(job, 2, "a")
    PeriodicClaim.objects.filter(period=1).update(claimed_at=timezone.now() - timedelta(days=3))
    assert periodic.forget_claims_before(time.time() - 2 * 86400) == 1
    assert list(PeriodicClaim.objects.values_list("period", flat=True)) == [2]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_claim_a_period_once_on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a true race needs PostgreSQL")
    job = periodic.PeriodicJob(name="test.race", task=_FakeTask(), every_s=60)
    won: list[int] = []

    def work(i: int) -> None:
        if periodic.claim(job, 7, f"s{i}"):
            won.append(i)

    assert race(8, work) == Counter({"ok": 8})
    assert len(won) == 1
    assert PeriodicClaim.objects.filter(name="test.race").count() == 1


def _only_test_jobs() -> dict[str, periodic.PeriodicJob]:
    real = {job.name: job for job in periodic.periodic_jobs() if not job.name.startswith("test.")}
    for name in real:
        periodic._JOBS.pop(name)
    return real


def _restore(real: dict[str, periodic.PeriodicJob], *test_names: str) -> None:
    for name in test_names:
        periodic._JOBS.pop(name, None)
    periodic._JOBS.update(real)


@pytest.mark.django_db
def test_scheduler_once_enqueues_each_registered_job_with_its_args_once_a_period() -> None:
    task = _FakeTask()
    periodic.register_periodic("test.args", task, every_s=3600, args=(False,))
    real = _only_test_jobs()
    try:
        call_command("scheduler", "--once")
        call_command("scheduler", "--once")  # a second scheduler within the same hour (or a restart)
        assert task.calls in ([(False,)], [(False,), (False,)])  # two only if the hour turned between the calls
        assert PeriodicClaim.objects.filter(name="test.args").count() == len(task.calls)
    finally:
        _restore(real, "test.args")


def test_apps_register_their_periodic_jobs() -> None:
    names = {job.name for job in periodic.periodic_jobs()}
    assert {"orders.expire_unpaid", "promotions.expire_coupons", "wecom.housekeeping"} <= names
