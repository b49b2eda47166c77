"""SMS: sending through the provider (exactly once per key), and what the provider reports back: delivery receipts
and people's replies, opt-out replies (TD, 退订, ...) withdrawing SMS marketing consent.

- `send_sms` commits the message row (queued) before the provider is called, and calls it outside any transaction.
  The provider is given `siyu-sms:<row id>` as its idempotency key, so a send retried after a timeout is one message,
  and a receipt names the row it reports on even when it arrives before the send's own answer.
- Receipts move a message's status up a ladder (queued < sent < delivered | failed; the first final report wins),
  so a receipt delivered twice or out of order changes nothing the second time. Every change is passed to the
  receipt hooks (`register_receipt_hook`), e.g. the campaigns app marking its deliveries.
- Callbacks are authenticated before anything else (wire.authenticate) and applied once per (timestamp, nonce).
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.channels.sms import client, wire
from siyu.channels.sms.models import (
    RANK,
    SmsCallback,
    SmsCallbackStatus,
    SmsMessage,
    SmsPurpose,
    SmsReply,
    SmsStatus,
)
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers import consent
from siyu.customers import queries as customer_queries
from siyu.customers import services as customer_services
from siyu.org.models import Enterprise
from siyu.org.scope import Scope

log = logging.getLogger(__name__)

PROVIDER_KEY_PREFIX = "siyu-sms:"
MAX_BODY_BYTES = wire.MAX_BODY_BYTES
# What a reply must read, once trimmed, width-folded (NFKC) and lower-cased, to withdraw SMS marketing consent. "R" is
# the opt-out both big providers' marketing templates end with (拒收请回复R; ../shared/protocol/sms.md §5, §11).
OPT_OUT_WORDS = frozenset({"td", "t", "n", "r", "退订", "取消", "unsubscribe", "stop"})


# ---------------------------------------------------------------------------------------------------------------
# Receipt hooks


@dataclass(frozen=True)
class ReceiptUpdate:
    """A message's status changed (sent, delivered or failed): what a hook learns. `key` is the sender's key."""

    enterprise_id: int
    key: str
    status: str
    reported_at: datetime
    error: str


ReceiptHook = Callable[[ReceiptUpdate], Any]
_RECEIPT_HOOKS: dict[str, ReceiptHook] = {}


def register_receipt_hook(fn: ReceiptHook, *, name: str = "") -> None:
    """Call `fn` on every status change of a message, inside the transaction that changes it (in its own savepoint:
    a failing hook is logged and does not undo the change). A change happens once, so a hook runs once per status."""
    _RECEIPT_HOOKS[name or f"{fn.__module__}.{fn.__qualname__}"] = fn


def receipt_hooks() -> list[str]:
    return sorted(_RECEIPT_HOOKS)


def _run_hooks(update: ReceiptUpdate) -> None:
    for name, hook in list(_RECEIPT_HOOKS.items()):
        try:
            with transaction.atomic():
                hook(update)
        except Exception:
            log.exception("SMS receipt hook %s failed for %s", name, update.key)


def _move(message: SmsMessage, status: str, *, at: datetime, error: str = "", **fields: Any) -> bool:
    """Move the message up the ladder to `status` when it is lower; True when it moved (hooks ran)."""
    lower = [s for s, rank in RANK.items() if rank < RANK[SmsStatus(status)]]
    with transaction.atomic():
        moved = SmsMessage.objects.filter(pk=message.pk, status__in=lower).update(
            status=status, error=error[:200], updated_at=timezone.now(), **fields)
        if moved:
            _run_hooks(ReceiptUpdate(enterprise_id=message.enterprise_id, key=message.key, status=status,
                                     reported_at=at, error=error[:200]))
    return bool(moved)


# ---------------------------------------------------------------------------------------------------------------
# Sending


def _check_send(*, phone: str, text: str, key: str, purpose: str) -> None:
    if not wire.PHONE.fullmatch(phone):
        raise ValidationFailed(_("a mainland mobile number of 11 digits is needed"), field="phone", code="invalid")
    if not 1 <= len(text) <= 500:
        raise ValidationFailed(_("the text is 1 to 500 characters"), field="text", code="invalid")
    if not 1 <= len(key) <= 100:
        raise ValidationFailed(_("the key is 1 to 100 characters"), field="key", code="invalid")
    if purpose not in SmsPurpose.values:
        raise ValidationFailed(_("unknown purpose"), field="purpose", code="invalid_choice")


def _marketing_allowed(enterprise_id: int, customer_id: int | None, phone: str) -> bool:
    """Marketing needs the customer's SMS consent, and no opt-out reply from the number itself."""
    if SmsReply.objects.filter(enterprise_id=enterprise_id, phone=phone, opt_out=True).exists():
        return False
    if customer_id is None:
        return True
    return customer_queries.customers(Scope.hq(enterprise_id)).filter(
        pk=customer_id).filter(consent.allowed_filter("sms", customer_ref="pk")).exists()


