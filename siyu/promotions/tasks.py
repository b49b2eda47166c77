"""Worker tasks: one service call each, safe to run twice or on several workers at once."""

from __future__ import annotations

from django_tasks import task

from siyu.core import jobs
from siyu.promotions import services


@task()
def expire_coupons() -> int:
    """Periodic (e.g. every 10 minutes): available coupons past their validity become expired."""
    return services.expire_coupons()


@jobs.register(services.TASK_RUN_BATCH)
@task()
def run_coupon_batch(batch_id: int) -> str:
    """Issue a confirmed batch (a coupon to a tag set or a segment); a second run finds it claimed."""
    return services.run_coupon_batch(batch_id=batch_id)


@task()
def requeue_lost_batches() -> str:
    """Batches whose worker died mid-run go back in the queue (siyu.core.leases)."""
    outcome = services.requeue_lost_batches()
    return f"retried {len(outcome.retried)}, stopped {len(outcome.stopped)}"
