"""Mass sends (群发) through WeCom (moments are in moments.py).

A mass send is a draft until it is submitted. Submitting resolves the targets set-based, per sender, to the
external_userids of that sender's active relationships (a customer who deleted the staff member is not one) or to the
sender's customer groups, writes one recipient row per target, and queues one add_msg_template per sender through
the outbox (key: task + sender + part). WeCom only delivers once the sender confirms in the client, so results come
from polling: get_groupmsg_task says whether a sender has sent, get_groupmsg_send_result gives each recipient's
status (1 sent, 2 not a friend, 3 over the per-customer monthly limit, 0 not yet). Polling backs off and stops once
the sender has sent, or after POLL_FOR.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import (
    GroupMsg,
    GroupMsgTask,
    RetryableError,
    SendResult,
    WecomClient,
    WecomError,
)
from siyu.channels.wecom.models import (
    CustomerGroup,
    GroupStatus,
    MassSend,
    MassSendKind,
    MassSendRecipient,
    MassSendSender,
    MassSendStatus,
    MomentTask,
    OutboundCall,
    RecipientStatus,
    SenderStatus,
)
from siyu.channels.wecom.outbox import REF, enqueue_call, on_failure, on_recover, on_retry, on_success
from siyu.channels.wecom.provider import client_for
from siyu.channels.wecom.welcome import clean_attachments
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.timeutil import now
from siyu.customers import consent
from siyu.customers import queries as customer_queries
from siyu.customers.models import (
    CustomerTag,
    Identity,
    IdentityKind,
    MarketingChannel,
    Relationship,
    RelationshipStatus,
)
from siyu.org import queries as org_queries
from siyu.org.models import Staff
from siyu.org.scope import Scope

log = logging.getLogger(__name__)

TEXT_MAX_BYTES = 4000
MAX_SENDERS = 100
MAX_CUSTOMERS = 10_000
PER_TEMPLATE = {MassSendKind.SINGLE: 10_000, MassSendKind.GROUP: 2000}
INSERT_BATCH = 1000
POLL_FIRST_S = 60
POLL_MAX_S = 1800
POLL_FOR = timedelta(days=3)
POLL_BATCH = 200
RECOVER_SLACK_S = 120  # clock skew allowed between Siyu and the platform when looking for a lost template
RESULT_STATUS = {
    0: RecipientStatus.NOT_SENT,
    1: RecipientStatus.SENT,
    2: RecipientStatus.FAILED,
    3: RecipientStatus.OVER_LIMIT,
}
RESULT_REASON = {2: "not_a_friend", 3: "over_limit"}
SENDER_FINAL = {SenderStatus.SENT, SenderStatus.EMPTY, SenderStatus.FAILED, SenderStatus.EXPIRED}

MOMENT_MAX_STAFF = 10_000


def _backoff(polls: int) -> timedelta:
    return timedelta(seconds=min(POLL_MAX_S, POLL_FIRST_S * 2 ** min(polls, 10)))


def _stamp(ts: int) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


# ---------------------------------------------------------------------------------------------------------------
# Validation shared by mass sends and moments


def _staff_list(scope: Scope, staff_ids: Sequence[int], *, field: str) -> list[Staff]:
    """The staff named, in order: each must exist, be visible to the caller and have an active WeCom account."""
    if len(staff_ids) > MOMENT_MAX_STAFF:
        raise ValidationFailed(
            _("at most %(MOMENT_MAX_STAFF)s staff") % {"MOMENT_MAX_STAFF": MOMENT_MAX_STAFF},
            field=field,
            code="too_many_staff",
        )
    first_index: dict[int, int] = {}
    for index, staff_id in enumerate(staff_ids):
        first_index.setdefault(staff_id, index)
    unique = list(first_index)
    visible = {s.pk: s for s in org_queries.staff(scope).filter(id__in=unique)}
    known = set(Staff.objects.filter(enterprise_id=scope.enterprise_id, id__in=unique).values_list("id", flat=True))
    out = []
    for staff_id, index in first_index.items():
        staff = visible.get(staff_id)
        if staff is None and staff_id in known:
            raise PermissionDenied(
                _("you may not act for staff %(staff_id)s") % {"staff_id": staff_id},
                field=field, index=index,
            )
        if staff is None:
            raise NotFound(_("staff %(staff_id)s not found") % {"staff_id": staff_id}, field=field, index=index)
        if not staff.wecom_userid or not staff.is_active:
            raise ValidationFailed(
                _("%(name)s has no active WeCom account") % {"name": staff.name},
                field=field, index=index,
                code="no_active_wecom_account",
            )
        out.append(staff)
    return out


def _tags(scope: Scope, tag_ids: Sequence[int]) -> list[int]:
    known = set(customer_queries.tags(scope).filter(id__in=tag_ids).values_list("id", flat=True))
    for index, tag_id in enumerate(tag_ids):
        if tag_id not in known:
            raise NotFound(_("unknown tag %(tag_id)s") % {"tag_id": tag_id}, field="tag_ids", index=index)
    return list(dict.fromkeys(tag_ids))


def _customers(scope: Scope, customer_ids: Sequence[int]) -> list[int]:
    if len(customer_ids) > MAX_CUSTOMERS:
        raise ValidationFailed(
            _("at most %(MAX_CUSTOMERS)s customers; use a tag instead") % {"MAX_CUSTOMERS": MAX_CUSTOMERS},
            field="customer_ids",
            code="too_many_customers",
        )
    visible = set(customer_queries.visible_customer_ids(scope).filter(id__in=customer_ids))
    for index, customer_id in enumerate(customer_ids):
        if customer_id not in visible:
            raise NotFound(
                _("customer %(customer_id)s not found") % {"customer_id": customer_id},
                field="customer_ids", index=index,
            )
    return list(dict.fromkeys(customer_ids))


def _groups(scope: Scope, account: ChannelAccount, group_ids: Sequence[int]) -> list[int]:
    qs = CustomerGroup.objects.filter(account=account, id__in=group_ids)
    if not scope.is_hq:
        qs = qs.filter(owner_id__in=org_queries.visible_staff_ids(scope))
    known = set(qs.values_list("id", flat=True))
    for index, group_id in enumerate(group_ids):
        if group_id not in known:
            raise NotFound(
                _("customer group %(group_id)s not found") % {"group_id": group_id},
                field="group_ids", index=index,
            )
    return list(dict.fromkeys(group_ids))


def _mass_text(text: str) -> str:
    if len(text.encode()) > TEXT_MAX_BYTES:
        raise ValidationFailed(
            _("the text is at most %(TEXT_MAX_BYTES)s bytes") % {"TEXT_MAX_BYTES": TEXT_MAX_BYTES},
            field="text",
            code="text_length",
        )
    return text.strip()


# ---------------------------------------------------------------------------------------------------------------
# Mass sends: create and submit


@transaction.atomic
def _draft_mass_send(
    *,
    scope: Scope,
    account_id: int,
    kind: str,
    sender_ids: Sequence[int],
    name: str = "",
    customer_ids: Sequence[int] = (),
    tag_ids: Sequence[int] = (),
    group_ids: Sequence[int] = (),
    text: str = "",
    attachments: Sequence[Mapping[str, Any]] = (),
    tag_match: str = "any",
    group_code_id: int | None = None,
    segment: tuple[int, str] | None = None,
    actor: Actor = None,
) -> MassSend:
    """A draft mass send. Customer sends target the listed customers plus those carrying any of the tags plus the
    members of the segment (id, name: checked by the caller); group sends target the listed groups, or every active
    group of each sender when none is listed."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    if kind not in MassSendKind.values:
        raise ValidationFailed(_("kind is one of %(join)s") % {"join": ', '.join(MassSendKind.values)}, field="kind",
                               code="unknown_kind")
    if len(name.strip()) > 64:
        raise ValidationFailed(_("the name is at most 64 characters"), field="name", code="name_length")
    clean_text = _mass_text(text)
    clean = clean_attachments(attachments, field="attachments")
    if not clean_text and not clean:
        raise ValidationFailed(_("write a text or add an attachment"), field="text", code="text_or_attachment_required")
    if not sender_ids:
        raise ValidationFailed(_("pick at least one sender"), field="sender_ids", code="senders_required")
    if len(sender_ids) > MAX_SENDERS:
        raise ValidationFailed(_("at most %(MAX_SENDERS)s senders") % {"MAX_SENDERS": MAX_SENDERS}, field="sender_ids",
                               code="too_many_senders")
    senders = _staff_list(scope, sender_ids, field="sender_ids")
    if kind == MassSendKind.SINGLE:
        if group_ids:
            raise ValidationFailed(_("groups are for group sends"), field="group_ids", code="groups_in_customer_send")
        if not customer_ids and not tag_ids and segment is None:
            raise ValidationFailed(_("pick customers or tags"), field="customer_ids", code="targets_required")
        customers, tags, groups = _customers(scope, customer_ids), _tags(scope, tag_ids), []
    else:
        if customer_ids or tag_ids or segment is not None:
            raise ValidationFailed(_("group sends go to customer groups, not customers"), field="customer_ids",
                                   code="customers_in_group_send")
        customers, tags, groups = [], [], _groups(scope, account, group_ids)
    mass_send = MassSend.objects.create(
        enterprise_id=scope.enterprise_id,
        account=account,
        name=name.strip(),
        kind=kind,
        text=clean_text,
        attachments=clean,
        customer_ids=customers,
        tag_match=tag_match,
        group_code_id=group_code_id,
        segment_id=segment[0] if segment else None,
        segment_name=(segment[1] if segment else "")[:80],
        created_by=audit.user_of(actor),
    )
    mass_send.tags.set(tags)
    mass_send.groups.set(groups)
    MassSendSender.objects.bulk_create(
        [MassSendSender(mass_send=mass_send, staff=s, userid=s.wecom_userid) for s in senders]
    )
    audit.record(
        enterprise_id=scope.enterprise_id,
        actor=actor,
        action="wecom.mass_send.create",
        target_type="mass_send",
        target_id=mass_send.pk,
        summary=f"{kind}: {mass_send.name or clean_text[:60]}",
    )
    return mass_send


