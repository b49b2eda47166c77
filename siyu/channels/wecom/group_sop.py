"""Group SOP (社群SOP): scheduled group messages and owner reminders per group set, until journeys (issue 20) exist.

A SOP names a group set (the groups carrying a group tag, or the groups of a group code, as they are at each run),
a message (text and at most 9 attachments, typed or from the material library) and a time rule: once, every day or on
weekdays, at a Shanghai time of day, from a start day to an optional end day. At each occurrence:

- the message goes to the set's active groups through the group mass-send path (add_msg_template per owner,
  confirmed by the owner in WeCom; mass_sends.py), when `send_messages`;
- each owner gets an app message (message/send): "a group message waits for your confirmation" or, for a
  reminder-only SOP, the message to post in their groups, when `remind_owners`.

Each occurrence runs once: the run row's key is SOP + occurrence (unique), written in the same transaction as its
mass sends and outbox calls, and those calls carry keys derived from it. An occurrence found more than GRACE late
(the worker was down) is recorded as missed and nothing is sent: a "good morning" at 3 pm does more harm than good.
The periodic sweep runs due SOPs; per-group results are the mass sends' recipients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.wecom import attachment_sources, mass_sends
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.models import (
    CustomerGroup,
    GroupCode,
    GroupCodeSlot,
    GroupSop,
    GroupSopRun,
    GroupStatus,
    GroupTag,
    SopRepeat,
    SopRunStatus,
)
from siyu.channels.wecom.outbox import enqueue_call
from siyu.channels.wecom.welcome import clean_attachments
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.core.timeutil import SHANGHAI, local_day, now
from siyu.org.scope import Scope

GRACE = timedelta(hours=2)
SENDERS_PER_SEND = mass_sends.MAX_SENDERS
REMINDER_MAX_BYTES = 2000
MAX_SOPS_PER_SWEEP = 200


@dataclass(frozen=True)
class Rule:
    repeat: str
    time_of_day: time
    start_date: date
    weekdays: tuple[int, ...] = ()
    end_date: date | None = None


def next_occurrence(rule: Rule, *, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after` (aware, UTC), or None when the rule has no more."""
    first = max(rule.start_date, local_day(after))
    last = rule.start_date if rule.repeat == SopRepeat.ONCE else rule.end_date
    for offset in range(8):
        day = first + timedelta(days=offset)
        if last is not None and day > last:
            return None
        if rule.repeat == SopRepeat.WEEKLY and day.isoweekday() not in rule.weekdays:
            continue
        at = datetime.combine(day, rule.time_of_day, tzinfo=SHANGHAI)
        if at > after:
            return at.astimezone(after.tzinfo)
    return None


def rule_of(sop: GroupSop) -> Rule:
    return Rule(repeat=sop.repeat, time_of_day=sop.time_of_day, start_date=sop.start_date,
                weekdays=tuple(sop.weekdays or ()), end_date=sop.end_date)


def clean_rule(*, repeat: str, time_of_day: time, start_date: date, weekdays: Sequence[int] = (),
               end_date: date | None = None, at: datetime) -> Rule:
    if repeat not in SopRepeat.values:
        raise ValidationFailed(_("repeat is once, daily or weekly"), field="repeat", code="unknown_repeat")
    days = tuple(sorted(set(weekdays)))
    if repeat == SopRepeat.WEEKLY and (not days or any(not 1 <= d <= 7 for d in days)):
        raise ValidationFailed(_("a weekly rule needs weekdays 1 (Monday) to 7 (Sunday)"), field="weekdays",
                               code="bad_days")
    if end_date is not None and end_date < start_date:
        raise ValidationFailed(_("the end day is before the start day"), field="end_date", code="bad_range")
    rule = Rule(repeat=repeat, time_of_day=time_of_day.replace(second=0, microsecond=0), start_date=start_date,
                weekdays=days if repeat == SopRepeat.WEEKLY else (), end_date=end_date)
    if next_occurrence(rule, after=at) is None:
        raise ValidationFailed(_("the rule has no occurrence in the future"), field="start_date",
                               code="no_future_occurrence")
    return rule


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("HQ schedules group SOPs"))


