"""Worker tasks: one service call each, safe to run twice or on several workers at once."""

from __future__ import annotations

from django_tasks import task

from siyu.content import services


@task()
def run_due_moments() -> int:
    """Periodic (every minute): hand the calendar's due moments to WeCom."""
    return services.run_due_moments()


@task()
def refresh_moments_engagement() -> int:
    """Periodic (every 30 minutes): read who posted the calendar's recent moments and their comments and likes."""
    return services.refresh_moments_engagement()