def _record(*, enterprise_id: int, customer_id: int | None, phone: str, text: str, key: str,
            purpose: str) -> SmsMessage:
    existing = SmsMessage.objects.filter(enterprise_id=enterprise_id, key=key).first()
    if existing is not None:
        return existing
    if customer_id is not None and not customer_queries.customers(Scope.hq(enterprise_id)).filter(
            pk=customer_id).exists():
        raise NotFound(_("customer not found"), field="customer_id")
    if purpose == SmsPurpose.MARKETING and not _marketing_allowed(enterprise_id, customer_id, phone):
        raise Conflict(_("this number has no SMS marketing consent"), field="customer_id", code="no_consent")
    try:
        with transaction.atomic():
            return SmsMessage.objects.create(enterprise_id=enterprise_id, key=key, customer_id=customer_id,
                                             phone=phone, text=text, purpose=purpose)
    except IntegrityError:
        return SmsMessage.objects.get(enterprise_id=enterprise_id, key=key)


def send_sms(
    *, enterprise_id: int, customer_id: int | None, phone: str, text: str, key: str, purpose: str, sign: str = "",
) -> SmsMessage:
    """Send `text` to `phone` once per (enterprise, key). Returns the message row:

    - a repeat of the key returns the first row and never re-sends one the provider accepted;
    - `sent` once the provider accepted it (a receipt moves it on to `delivered` or `failed`);
    - `failed` when the provider refused it (terminal: a repeat does not try again);
    - still `queued`, with `error` set, when the provider could not be reached or was busy: retryable, call again
      with the same key (the provider de-duplicates by the key it was given, so nothing is sent twice).
    """
    phone, key = phone.strip(), key.strip()
    _check_send(phone=phone, text=text, key=key, purpose=purpose)
    message = _record(enterprise_id=enterprise_id, customer_id=customer_id, phone=phone, text=text, key=key,
                      purpose=purpose)
    if message.status != SmsStatus.QUEUED:
        return message
    brand = sign or (Enterprise.objects.filter(pk=enterprise_id).values_list("name", flat=True).first() or "")
    try:
        answer = client.send_text(base_url=settings.SIYU_SMS_BASE_URL, phone=message.phone, sign=brand[:20],
                                  text=message.text, key=f"{PROVIDER_KEY_PREFIX}{message.pk}")
    except client.SmsError as exc:
        if exc.retryable:
            SmsMessage.objects.filter(pk=message.pk).update(error=str(exc)[:200], attempts=message.attempts + 1)
        else:
            _move(message, SmsStatus.FAILED, at=timezone.now(), error=str(exc), attempts=message.attempts + 1)
        message.refresh_from_db()
        return message
    now = timezone.now()
    _move(message, SmsStatus.SENT, at=now, sent_at=now, attempts=message.attempts + 1)
    # A receipt may have come first (it names the row by key): the provider's id is recorded either way.
    SmsMessage.objects.filter(pk=message.pk, provider_message_id="").update(provider_message_id=answer.message_id[:64])
    SmsMessage.objects.filter(pk=message.pk, sent_at__isnull=True).update(sent_at=now)
    message.refresh_from_db()
    return message


# ---------------------------------------------------------------------------------------------------------------
# Callbacks


@dataclass(frozen=True)
class CallbackResult:
    status: int
    body: dict[str, Any]


def _message_for(receipt: wire.Receipt) -> SmsMessage | None:
    if receipt.key.startswith(PROVIDER_KEY_PREFIX) and receipt.key[len(PROVIDER_KEY_PREFIX):].isdigit():
        found = SmsMessage.objects.filter(pk=int(receipt.key[len(PROVIDER_KEY_PREFIX):])).first()
    else:
        found = SmsMessage.objects.filter(provider_message_id=receipt.message_id).order_by("-pk").first()
    if found is None or found.phone != receipt.phone:
        return None
    if found.provider_message_id and found.provider_message_id != receipt.message_id:
        return None
    return found


def _apply_receipt(receipt: wire.Receipt) -> tuple[str, str, int | None]:
    message = _message_for(receipt)
    if message is None:
        return SmsCallbackStatus.IGNORED, "unknown message", None
    if not message.provider_message_id:
        SmsMessage.objects.filter(pk=message.pk, provider_message_id="").update(
            provider_message_id=receipt.message_id)
    error = receipt.error_code if receipt.status == SmsStatus.FAILED else ""
    moved = _move(message, receipt.status, at=receipt.reported_at, error=error, reported_at=receipt.reported_at)
    return SmsCallbackStatus.PROCESSED, ("applied" if moved else "no change"), message.enterprise_id