def _group_set(scope: Scope, account_id: int, group_tag_id: int | None,
               group_code_id: int | None) -> tuple[int | None, int | None]:
    if (group_tag_id is None) == (group_code_id is None):
        raise ValidationFailed(_("pick a group tag or a group code, one of them"), field="group_tag_id",
                               code="group_tag_or_code")
    if group_tag_id is not None:
        if not GroupTag.objects.filter(pk=group_tag_id, enterprise_id=scope.enterprise_id).exists():
            raise NotFound(_("group tag %(id)s not found") % {"id": group_tag_id}, field="group_tag_id")
        return group_tag_id, None
    code = GroupCode.objects.filter(pk=int(group_code_id or 0), enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("group code %(id)s not found") % {"id": group_code_id}, field="group_code_id")
    if code.account_id != account_id:
        raise ValidationFailed(_("group code %(name)s belongs to another WeCom corp") % {"name": repr(code.name)},
                               field="group_code_id", code="group_of_other_corp")
    return None, code.pk


def _content(text: str, attachments: Sequence[Mapping[str, Any]], send_messages: bool,
             remind_owners: bool) -> tuple[str, list[dict[str, Any]]]:
    clean_text = mass_sends._mass_text(text)  # noqa: SLF001 (the mass send's own limit, same package)
    clean = clean_attachments(attachments, field="attachments")
    if not clean_text and not clean:
        raise ValidationFailed(_("write a text or add an attachment"), field="text", code="empty")
    if not send_messages and not remind_owners:
        raise ValidationFailed(_("send the message, remind the owners, or both"), field="send_messages",
                               code="nothing_to_do")
    if not send_messages and not clean_text:
        raise ValidationFailed(_("a reminder needs a text for the owners to post"), field="text", code="empty")
    return clean_text, clean


def material_attachments(*, scope: Scope, account_id: int, material_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Materials of the library as the SOP's attachments (through the registered source). May upload to WeCom, so
    it is called before create/update, outside their transaction."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    out = []
    for index, material_id in enumerate(material_ids):
        try:
            out.append(attachment_sources.resolve(scope, "material", material_id, account=account,
                                                  field="material_ids"))
        except DomainError as exc:
            raise type(exc)(exc.message, field="material_ids", index=index, code=exc.code) from exc
    return out


def _name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(_("name is 1-64 characters"), field="name", code="name_length")
    return name


@transaction.atomic
def create_group_sop(
    *, scope: Scope, account_id: int, name: str, group_tag_id: int | None = None, group_code_id: int | None = None,
    text: str = "", attachments: Sequence[Mapping[str, Any]] = (), send_messages: bool = True,
    remind_owners: bool = True, repeat: str = SopRepeat.ONCE, time_of_day: time, start_date: date,
    weekdays: Sequence[int] = (), end_date: date | None = None, actor: Actor = None,
) -> GroupSop:
    _require_hq(scope)
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    tag_id, code_id = _group_set(scope, account.pk, group_tag_id, group_code_id)
    body, clean = _content(text, attachments, send_messages, remind_owners)
    at = now()
    rule = clean_rule(repeat=repeat, time_of_day=time_of_day, start_date=start_date, weekdays=weekdays,
                      end_date=end_date, at=at)
    sop = GroupSop.objects.create(
        enterprise_id=scope.enterprise_id, account=account, name=_name(name), group_tag_id=tag_id,
        group_code_id=code_id, text=body, attachments=clean, send_messages=send_messages,
        remind_owners=remind_owners, repeat=rule.repeat, time_of_day=rule.time_of_day, weekdays=list(rule.weekdays),
        start_date=rule.start_date, end_date=rule.end_date, next_run_at=next_occurrence(rule, after=at),
        created_by=audit.user_of(actor),
    )
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_sop.create",
                 target_type="group_sop", target_id=sop.pk, summary=sop.name)
    return sop


