"""Moments (朋友圈) through WeCom.

A moment task is one add_moment_task (visible to a staff list and/or customer tags); the platform allows 10 a minute
per corp, so a 45009 leaves the task "rate limited" while the outbox retries, and a failure the platform itself
answered may be submitted again. The jobid is polled with get_moment_task_result until the moment_id is known.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import (
    MomentReaction,
    MomentTaskResult,
    WecomError,
)
from siyu.channels.wecom.mass_sends import POLL_BATCH, _backoff, _locked, _staff_list, _tags
from siyu.channels.wecom.models import (
    MomentStatus,
    MomentTask,
    OutboundCall,
    TagLink,
)
from siyu.channels.wecom.outbox import REF, enqueue_call, on_failure, on_retry, on_success
from siyu.channels.wecom.provider import client_for
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.timeutil import now
from siyu.org.scope import Scope

log = logging.getLogger(__name__)

MOMENT_TEXT_MAX = 2000
MOMENT_IMAGES_MAX = 9
MOMENT_LINK_TITLE_MAX_BYTES = 64
MOMENT_NEEDS = {"image": ("media_id",), "video": ("media_id",), "link": ("url", "media_id")}
MOMENT_JOB_TTL = timedelta(hours=24)
RATE_LIMITED = 45009


def clean_moment_attachments(raw: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """≤9 images, or 1 video, or 1 link (title ≤64 bytes, url, cover media_id); never mixed."""
    items = list(raw or [])
    kinds = [str(item.get("msgtype", "")) for item in items]
    for index, kind in enumerate(kinds):
        if kind not in MOMENT_NEEDS:
            raise ValidationFailed(_("msgtype must be image, video or link"), field="attachments", index=index,
                                   code="unknown_msgtype")
    if len(set(kinds)) > 1:
        raise ValidationFailed(_("images, a video and a link cannot be mixed"), field="attachments",
                               code="images_video_link_mixed")
    most = MOMENT_IMAGES_MAX if set(kinds) <= {"image"} else 1
    if len(items) > most:
        raise ValidationFailed(_("at most %(most)s attachment(s) of this kind") % {"most": most}, field="attachments",
                               code="too_many_attachments")
    clean = []
    for index, (kind, item) in enumerate(zip(kinds, items, strict=True)):
        body = item.get(kind)
        if not isinstance(body, Mapping) or any(not str(body.get(k, "")).strip() for k in MOMENT_NEEDS[kind]):
            raise ValidationFailed(
                _("%(kind)s needs %(join)s") % {"kind": kind, "join": ', '.join(MOMENT_NEEDS[kind])},
                field="attachments", index=index,
                code="invalid_attachments",
            )
        if len(str(body.get("title", "")).encode()) > MOMENT_LINK_TITLE_MAX_BYTES:
            raise ValidationFailed(_("a link title is at most 64 bytes"), field="attachments", index=index,
                                   code="link_title_length")
        clean.append({"msgtype": kind, kind: {str(k): str(v)[:512] for k, v in body.items() if str(v).strip()}})
    return clean


def _wecom_tags(account: ChannelAccount, tag_ids: Sequence[int]) -> dict[int, str]:
    """Siyu tag id -> the account's WeCom corp tag id; a tag not synced yet is a field error."""
    linked = dict(TagLink.objects.filter(account=account, tag_id__in=tag_ids).values_list("tag_id", "wecom_tag_id"))
    for index, tag_id in enumerate(tag_ids):
        if tag_id not in linked:
            raise ValidationFailed(_("this tag is not synced to WeCom yet"), field="tag_ids", index=index,
                                   code="tag_not_synced")
    return linked


