"""Worker tasks: ids in, one service call, safe to run twice."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from siyu.channels.wecom import housekeeping, inbound, inheritance, outbox, sync, sync_jobs
from siyu.core import jobs
from siyu.core.timeutil import now

HOUSEKEEPING_EVERY_S = 60


@task()
def process_wecom_callback(callback_id: int) -> str:
    """One callback (tasks queued before batches existed still run)."""
    return inbound.process(callback_id=callback_id)


@jobs.register("process_wecom_callbacks")
@task()
def process_wecom_callbacks(callback_ids: list[int]) -> dict[str, int]:
    """A batch of callbacks as the intake committed them."""
    return inbound.process_many(callback_ids=callback_ids)


@jobs.register("run_wecom_call")
@task()
def run_wecom_call(call_id: int) -> str:
    return outbox.execute_call(call_id=call_id)


@jobs.register("sync_wecom_customers")
@task()
def sync_wecom_customers(run_id: int) -> str:
    return sync.run_sync(run_id=run_id)


@jobs.register(sync_jobs.TASK)
@task()
def run_wecom_sync_job(job_id: int) -> str:
    """An address-book, tag or group sync queued from the console or the API."""
    return sync_jobs.run_sync_job(job_id=job_id)


@task()
def poll_wecom_transfer(job_id: int) -> int:
    return inheritance.poll_transfer(job_id=job_id)


@task()
def wecom_housekeeping(reschedule: bool = True) -> dict[str, int]:
    """Retries, stale callbacks, open transfers, daily caps. Re-enqueues itself every minute when it can defer;
    start the chain once with `wecom_housekeeping.enqueue()` (several chains are harmless: every step is idempotent).
    """
    figures = housekeeping.sweep()
    backend = wecom_housekeeping.get_backend()
    if reschedule and backend.supports_defer:
        wecom_housekeeping.using(run_after=now() + timedelta(seconds=HOUSEKEEPING_EVERY_S)).enqueue(True)
    return figures
