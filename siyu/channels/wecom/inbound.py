"""WeCom callbacks in: verify, decrypt, store raw, dedupe, ack; then process in the worker.

The receipt path does only what must happen before the 200: check msg_signature, decrypt, parse, write the raw
InboundCallback row (a bad signature is stored as rejected; a replay, found by its dedupe key, as duplicate) and
enqueue the processing task. The platform wants an answer within 5 s and retries 3 times without one; an empty 200
is the documented "received" (wecom-callbacks.md §3).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction

from siyu.channels import intake
from siyu.channels.common import authenticity, storable
from siyu.channels.common.crypto import SIGNATURE_MISMATCH, CryptoError
from siyu.channels.common.groupcommit import GroupCommitter
from siyu.channels.models import AccountKind, CallbackStatus, ChannelAccount, InboundCallback
from siyu.channels.wecom import auto_pull, channel_codes, groups, inheritance, schedules, tags, welcome
from siyu.channels.wecom.callbacks import WecomEvent, dedupe_key, parse_event
from siyu.channels.wecom.client import ContactDetail, CorpTagGroup, FollowUser, GroupChat, WecomError
from siyu.channels.wecom.crypto import crypto_for, open_callback, verify_url
from siyu.channels.wecom.models import ChannelCode
from siyu.channels.wecom.outbox import REF, enqueue_call
from siyu.channels.wecom.provider import client_for
from siyu.core import dberrors, jobs
from siyu.core.timeutil import now
from siyu.customers import services as customer_services
from siyu.customers.models import Channel, Customer, Gender, IdentityKind, RelationshipStatus
from siyu.customers.services import IdentityInput
from siyu.org import queries as org_queries
from siyu.org.models import Staff
from siyu.org.scope import Scope

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
GENDERS = {1: Gender.MALE, 2: Gender.FEMALE}


@dataclass(frozen=True)
class Ack:
    status: int
    body: str = ""


_ACCOUNTS: dict[int, tuple[float, ChannelAccount | None]] = {}
ACCOUNT_TTL_S = 5.0


def _cached_account(account_id: int) -> tuple[bool, ChannelAccount | None]:
    """(known, account) from the few-second cache, without touching the database."""
    cached = _ACCOUNTS.get(account_id)
    if cached is not None and time.monotonic() - cached[0] < ACCOUNT_TTL_S:
        return True, cached[1]
    return False, None


def _account(account_id: int) -> ChannelAccount | None:
    """The live account, cached for a few seconds: a burst of callbacks costs one lookup, not one each."""
    known, account = _cached_account(account_id)
    if known:
        return account
    found = ChannelAccount.objects.filter(pk=account_id, kind=AccountKind.WECOM, is_active=True).first()
    _ACCOUNTS[account_id] = (time.monotonic(), found)
    return found


def _refuse(account: ChannelAccount | None, query: Mapping[str, str], body: bytes, source: str, **fields: Any) -> None:
    """A refused request: counted, and stored while its account and source are under the per-minute quota."""
    intake.refuse(kind=AccountKind.WECOM, account=account, query=query, body=body, body_limit=MAX_BODY, source=source,
                  **fields)


def _fresh(query: Mapping[str, str]) -> int | None:
    return authenticity.fresh_timestamp(query.get("timestamp", ""), now_s=time.time())


def verify(*, account_id: int, query: Mapping[str, str], source: str = "") -> Ack:
    """GET URL verification: the decrypted echostr as plain text, or a refusal (logged either way)."""
    account = _account(account_id)
    if account is None:
        _refuse(None, query, b"", source, event="verify_url", error="unknown account")
        return Ack(404, "unknown account")
    try:
        echo = verify_url(crypto_for(account), query)
    except CryptoError as exc:
        _refuse(account, query, b"", source, event="verify_url", signature_ok=exc.code != SIGNATURE_MISMATCH,
                error=f"{exc.code}: {exc}"[:255])
        return Ack(403, "invalid signature")
    timestamp = _fresh(query)
    if timestamp is None:
        _refuse(account, query, b"", source, event="verify_url", signature_ok=True, error=authenticity.STALE)
        return Ack(403, "stale timestamp")
    intake.log_verified(kind=AccountKind.WECOM, account=account, query=query, event="verify_url",
                        timestamp=timestamp, source=source)
    return Ack(200, echo)


def receive(*, account_id: int, query: Mapping[str, str], body: bytes, source: str = "") -> Ack:
    """POST: verify and decrypt here; the raw row and its processing task are committed (by the group writer, with
    other callers' rows) before the 200 goes back. 200 with an empty body means received; the same request again
    (same timestamp and nonce) is acknowledged and not stored twice. Parsing the event and recognising the same
    event delivered anew are the worker's (process()), so the platform's 5 s answer never waits on them."""
    if len(body) > authenticity.MAX_CALLBACK_BODY:
        return Ack(413, "request body too large")
    account = _account(account_id)
    if account is None:
        _refuse(None, query, body, source, error=f"unknown account {account_id}"[:255])
        return Ack(404, "unknown account")
    try:
        plaintext = open_callback(crypto_for(account), query, body)
    except CryptoError as exc:
        signature_ok = exc.code != SIGNATURE_MISMATCH
        _refuse(account, query, body, source, signature_ok=signature_ok, error=f"{exc.code}: {exc}"[:255])
        log.warning("WeCom callback rejected for account %s: %s %s", account_id, exc.code, exc)
        # A forged or corrupt push: not 200, so it is not taken as received (WXBizMsgCrypt's -40001 etc.).
        return Ack(403 if not signature_ok else 400, f"{exc.code}")
    timestamp = _fresh(query)
    if timestamp is None:
        _refuse(account, query, body, source, signature_ok=True, error=authenticity.STALE)
        return Ack(403, "stale timestamp")
    _INTAKE.submit(_received(account, query, body, plaintext, timestamp, source))
    return Ack(200, "")


async def areceive(*, account_id: int, query: Mapping[str, str], body: bytes, source: str = "") -> Ack:
    """The same receipt for an async server (the ASGI callback endpoint): the database work of a refusal and of an
    uncached account runs on a thread; the raw row joins the group writer's next batch of this event loop."""
    _known, account = _cached_account(account_id)
    if account is not None and len(body) <= authenticity.MAX_CALLBACK_BODY:
        try:
            plaintext = open_callback(crypto_for(account), query, body)
        except CryptoError:
            plaintext = None
        timestamp = _fresh(query)
        if plaintext is not None and timestamp is not None:
            await _INTAKE.asubmit(_received(account, query, body, plaintext, timestamp, source))
            return Ack(200, "")
    # First callback for this account in a while, an unknown account or a refusal: the plain path on a thread.
    return await sync_to_async(receive, thread_sensitive=False)(
        account_id=account_id, query=query, body=body, source=source
    )


def _received(
    account: ChannelAccount, query: Mapping[str, str], body: bytes, plaintext: bytes, timestamp: int, source: str
) -> Received:
    return Received(
        account_id=account.pk,
        query=storable.query(authenticity.redact(query)),
        body=storable.text(body, MAX_BODY),
        plaintext=storable.text(plaintext),
        replay_key=authenticity.replay_key(account.pk, timestamp, query.get("nonce", "")),
        source=authenticity.source_address(source) if source else "",
    )


@dataclass(frozen=True)
class Received:
    """A verified, decrypted callback on its way to the raw log."""

    account_id: int
    query: dict[str, str]
    body: str
    plaintext: str
    replay_key: str
    source: str = ""


_COLUMNS = ("account_id", "kind", "query", "body", "plaintext", "signature_ok", "event", "status", "error",
            "received_at", "replay_key", "source")


def store_received(items: Sequence[Received]) -> list[None]:
    """Write a batch of verified callbacks as `received` rows and enqueue one task for them, in one transaction.

    One multi-row INSERT: this is the hot path of every callback, and the ORM's per-object work would cost more than
    the decryption. Values go through the model fields' own database preparation (JSON, datetimes).

    The replay cache is the unique index on the rows' replay key, checked by this same INSERT: no extra round trip.
    A plain INSERT is tried first (on PostgreSQL, ON CONFLICT costs a speculative insertion per row, a fifth of the
    intake's throughput); only a batch that holds a request already stored (a replay: rare) is written again with
    ON CONFLICT DO NOTHING, which skips it. Only inserted rows are queued for processing.
    """
    if not items:
        return []
    unique = list({item.replay_key: item for item in items}.values())  # the same request twice in one batch
    try:
        _insert_received(unique, skip_replays=False)
    except IntegrityError:
        _insert_received(unique, skip_replays=True)
    return [None] * len(items)


def _insert_received(items: Sequence[Received], *, skip_replays: bool) -> None:
    conn = transaction.get_connection()
    opts = InboundCallback._meta
    query_field = opts.get_field("query")
    received_at = conn.ops.adapt_datetimefield_value(now())
    params: list[Any] = []
    for item in items:
        params.extend((
            item.account_id, AccountKind.WECOM, query_field.get_db_prep_save(item.query, conn), item.body,
            item.plaintext, True, "", CallbackStatus.RECEIVED, "", received_at, item.replay_key, item.source,
        ))
    row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    quote = conn.ops.quote_name
    on_conflict = f"ON CONFLICT ({quote('replay_key')}) DO NOTHING " if skip_replays else ""
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(map(quote, _COLUMNS))}) "  # noqa: S608 - names from the model
        f"VALUES {', '.join([row] * len(items))} {on_conflict}RETURNING {quote(opts.pk.column)}"
    )
    with transaction.atomic():
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            ids = sorted(found[0] for found in cursor.fetchall())
        if ids:
            _enqueue(ids)


