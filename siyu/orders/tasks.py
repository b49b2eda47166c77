"""Worker tasks: ids in, one service call, safe to run twice (and with several workers).

Periodic (every minute is right for both; the scheduler that calls them is the worker's, see the issue note):
`expire_unpaid_orders_task` and `refund_failed_group_buys_task`.
"""

from __future__ import annotations

from django_tasks import task

from siyu.core import jobs
from siyu.orders.services import after_sale, history_job, imports, states


@task()
def expire_unpaid_orders_task() -> int:
    """Cancel orders past their payment deadline (unpaid, or a presale balance never paid)."""
    return states.expire_unpaid_orders()


@task()
def refund_failed_group_buys_task() -> int:
    """Fail group-buy teams past their deadline and open the members' refunds."""
    return after_sale.refund_failed_group_buys()


@jobs.register("run_platform_import_task")
@task()
def run_platform_import_task(import_id: int) -> str:
    return imports.run_platform_import(import_id=import_id)


@jobs.register(history_job.TASK)
@task()
def run_history_import_task(import_id: int) -> str:
    """A POS order-history import queued from the console (resumes from its checkpoint when run again)."""
    return history_job.run_history_import(import_id=import_id)
