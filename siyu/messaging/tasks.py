"""Worker tasks for campaigns: thin and safe to run twice (rows are claimed under a lease, sends are keyed)."""

from __future__ import annotations

from django_tasks import task

from siyu.core import jobs
from siyu.messaging import services


@jobs.register("messaging.send_due")
@task()
def send_due_task() -> int:
    """Claim due deliveries in batches and send them; periodic, and enqueued when a campaign launches."""
    return services.send_due()


@jobs.register("messaging.evaluate_tests")
@task()
def evaluate_tests_task() -> int:
    """Campaigns whose test evaluation time has come: promote the significant winners."""
    return services.evaluate_due_tests()
