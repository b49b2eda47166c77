"""Worker tasks of the org app (thin: one service call, safe to run twice)."""

from __future__ import annotations

from django_tasks import task

from siyu.org import services


@task()
def purge_login_failures() -> int:
    """Delete sign-in failures that have left the rate-limit window (periodic: org.purge_login_failures)."""
    return services.purge_login_failures()