def _locked(scope: Scope, sop_id: int) -> GroupSop:
    sop = GroupSop.objects.select_for_update().filter(pk=sop_id, enterprise_id=scope.enterprise_id).first()
    if sop is None:
        raise NotFound(_("group SOP %(id)s not found") % {"id": sop_id}, field="sop_id")
    return sop


@transaction.atomic
def update_group_sop(
    *, scope: Scope, sop_id: int, name: str | None = None, text: str | None = None,
    attachments: Sequence[Mapping[str, Any]] | None = None, send_messages: bool | None = None,
    remind_owners: bool | None = None, repeat: str | None = None, time_of_day: time | None = None,
    start_date: date | None = None, weekdays: Sequence[int] | None = None, end_date: date | None = None,
    clear_end_date: bool = False, is_active: bool | None = None, actor: Actor = None,
) -> GroupSop:
    """Change what is given; a changed rule (or a resumed SOP) counts its next occurrence from now."""
    _require_hq(scope)
    sop = _locked(scope, sop_id)
    if name is not None:
        sop.name = _name(name)
    sop.text, sop.attachments = _content(
        sop.text if text is None else text, sop.attachments if attachments is None else attachments,
        sop.send_messages if send_messages is None else send_messages,
        sop.remind_owners if remind_owners is None else remind_owners)
    sop.send_messages = sop.send_messages if send_messages is None else send_messages
    sop.remind_owners = sop.remind_owners if remind_owners is None else remind_owners
    asked = (repeat or sop.repeat, time_of_day or sop.time_of_day, start_date or sop.start_date,
             sorted(set(sop.weekdays if weekdays is None else weekdays)),
             None if clear_end_date else (end_date or sop.end_date))
    resumed = is_active is True and not sop.is_active
    if is_active is not None:
        sop.is_active = is_active
    if asked != (sop.repeat, sop.time_of_day, sop.start_date, sorted(sop.weekdays or []), sop.end_date) or resumed:
        at = now()  # a new rule (or a resumed SOP) counts from now; an unchanged one keeps its next occurrence
        rule = clean_rule(repeat=asked[0], time_of_day=asked[1], start_date=asked[2], weekdays=asked[3],
                          end_date=asked[4], at=at)
        sop.repeat, sop.time_of_day, sop.start_date = rule.repeat, rule.time_of_day, rule.start_date
        sop.weekdays, sop.end_date = list(rule.weekdays), rule.end_date
        sop.next_run_at = next_occurrence(rule, after=at)
    if not sop.is_active:
        sop.next_run_at = None
    sop.save()
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_sop.update",
                 target_type="group_sop", target_id=sop.pk,
                 summary=audit.text(N_("active")) if sop.is_active else audit.text(N_("paused")))
    return sop


@transaction.atomic
def delete_group_sop(*, scope: Scope, sop_id: int, actor: Actor = None) -> None:
    """The SOP and its run history go; mass sends it made stay (they are in the mass-send list)."""
    _require_hq(scope)
    sop = _locked(scope, sop_id)
    name = sop.name
    sop.delete()
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_sop.delete",
                 target_type="group_sop", target_id=sop_id, summary=name)


# ---------------------------------------------------------------------------------------------------------------
# Running


def set_groups(sop: GroupSop) -> list[tuple[int, int, str]]:
    """(group id, owner staff id, owner userid) of the set's active groups whose owner is an active staff member
    with WeCom: one query."""
    qs = CustomerGroup.objects.filter(account_id=sop.account_id, status=GroupStatus.ACTIVE,
                                      owner__is_active=True).exclude(owner__wecom_userid="")
    if sop.group_tag_id is not None:
        qs = qs.filter(taggings__tag_id=sop.group_tag_id)
    else:
        qs = qs.filter(id__in=GroupCodeSlot.objects.filter(code_id=sop.group_code_id).values("group_id"))
    return [(g, o, u) for g, o, u in qs.order_by("id").values_list("id", "owner_id", "owner__wecom_userid")]


