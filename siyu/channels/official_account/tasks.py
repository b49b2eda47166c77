"""Worker tasks: ids in, one service call, safe to run twice."""

from __future__ import annotations

from django_tasks import task

from siyu.channels.official_account import services
from siyu.core import jobs


@jobs.register("process_oa_callback")
@task()
def process_oa_callback(callback_id: int) -> str:
    return services.process_callback(callback_id=callback_id)


@jobs.register("push_oa_menu")
@task()
def push_oa_menu(account_id: int, version: int) -> str:
    return services.push_menu(account_id=account_id, version=version)


@jobs.register("deliver_oa_template")
@task()
def deliver_oa_template(send_id: int) -> str:
    return services.deliver_template_message(send_id=send_id)


@task()
def retry_due_oa_sends() -> int:
    """Periodic: template sends whose retry time has come (when the backend cannot defer tasks itself)."""
    return services.retry_due_sends()


@task()
def refresh_oa_qr_tickets(account_id: int, force: bool = False) -> int:
    return services.refresh_qr_tickets(account_id=account_id, force=force)


@jobs.register("sync_oa_followers")
@task()
def sync_oa_followers(run_id: int) -> str:
    return services.run_follower_sync(run_id=run_id)


@task()
def requeue_oa_callbacks() -> int:
    """Periodic: callbacks left `received` by a transient failure (or a lost enqueue) are processed again."""
    return services.requeue_stale_callbacks()


@task()
def prune_oauth_states() -> int:
    """Periodic: OAuth states past their lifetime."""
    return services.prune_oauth_states()