def is_opt_out(text: str) -> bool:
    return unicodedata.normalize("NFKC", text).strip().lower() in OPT_OUT_WORDS


def _reply_target(reply: wire.Reply) -> SmsMessage | None:
    """The message answered: the one the provider names, else the last one sent to that number."""
    named = (SmsMessage.objects.filter(provider_message_id=reply.reply_to, phone=reply.phone).order_by("-pk").first()
             if reply.reply_to else None)
    return named or SmsMessage.objects.filter(phone=reply.phone).order_by("-created_at", "-pk").first()


def _apply_reply(reply: wire.Reply) -> tuple[str, str, int | None]:
    target = _reply_target(reply)
    if target is None:
        return SmsCallbackStatus.IGNORED, "no message was sent to this number", None
    enterprise_id = target.enterprise_id
    opt_out = is_opt_out(reply.text)
    # Providers report whole seconds: the withdrawal takes effect when it reaches us, so a grant recorded earlier in
    # that same second cannot outrank it; the provider's time is kept as evidence and on the timeline event.
    now = timezone.now()
    at = min(reply.received_at, now)
    scope = Scope.hq(enterprise_id)
    customer_ids = list(customer_queries.customers(scope).filter(phone=reply.phone, erased_at__isnull=True)
                        .order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():
        row, created = SmsReply.objects.get_or_create(
            provider_message_id=reply.message_id,
            defaults={"enterprise_id": enterprise_id, "phone": reply.phone, "text": reply.text, "reply_to": target,
                      "opt_out": opt_out, "customers": len(customer_ids), "received_at": at})
        if not created:
            return SmsCallbackStatus.PROCESSED, "reply already applied", enterprise_id
        for customer_id in customer_ids:
            customer_services.append_event(
                enterprise_id=enterprise_id, customer_id=customer_id, name="message_received",
                idempotency_key=f"sms-reply:{reply.message_id}:{customer_id}", occurred_at=at, channel="sms",
                properties={"kind": "sms_opt_out" if opt_out else "sms", "text": reply.text[:2000]})
            if opt_out:
                consent.record(
                    scope=scope, customer_id=customer_id, channel="sms", granted=False, method="sms_reply",
                    text=reply.text, evidence={"message_id": reply.message_id, "reply_to": target.provider_message_id,
                                               "received_at": reply.received_at.isoformat()},
                    recorded_at=now, idempotency_key=f"sms-reply:{reply.message_id}:{customer_id}")
    note = f"opt-out of {len(customer_ids)} customer(s)" if opt_out else f"reply for {len(customer_ids)} customer(s)"
    return SmsCallbackStatus.PROCESSED, note, enterprise_id


def headers_from(meta: Any) -> wire.Headers:
    return wire.Headers.from_meta(meta)


def receive_callback(*, headers: wire.Headers, body: bytes, now_s: float | None = None) -> CallbackResult:
    """Authenticate, then store and apply once. Refusals are 4xx with a code; our own failure is a 503 the
    provider retries (its retry carries a new nonce), never a 500."""
    try:
        timestamp = wire.authenticate(secret=settings.SIYU_SMS_CALLBACK_SECRET, headers=headers, body=body,
                                      now_s=time.time() if now_s is None else now_s)
        parsed = wire.parse(body)
    except wire.Refused as refused:
        return CallbackResult(refused.status, {"code": refused.code, "reason": refused.reason})
    kind = "receipt" if isinstance(parsed, wire.Receipt) else "reply"
    text = body.decode("utf-8", "replace")
    try:
        with transaction.atomic():
            row = SmsCallback.objects.create(kind=kind, body=text, replay_key=wire.replay_key(timestamp,
                                                                                              headers.nonce))
    except IntegrityError:
        return CallbackResult(200, {"code": "OK", "duplicate": True})
    try:
        status, note, enterprise_id = (_apply_receipt(parsed) if isinstance(parsed, wire.Receipt)
                                       else _apply_reply(parsed))
    except Exception as exc:
        log.exception("SMS callback %s could not be applied", row.pk)
        SmsCallback.objects.filter(pk=row.pk).update(status=SmsCallbackStatus.FAILED, replay_key=None,
                                                     note=f"{type(exc).__name__}"[:200])
        return CallbackResult(503, {"code": "retry_later", "reason": "the callback could not be applied"})
    SmsCallback.objects.filter(pk=row.pk).update(status=status, note=note[:200], enterprise_id=enterprise_id)
    return CallbackResult(200, {"code": "OK"})


def prune_replay_keys(now_s: float | None = None) -> int:
    """Clear replay keys whose timestamp can no longer be accepted (older than the window)."""
    cutoff = f"{int(time.time() if now_s is None else now_s) - 301:010d}"
    return int(SmsCallback.objects.filter(replay_key__lt=cutoff).update(replay_key=None))
