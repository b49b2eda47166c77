"""Staff-task writes beside the journeys: HQ's assignments (fanned out to the staff of regions, stores or named staff,
with a deadline), completing a task with a note, WeCom confirmations of a linked mass send marking tasks done, and
reminders to the staff of overdue tasks through the WeCom app message.

Keys carry the correctness: a task per (assignment, staff) (`assign:<assignment>:<staff>`), a reminder per (task,
Shanghai day), the app message keyed by the reminders it announces, so a double click or a retry never doubles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.automation import queries
from siyu.automation.models import (
    AssignmentTarget,
    StaffTask,
    TaskAssignment,
    TaskKind,
    TaskReminder,
    TaskStatus,
)
from siyu.channels.wecom import mass_sends
from siyu.channels.wecom.models import MassSendSender, SenderStatus
from siyu.channels.wecom.outbox import enqueue_call
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.timeutil import SHANGHAI
from siyu.org.models import Region, Staff, Store
from siyu.org.scope import Scope

MAX_TARGETS = 500
MAX_NOTE = 500
MAX_INSTRUCTIONS = 2000
HQ_KINDS = (TaskKind.SEND_MATERIAL, TaskKind.POST_MOMENT, TaskKind.INVITE_GROUP, TaskKind.CALL)
REMIND_BATCH = 2000


@dataclass(frozen=True)
class AssignmentIn:
    kind: str
    title: str
    target: str
    target_ids: list[int]
    due_at: datetime
    instructions: str = ""
    tag_id: int | None = None
    account_id: int | None = None


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may assign tasks"))


def _check(scope: Scope, data: AssignmentIn, now: datetime) -> None:  # noqa: C901 - one check per field
    if data.kind not in HQ_KINDS:
        raise ValidationFailed(_("unknown task kind"), field="kind", code="unknown_kind")
    if not 1 <= len(data.title.strip()) <= 120:  # noqa: PLR2004
        raise ValidationFailed(_("the title is 1-120 characters"), field="title", code="title_length")
    if len(data.instructions) > MAX_INSTRUCTIONS:
        raise ValidationFailed(_("the instructions are at most 2000 characters"), field="instructions",
                               code="instructions_length")
    if data.target not in AssignmentTarget.values:
        raise ValidationFailed(_("assign to regions, stores or staff"), field="target", code="unknown_target")
    if not data.target_ids:
        raise ValidationFailed(_("pick at least one"), field="target_ids", code="targets_required")
    if len(data.target_ids) > MAX_TARGETS:
        raise ValidationFailed(_("at most 500 at once"), field="target_ids", code="too_many_targets")
    if timezone.is_naive(data.due_at):
        raise ValidationFailed(_("the deadline needs a time zone"), field="due_at", code="naive_datetime")
    if data.due_at <= now:
        raise ValidationFailed(_("the deadline is in the past"), field="due_at", code="due_in_past")
    model: Any = {"region": Region, "store": Store, "staff": Staff}[data.target]
    known = set(model.objects.filter(enterprise_id=scope.enterprise_id, pk__in=data.target_ids)
                .values_list("pk", flat=True))
    for index, target_id in enumerate(data.target_ids):
        if target_id not in known:  # another enterprise's id reads as unknown
            raise ValidationFailed(_("not found"), field=f"target_ids.{index}", code="unknown_target_id")
    if data.tag_id is not None:
        from siyu.customers.models import Tag  # noqa: PLC0415 - read only

        if not Tag.objects.filter(group__enterprise_id=scope.enterprise_id, pk=data.tag_id).exists():
            raise ValidationFailed(_("unknown tag"), field="tag_id", code="unknown_tag")
    if data.account_id is not None and (data.kind != TaskKind.SEND_MATERIAL or data.tag_id is None):
        raise ValidationFailed(_("a WeCom mass send is for sending material to the customers with a tag"),
                               field="account_id", code="mass_send_needs_tag")


def reached_staff(scope: Scope, target: str, target_ids: list[int]) -> list[tuple[int, int | None, str]]:
    """(staff id, store id, WeCom userid) of the active staff an assignment reaches, by id."""
    qs = Staff.objects.filter(enterprise_id=scope.enterprise_id, is_active=True)
    if target == AssignmentTarget.REGION:
        qs = qs.filter(store__region_id__in=target_ids)
    elif target == AssignmentTarget.STORE:
        qs = qs.filter(store_id__in=target_ids)
    else:
        qs = qs.filter(pk__in=target_ids)
    return list(qs.order_by("id").values_list("id", "store_id", "wecom_userid"))


def create_assignment(*, scope: Scope, data: AssignmentIn, actor: Actor = None,
                      now: datetime | None = None) -> TaskAssignment:
    """HQ assigns: one task per active staff member reached; a send with a WeCom account also submits the mass send
    (senders: the reached staff with a WeCom account) in the same transaction, all or nothing (audited)."""
    _require_hq(scope)
    moment = now or timezone.now()
    _check(scope, data, moment)
    staff = reached_staff(scope, data.target, data.target_ids)
    if not staff:
        raise ValidationFailed(_("no active staff there"), field="target_ids", code="no_staff_reached")
    with transaction.atomic():
        assignment = TaskAssignment.objects.create(
            enterprise_id=scope.enterprise_id, kind=data.kind, title=data.title.strip(),
            instructions=data.instructions.strip(), target=data.target, target_ids=sorted(set(data.target_ids)),
            tag_id=data.tag_id, account_id=data.account_id, due_at=data.due_at, task_count=len(staff),
            created_by=audit.user_of(actor), created_at=moment)
        senders: dict[int, int] = {}
        if data.account_id is not None and data.tag_id is not None:
            senders = _mass_send(scope, assignment, [s for s, _store, userid in staff if userid], actor)
        StaffTask.objects.bulk_create([StaffTask(
            enterprise_id=scope.enterprise_id, staff_id=staff_id, store_id=store_id, assignment=assignment,
            kind=data.kind, title=assignment.title, key=f"assign:{assignment.pk}:{staff_id}",
            status=TaskStatus.OPEN, due_at=data.due_at, created_at=moment,
            mass_send_id=assignment.mass_send_id if staff_id in senders else None)
            for staff_id, store_id, _userid in staff], batch_size=1000)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="automation.task_assigned",
                     target_type="task_assignment", target_id=assignment.pk,
                     summary=audit.text(N_("task %(title)s assigned to %(n)s staff"), title=assignment.title,
                                        n=len(staff)))
    return assignment


def _mass_send(scope: Scope, assignment: TaskAssignment, sender_ids: list[int], actor: Actor) -> dict[int, int]:
    if not sender_ids:
        raise ValidationFailed(_("none of these staff has a WeCom account"), field="account_id",
                               code="no_wecom_senders")
    send = mass_sends.create_mass_send(
        scope=scope, account_id=int(assignment.account_id or 0), kind="single", sender_ids=sender_ids,
        tag_ids=[int(assignment.tag_id or 0)], name=assignment.title[:64],
        text=assignment.instructions or assignment.title, submit=True, actor=actor)
    assignment.mass_send_id = send.pk
    assignment.save(update_fields=["mass_send_id"])
    return dict(MassSendSender.objects.filter(mass_send_id=send.pk).values_list("staff_id", "id"))


def complete(*, scope: Scope, task_id: int, note: str = "", actor: Actor = None,
             now: datetime | None = None) -> StaffTask:
    """A staff member marks their task done with a note (a manager any in their scope). Done twice is done once: the
    first completion's time and note stay."""
    task = queries.get_task(scope, task_id)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(_("the note is at most 500 characters"), field="note", code="note_length")
    moment = now or timezone.now()
    with transaction.atomic():
        changed = (StaffTask.objects.filter(pk=task.pk, status=TaskStatus.OPEN)
                   .update(status=TaskStatus.DONE, done_at=moment, note=note))
        if changed:
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="automation.task_done",
                         target_type="staff_task", target_id=task.pk,
                         summary=f"{task.title}: {note}"[:200] if note else task.title)
    task.refresh_from_db()
    return task


