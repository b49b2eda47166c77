"""Leases on background runs: a run that a worker claimed carries the worker's name and a heartbeat that its progress
writes renew; a run whose heartbeat is older than the lease lost its worker (killed, out of memory, the machine gone)
and is put back in the queue by a periodic job, or stopped for good after a few attempts.

Re-running is safe because every run is: an export rewrites its file from the start, a coupon batch issues nobody
twice (each coupon's idempotency key comes from the batch and the customer). The kernel knows no app's tables: each
app calls `requeue_expired` with its model and its statuses from its own periodic task.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Model, Q
from django.utils import timezone

LEASE_S = 300  # a live run writes progress far more often than this (every chunk of a few thousand rows)
MAX_ATTEMPTS = 3  # a run that lost its worker this many times is stopped, not retried forever


def worker_name() -> str:
    """This process, as a lease names it: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


@dataclass(frozen=True)
class Requeued:
    retried: list[int]
    stopped: list[int]


def claim(model: type[Model], pk: int, *, queued: str, running: str, now: datetime | None = None,
          **fields: Any) -> bool:
    """Move a queued run to running under this worker's lease; False when another worker has it (or it is done)."""
    moment = now or timezone.now()
    return bool(model._default_manager.filter(pk=pk, status=queued).update(
        status=running, worker=worker_name(), heartbeat_at=moment, attempts=F("attempts") + 1, **fields))


def requeue_expired(model: type[Model], *, queued: str, running: str, failed: str, now: datetime | None = None,
                    lease_s: int = LEASE_S, max_attempts: int = MAX_ATTEMPTS, reset: dict[str, Any] | None = None,
                    error: str = "worker_lost") -> Requeued:
    """Put back in the queue every run whose lease expired (set-based: two UPDATEs however many runs), and stop those
    that already used `max_attempts`. Safe with several schedulers: each UPDATE re-checks the expired lease, so a
    run is moved once; a run enqueued twice is claimed once."""
    moment = now or timezone.now()
    stale = moment - timedelta(seconds=lease_s)
    expired = Q(status=running) & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
    rows = model._default_manager.filter(expired)
    with transaction.atomic():
        stopped = list(rows.filter(attempts__gte=max_attempts).select_for_update().values_list("pk", flat=True))
        if stopped:
            rows.filter(pk__in=stopped).update(status=failed, error=error, finished_at=moment, worker="")
        retried = list(rows.filter(attempts__lt=max_attempts).select_for_update().values_list("pk", flat=True))
        if retried:
            rows.filter(pk__in=retried).update(status=queued, worker="", heartbeat_at=None, **(reset or {}))
    return Requeued(retried=retried, stopped=stopped)
