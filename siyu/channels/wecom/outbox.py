"""The outbox of WeCom API calls with side effects (welcome messages, contact ways, tags, transfers, mass sends).

A call is a row first, written in the same transaction as the business change that wants it, keyed by an
idempotency key (a repeat returns the first row). After commit the worker claims it, calls the platform outside any
transaction, and records the outcome; retryable failures (busy, rate limits, network) are retried with exponential
backoff, terminal ones are recorded with the platform's errcode. What a success or failure means for Siyu's own
rows (a code's config_id, a transfer item's status) is done by the hooks registered per method.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.client import WecomClient, WecomError
from siyu.channels.wecom.models import CallStatus, OutboundCall
from siyu.channels.wecom.provider import client_for
from siyu.core import jobs
from siyu.core.timeutil import now

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BASE_BACKOFF_S = 5
STUCK_AFTER = timedelta(minutes=5)
ERASE_BATCH = 5000
REF = "_ref"  # payload key for Siyu's own references; stripped before the call

Performer = Callable[[WecomClient, dict[str, Any]], dict[str, Any]]
SuccessHook = Callable[[OutboundCall, dict[str, Any]], None]
FailureHook = Callable[[OutboundCall, WecomError], None]


def _void(name: str) -> Performer:
    """A call whose answer carries nothing but errcode 0."""

    def run(client: WecomClient, payload: dict[str, Any]) -> dict[str, Any]:
        getattr(client, name)(**payload)
        return {}

    return run


def _upload_attachment(client: WecomClient, payload: dict[str, Any]) -> dict[str, Any]:
    """A stored file (Django's storage, by name) uploaded as a moment attachment; the answer keeps its media_id."""
    with default_storage.open(str(payload["storage_name"]), "rb") as fh:
        content = fh.read()
    media_id = client.upload_attachment(media_type=str(payload["media_type"]), filename=str(payload["filename"]),
                                        content=content, content_type=str(payload["content_type"]))
    return {"media_id": media_id, "uploaded_at": now().isoformat()}


PERFORMERS: dict[str, Performer] = {
    "upload_attachment": _upload_attachment,
    "send_welcome_msg": _void("send_welcome_msg"),
    "add_contact_way": lambda c, p: asdict(c.add_contact_way(**p)),
    "update_contact_way": _void("update_contact_way"),
    "del_contact_way": _void("del_contact_way"),
    "mark_tag": _void("mark_tag"),
    "add_corp_tag": lambda c, p: asdict(c.add_corp_tag(**p)),
    "edit_corp_tag": _void("edit_corp_tag"),
    "del_corp_tag": _void("del_corp_tag"),
    "transfer_customer": lambda c, p: {"customer": [asdict(o) for o in c.transfer_customer(**p)]},
    "add_msg_template": lambda c, p: asdict(c.add_msg_template(**p)),
    "add_moment_task": lambda c, p: {"jobid": c.add_moment_task(**p)},
    "add_join_way": lambda c, p: asdict(c.add_join_way(**p)),
    "get_join_way": lambda c, p: asdict(c.get_join_way(**p)),
    "update_join_way": _void("update_join_way"),
    "del_join_way": _void("del_join_way"),
    "add_group_welcome_template": lambda c, p: {"template_id": c.add_group_welcome_template(**p)},
    "edit_group_welcome_template": _void("edit_group_welcome_template"),
    "del_group_welcome_template": _void("del_group_welcome_template"),
    "transfer_group_chats": lambda c, p: {"failed_chat_list": [asdict(f) for f in c.transfer_group_chats(**p)]},
    "send_app_message": lambda c, p: c.send_app_text(**p),
}
ON_SUCCESS: dict[str, SuccessHook] = {}
ON_FAILURE: dict[str, FailureHook] = {}
ON_RETRY: dict[str, FailureHook] = {}  # a retryable failure that will be tried again (e.g. a rate limit)
# Before a call that was tried already is sent again: did the platform carry out the earlier try after all (its answer
# lost to a timeout, or the worker died waiting)? Methods that create something the platform cannot deduplicate
# (a mass-send template) register a lookup; a result found is recorded as the call's answer, and nothing is resent.
Recoverer = Callable[[WecomClient, OutboundCall], "dict[str, Any] | None"]
RECOVER: dict[str, Recoverer] = {}


def on_success(method: str) -> Callable[[SuccessHook], SuccessHook]:
    def register(fn: SuccessHook) -> SuccessHook:
        ON_SUCCESS[method] = fn
        return fn

    return register


def on_failure(method: str) -> Callable[[FailureHook], FailureHook]:
    def register(fn: FailureHook) -> FailureHook:
        ON_FAILURE[method] = fn
        return fn

    return register


def on_retry(method: str) -> Callable[[FailureHook], FailureHook]:
    def register(fn: FailureHook) -> FailureHook:
        ON_RETRY[method] = fn
        return fn

    return register


def on_recover(method: str) -> Callable[[Recoverer], Recoverer]:
    def register(fn: Recoverer) -> Recoverer:
        RECOVER[method] = fn
        return fn

    return register


def enqueue_call(*, account: ChannelAccount, method: str, payload: dict[str, Any], key: str) -> OutboundCall:
    """Record a call (once per key) and have the worker run it after this transaction commits."""
    if method not in PERFORMERS:
        raise ValueError(f"unknown WeCom outbound method {method!r}")
    key = key[:191]
    existing = OutboundCall.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            call = OutboundCall.objects.create(account=account, method=method, payload=payload, idempotency_key=key)
    except IntegrityError:
        return OutboundCall.objects.get(idempotency_key=key)
    transaction.on_commit(lambda: _schedule(call.pk), robust=True)
    return call


def _schedule(call_id: int, delay_s: float = 0) -> None:
    if delay_s > 0 and not jobs.get("run_wecom_call").get_backend().supports_defer:
        return  # the periodic sweep (retry_due_calls) picks it up when it is due
    jobs.enqueue("run_wecom_call", call_id, run_after=now() + timedelta(seconds=delay_s) if delay_s > 0 else None)


def _claim(call_id: int) -> tuple[OutboundCall | None, bool]:
    """Take the call for this worker (pending, or retrying and due). None when another worker has it or it is done;
    the flag says whether it was tried before (a retry, or a worker that died in the middle of it)."""
    due_retry = Q(status=CallStatus.RETRYING, next_attempt_at__lte=now())
    with transaction.atomic():
        first = OutboundCall.objects.filter(pk=call_id, status=CallStatus.PENDING).update(
            status=CallStatus.RUNNING, next_attempt_at=now() + STUCK_AFTER
        )
        again = 0 if first else OutboundCall.objects.filter(due_retry, pk=call_id).update(
            status=CallStatus.RUNNING, next_attempt_at=now() + STUCK_AFTER
        )
    if not (first or again):
        return None, False
    return OutboundCall.objects.select_related("account").get(pk=call_id), bool(again)


def execute_call(*, call_id: int) -> str:
    """Run one outbox call. Safe to run twice: a call that is done, failed or taken is left alone."""
    call, tried_before = _claim(call_id)
    if call is None:
        return "skipped"
    payload = {k: v for k, v in call.payload.items() if k != REF}
    client = client_for(call.account)
    recover = RECOVER.get(call.method) if tried_before else None
    try:
        result = recover(client, call) if recover is not None else None
        if result is None:
            result = PERFORMERS[call.method](client, payload)
    except WecomError as exc:
        return _failed(call, exc)
    with transaction.atomic():
        call.status = CallStatus.DONE
        call.attempts += 1
        call.result = result
        call.finished_at = now()
        call.errcode = 0
        call.last_error = ""
        call.save(update_fields=["status", "attempts", "result", "finished_at", "errcode", "last_error"])
        hook = ON_SUCCESS.get(call.method)
        if hook is not None:
            hook(call, result)
    return "done"


def _failed(call: OutboundCall, exc: WecomError) -> str:
    call.attempts += 1
    call.errcode = exc.errcode
    call.last_error = str(exc)[:255]
    with transaction.atomic():
        if exc.retryable and call.attempts < MAX_ATTEMPTS:
            delay = BASE_BACKOFF_S * 2 ** (call.attempts - 1)
            call.status = CallStatus.RETRYING
            call.next_attempt_at = now() + timedelta(seconds=delay)
            call.save(update_fields=["status", "attempts", "errcode", "last_error", "next_attempt_at"])
            retry_hook = ON_RETRY.get(call.method)
            if retry_hook is not None:
                retry_hook(call, exc)
            transaction.on_commit(lambda: _schedule(call.pk, delay), robust=True)
            return "retrying"
        call.status = CallStatus.FAILED
        call.finished_at = now()
        call.save(update_fields=["status", "attempts", "errcode", "last_error", "finished_at"])
        hook = ON_FAILURE.get(call.method)
        if hook is not None:
            hook(call, exc)
    log.warning("WeCom call %s #%s failed: %s", call.method, call.pk, exc)
    return "failed"


def retry_due_calls(*, limit: int = 500) -> int:
    """Periodic: re-enqueue calls whose retry time has come, and calls stuck in `running` (a worker died)."""
    moment = now()
    stuck = OutboundCall.objects.filter(status=CallStatus.RUNNING, next_attempt_at__lte=moment)
    stuck.update(status=CallStatus.RETRYING)
    due = OutboundCall.objects.filter(
        Q(status=CallStatus.RETRYING, next_attempt_at__lte=moment)
        | Q(status=CallStatus.PENDING, created_at__lte=moment - timedelta(minutes=1))
    ).values_list("id", flat=True)[:limit]
    ids = list(due)
    for call_id in ids:
        _schedule(call_id)
    return len(ids)


def erase_old_payloads(*, at: datetime | None = None) -> int:
    """Personal data kept no longer than needed (PIPL): SIYU_RAW_RETENTION_DAYS after a call finished its payload
    (message text, customer ids) is emptied. The row, its idempotency key, status, errcode and result stay, so a
    finished side effect is still never repeated. A bounded batch per run."""
    cutoff = (at or now()) - timedelta(days=settings.SIYU_RAW_RETENTION_DAYS)
    batch = list(
        OutboundCall.objects.filter(status__in=[CallStatus.DONE, CallStatus.FAILED], finished_at__lt=cutoff)
        .exclude(payload={})
        .order_by("finished_at")
        .values_list("pk", flat=True)[:ERASE_BATCH]
    )
    return OutboundCall.objects.filter(pk__in=batch).update(payload={}) if batch else 0
