"""Worker tasks for finance: thin, safe to run twice."""

from __future__ import annotations

from django_tasks import task

from siyu.finance import services


@task()
def sync_stale_payments_task() -> int:
    """Ask WeChat Pay about payments whose notify is overdue (the query fallback), and apply the answers."""
    return services.sync_stale_payments()


@task()
def sync_stale_refunds_task() -> int:
    """Ask WeChat Pay about refunds whose notify is overdue (the refund query fallback), and apply the answers."""
    return services.sync_stale_refunds()


@task()
def pay_out_system_refunds_task() -> int:
    """Pay back, through WeChat Pay, the refunds the system approved (failed group-buy teams)."""
    return services.pay_out_system_refunds()
