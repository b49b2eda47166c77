"""A real `siyu worker` process is killed (SIGKILL) while journey timers are due; after its claims lapse a second
worker finishes: every customer has each of the five steps exactly once, and the points, coupons and tags match
the hand count (no step lost, none doubled).

The worker runs against the test database itself on PostgreSQL; on SQLite (an in-memory test database) the data is
copied to a file for the workers and copied back to be checked."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from siyu.automation import services, tasks
from siyu.automation.models import Enrollment, Step, Timer
from siyu.customers.models import CustomerTag
from siyu.loyalty.models import PointsLot
from siyu.promotions.models import Coupon
from tests.automation.helpers import added, build_world, customer, live
from tests.conftest import Org

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 120
STEPS = ("p1", "coupon", "tag", "w", "p2")
CHILD = """
import sys
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from siyu.automation import services
services.requeue_lapsed(now=timezone.now() + 2 * services.LEASE)
print(services.tick(now=timezone.now() + timedelta(minutes=int(sys.argv[1]))))
"""


def _definition(world: Any) -> dict[str, Any]:
    return {"entry": {"kind": "event", "event": "wecom_contact_added"},
            "nodes": [{"id": "p1", "kind": "action", "action": "grant_points", "points": 10},
                      {"id": "coupon", "kind": "action", "action": "issue_coupon",
                       "coupon_template_id": world.template.pk},
                      {"id": "tag", "kind": "action", "action": "add_tag", "tag_id": world.d0.pk},
                      {"id": "w", "kind": "wait", "minutes": 1, "quiet_hours": False},
                      {"id": "p2", "kind": "action", "action": "grant_points", "points": 5}]}


def _env(url: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings", "PYTHONPATH": str(ROOT),
           "SIYU_DATABASE_URL": url, "SIYU_LOG_LEVEL": "WARNING", "SIYU_DB_CONN_MAX_AGE": "0"}
    env.pop("SIYU_TASK_BACKEND", None)
    return env


def _database(tmp_path: Path) -> tuple[str, Callable[[], int], Callable[[], None]]:
    """(the workers' database URL, a count of step rows they wrote, a way to see their writes here)."""
    if connection.vendor == "postgresql":
        settings = connection.settings_dict
        url = (f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/"
               f"{settings['NAME']}")
        return url, lambda: Step.objects.count(), lambda: None
    path = tmp_path / "workers.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()

    def count() -> int:
        with sqlite3.connect(path, timeout=30) as reader:
            query = f"SELECT COUNT(*) FROM {Step._meta.db_table}"  # noqa: S608 - the model's table
            return int(reader.execute(query).fetchone()[0])

    def back() -> None:
        with sqlite3.connect(path, timeout=30) as source:
            source.backup(connection.connection)

    return f"sqlite:///{path}", count, back


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_timers_are_due_loses_no_step_and_doubles_none(org: Org, tmp_path: Path) -> None:
    world = build_world(org)
    live(world, "重启", _definition(world))
    start = timezone.now() - timedelta(seconds=5)
    people = [customer(world, f"c{n}", start, staff=False) for n in range(CUSTOMERS)]
    for person in people:
        added(person, start)
    services.scan(enterprise_id=world.enterprise_id)  # all enter: their first timers are due now
    assert Timer.objects.filter(status="pending").count() == CUSTOMERS
    tasks.tick_task.enqueue()
    url, steps_written, see = _database(tmp_path)
    env = _env(url)
    log = (tmp_path / "worker1.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "siyu.manage", "worker", "--interval", "0.2"], env=env,
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while steps_written() < 20 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.05)
        os.killpg(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    at_kill = steps_written()
    assert 0 < at_kill < CUSTOMERS * 4, (tmp_path / "worker1.log").read_text()[-2000:]
    # a second worker process: the lapsed claims come back, then the waits (1 minute) fall due
    for minutes in ("0", "2"):
        done = subprocess.run([sys.executable, "-c", CHILD, minutes], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    see()
    assert Step.objects.count() == CUSTOMERS * len(STEPS)
    assert sorted(set(Step.objects.values_list("node", flat=True))) == sorted(STEPS)
    assert Step.objects.filter(outcome="done").count() == CUSTOMERS * len(STEPS)
    assert sum(PointsLot.objects.values_list("points", flat=True)) == CUSTOMERS * 15
    assert Coupon.objects.count() == CUSTOMERS
    assert CustomerTag.objects.filter(tag=world.d0).count() == CUSTOMERS
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}
    assert Timer.objects.exclude(status="done").count() == 0
