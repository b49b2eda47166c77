"""`SIYU_TASK_BACKEND=rq`: the same task code on Redis (django-tasks-rq), run by `siyu worker` in another process.

Child processes use the RQ setting against a real Redis on 127.0.0.1 (started by scripts/ensure-services.sh when
installed but stopped; under CI=true an unreachable Redis fails the test, never skips it):
- a job queued inside a transaction reaches Redis only when the transaction commits, and never when it rolls back
  (a worker elsewhere must not run a job before the rows it reads exist);
- the metrics read the queue's depth from Redis;
- `siyu worker --batch` runs what is queued and stops, and the effect is there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

from tests import proof

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys
import django
django.setup()
from django.db import transaction
import django_rq
from siyu.core import jobs
from siyu.ops.metrics import _redis_queues
import tests.ops.rq_tasks  # noqa: F401

path = sys.argv[1]
queue = django_rq.get_queue("default")
queue.empty()
seen = {}
with transaction.atomic():
    jobs.enqueue("test.mark", path, "committed")
    seen["inside"] = queue.count
seen["after_commit"] = queue.count
try:
    with transaction.atomic():
        jobs.enqueue("test.mark", path, "rolled back")
        raise RuntimeError("roll back")
except RuntimeError:
    pass
seen["after_rollback"] = queue.count
seen["metrics"] = [[name, count] for name, count, _first in _redis_queues()]
seen["transactional"] = jobs.transactional(jobs.get("test.mark"))
print(json.dumps(seen))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    db = 13 if connection.vendor == "sqlite" else 14  # the two suite passes run side by side: one Redis db each
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "siyu.settings",
        "SIYU_TASK_BACKEND": "rq",
        "SIYU_REDIS_URL": f"redis://127.0.0.1:6379/{db}",
        "SIYU_DATABASE_URL": f"sqlite:///{tmp_path / 'rq.sqlite3'}",
        "PYTHONPATH": str(ROOT),
    }


def test_the_redis_queue_runs_the_same_tasks_after_commit_only(tmp_path: Path) -> None:
    started = subprocess.run(["bash", str(ROOT / "scripts" / "ensure-services.sh"), "redis"], timeout=60,
                             capture_output=True)
    proof.require(proof.REDIS, available=started.returncode == 0, detail="127.0.0.1:6379 does not answer")
    env = _env(tmp_path)
    subprocess.run([sys.executable, "-m", "siyu.manage", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True,
                   timeout=300)
    marks = tmp_path / "marks.txt"
    child = subprocess.run([sys.executable, "-c", CHILD, str(marks)], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen == {"inside": 0, "after_commit": 1, "after_rollback": 1, "metrics": [["default", 1]],
                    "transactional": False}

    worker = subprocess.run(
        [sys.executable, "-c", "import tests.ops.rq_tasks, sys; from siyu.manage import main; "
                               "sys.argv = ['siyu', 'worker', '--batch']; main()"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert marks.read_text(encoding="utf-8").splitlines() == ["committed"]