# At most 200 rows x 12 values per INSERT: under every database's bound-parameter limit.
_INTAKE: GroupCommitter[Received, None] = GroupCommitter("wecom-callbacks", store_received, max_batch=200)


def _enqueue(callback_ids: list[int]) -> None:
    """One processing task per batch. The database backend queues inside our transaction (the task row commits with
    the raw rows); other backends (immediate in tests, Redis) run only after the commit."""
    jobs.enqueue("process_wecom_callbacks", callback_ids)


# ---------------------------------------------------------------------------------------------------------------
# Processing (the worker)


@dataclass
class Work:
    account: ChannelAccount
    event: WecomEvent
    callback: InboundCallback
    # What the platform said, fetched before the processing transaction (Fetcher): handlers make no network call.
    detail: ContactDetail | None = None
    chat: GroupChat | None = None
    corp_tags: tuple[CorpTagGroup, ...] = ()

    @property
    def at(self) -> datetime:
        """When it happened: CreateTime, never later than now (a platform clock ahead of ours is not the future)."""
        ts = self.event.create_time
        return min(datetime.fromtimestamp(ts, UTC), now()) if ts else self.callback.received_at

    def staff(self, userid: str) -> Staff | None:
        if not userid:
            return None
        return org_queries.staff(Scope.hq(self.account.enterprise_id)).filter(wecom_userid=userid).first()


