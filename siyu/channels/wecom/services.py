"""Every change WeCom brings to Siyu, or Siyu makes on WeCom, goes through these functions.

The implementation is split by capability (inbound callbacks, outbox, channel codes, tags, groups, inheritance,
full sync); this module is the one API and console code import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.simulator import demo_accounts
from siyu.channels.wecom import codes, groups, inbound, masssend, outbox, tags, transfers
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.codes import (
    create_channel_code,
    disable_channel_code,
    rebalance_all,
    record_scan,
    set_default_welcome,
    update_channel_code,
)
from siyu.channels.wecom.inbound import Ack
from siyu.channels.wecom.models import MassSend, MomentTask
from siyu.channels.wecom.sync import run_sync, start_sync
from siyu.channels.wecom.transfers import poll_open_transfers, poll_transfer, start_transfer
from siyu.core.audit import Actor
from siyu.core.errors import UpstreamError
from siyu.org.scope import Scope

__all__ = [
    "Ack",
    "areceive_callback",
    "create_channel_code",
    "disable_channel_code",
    "ensure_demo_account",
    "execute_call",
    "housekeeping",
    "poll_open_transfers",
    "poll_transfer",
    "process_callback",
    "process_callbacks",
    "receive_callback",
    "record_scan",
    "run_sync",
    "set_default_welcome",
    "start_sync",
    "start_transfer",
    "sync_groups",
    "sync_tags",
    "update_channel_code",
    "verify_callback_url",
]


def verify_callback_url(*, account_id: int, query: Mapping[str, str], source: str = "") -> Ack:
    return inbound.verify(account_id=account_id, query=query, source=source)


def receive_callback(*, account_id: int, query: Mapping[str, str], body: bytes, source: str = "") -> Ack:
    return inbound.receive(account_id=account_id, query=query, body=body, source=source)


async def areceive_callback(*, account_id: int, query: Mapping[str, str], body: bytes, source: str = "") -> Ack:
    return await inbound.areceive(account_id=account_id, query=query, body=body, source=source)


def process_callback(*, callback_id: int) -> str:
    return inbound.process(callback_id=callback_id)


def process_callbacks(*, callback_ids: list[int]) -> dict[str, int]:
    return inbound.process_many(callback_ids=callback_ids)


def execute_call(*, call_id: int) -> str:
    return outbox.execute_call(call_id=call_id)


def _upstream(exc: WecomError) -> UpstreamError:
    code = "upstream_unavailable" if exc.retryable else "upstream_error"
    return UpstreamError(f"WeCom did not answer as expected ({exc}); try again later", code=code)


def sync_tags(*, scope: Scope, account_id: int) -> dict[str, int]:
    """Both ways: corp tag definitions (pull, then push Siyu-only tags), then customers' tags Siyu -> WeCom."""
    account = codes.wecom_account(account_id, enterprise_id=scope.enterprise_id)
    try:
        figures = tags.sync_tag_definitions(account)
    except WecomError as exc:
        raise _upstream(exc) from exc
    with transaction.atomic():
        figures["marked"] = tags.push_customer_tags(account)
    return figures


def push_customer_tags(*, scope: Scope, account_id: int, customer_ids: list[int] | None = None) -> int:
    account = codes.wecom_account(account_id, enterprise_id=scope.enterprise_id)
    with transaction.atomic():
        return tags.push_customer_tags(account, customer_ids=customer_ids)


def sync_groups(*, scope: Scope, account_id: int) -> int:
    try:
        return groups.sync_groups(codes.wecom_account(account_id, enterprise_id=scope.enterprise_id))
    except WecomError as exc:
        raise _upstream(exc) from exc


def housekeeping() -> dict[str, int]:
    """Periodic work (the worker runs it every minute): retries, stale callbacks, transfers, daily caps."""
    return {
        "calls_requeued": outbox.retry_due_calls(),
        "callbacks_requeued": inbound.requeue_stale(),
        "transfer_items_changed": transfers.poll_open_transfers(),
        "codes_rebalanced": rebalance_all(),
        "scan_visits_pruned": codes.prune_scan_visits(),
        "mass_send_results": masssend.poll_open_mass_sends(),
        "moments_finished": masssend.poll_open_moments(),
    }


def simulator_base_url() -> str:
    return f"http://127.0.0.1:{settings.SIYU_SIMULATOR_PORT}/wecom"


