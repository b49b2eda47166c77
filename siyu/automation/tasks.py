"""Worker tasks for journeys: thin, safe to run twice (the scan runs under its cursor's lock, timers are claimed,
steps and their effects are keyed)."""

from __future__ import annotations

from django_tasks import task

from siyu.automation import services, staff_tasks


@task()
def tick_task() -> int:
    """Enter customers from new events, match awaited events and goals, then work the due timers."""
    return services.tick()


@task()
def sync_sends_task() -> int:
    """Staff tasks whose linked WeCom mass send the staff member has confirmed become done."""
    return staff_tasks.sync_confirmed_sends()
