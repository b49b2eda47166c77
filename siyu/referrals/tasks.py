"""Worker tasks for referrals: thin, safe to run twice (the scan runs under its cursor's lock, rewards are keyed)."""

from __future__ import annotations

from django_tasks import task

from siyu.referrals import services


@task()
def scan_task() -> int:
    """New adds and paid first orders since the last run become invitations; those due are settled and rewarded."""
    return services.scan_all()