def _segment_members(scope: Scope, mass_send: MassSend) -> QuerySet[Any] | None:
    """The task's segment members the scope may see, as a subquery (the audiences app answers through customers)."""
    if mass_send.segment_id is None:
        return None
    return customer_queries.segment_member_ids(scope, mass_send.segment_id)


def _single_targets(mass_send: MassSend, staff_id: int, segment: QuerySet[Any] | None = None) -> QuerySet[Identity]:
    """(customer id, external_userid) of the sender's active WeCom customers that the task names and that no
    earlier sender of the task already has: one query (the segment's members are a subquery in it)."""
    conditions = []
    if segment is not None:
        conditions.append(Q(customer_id__in=segment))
    if mass_send.customer_ids:
        conditions.append(Q(customer_id__in=list(mass_send.customer_ids)))
    tag_ids = list(mass_send.tags.values_list("id", flat=True))
    if tag_ids and mass_send.tag_match == "all":  # every tag: one EXISTS per tag, all in the same query
        conditions.append(reduce(operator.and_, [
            Q(Exists(CustomerTag.objects.filter(customer_id=OuterRef("customer_id"), tag_id=tag_id)))
            for tag_id in tag_ids]))
    elif tag_ids:
        conditions.append(
            Q(Exists(CustomerTag.objects.filter(customer_id=OuterRef("customer_id"), tag_id__in=tag_ids)))
        )
    if not conditions:
        return Identity.objects.none()
    wanted = reduce(operator.or_, conditions)
    active = Relationship.objects.filter(
        customer_id=OuterRef("customer_id"), staff_id=staff_id, status=RelationshipStatus.ACTIVE
    )
    taken = MassSendRecipient.objects.filter(mass_send=mass_send).values("target")
    return (
        Identity.objects.filter(
            enterprise_id=mass_send.enterprise_id,
            kind=IdentityKind.WECOM_EXTERNAL_USERID,
            customer__merged_into__isnull=True,
        )
        .filter(Q(account=mass_send.account.app_id) | Q(account=""))
        .filter(wanted)
        .filter(Exists(active))
        .filter(consent.allowed_filter(MarketingChannel.WECOM))
        .exclude(value__in=taken)
        .order_by("customer_id", "id")
    )


