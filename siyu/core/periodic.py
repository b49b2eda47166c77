"""Periodic jobs: apps register a task and an interval; `siyu scheduler` enqueues each when it falls due.

The jobs themselves are safe to run twice (conditional updates, unique keys), so a second scheduler or a late tick
costs a no-op run, never a double effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: Any  # a django_tasks Task: anything with .enqueue()
    every_s: int
    args: tuple[Any, ...] = ()


_JOBS: dict[str, PeriodicJob] = {}


def register_periodic(name: str, task: Any, *, every_s: int, args: tuple[Any, ...] = ()) -> None:
    if every_s < 1:
        raise ValueError("every_s must be at least 1 second")
    _JOBS[name] = PeriodicJob(name=name, task=task, every_s=every_s, args=args)


def periodic_jobs() -> list[PeriodicJob]:
    return list(_JOBS.values())


def due(last_run: dict[str, float], now: float) -> list[PeriodicJob]:
    """The jobs whose interval has passed since they were last enqueued (never-run jobs are due at once)."""
    return [job for job in _JOBS.values() if now - last_run.get(job.name, float("-inf")) >= job.every_s]