def sync_confirmed_sends(*, now: datetime | None = None) -> int:
    """Periodic: open tasks whose staff member has sent the linked mass send (WeCom's answer to the poll of their
    confirmation) become done at the send time. One UPDATE; safe to run twice."""
    sent = MassSendSender.objects.filter(mass_send_id=OuterRef("mass_send_id"), staff_id=OuterRef("staff_id"),
                                         status=SenderStatus.SENT)
    sent_at = (MassSendSender.objects.filter(mass_send_id=OuterRef("mass_send_id"), staff_id=OuterRef("staff_id"))
               .values("mass_send_id").annotate(at=Max("sent_at")).values("at"))
    return int(StaffTask.objects.filter(status=TaskStatus.OPEN, mass_send_id__isnull=False).filter(Exists(sent))
               .update(status=TaskStatus.DONE, done_at=Coalesce(Subquery(sent_at), now or timezone.now())))


@dataclass(frozen=True)
class Reminded:
    tasks: int  # tasks reminded now (not already today)
    staff: int  # staff notified
    messages: int  # WeCom app messages queued


def remind_overdue(*, scope: Scope, task_ids: list[int] | None = None, actor: Actor = None,
                   now: datetime | None = None) -> Reminded:
    """Remind the staff of overdue open tasks in the scope (managers; or just the tasks named): one reminder per task
    per Shanghai day, inserted set-based; then one WeCom app message per staff member with a WeCom account, keyed by
    the reminders it announces, queued in the outbox after the commit (no network call here)."""
    if not scope.is_manager:
        raise PermissionDenied(_("reminders are for HQ and managers"))
    moment = now or timezone.now()
    day = moment.astimezone(SHANGHAI).date()
    overdue = queries.tasks(scope, open_only=True).filter(due_at__lt=moment)
    if task_ids is not None:
        overdue = overdue.filter(pk__in=task_ids)
    todo = list(overdue.exclude(reminders__day=day).order_by("id").values_list("id", "staff_id")[:REMIND_BATCH])
    if not todo:
        return Reminded(tasks=0, staff=0, messages=0)
    account = _app_account(scope.enterprise_id)
    with transaction.atomic():
        TaskReminder.objects.bulk_create(
            [TaskReminder(enterprise_id=scope.enterprise_id, task_id=t, day=day, created_at=moment) for t, _s in todo],
            ignore_conflicts=True)
        per_staff: dict[int, list[int]] = {}
        for task_id, staff_id in todo:
            per_staff.setdefault(staff_id, []).append(task_id)
        userids = dict(Staff.objects.filter(pk__in=per_staff).exclude(wecom_userid="")
                       .values_list("id", "wecom_userid"))
        queued = 0
        if account is not None:
            for staff_id, ids in sorted(per_staff.items()):
                if staff_id not in userids:
                    continue
                digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
                enqueue_call(account=account, method="send_app_message",
                             payload={"agentid": account.agent_id, "userids": [userids[staff_id]],
                                      "text": _reminder_text(len(ids))},
                             key=f"task_remind:{staff_id}:{day:%Y%m%d}:{digest}")
                queued += 1
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="automation.task_reminded",
                     target_type="staff_task", target_id=todo[0][0],
                     summary=audit.text(N_("%(n)s overdue tasks reminded"), n=len(todo)))
    return Reminded(tasks=len(todo), staff=len(per_staff), messages=queued)


def _reminder_text(count: int) -> str:
    return f"【任务提醒】您有{count}项任务已超过截止时间，请尽快完成。 You have {count} overdue task(s)."


def _app_account(enterprise_id: int) -> Any:
    """The enterprise's WeCom account that sends app messages (the first active one with an agent)."""
    from siyu.channels.models import AccountKind, ChannelAccount  # noqa: PLC0415 - read only

    return (ChannelAccount.objects.filter(enterprise_id=enterprise_id, kind=AccountKind.WECOM, is_active=True)
            .exclude(agent_id="").order_by("id").first())