Handler = Callable[[Work], str]
Fetcher = Callable[[Work], None]
# A transient failure is retried (the row stays `received`): right away a few times (the loser of a race finds the
# winner's rows on the next run), then by the periodic requeue; only a callback that still fails after RETRY_FOR is
# given up as failed.
IMMEDIATE_ATTEMPTS = 3
RETRY_FOR = timedelta(days=1)


def process(*, callback_id: int) -> str:
    """Handle one stored callback. Safe to run twice: only a `received` row is processed.

    First what the event needs from the platform is fetched, outside any transaction (a 10 s API call must not hold
    the database's write lock that the callback intake needs within the platform's 5 s); then the changes are
    written in one short transaction. A transient database failure (a lock, a deadlock, the lost side of a
    uniqueness race) leaves the row `received` to be processed again, never failed for good."""
    row = InboundCallback.objects.select_related("account").filter(pk=callback_id).first()
    if row is None or row.status != CallbackStatus.RECEIVED or row.account is None:
        return "skipped"
    try:
        event = parse_event(row.plaintext)
    except CryptoError as exc:
        _fail(row, exc)
        return "failed"
    row.dedupe_key = dedupe_key(row.account.pk, event)
    row.event = event.name
    work = Work(account=row.account, event=event, callback=row)
    key = (event.event, event.change_type)
    handler = HANDLERS.get(key) or HANDLERS.get((event.event, "*"))
    fetcher = FETCHERS.get(key) or FETCHERS.get((event.event, "*"))
    try:
        if fetcher is not None and not _replayed(row):
            fetcher(work)
    except WecomError as exc:
        return _platform_failed(row, exc)
    for attempt in range(1, IMMEDIATE_ATTEMPTS + 1):
        try:
            return _apply(row, work, handler)
        except Exception as exc:
            if not dberrors.is_transient(exc):
                _fail(row, exc)
                raise
            if attempt == IMMEDIATE_ATTEMPTS:
                return _transient_failed(row, exc)
    return "retry"  # pragma: no cover - the loop returns


