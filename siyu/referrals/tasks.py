"""Worker tasks for referrals: thin, safe to run twice (the scan runs under its cursor's lock, rewards are keyed)."""

from __future__ import annotations

from django_tasks import task

from siyu.referrals import services


@task()
def scan_task() -> int:
    """New adds and paid first orders since the last run become invitations; those due are settled and rewarded."""
    return services.scan_all()


@task()
def send_progress_task() -> int:
    """Progress notices recorded by the scan or a help, sent through the SMS sender (keyed, outside transactions)."""
    return services.send_progress_notices()