def _cut(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode(errors="ignore")


def reminder_text(sop: GroupSop, groups: int) -> str:
    if sop.send_messages:
        head = f"【社群SOP】{sop.name}：一条群发消息待您在企业微信确认，将发往您的{groups}个群。"
        return _cut(head, REMINDER_MAX_BYTES)
    return _cut(f"【社群SOP】{sop.name}：请在您的{groups}个群发送以下内容：\n{sop.text}", REMINDER_MAX_BYTES)


def _send(sop: GroupSop, run: GroupSopRun, rows: list[tuple[int, int, str]]) -> None:
    owners = sorted({o for _g, o, _u in rows})
    scope = Scope.hq(sop.enterprise_id)
    for start in range(0, len(owners), SENDERS_PER_SEND):
        chunk = set(owners[start:start + SENDERS_PER_SEND])
        send = mass_sends.create_mass_send(
            scope=scope, account_id=sop.account_id, kind="group", sender_ids=sorted(chunk),
            group_ids=[g for g, o, _u in rows if o in chunk], name=f"SOP·{sop.name}"[:64], text=sop.text,
            attachments=list(sop.attachments), submit=True)
        run.mass_sends.add(send)


def _remind(sop: GroupSop, run: GroupSopRun, rows: list[tuple[int, int, str]]) -> None:
    per_owner: dict[tuple[int, str], int] = {}
    for _g, owner, userid in rows:
        per_owner[(owner, userid)] = per_owner.get((owner, userid), 0) + 1
    agentid = sop.account.agent_id
    for (owner, userid), count in sorted(per_owner.items()):
        enqueue_call(account=sop.account, method="send_app_message",
                     payload={"agentid": agentid, "userids": [userid], "text": reminder_text(sop, count)},
                     key=f"{run.key}:remind:{owner}")


def _execute(sop: GroupSop, occurrence: datetime, at: datetime) -> GroupSopRun:
    key = f"group_sop:{sop.pk}:{occurrence.astimezone(SHANGHAI):%Y%m%dT%H%M}"
    existing = GroupSopRun.objects.filter(key=key).first()
    if existing is not None:  # this occurrence ran already (the rule was edited back onto it)
        return existing
    if at - occurrence > GRACE:
        return GroupSopRun.objects.create(sop=sop, key=key, occurrence=occurrence, status=SopRunStatus.MISSED)
    rows = set_groups(sop)
    run = GroupSopRun.objects.create(
        sop=sop, key=key, occurrence=occurrence, status=SopRunStatus.DONE if rows else SopRunStatus.EMPTY,
        group_ids=[g for g, _o, _u in rows], owner_ids=sorted({o for _g, o, _u in rows}))
    if not rows:
        return run
    try:
        with transaction.atomic():
            if sop.send_messages:
                _send(sop, run, rows)
            if sop.remind_owners:
                _remind(sop, run, rows)
    except DomainError as exc:  # e.g. an owner lost their WeCom account between the query and the send
        run.status, run.error = SopRunStatus.FAILED, f"{exc.code}: {exc.message}"[:255]
        run.save(update_fields=["status", "error"])
    return run


def run_due(*, at: datetime | None = None) -> int:
    """Periodic: run every active SOP whose next occurrence has come, once each, then move it to the next one."""
    when = at or now()
    due = list(GroupSop.objects.filter(is_active=True, next_run_at__lte=when)
               .order_by("next_run_at").values_list("pk", flat=True)[:MAX_SOPS_PER_SWEEP])
    ran = 0
    for sop_id in due:
        try:
            with transaction.atomic():
                sop = GroupSop.objects.select_for_update().select_related("account").get(pk=sop_id)
                if not sop.is_active or sop.next_run_at is None or sop.next_run_at > when:
                    continue  # another worker was first
                _execute(sop, sop.next_run_at, when)
                sop.next_run_at = next_occurrence(rule_of(sop), after=max(sop.next_run_at, when))
                sop.save(update_fields=["next_run_at", "updated_at"])
                ran += 1
        except IntegrityError:
            continue  # the run's key exists: this occurrence ran already
    return ran