def ensure_demo_account(enterprise_id: int, base_url: str = "", *, actor: Actor = None) -> ChannelAccount:
    """The demo's WeCom app (demo_accounts.WECOM) pointed at the simulator; created once, base URL kept current."""
    app = demo_accounts.WECOM
    return channel_services.ensure_account(
        enterprise_id=enterprise_id,
        kind=AccountKind.WECOM,
        name="企业微信 (模拟)",
        app_id=app.app_id,
        agent_id=app.agent_id,
        secret=app.secret,
        token=app.token,
        encoding_aes_key=app.encoding_aes_key,
        base_url=base_url or simulator_base_url(),
        actor=actor,
    )


def callback_url(account: ChannelAccount, siyu_base_url: str) -> str:
    return f"{siyu_base_url.rstrip('/')}/channels/wecom/callback/{account.pk}/"


def demo_codes(*, enterprise_id: int, account_id: int, stores: list[tuple[int, str]], tag_ids: list[int]) -> int:
    """A few channel codes for the demo: one per store (round robin among its staff), with the demo tags."""
    scope = Scope.hq(enterprise_id)
    made = 0
    for index, (store_id, store_name) in enumerate(stores):
        state = f"store{store_id}"
        if codes.code_for_state(codes.wecom_account(account_id), state) is not None:
            continue
        create_channel_code(
            scope=scope,
            account_id=account_id,
            name=f"{store_name} 门店活码"[:64],
            store_id=store_id,
            assign_mode="round_robin" if index % 2 == 0 else "all",
            tag_ids=tag_ids,
            state=state,
            welcome_text="{name}，您好！欢迎添加，我是您的专属顾问，有任何问题随时找我～",
            welcome_attachments=[
                {"msgtype": "link", "link": {"title": "新人礼包", "url": "https://example.com/welcome"}}
            ],
        )
        made += 1
    return made


def code_choices() -> dict[str, Any]:
    return {"assign_modes": codes.AssignMode.choices}


# ---------------------------------------------------------------------------------------------------------------
# Mass sends (群发) and moments (朋友圈): see masssend.py

__all__ += [
    "create_mass_send",
    "create_moment_task",
    "poll_mass_send",
    "poll_moment_task",
    "refresh_mass_send",
    "refresh_moment_task",
    "submit_mass_send",
    "submit_moment_task",
]


def create_mass_send(
    *,
    scope: Scope,
    account_id: int,
    kind: str,
    sender_ids: list[int],
    name: str = "",
    customer_ids: list[int] | None = None,
    tag_ids: list[int] | None = None,
    group_ids: list[int] | None = None,
    text: str = "",
    attachments: list[dict[str, Any]] | None = None,
    submit: bool = False,
    actor: Actor = None,
) -> MassSend:
    """A draft mass send; with submit=True it is submitted in the same transaction (all or nothing)."""
    with transaction.atomic():
        mass_send = masssend.create_mass_send(
            scope=scope, account_id=account_id, kind=kind, sender_ids=sender_ids, name=name,
            customer_ids=customer_ids or [], tag_ids=tag_ids or [], group_ids=group_ids or [], text=text,
            attachments=attachments or [], actor=actor,
        )
        if submit:
            mass_send = masssend.submit_mass_send(scope=scope, mass_send_id=mass_send.pk, actor=actor)
    return mass_send


def submit_mass_send(*, scope: Scope, mass_send_id: int, actor: Actor = None) -> MassSend:
    return masssend.submit_mass_send(scope=scope, mass_send_id=mass_send_id, actor=actor)


def poll_mass_send(*, mass_send_id: int) -> int:
    return masssend.poll_mass_send(mass_send_id=mass_send_id)


def refresh_mass_send(*, scope: Scope, mass_send_id: int) -> MassSend:
    return masssend.refresh_mass_send(scope=scope, mass_send_id=mass_send_id)


def create_moment_task(
    *,
    scope: Scope,
    account_id: int,
    text: str = "",
    attachments: list[dict[str, Any]] | None = None,
    staff_ids: list[int] | None = None,
    tag_ids: list[int] | None = None,
    submit: bool = False,
    actor: Actor = None,
) -> MomentTask:
    with transaction.atomic():
        task = masssend.create_moment_task(
            scope=scope, account_id=account_id, text=text, attachments=attachments or [], staff_ids=staff_ids or [],
            tag_ids=tag_ids or [], actor=actor,
        )
        if submit:
            task = masssend.submit_moment_task(scope=scope, task_id=task.pk, actor=actor)
    return task


def submit_moment_task(*, scope: Scope, task_id: int, actor: Actor = None) -> MomentTask:
    return masssend.submit_moment_task(scope=scope, task_id=task_id, actor=actor)


def poll_moment_task(*, task_id: int) -> str:
    return masssend.poll_moment_task(task_id=task_id)


def refresh_moment_task(*, scope: Scope, task_id: int) -> MomentTask:
    return masssend.refresh_moment_task(scope=scope, task_id=task_id)
