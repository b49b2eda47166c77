"""A task for the Redis queue test (tests/ops/test_redis_queue.py): it appends its value to a file, so a worker in
another process shows what it ran. Imported by that test's child processes only."""

from __future__ import annotations

from pathlib import Path

from django_tasks import task

from siyu.core import jobs


@jobs.register("test.mark")
@task()
def mark(path: str, value: str) -> str:
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(value + "\n")
    return value