def _group_targets(mass_send: MassSend, staff_id: int) -> QuerySet[CustomerGroup]:
    qs = CustomerGroup.objects.filter(account=mass_send.account, owner_id=staff_id, status=GroupStatus.ACTIVE)
    group_ids = list(mass_send.groups.values_list("id", flat=True))
    if group_ids:
        qs = qs.filter(id__in=group_ids)
    taken = MassSendRecipient.objects.filter(mass_send=mass_send).values("target")
    return qs.exclude(chat_id__in=taken).order_by("id")


def preview_counts(scope: Scope, mass_send: MassSend) -> dict[int, int]:
    """Staff id -> how many recipients a submit would give that sender now (overlaps counted for each sender)."""
    out = {}
    segment = _segment_members(scope, mass_send)
    for sender in mass_send.senders.filter(part=0):
        if mass_send.kind == MassSendKind.SINGLE:
            out[sender.staff_id] = _single_targets(mass_send, sender.staff_id, segment).values(
                "customer_id").count()
        else:
            out[sender.staff_id] = _group_targets(mass_send, sender.staff_id).count()
    return out


def _resolve(mass_send: MassSend, sender: MassSendSender, segment: QuerySet[Any] | None) -> list[MassSendSender]:
    """Write the sender's recipients (one SELECT, batched INSERTs), split into parts of ≤10,000 / ≤2000."""
    if mass_send.kind == MassSendKind.SINGLE:
        rows: list[tuple[int | None, int | None, str]] = [
            (customer_id, None, value)
            for customer_id, value in _single_targets(mass_send, sender.staff_id, segment).values_list(
                "customer_id", "value")
        ]
    else:
        rows = [(None, gid, chat) for gid, chat in _group_targets(mass_send, sender.staff_id).values_list(
            "id", "chat_id")]
    size = PER_TEMPLATE[MassSendKind(mass_send.kind)]
    parts = [sender]
    for part in range(1, -(-len(rows) // size)):
        parts.append(
            MassSendSender.objects.create(
                mass_send=mass_send, staff_id=sender.staff_id, userid=sender.userid, part=part
            )
        )
    recipients = [
        MassSendRecipient(
            mass_send=mass_send, sender=parts[index // size], customer_id=cid, group_id=gid, target=target
        )
        for index, (cid, gid, target) in enumerate(rows)
    ]
    MassSendRecipient.objects.bulk_create(recipients, batch_size=INSERT_BATCH, ignore_conflicts=True)
    return parts


def _queue_template(mass_send: MassSend, sender: MassSendSender) -> None:
    targets = list(sender.recipients.order_by("id").values_list("target", flat=True))
    if not targets:
        sender.status = SenderStatus.EMPTY
        sender.save(update_fields=["status", "updated_at"])
        return
    single = mass_send.kind == MassSendKind.SINGLE
    sender.call = enqueue_call(
        account=mass_send.account,
        method="add_msg_template",
        payload={
            "chat_type": mass_send.kind,
            "external_userids": targets if single else [],
            "chat_ids": [] if single else targets,
            "sender": sender.userid,
            "text": mass_send.text,
            "attachments": list(mass_send.attachments),
            REF: {"mass_send_id": mass_send.pk, "sender_id": sender.pk},
        },
        key=f"add_msg_template:mass_send:{mass_send.pk}:{sender.staff_id}:{sender.part}",
    )
    sender.status = SenderStatus.QUEUED
    sender.save(update_fields=["status", "call", "updated_at"])


def _locked(scope: Scope, model: type[MassSend] | type[MomentTask], pk: int, what: str) -> Any:
    found = model.objects.select_for_update().filter(pk=pk, enterprise_id=scope.enterprise_id).first()
    if found is None:
        raise NotFound(_("%(what)s %(pk)s not found") % {"what": what, "pk": pk}, field="id")
    return found


def _excluded(mass_send: MassSend) -> int:
    """Named customers (or groups) that are no sender's to reach: no active relationship, deleted, not theirs."""
    if mass_send.kind == MassSendKind.SINGLE:
        named = set(mass_send.customer_ids)
        reached = mass_send.recipients.filter(customer_id__in=named).values("customer_id").distinct().count()
    else:
        named = set(mass_send.groups.values_list("id", flat=True))
        reached = mass_send.recipients.filter(group_id__in=named).count()
    return len(named) - reached


@transaction.atomic
def submit_mass_send(*, scope: Scope, mass_send_id: int, actor: Actor = None) -> MassSend:
    """Resolve the recipients and queue one add_msg_template per sender (and part). Only a draft can be submitted."""
    mass_send: MassSend = _locked(scope, MassSend, mass_send_id, "mass send")
    senders = list(mass_send.senders.select_related("staff").order_by("id"))
    _staff_list(scope, [s.staff_id for s in senders], field="sender_ids")
    if mass_send.status != MassSendStatus.DRAFT:
        raise Conflict(_("only a draft can be submitted"), field="status", code="not_draft")
    segment = _segment_members(scope, mass_send)
    parts = [part for sender in senders for part in _resolve(mass_send, sender, segment)]
    if not mass_send.recipients.exists():
        raise ValidationFailed(
            _("none of the chosen targets is reachable by the senders (no active WeCom relationship or group)"),
            field="group_ids" if mass_send.kind == MassSendKind.GROUP else "customer_ids",
            code="no_reachable_targets",
        )
    for part in parts:
        _queue_template(mass_send, part)
    mass_send.status = MassSendStatus.SUBMITTED
    mass_send.submitted_at = now()
    mass_send.excluded_count = _excluded(mass_send)
    mass_send.save(update_fields=["status", "submitted_at", "excluded_count"])
    _refresh_counts(mass_send)
    audit.record(
        enterprise_id=scope.enterprise_id,
        actor=actor,
        action="wecom.mass_send.submit",
        target_type="mass_send",
        target_id=mass_send.pk,
        summary=audit.text(N_("%(recipients)s recipients, %(templates)s templates"),
                           recipients=mass_send.recipient_total, templates=len(parts)),
    )
    return mass_send


# ---------------------------------------------------------------------------------------------------------------
# Mass sends: outbox hooks, polling, settling


def _refresh_counts(mass_send: MassSend) -> None:
    counts = dict(
        mass_send.recipients.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    mass_send.sent_count = counts.get(RecipientStatus.SENT, 0)
    mass_send.not_sent_count = counts.get(RecipientStatus.NOT_SENT, 0)
    mass_send.failed_count = counts.get(RecipientStatus.FAILED, 0)
    mass_send.over_limit_count = counts.get(RecipientStatus.OVER_LIMIT, 0)
    mass_send.recipient_total = sum(counts.values())
    mass_send.save(
        update_fields=["sent_count", "not_sent_count", "failed_count", "over_limit_count", "recipient_total"]
    )


def _settle(mass_send_id: int | None) -> None:
    mass_send = MassSend.objects.filter(pk=mass_send_id).first() if mass_send_id is not None else None
    if mass_send is None or mass_send.status == MassSendStatus.DRAFT:
        return
    _refresh_counts(mass_send)
    statuses = set(mass_send.senders.values_list("status", flat=True))
    if statuses <= SENDER_FINAL:
        sent = SenderStatus.SENT in statuses or mass_send.sent_count > 0
        mass_send.status = MassSendStatus.SENT if sent else MassSendStatus.FAILED
        mass_send.finished_at = mass_send.finished_at or now()
    elif statuses & {SenderStatus.WAITING, SenderStatus.SENT}:
        mass_send.status = MassSendStatus.SENDING
    else:
        mass_send.status = MassSendStatus.SUBMITTED
    mass_send.save(update_fields=["status", "finished_at"])


def _sender_of(call: OutboundCall) -> MassSendSender | None:
    sender_id = call.payload.get(REF, {}).get("sender_id")
    return MassSendSender.objects.filter(pk=sender_id).first() if sender_id is not None else None


@on_success("add_msg_template")
def _template_added(call: OutboundCall, result: dict[str, Any]) -> None:
    sender = _sender_of(call)
    if sender is None:
        return
    sender.msgid = str(result.get("msgid", ""))
    sender.status = SenderStatus.WAITING
    sender.errcode, sender.error = 0, ""
    sender.next_poll_at = now() + timedelta(seconds=POLL_FIRST_S)
    sender.save(update_fields=["msgid", "status", "errcode", "error", "next_poll_at", "updated_at"])
    rejected = [str(x) for x in result.get("fail_list") or ()]
    if rejected:
        sender.recipients.filter(target__in=rejected).update(
            status=RecipientStatus.FAILED, reason="rejected", updated_at=now()
        )
    _settle(sender.mass_send_id)


@on_recover("add_msg_template")
def _find_template(client: WecomClient, call: OutboundCall) -> dict[str, Any] | None:
    """Before a template is sent again: the platform may have created it on the earlier try (a lost answer).

    WeCom takes no idempotency key and lists API-made templates without their sender, so look for a template made
    since the call was first queued, with the same text, that no other sender of ours owns, and whose task list names
    our sender. Found: that is our msgid, and nothing is sent twice.
    """
    payload = call.payload
    start = int(call.created_at.timestamp()) - RECOVER_SLACK_S
    end = int(now().timestamp()) + RECOVER_SLACK_S
    known = set(MassSendSender.objects.exclude(msgid="").values_list("msgid", flat=True))
    candidates: list[GroupMsg] = []
    cursor = ""
    while True:
        page = client.get_groupmsg_list_v2(
            chat_type=str(payload.get("chat_type", "single")), start_time=start, end_time=end, filter_type=0,
            cursor=cursor,
        )
        candidates.extend(m for m in page.items if m.text == payload.get("text", "") and m.msgid not in known)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    for message in sorted(candidates, key=lambda m: m.create_time):
        tasks = client.get_groupmsg_task(msgid=message.msgid)
        if any(task.userid == payload.get("sender") for task in tasks.items):
            return {"msgid": message.msgid, "fail_list": [], "recovered": True}
    return None


@on_failure("add_msg_template")
def _template_failed(call: OutboundCall, exc: WecomError) -> None:
    sender = _sender_of(call)
    if sender is None:
        return
    sender.status = SenderStatus.FAILED
    sender.errcode, sender.error = exc.errcode, str(exc)[:255]
    sender.save(update_fields=["status", "errcode", "error", "updated_at"])
    sender.recipients.filter(status=RecipientStatus.NOT_SENT).update(
        status=RecipientStatus.FAILED, reason=f"errcode {exc.errcode}"[:32], updated_at=now()
    )
    _settle(sender.mass_send_id)


@on_retry("add_msg_template")
def _template_retrying(call: OutboundCall, exc: WecomError) -> None:
    sender = _sender_of(call)
    if sender is None:
        return
    sender.status = SenderStatus.RETRYING
    sender.errcode, sender.error = exc.errcode, str(exc)[:255]
    sender.save(update_fields=["status", "errcode", "error", "updated_at"])


def _task_row(client: WecomClient, sender: MassSendSender) -> GroupMsgTask | None:
    cursor = ""
    while True:
        page = client.get_groupmsg_task(msgid=sender.msgid, cursor=cursor)
        for row in page.items:
            if row.userid == sender.userid:
                return row
        if not page.next_cursor:
            return None
        cursor = page.next_cursor


def _send_results(client: WecomClient, sender: MassSendSender) -> list[SendResult]:
    rows: list[SendResult] = []
    cursor = ""
    while True:
        page = client.get_groupmsg_send_result(msgid=sender.msgid, userid=sender.userid, cursor=cursor)
        rows.extend(page.items)
        if not page.next_cursor:
            return rows
        cursor = page.next_cursor


def _apply_results(sender: MassSendSender, rows: Iterable[SendResult]) -> int:
    """Store each recipient's status as WeCom reports it; returns how many changed (bulk updates per page)."""
    reported = {(r.external_userid or r.chat_id): r for r in rows}
    changed = 0
    keys = list(reported)
    for start in range(0, len(keys), INSERT_BATCH):
        batch = []
        for recipient in sender.recipients.filter(target__in=keys[start : start + INSERT_BATCH]):
            row = reported[recipient.target]
            status = RESULT_STATUS.get(row.status)
            if status is None or (status, _stamp(row.send_time)) == (recipient.status, recipient.sent_at):
                continue
            recipient.status, recipient.sent_at = status, _stamp(row.send_time)
            recipient.reason = RESULT_REASON.get(row.status, "")
            recipient.updated_at = now()
            batch.append(recipient)
        MassSendRecipient.objects.bulk_update(batch, ["status", "sent_at", "reason", "updated_at"])
        changed += len(batch)
    return changed


def _poll_sender(client: WecomClient, sender: MassSendSender, submitted_at: datetime | None) -> int:
    """One sender's task and results; network calls outside any transaction. Returns recipients changed."""
    expired = submitted_at is not None and now() - submitted_at > POLL_FOR
    sender.polls += 1
    fields = ["polls", "errcode", "error", "status", "sent_at", "next_poll_at", "updated_at"]
    try:
        task = _task_row(client, sender)
        rows = _send_results(client, sender)
    except WecomError as exc:  # 41063 (still dispatching), busy, network, or a rejected msgid: try again later
        sender.errcode, sender.error = exc.errcode, str(exc)[:255]
        if not isinstance(exc, RetryableError):
            log.warning("polling mass send sender %s: %s", sender.pk, exc)
        sender.status = SenderStatus.EXPIRED if expired else sender.status
        sender.next_poll_at = None if expired else now() + _backoff(sender.polls)
        sender.save(update_fields=fields)
        return 0
    with transaction.atomic():
        changed = _apply_results(sender, rows)
        sender.errcode, sender.error = 0, ""
        if task is not None and task.status == 2:
            sender.status, sender.sent_at, sender.next_poll_at = SenderStatus.SENT, _stamp(task.send_time), None
        elif expired:
            sender.status, sender.next_poll_at = SenderStatus.EXPIRED, None
        else:
            sender.next_poll_at = now() + _backoff(sender.polls)
        sender.save(update_fields=fields)
    return changed


def poll_mass_send(*, mass_send_id: int, due_only: bool = False) -> int:
    """Ask WeCom how each waiting sender's message went; returns how many recipients changed. Safe to run twice."""
    mass_send = MassSend.objects.select_related("account").get(pk=mass_send_id)
    senders = mass_send.senders.filter(status=SenderStatus.WAITING).exclude(msgid="")
    if due_only:
        senders = senders.filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now()))
    waiting = list(senders.order_by("id"))
    if not waiting:
        return 0
    client = client_for(mass_send.account)
    changed = sum(_poll_sender(client, sender, mass_send.submitted_at) for sender in waiting)
    with transaction.atomic():
        _settle(mass_send.pk)
    return changed


def poll_open_mass_sends(*, limit: int = POLL_BATCH) -> int:
    """Periodic: every mass send with a sender whose next poll is due."""
    due = (
        MassSendSender.objects.filter(status=SenderStatus.WAITING)
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now()))
        .order_by("mass_send_id")
        .values_list("mass_send_id", flat=True)
        .distinct()
    )
    return sum(poll_mass_send(mass_send_id=mid, due_only=True) for mid in list(due[:limit]))


