"""Periodic jobs: apps register a task and an interval; `siyu scheduler` enqueues each when it falls due.

Periods are counted from the Unix epoch (period = wall-clock seconds // interval), so every scheduler on every machine
agrees on them, and a scheduler enqueues a job only after claiming its period in the database (one row per job and
period under a unique constraint): with several schedulers running, each job runs once a period. The jobs are also
safe to run twice (conditional updates, unique keys), so even a claim that outlived a crash costs no double effect.
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


def period_of(job: PeriodicJob, wall_s: float) -> int:
    return int(wall_s // job.every_s)


def claim(job: PeriodicJob, period: int, owner: str) -> bool:
    """True for the one caller, of any number on any machine, that claims this job's period first."""
    from django.db import IntegrityError, transaction

    from siyu.core.models import PeriodicClaim

    try:
        with transaction.atomic():
            PeriodicClaim.objects.create(name=job.name, period=period, claimed_by=owner[:100])
    except IntegrityError:
        return False
    return True


def run_due(seen: dict[str, int], wall_s: float, owner: str) -> list[PeriodicJob]:
    """Enqueue every job whose current period this scheduler has not yet seen and wins the claim for; `seen` (job
    name → last period looked at) spares the database a claim per job per tick. Returns the jobs enqueued."""
    enqueued = []
    for job in list(_JOBS.values()):
        period = period_of(job, wall_s)
        if seen.get(job.name) == period:
            continue
        seen[job.name] = period
        if claim(job, period, owner):
            job.task.enqueue(*job.args)
            enqueued.append(job)
    return enqueued


def forget_claims_before(cutoff_s: float) -> int:
    """Delete claims made before this wall-clock time (the scheduler keeps two days)."""
    from datetime import UTC, datetime

    from siyu.core.models import PeriodicClaim

    deleted, _ = PeriodicClaim.objects.filter(claimed_at__lt=datetime.fromtimestamp(cutoff_s, tz=UTC)).delete()
    return deleted