def _replayed(row: InboundCallback) -> bool:
    """Another row already holds this event's dedupe key: the transaction will mark this one a duplicate, so the
    platform need not be asked."""
    return InboundCallback.objects.filter(dedupe_key=row.dedupe_key).exclude(pk=row.pk).exists()


def _apply(row: InboundCallback, work: Work, handler: Handler | None) -> str:
    with transaction.atomic():
        locked = InboundCallback.objects.select_for_update().get(pk=row.pk)
        if locked.status != CallbackStatus.RECEIVED:
            return "skipped"
        if not _claim_key(row):
            return "duplicate"
        outcome = handler(work) if handler is not None else "ignored"
        status = CallbackStatus.IGNORED if outcome.startswith("ignored") else CallbackStatus.PROCESSED
        InboundCallback.objects.filter(pk=row.pk).update(status=status, error=outcome[:255], processed_at=now())
    return outcome


def _platform_failed(row: InboundCallback, exc: WecomError) -> str:
    if exc.retryable:
        return _transient_failed(row, exc)
    _fail(row, exc)
    return "failed"


def _transient_failed(row: InboundCallback, exc: Exception) -> str:
    """Leave the row `received` for the periodic requeue; past RETRY_FOR it is given up as failed."""
    if now() - row.received_at > RETRY_FOR:
        _fail(row, exc)
        return "failed"
    log.warning("WeCom callback %s will be retried: %s", row.pk, exc)
    InboundCallback.objects.filter(pk=row.pk, status=CallbackStatus.RECEIVED).update(
        error=f"will retry: {type(exc).__name__}: {exc}"[:255]
    )
    return "retry"


def _claim_key(row: InboundCallback) -> bool:
    """Take the event's dedupe key for this row, or mark the row a duplicate of the one that holds it.

    Set inside the processing transaction: if processing fails, the key is released with it, so a later replay
    (the platform retries what it thinks failed) is processed, once.
    """
    try:
        with transaction.atomic():
            InboundCallback.objects.filter(pk=row.pk).update(dedupe_key=row.dedupe_key, event=row.event)
    except IntegrityError:
        InboundCallback.objects.filter(pk=row.pk).update(
            status=CallbackStatus.DUPLICATE, event=row.event, error=f"duplicate of {row.dedupe_key}"[:255],
            processed_at=now(),
        )
        return False
    return True


