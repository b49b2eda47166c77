"""Worker tasks shared by every channel: ids in, one service call, safe to run twice."""

from __future__ import annotations

from django_tasks import task

from siyu.channels import services


@task()
def prune_callback_records() -> dict[str, int]:
    """Periodic: the callback log's replay keys, refusal counts and old refused bodies."""
    return services.prune_callback_records()