@transaction.atomic
def _draft_moment_task(
    *,
    scope: Scope,
    account_id: int,
    text: str = "",
    attachments: Sequence[Mapping[str, Any]] = (),
    staff_ids: Sequence[int] = (),
    tag_ids: Sequence[int] = (),
    actor: Actor = None,
) -> MomentTask:
    """A draft moment. No staff means every member may publish it (HQ only); tags narrow who sees it."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    if len(text) > MOMENT_TEXT_MAX:
        raise ValidationFailed(
            _("the text is at most %(MOMENT_TEXT_MAX)s characters") % {"MOMENT_TEXT_MAX": MOMENT_TEXT_MAX},
            field="text",
            code="text_length",
        )
    clean = clean_moment_attachments(attachments)
    if not text.strip() and not clean:
        raise ValidationFailed(_("write a text or add an attachment"), field="text", code="text_or_attachment_required")
    if not staff_ids and not scope.is_hq:
        raise ValidationFailed(_("pick the staff who publish it"), field="staff_ids", code="staff_required")
    staff = _staff_list(scope, staff_ids, field="staff_ids")
    tags = _tags(scope, tag_ids)
    _wecom_tags(account, tags)
    task = MomentTask.objects.create(
        enterprise_id=scope.enterprise_id,
        account=account,
        text=text.strip(),
        attachments=clean,
        created_by=audit.user_of(actor),
    )
    task.staff.set(staff)
    task.tags.set(tags)
    audit.record(
        enterprise_id=scope.enterprise_id,
        actor=actor, action="wecom.moment.create", target_type="moment_task", target_id=task.pk, summary=text[:60]
    )
    return task


def resubmittable(task: MomentTask) -> bool:
    """A draft, or a failure the platform itself answered (nothing was created, so no duplicate can follow)."""
    if task.status == MomentStatus.DRAFT:
        return True
    return task.status == MomentStatus.FAILED and not task.jobid and (task.errcode or 0) > 0


@transaction.atomic
def submit_moment_task(*, scope: Scope, task_id: int, actor: Actor = None) -> MomentTask:
    task: MomentTask = _locked(scope, MomentTask, task_id, "moment task")
    staff = list(task.staff.order_by("id"))
    if not staff and not scope.is_hq:
        raise PermissionDenied(_("a moment for every member is HQ's"), field="staff_ids")
    _staff_list(scope, [s.pk for s in staff], field="staff_ids")
    if not resubmittable(task):
        raise Conflict(_("only a draft, or a task WeCom rejected, can be submitted"), field="status", code="not_draft")
    tag_ids = [t.pk for t in task.tags.order_by("id")]
    wecom_tags = _wecom_tags(task.account, tag_ids)
    task.submissions += 1
    task.call = enqueue_call(
        account=task.account,
        method="add_moment_task",
        payload={
            "text": task.text,
            "attachments": list(task.attachments),
            "userids": [s.wecom_userid for s in staff],
            "tag_ids": [wecom_tags[t] for t in tag_ids],
            REF: {"moment_task_id": task.pk},
        },
        key=f"add_moment_task:{task.pk}:{task.submissions}",
    )
    task.status, task.errcode, task.error, task.retry_at = MomentStatus.QUEUED, None, "", None
    task.submitted_at = now()
    task.save()
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="wecom.moment.submit", target_type="moment_task", target_id=task.pk)
    return task


def _moment_of(call: OutboundCall) -> MomentTask | None:
    task_id = call.payload.get(REF, {}).get("moment_task_id")
    return MomentTask.objects.filter(pk=task_id, call=call).first() if task_id is not None else None


@on_success("add_moment_task")
def _moment_added(call: OutboundCall, result: dict[str, Any]) -> None:
    task = _moment_of(call)
    if task is None:
        return
    task.jobid = str(result.get("jobid", ""))
    task.status, task.errcode, task.error, task.retry_at = MomentStatus.RUNNING, 0, "", None
    task.next_poll_at = now()
    task.save(update_fields=["jobid", "status", "errcode", "error", "retry_at", "next_poll_at"])


@on_retry("add_moment_task")
def _moment_retrying(call: OutboundCall, exc: WecomError) -> None:
    task = _moment_of(call)
    if task is None:
        return
    task.status = MomentStatus.RATE_LIMITED if exc.errcode == RATE_LIMITED else MomentStatus.RETRYING
    task.errcode, task.error, task.retry_at = exc.errcode, str(exc)[:255], call.next_attempt_at
    task.save(update_fields=["status", "errcode", "error", "retry_at"])


@on_failure("add_moment_task")
def _moment_failed(call: OutboundCall, exc: WecomError) -> None:
    task = _moment_of(call)
    if task is None:
        return
    task.status, task.errcode, task.retry_at = MomentStatus.FAILED, exc.errcode, None
    task.error = str(exc)[:255]
    task.finished_at = now()
    task.save(update_fields=["status", "errcode", "error", "retry_at", "finished_at"])


def _moment_result(task: MomentTask, result: MomentTaskResult) -> None:
    if result.status == 3 and result.errcode == 0:
        task.status, task.moment_id, task.finished_at = MomentStatus.DONE, result.moment_id, now()
        task.invalid_userids, task.invalid_tag_ids = list(result.invalid_userids), list(result.invalid_tag_ids)
        task.next_poll_at = None
    elif result.status == 3:
        task.status, task.errcode, task.error = MomentStatus.FAILED, result.errcode, result.errmsg[:255]
        task.finished_at, task.next_poll_at = now(), None
    else:
        task.next_poll_at = now() + _backoff(task.polls)


def poll_moment_task(*, task_id: int) -> str:
    """get_moment_task_result for a running task; returns its status. Safe to run twice."""
    task = MomentTask.objects.select_related("account").get(pk=task_id)
    if task.status != MomentStatus.RUNNING or not task.jobid:
        return task.status
    task.polls += 1
    try:
        result = client_for(task.account).get_moment_task_result(jobid=task.jobid)
    except WecomError as exc:
        task.errcode, task.error = exc.errcode, str(exc)[:255]
        task.next_poll_at = now() + _backoff(task.polls)
    else:
        _moment_result(task, result)
    expired = task.submitted_at is not None and now() - task.submitted_at > MOMENT_JOB_TTL
    if task.status == MomentStatus.RUNNING and expired:
        task.status, task.error, task.finished_at, task.next_poll_at = (
            MomentStatus.FAILED, "the job expired (24 h) without a result", now(), None
        )
    with transaction.atomic():
        task.save(
            update_fields=["polls", "errcode", "error", "next_poll_at", "status", "moment_id", "finished_at",
                           "invalid_userids", "invalid_tag_ids"]
        )
    return task.status


def poll_open_moments(*, limit: int = POLL_BATCH) -> int:
    """Periodic: running tasks whose next poll is due; returns how many finished."""
    due = MomentTask.objects.filter(status=MomentStatus.RUNNING).filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now())
    ).order_by("id").values_list("id", flat=True)
    finished = (MomentStatus.DONE, MomentStatus.FAILED)
    return sum(poll_moment_task(task_id=task_id) in finished for task_id in list(due[:limit]))


def refresh_moment_task(*, scope: Scope, task_id: int) -> MomentTask:
    if not MomentTask.objects.filter(pk=task_id, enterprise_id=scope.enterprise_id).exists():
        raise NotFound(_("moment task %(task_id)s not found") % {"task_id": task_id}, field="id")
    poll_moment_task(task_id=task_id)
    return MomentTask.objects.get(pk=task_id)


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
    """A draft moment; with submit=True it is submitted in the same transaction (all or nothing)."""
    with transaction.atomic():
        task = _draft_moment_task(
            scope=scope, account_id=account_id, text=text, attachments=attachments or [], staff_ids=staff_ids or [],
            tag_ids=tag_ids or [], actor=actor,
        )
        if submit:
            task = submit_moment_task(scope=scope, task_id=task.pk, actor=actor)
    return task


# ---------------------------------------------------------------------------------------------------------------
# For the content calendar: moment attachments uploaded through the outbox, and engagement read back.

@dataclass(frozen=True)
class AttachmentUpload:
    call_id: int
    status: str  # the outbox call's: pending, running, retrying, done, failed
    media_id: str
    error: str


def queue_attachment(*, scope: Scope, account_id: int, storage_name: str, media_type: str, filename: str,
                     content_type: str, key: str) -> int:
    """Record (once per key, in the caller's transaction) the upload of a stored file as a moment attachment; the
    worker makes the call after the commit. Returns the outbox call's id."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    call = enqueue_call(account=account, method="upload_attachment", key=key, payload={
        "storage_name": storage_name, "media_type": media_type, "filename": filename, "content_type": content_type})
    return call.pk