def process_many(*, callback_ids: Sequence[int]) -> dict[str, int]:
    """A batch from the intake, in arrival order, each in its own transaction: one failure (recorded on its row)
    does not hold up the others, and a retryable one stays `received` for the periodic requeue."""
    outcomes: dict[str, int] = {}
    for callback_id in callback_ids:
        try:
            outcome = process(callback_id=callback_id)
        except Exception:  # noqa: BLE001 - recorded on the row by process(); the rest of the batch goes on
            log.exception("WeCom callback %s failed", callback_id)
            outcome = "failed"
        kind = outcome if outcome in ("skipped", "duplicate", "retry", "failed") else "done"
        outcomes[kind] = outcomes.get(kind, 0) + 1
    return outcomes


def _fail(row: InboundCallback, exc: Exception) -> None:
    InboundCallback.objects.filter(pk=row.pk).update(
        status=CallbackStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:255], processed_at=now()
    )


def _identities(account: ChannelAccount, external_userid: str, unionid: str) -> list[IdentityInput]:
    found = [IdentityInput(kind=IdentityKind.WECOM_EXTERNAL_USERID, value=external_userid, account=account.app_id)]
    if unionid:
        found.append(IdentityInput(kind=IdentityKind.UNIONID, value=unionid))
    return found


def _customer(work: Work, detail: ContactDetail, staff: Staff | None) -> Customer:
    contact = detail.contact
    return customer_services.resolve_customer(
        enterprise_id=work.account.enterprise_id,
        identities=_identities(work.account, contact.external_userid, contact.unionid),
        defaults={
            "name": contact.name[:64],
            "gender": GENDERS.get(contact.gender, Gender.UNKNOWN),
            "created_source": Channel.WECOM,
            "home_store_id": staff.store_id if staff is not None else None,
            "created_at": work.at,
        },
    )


def _follow(detail: ContactDetail, userid: str) -> FollowUser | None:
    return next((f for f in detail.follow_users if f.userid == userid), None)


def _send_welcome(
    work: Work, code: ChannelCode | None, name: str, *, customer: Customer | None = None, store_id: int | None = None
) -> bool:
    welcome_code = work.event.get("WelcomeCode")
    if not welcome_code:
        return False
    if code is not None and schedules.welcome_withheld(code.no_welcome_nicknames or [], name):
        return False  # a listed nickname (a competitor's probe): no welcome, nothing of the code's offer shown
    text, attachments = welcome.welcome_for(work.account, code)
    text = welcome.render_welcome(text, name=name)
    group_link = auto_pull.welcome_attachment(code, customer=customer, store_id=store_id)
    if group_link is not None:  # auto-pull: the join link of the group chosen by the customer's tags or store
        attachments = [*attachments, group_link][: welcome.MAX_ATTACHMENTS]
    if not text and not attachments:
        return False
    payload: dict[str, Any] = {"welcome_code": welcome_code, "text": text, "attachments": attachments}
    payload[REF] = {"callback_id": work.callback.pk, "code_id": code.pk if code is not None else None}
    key = f"welcome:{work.account.pk}:{welcome_code}"
    enqueue_call(account=work.account, method="send_welcome_msg", payload=payload, key=key)
    return True