def refresh_mass_send(*, scope: Scope, mass_send_id: int) -> MassSend:
    """An operator's "refresh now": poll every waiting sender regardless of its schedule."""
    if not MassSend.objects.filter(pk=mass_send_id, enterprise_id=scope.enterprise_id).exists():
        raise NotFound(_("mass send %(mass_send_id)s not found") % {"mass_send_id": mass_send_id}, field="id")
    poll_mass_send(mass_send_id=mass_send_id)
    return MassSend.objects.get(pk=mass_send_id)


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
    tag_match: str = "any",
    group_code_id: int | None = None,
    segment: tuple[int, str] | None = None,
    actor: Actor = None,
) -> MassSend:
    """A draft mass send; with submit=True it is submitted in the same transaction (all or nothing). `segment` is
    (id, name) of a segment the caller has checked the scope may see; its members are resolved at the submit."""
    if tag_match not in ("any", "all"):
        raise ValidationFailed(_("tag_match is any or all"), field="tag_match", code="unknown_tag_match")
    with transaction.atomic():
        mass_send = _draft_mass_send(
            scope=scope, account_id=account_id, kind=kind, sender_ids=sender_ids, name=name,
            customer_ids=customer_ids or [], tag_ids=tag_ids or [], group_ids=group_ids or [], text=text,
            attachments=attachments or [], tag_match=tag_match, group_code_id=group_code_id, segment=segment,
            actor=actor,
        )
        if submit:
            mass_send = submit_mass_send(scope=scope, mass_send_id=mass_send.pk, actor=actor)
    return mass_send
