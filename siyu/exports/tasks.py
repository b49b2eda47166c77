"""Worker tasks: ids in, one service call, safe to run twice (a second run finds the export claimed or done)."""

from __future__ import annotations

from django_tasks import task

from siyu.core import jobs
from siyu.exports import services


@jobs.register(services.TASK)
@task()
def run_export_task(export_id: int) -> str:
    return services.run_export(job_id=export_id)


@task()
def requeue_lost_exports_task() -> str:
    outcome = services.requeue_lost_exports()
    return f"retried {len(outcome.retried)}, stopped {len(outcome.stopped)}"