def on_add(work: Work) -> str:
    """add_external_contact: who, from which code; the customer, the relationship, the tags, the welcome."""
    userid, ext = work.event.get("UserID"), work.event.get("ExternalUserID")
    state = work.event.get("State")
    code = channel_codes.code_for_state(work.account, state)
    staff = work.staff(userid)
    detail = _fetched_detail(work)
    customer = _customer(work, detail, staff)
    follow = _follow(detail, userid)
    welcomed = _send_welcome(work, code, detail.contact.name, customer=customer,
                             store_id=staff.store_id if staff is not None else customer.home_store_id)
    if staff is not None:
        customer_services.add_relationship(
            customer=customer,
            staff=staff,
            added_at=work.at,
            channel=Channel.WECOM,
            state=state[:64],
            remark=(follow.remark if follow is not None else "")[:120],
        )
    customer_services.record_event(
        customer=customer,
        name="wecom_contact_added",
        idempotency_key=f"wecom_added:{work.callback.dedupe_key}"[:128],
        occurred_at=work.at,
        channel=Channel.WECOM,
        staff_id=staff.pk if staff is not None else None,
        store_id=staff.store_id if staff is not None else None,
        campaign=state[:64],
        properties={"state": state[:64], "welcome_sent": welcomed},
    )
    if follow is not None:
        tags.merge_follow_tags(
            work.account, userid=userid, external_userid=ext, customer=customer, wecom_tag_ids=follow.tag_ids,
            fetched=work.corp_tags,
        )
    if code is not None:
        _apply_code(work, code, customer, staff, userid, ext)
    who = "unknown staff " + userid if staff is None else staff.name
    return f"added customer {customer.pk} to {who}" + (f" via {code.state}" if code is not None else "")


def _apply_code(work: Work, code: ChannelCode, customer: Customer, staff: Staff | None, userid: str, ext: str) -> None:
    tag_ids = list(code.tags.values_list("id", flat=True))
    if tag_ids:
        customer_services.tag_customers(
            enterprise_id=work.account.enterprise_id, customer_ids=[customer.pk], tag_ids=tag_ids, source="event"
        )
        tags.push_tags_for(work.account, userid=userid, external_userid=ext, siyu_tag_ids=tag_ids)
    channel_codes.count_add(code, staff, work.at)


def on_add_half(work: Work) -> str:
    """add_half_external_contact: the member has not confirmed yet (no details readable); the welcome can go now."""
    code = channel_codes.code_for_state(work.account, work.event.get("State"))
    staff = work.staff(work.event.get("UserID"))
    sent = _send_welcome(work, code, "", store_id=staff.store_id if staff is not None else None)
    return "half add: welcome queued" if sent else "ignored: half add without a welcome"


def on_edit(work: Work) -> str:
    userid, ext = work.event.get("UserID"), work.event.get("ExternalUserID")
    customer = customer_services.find_by_identity(
        enterprise_id=work.account.enterprise_id, kind=IdentityKind.WECOM_EXTERNAL_USERID, value=ext
    )
    detail = _fetched_detail(work)
    if customer is None:
        customer = _customer(work, detail, work.staff(userid))
    follow = _follow(detail, userid)
    if follow is None:
        return "ignored: no such follow relation"
    added, removed = tags.merge_follow_tags(
        work.account, userid=userid, external_userid=ext, customer=customer, wecom_tag_ids=follow.tag_ids,
        fetched=work.corp_tags,
    )
    return f"tags +{added} -{removed}"


def _ended(work: Work, status: str, by: str) -> str:
    userid, ext = work.event.get("UserID"), work.event.get("ExternalUserID")
    customer = customer_services.find_by_identity(
        enterprise_id=work.account.enterprise_id, kind=IdentityKind.WECOM_EXTERNAL_USERID, value=ext
    )
    staff = work.staff(userid)
    if customer is None or staff is None:
        return "ignored: unknown customer or staff"
    while customer.merged_into_id is not None:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    rel = customer_services.end_relationship(customer=customer, staff=staff, status=status, at=work.at)
    if status != RelationshipStatus.TRANSFERRED:
        customer_services.record_event(
            customer=customer,
            name="wecom_contact_deleted",
            idempotency_key=f"wecom_deleted:{work.callback.dedupe_key}"[:128],
            occurred_at=work.at,
            channel=Channel.WECOM,
            staff_id=staff.pk,
            store_id=staff.store_id,
            properties={"by": by},
        )
        code = channel_codes.code_for_state(work.account, rel.state) if rel is not None else None
        if code is not None:
            channel_codes.count_delete(code, work.at)
    return f"relationship {status}"


