"""The reconciliation job: thin, safe to run twice (a day already done is skipped; a running day is claimed once)."""

from __future__ import annotations

from django_tasks import task

from siyu.finance.reconciliation import services


@task()
def reconcile_due_task() -> int:
    """Reconcile yesterday's trade bill for every active merchant that has not been reconciled yet."""
    return services.reconcile_due()