def attachment_uploads(*, scope: Scope, call_ids: Sequence[int]) -> dict[int, AttachmentUpload]:
    """Where each queued upload stands (one query)."""
    rows = OutboundCall.objects.filter(pk__in=list(call_ids), account__enterprise_id=scope.enterprise_id,
                                       method="upload_attachment")
    return {
        call.pk: AttachmentUpload(call_id=call.pk, status=call.status, media_id=str(call.result.get("media_id", "")),
                                  error=call.last_error)
        for call in rows
    }


@dataclass(frozen=True)
class SenderEngagement:
    userid: str
    published: bool
    comments: tuple[MomentReaction, ...]
    likes: tuple[MomentReaction, ...]


def fetch_engagement(*, scope: Scope, task_id: int) -> list[SenderEngagement] | None:
    """Who has posted a published moment task and the comments and likes on each copy, read from WeCom
    (get_moment_task, then get_moment_comments per member who posted). Network only: nothing is written, so the
    caller stores what it needs in its own short transaction. None while the task has no moment_id."""
    task = MomentTask.objects.select_related("account").filter(pk=task_id, enterprise_id=scope.enterprise_id).first()
    if task is None or task.status != MomentStatus.DONE or not task.moment_id:
        return None
    client = client_for(task.account)
    out = []
    for userid, published in sorted(client.get_moment_task(moment_id=task.moment_id).items()):
        reactions = client.get_moment_comments(moment_id=task.moment_id, userid=userid) if published else None
        out.append(SenderEngagement(userid=userid, published=published,
                                    comments=reactions.comments if reactions else (),
                                    likes=reactions.likes if reactions else ()))
    return out