def on_customer_deleted(work: Work) -> str:
    """del_follow_user: the customer deleted the staff member; kept as deleted_by_customer (流失提醒)."""
    return _ended(work, RelationshipStatus.DELETED_BY_CUSTOMER, "customer")


def on_staff_deleted(work: Work) -> str:
    if work.event.get("Source") == "DELETE_BY_TRANSFER":
        inheritance.on_transfer_done(
            handover_userid=work.event.get("UserID"), external_userid=work.event.get("ExternalUserID"), at=work.at
        )
        return _ended(work, RelationshipStatus.TRANSFERRED, "transfer")
    return _ended(work, RelationshipStatus.DELETED_BY_STAFF, "staff")


def on_transfer_fail(work: Work) -> str:
    reason = work.event.get("FailReason")
    settled = inheritance.on_transfer_fail(
        takeover_userid=work.event.get("UserID"), external_userid=work.event.get("ExternalUserID"), reason=reason
    )
    return f"transfer failed: {reason}" if settled else f"ignored: no open transfer ({reason})"


def on_chat(work: Work) -> str:
    return groups.on_chat_event(work.account, work.event, work.chat)


def on_tag(work: Work) -> str:
    return tags.on_tag_event(
        work.account, tag_type=work.event.get("TagType"), change=work.event.change_type, wecom_id=work.event.get("Id"),
        fetched=work.corp_tags,
    )


# ---------------------------------------------------------------------------------------------------------------
# Fetchers: what a handler needs from the platform, asked before its transaction


def _fetched_detail(work: Work) -> ContactDetail:
    if work.detail is None:  # the fetcher ran for every event that reaches these handlers
        raise RuntimeError("the contact detail was not fetched before the transaction")
    return work.detail


def fetch_contact(work: Work) -> None:
    """externalcontact/get for the contact, and the definitions of the follow relation's unknown corp tags."""
    userid, ext = work.event.get("UserID"), work.event.get("ExternalUserID")
    work.detail = client_for(work.account).get_external_contact(ext)
    follow = _follow(work.detail, userid)
    if follow is not None:
        work.corp_tags = tags.fetch_unknown(work.account, follow.tag_ids)


def fetch_chat(work: Work) -> None:
    work.chat = groups.fetch_for_chat_event(work.account, work.event)


def fetch_tag(work: Work) -> None:
    work.corp_tags = tags.fetch_for_tag_event(
        work.account, tag_type=work.event.get("TagType"), change=work.event.change_type, wecom_id=work.event.get("Id")
    )


FETCHERS: dict[tuple[str, str], Fetcher] = {
    ("change_external_contact", "add_external_contact"): fetch_contact,
    ("change_external_contact", "edit_external_contact"): fetch_contact,
    ("change_external_chat", "*"): fetch_chat,
    ("change_external_tag", "*"): fetch_tag,
}


HANDLERS: dict[tuple[str, str], Handler] = {
    ("change_external_contact", "add_external_contact"): on_add,
    ("change_external_contact", "add_half_external_contact"): on_add_half,
    ("change_external_contact", "edit_external_contact"): on_edit,
    ("change_external_contact", "del_external_contact"): on_staff_deleted,
    ("change_external_contact", "del_follow_user"): on_customer_deleted,
    ("change_external_contact", "transfer_fail"): on_transfer_fail,
    ("change_external_chat", "*"): on_chat,
    ("change_external_tag", "*"): on_tag,
}


def requeue_stale(*, older_than_s: int = 60, limit: int = 500) -> int:
    """Periodic: callbacks still `received` a while after arrival (a lost enqueue, a retryable failure)."""
    cutoff = datetime.fromtimestamp(now().timestamp() - older_than_s, UTC)
    ids = list(
        InboundCallback.objects.filter(
            kind=AccountKind.WECOM, status=CallbackStatus.RECEIVED, received_at__lte=cutoff
        ).values_list("id", flat=True)[:limit]
    )
    if ids:
        _enqueue(ids)
    return len(ids)
