"""Group codes (群活码): one stable QR over an ordered set of customer groups of one corp.

The QR is WeCom's join way (加入群聊, `groupchat/add_join_way`). The platform moves joiners on by itself only when a
group holds its QR-join limit (200, wecom-jssdk-sidebar-groups.md §9); the operator's cap may be lower, so Siyu keeps
the join way's list to the open groups (those under the cap) in the code's order, and rolls it with
`update_join_way` (which overwrites the whole config) when the current group fills. When every group is full the
way keeps the last group (so the QR still works, up to the platform's limit) and the staff owning it get a notice to
create a group; adding a group to the code resolves the notice and rolls the way onto it.

Counting: a join through the QR (JoinScene 3) into one of the code's groups is one row per (code, group, member),
so a replayed or duplicated callback adds nothing; a quit sets that row's left_at once. The roll decision is taken
under a lock on the code row, from set-based counts of live members, so two joins at once cannot both take the last
seat's decision wrongly. Scans are counted on Siyu's landing page for the code, once per visitor and Shanghai day.

Schedules: each group of a code may have its own cap (under the platform's limit) and hours (weekdays and Beijing
times, schedules.py). The way lists the open groups inside their hours; outside every open group's hours it lists the
open groups anyway (the QR must keep working). Codes with hours are re-planned by the minute sweep (`roll_timed`),
which pushes only a change, keyed by the code's roll counter.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.wecom import schedules
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.models import (
    CustomerGroup,
    GroupCode,
    GroupCodeDay,
    GroupCodeJoin,
    GroupCodeNotice,
    GroupCodeScan,
    GroupCodeSlot,
    GroupCodeStatus,
    GroupMembership,
    GroupStatus,
    MemberType,
    OutboundCall,
)
from siyu.channels.wecom.outbox import REF, enqueue_call, on_failure, on_success
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.timeutil import local_day, now
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

# The platform moves QR joiners on when a group holds this many members (wecom-jssdk-sidebar-groups.md §9); an
# operator's cap may be lower, never higher.
PLATFORM_QR_JOIN_LIMIT = 200
JOIN_WAY_CHATS_MAX = 5  # chat_id_list ≤ 5
MAX_GROUPS_PER_CODE = 50
JOIN_SCENE_QR = 3
STATE_RE = re.compile(r"^[A-Za-z0-9_\-]{1,30}$")


def _clean_state(account_id: int, state: str) -> str:
    state = state.strip() or "g" + secrets.token_hex(6)
    if not STATE_RE.match(state):
        raise ValidationFailed(_("state is 1-30 letters, digits, _ or -"), field="state",
                               code="state_format")
    if GroupCode.objects.filter(account_id=account_id, state=state).exists():
        raise Conflict(
            _("state %(state)s is already used by another group code") % {"state": repr(state)},
            field="state", code="duplicate",
        )
    return state


def _clean_cap(cap: int | None) -> int:
    if cap is None:
        return PLATFORM_QR_JOIN_LIMIT
    if cap < 2:
        raise ValidationFailed(_("a group holds its owner and at least one customer: cap ≥ 2"), field="cap",
                               code="cap_too_small")
    if cap > PLATFORM_QR_JOIN_LIMIT:
        raise ValidationFailed(
            _("cap %(cap)s is above WeCom's QR-join limit of %(PLATFORM_QR_JOIN_LIMIT)s members per group")
            % {"cap": cap, "PLATFORM_QR_JOIN_LIMIT": PLATFORM_QR_JOIN_LIMIT},
            field="cap", code="cap_above_platform_limit",
        )
    return cap


def _code_groups(
    scope: Scope, account_id: int, group_ids: Sequence[int], *, code: GroupCode | None = None, field: str = "group_ids"
) -> list[CustomerGroup]:
    """The groups, in the order given: of this enterprise (else not found), of the code's corp, alive, in no other
    code. The last is re-checked by the slot's unique key at insert time."""
    if not group_ids:
        raise ValidationFailed(_("pick at least one group"), field=field, code="groups_required")
    if len(group_ids) > MAX_GROUPS_PER_CODE:
        raise ValidationFailed(
            _("at most %(MAX_GROUPS_PER_CODE)s groups per code") % {"MAX_GROUPS_PER_CODE": MAX_GROUPS_PER_CODE},
            field=field,
            code="too_many_groups",
        )
    ids = list(dict.fromkeys(group_ids))
    visible = CustomerGroup.objects.filter(account__enterprise_id=scope.enterprise_id, id__in=ids)
    if not scope.is_hq:  # a region or store sees the groups of the staff it may see
        visible = visible.filter(owner_id__in=org_queries.visible_staff_ids(scope))
    by_id = {g.pk: g for g in visible}
    taken = dict(
        GroupCodeSlot.objects.filter(group_id__in=ids).exclude(code=code).values_list("group_id", "code__name")
        if code is not None
        else GroupCodeSlot.objects.filter(group_id__in=ids).values_list("group_id", "code__name")
    )
    out = []
    for index, group_id in enumerate(ids):
        group = by_id.get(group_id)
        if group is None:
            raise NotFound(_("group %(group_id)s not found") % {"group_id": group_id}, field=field, index=index)
        if group.account_id != account_id:
            raise ValidationFailed(
                _("group %(value)s belongs to another WeCom corp than the code")
                % {"value": group.name or group.chat_id},
                field=field, index=index, code="group_of_other_corp",
            )
        if group.status != GroupStatus.ACTIVE:
            raise ValidationFailed(
                _("group %(value)s is dismissed") % {"value": group.name or group.chat_id},
                field=field, index=index, code="group_dismissed",
            )
        if group_id in taken:
            raise Conflict(
                _("group %(value)s already serves the code %(value2)s")
                % {"value": group.name or group.chat_id, "value2": repr(taken[group_id])},
                field=field, index=index, code="group_in_other_code",
            )
        out.append(group)
    return out


def _insert_slots(code: GroupCode, groups: Sequence[CustomerGroup], start: int = 0) -> None:
    try:
        with transaction.atomic():
            GroupCodeSlot.objects.bulk_create(
                [GroupCodeSlot(code=code, group=g, sort=start + i) for i, g in enumerate(groups)]
            )
    except IntegrityError as exc:  # a concurrent code took one of the groups between the check and the insert
        raise Conflict(_("a group was just added to another code"), field="group_ids",
                       code="group_in_other_code") from exc


@transaction.atomic
def create_group_code(
    *,
    scope: Scope,
    account_id: int,
    name: str,
    group_ids: Sequence[int],
    cap: int | None = None,
    store_id: int | None = None,
    state: str = "",
    actor: Actor = None,
) -> GroupCode:
    """Create a code and, through the outbox, its join way on WeCom (the code is active once WeCom answers)."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(_("name is 1-64 characters"), field="name", code="name_length")
    if store_id is not None:
        org_queries.get_store(scope, store_id)
    cap_value = _clean_cap(cap)
    groups = _code_groups(scope, account.pk, group_ids)
    code = GroupCode.objects.create(
        enterprise_id=scope.enterprise_id,
        account=account,
        name=name,
        state=_clean_state(account.pk, state),
        store_id=store_id,
        cap=cap_value,
        created_by=audit.user_of(actor),
    )
    _insert_slots(code, groups)
    chat_ids, current, _full = _plan(code)
    code.active_chat_ids, code.current_group = chat_ids, current
    code.save(update_fields=["active_chat_ids", "current_group"])
    enqueue_call(
        account=account,
        method="add_join_way",
        payload={"chat_ids": chat_ids, "state": code.state, "remark": name[:30], REF: {"group_code_id": code.pk}},
        key=f"add_join_way:{code.pk}",
    )
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_code.create",
                 target_type="group_code", target_id=code.pk,
                 summary=audit.ntext(
                     N_("%(name)s (%(count)s group, cap %(cap)s)"), N_("%(name)s (%(count)s groups, cap %(cap)s)"),
                     len(groups), name=name, cap=cap_value))
    return code


# ---------------------------------------------------------------------------------------------------------------
# Share ways: a join way of its own over a code's open groups, with a caller's state (a referral participant's
# token), so a join through it carries that state into the group_joined event. A higher layer (referrals) registers
# a listener that keeps the way's config id and QR; this package never imports it.

ShareWayListener = Callable[[str, str, str], None]  # (state, config_id, qr_code)
_SHARE_LISTENERS: list[ShareWayListener] = []


def register_share_way_listener(listener: ShareWayListener) -> None:
    if listener not in _SHARE_LISTENERS:
        _SHARE_LISTENERS.append(listener)


def open_share_way(*, scope: Scope, group_code_id: int, state: str) -> None:
    """Through the outbox (a row now, the WeCom call after commit, once per state): a join way over the code's
    groups open now, with `state`. It lists the open groups of this moment; WeCom moves joiners on at its limit."""
    code = GroupCode.objects.select_related("account").filter(pk=group_code_id,
                                                               enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("group code %(code_id)s not found") % {"code_id": group_code_id}, field="group_code_id")
    if not STATE_RE.match(state):
        raise ValidationFailed(_("state is 1-30 letters, digits, _ or -"), field="state", code="state_format")
    chat_ids = list(code.active_chat_ids) or [s.group.chat_id for s in code.slots.select_related("group")][:1]
    if not chat_ids:
        raise Conflict(_("the group code has no group"), field="group_code_id", code="group_code_empty")
    enqueue_call(account=code.account, method="add_join_way",
                 payload={"chat_ids": chat_ids[:JOIN_WAY_CHATS_MAX], "state": state, "remark": state[:30],
                          REF: {"share_state": state}},
                 key=f"add_join_way:share:{code.account_id}:{state}")


def _share_way_seen(call: OutboundCall, config_id: str, qr_code: str) -> bool:
    state = str(call.payload.get(REF, {}).get("share_state", ""))
    if not state:
        return False
    for listener in _SHARE_LISTENERS:
        listener(state, config_id, qr_code)
    if config_id and not qr_code:
        enqueue_call(account=call.account, method="get_join_way",
                     payload={"config_id": config_id, REF: {"share_state": state}},
                     key=f"get_join_way:share:{call.account_id}:{state}")
    return True


@on_success("add_join_way")
def _join_way_created(call: OutboundCall, result: dict[str, Any]) -> None:
    config_id = str(result.get("config_id", ""))
    if _share_way_seen(call, config_id, ""):
        return
    code_id = call.payload.get(REF, {}).get("group_code_id")
    GroupCode.objects.filter(pk=code_id).update(config_id=config_id, status=GroupCodeStatus.ACTIVE)
    code = GroupCode.objects.filter(pk=code_id).select_related("account").first()
    if code is None or not config_id:
        return
    # add_join_way answers only the config_id; the QR comes from get_join_way.
    enqueue_call(account=code.account, method="get_join_way",
                 payload={"config_id": config_id, REF: {"group_code_id": code.pk}},
                 key=f"get_join_way:{code.pk}:{config_id}")
    if list(call.payload.get("chat_ids", [])) != list(code.active_chat_ids):  # rolled while the way was being made
        _push(code)


@on_failure("add_join_way")
def _join_way_failed(call: OutboundCall, exc: WecomError) -> None:
    GroupCode.objects.filter(pk=call.payload.get(REF, {}).get("group_code_id")).update(status=GroupCodeStatus.FAILED)


@on_success("get_join_way")
def _join_way_read(call: OutboundCall, result: dict[str, Any]) -> None:
    if _share_way_seen(call, str(result.get("config_id", "") or call.payload.get("config_id", "")),
                       str(result.get("qr_code", ""))[:500]):
        return
    GroupCode.objects.filter(pk=call.payload.get(REF, {}).get("group_code_id")).update(
        qr_code=str(result.get("qr_code", ""))[:500]
    )


# ---------------------------------------------------------------------------------------------------------------
# Roll-over


def _live_counts(group_ids: Sequence[int]) -> dict[int, int]:
    """Live members per group, counted from the membership stints in one query."""
    rows = (
        GroupMembership.objects.filter(group_id__in=list(group_ids), left_at__isnull=True)
        .values("group_id")
        .annotate(n=Count("id"))
    )
    return {r["group_id"]: r["n"] for r in rows}


def _seats(code: GroupCode) -> list[tuple[schedules.Seat, CustomerGroup]]:
    """The code's groups in its order, each with its live members, its cap (its own, else the code's) and hours."""
    slots = list(code.slots.select_related("group").order_by("sort", "id"))
    counts = _live_counts([s.group_id for s in slots])
    return [
        (schedules.Seat(group_id=s.group_id, chat_id=s.group.chat_id, members=counts.get(s.group_id, 0),
                        cap=s.cap or code.cap, hours=tuple(s.hours or ()), alive=s.group.status == GroupStatus.ACTIVE),
         s.group)
        for s in slots
    ]


def _plan(code: GroupCode, at: datetime | None = None) -> tuple[list[str], CustomerGroup | None, bool]:
    """(the chat ids the join way should list, the current group, whether every group is full) at `at`: the open
    groups inside their hours, in the code's order (schedules.open_seats)."""
    seats = _seats(code)
    if not seats:
        return [], None, True
    chosen, full = schedules.open_seats([seat for seat, _group in seats], at or now())
    groups = {seat.group_id: group for seat, group in seats}
    return [seat.chat_id for seat in chosen[:JOIN_WAY_CHATS_MAX]], groups[chosen[0].group_id], full


def _push(code: GroupCode) -> None:
    if not code.config_id or code.status != GroupCodeStatus.ACTIVE or not code.active_chat_ids:
        return
    enqueue_call(
        account=code.account,
        method="update_join_way",
        payload={"config_id": code.config_id, "chat_ids": list(code.active_chat_ids), "state": code.state,
                 "remark": code.name[:30]},
        key=f"update_join_way:{code.pk}:{code.rolls}:{','.join(code.active_chat_ids)}"[:191],
    )


def roll(code_id: int, *, at: datetime | None = None) -> GroupCode | None:
    """Inside the caller's transaction: lock the code, recount, and point the join way at the groups open at `at`
    (now by default). Opens a staff notice when every group is full and resolves it when one is open again."""
    return _roll(code_id, at=at)[0]


def _roll(code_id: int, *, at: datetime | None) -> tuple[GroupCode | None, bool]:
    code = GroupCode.objects.select_for_update().select_related("account").filter(pk=code_id).first()
    if code is None or code.status == GroupCodeStatus.DISABLED:
        return code, False
    chat_ids, current, full = _plan(code, at)
    if full:
        _notify_full(code, current)
    else:
        GroupCodeNotice.objects.filter(code=code, resolved_at__isnull=True).update(resolved_at=now())
    if chat_ids != list(code.active_chat_ids) or (current and current.pk != code.current_group_id):
        code.active_chat_ids, code.current_group = chat_ids, current
        code.rolls += 1  # the row is locked: no lost update
        code.save(update_fields=["active_chat_ids", "current_group", "rolls"])
        _push(code)
        return code, True
    return code, False


def roll_timed(*, at: datetime | None = None) -> int:
    """Periodic (the WeCom sweep, every minute): codes whose groups have hours follow them as the hours open and
    close; how many join ways changed. Each code in its own short transaction."""
    when = at or now()
    changed = 0
    ids = GroupCode.objects.filter(timed=True, status=GroupCodeStatus.ACTIVE).values_list("pk", flat=True)
    for code_id in list(ids):
        with transaction.atomic():
            changed += _roll(code_id, at=when)[1]
    return changed


def _notify_full(code: GroupCode, last: CustomerGroup | None) -> None:
    message = f"All groups of the group code {code.name!r} are full (each at its cap): create a group"
    try:
        with transaction.atomic():
            GroupCodeNotice.objects.create(code=code, staff=last.owner if last else None, message=message[:255])
    except IntegrityError:
        pass  # already asked; the open notice stands


# ---------------------------------------------------------------------------------------------------------------
# Counting (called by groups.py inside the callback's transaction)


def _bump_day(code_id: int, day: date, **counts: int) -> None:
    row, _ignored = GroupCodeDay.objects.get_or_create(code_id=code_id, day=day)
    GroupCodeDay.objects.filter(pk=row.pk).update(**{k: F(k) + v for k, v in counts.items()})


def code_of_group(group: CustomerGroup) -> int | None:
    return GroupCodeSlot.objects.filter(group=group).values_list("code_id", flat=True).first()


def count_joins(group: CustomerGroup, member_ids: Sequence[str], *, member_type: int, scene: int | None,
                at: datetime) -> int:
    """Members who joined `group` through a QR: one join each for the group's code (none if already counted)."""
    code_id = code_of_group(group)
    if code_id is None or member_type != MemberType.EXTERNAL or scene not in (JOIN_SCENE_QR, None):
        return 0
    counted = 0
    for member_id in member_ids:
        try:
            with transaction.atomic():
                GroupCodeJoin.objects.create(code_id=code_id, group=group, member_id=member_id, joined_at=at)
        except IntegrityError:  # a replayed callback, or a rejoin: counted before
            GroupCodeJoin.objects.filter(code_id=code_id, group=group, member_id=member_id).update(left_at=None)
            continue
        counted += 1
    if counted:
        _bump_day(code_id, local_day(at), joins=counted)
    return counted


def count_quits(group: CustomerGroup, member_ids: Sequence[str], *, at: datetime) -> int:
    code_id = code_of_group(group)
    if code_id is None:
        return 0
    quits = GroupCodeJoin.objects.filter(
        code_id=code_id, group=group, member_id__in=list(member_ids), left_at__isnull=True
    ).update(left_at=at)
    if quits:
        _bump_day(code_id, local_day(at), quits=quits)
    return quits


def after_member_change(group: CustomerGroup) -> None:
    """A group's membership changed: re-plan its code (if any)."""
    code_id = code_of_group(group)
    if code_id is not None:
        roll(code_id)


def record_scan(*, config_id: str, visitor: str) -> GroupCode | None:
    """The landing page of a code was opened: one scan today unless this visitor opened it today already."""
    code = GroupCode.objects.filter(config_id=config_id).exclude(config_id="").first()
    if code is None:
        return None
    day = local_day(now())
    try:
        with transaction.atomic():
            GroupCodeScan.objects.create(code=code, day=day, visitor=visitor[:64])
            _bump_day(code.pk, day, scans=1)
    except IntegrityError:
        pass
    return code


# ---------------------------------------------------------------------------------------------------------------
# Editing


@transaction.atomic
def add_groups(*, scope: Scope, code_id: int, group_ids: Sequence[int], actor: Actor = None) -> GroupCode:
    """Append groups to a code (what staff do after a "create a group" notice); the way rolls onto them."""
    code = GroupCode.objects.select_for_update().filter(pk=code_id, enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("group code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    groups = _code_groups(scope, code.account_id, group_ids, code=code)
    existing = set(code.slots.values_list("group_id", flat=True))
    new = [g for g in groups if g.pk not in existing]
    if len(existing) + len(new) > MAX_GROUPS_PER_CODE:
        raise ValidationFailed(
            _("at most %(MAX_GROUPS_PER_CODE)s groups per code") % {"MAX_GROUPS_PER_CODE": MAX_GROUPS_PER_CODE},
            field="group_ids",
            code="too_many_groups",
        )
    last = code.slots.order_by("-sort").values_list("sort", flat=True).first()
    _insert_slots(code, new, start=(last + 1) if last is not None else 0)
    roll(code.pk)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_code.add_groups",
                 target_type="group_code", target_id=code.pk, summary=",".join(str(g.pk) for g in new))
    return code


@transaction.atomic
def disable_group_code(*, scope: Scope, code_id: int, actor: Actor = None) -> GroupCode:
    """Stop the code: the join way is deleted and its groups are free for another code; its counts stay."""
    code = GroupCode.objects.select_for_update().filter(pk=code_id, enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("group code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    if code.status == GroupCodeStatus.DISABLED:
        return code
    if code.config_id:
        enqueue_call(account=code.account, method="del_join_way", payload={"config_id": code.config_id},
                     key=f"del_join_way:{code.pk}")
    code.slots.all().delete()
    GroupCodeNotice.objects.filter(code=code, resolved_at__isnull=True).update(resolved_at=now())
    code.status = GroupCodeStatus.DISABLED
    code.save(update_fields=["status"])
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_code.disable",
                 target_type="group_code", target_id=code.pk)
    return code


# ---------------------------------------------------------------------------------------------------------------
# Schedules: per group of a code, its own cap and the hours it takes joiners


@dataclasses.dataclass(frozen=True)
class GroupScheduleIn:
    group_id: int
    cap: int | None = None
    hours: Sequence[Mapping[str, Any]] = dataclasses.field(default_factory=tuple)


def _clean_schedules(code: GroupCode, items: Sequence[GroupScheduleIn]
                     ) -> list[tuple[GroupCodeSlot, int | None, list[dict[str, Any]]]]:
    slots = {s.group_id: s for s in code.slots.all()}
    seen: set[int] = set()
    out = []
    for index, item in enumerate(items):
        if item.group_id in seen:
            raise ValidationFailed(_("a group is listed twice"), field="groups", index=index, code="duplicate")
        seen.add(item.group_id)
        slot = slots.get(item.group_id)
        if slot is None:
            raise ValidationFailed(_("group %(group_id)s is not a group of this code") % {"group_id": item.group_id},
                                   field="groups", index=index, code="not_in_code")
        try:
            cap = None if item.cap is None else _clean_cap(item.cap)
            hours = schedules.clean_windows(item.hours, field="groups")
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, field="groups", index=index, code=exc.code) from exc
        out.append((slot, cap, hours))
    return out


@transaction.atomic
def set_group_schedules(*, scope: Scope, code_id: int, groups: Sequence[GroupScheduleIn],
                        actor: Actor = None) -> GroupCode:
    """Replace the code's per-group schedules: each listed group's own cap (none: the code's) and hours (none:
    always); a group not listed goes back to the code's cap and no hours. The join way follows at once and, while
    any group has hours, every minute (roll_timed)."""
    code = GroupCode.objects.select_for_update().filter(pk=code_id, enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("group code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    if code.status == GroupCodeStatus.DISABLED:
        raise ValidationFailed(_("the group code is disabled"), field="code_id", code="disabled")
    clean = _clean_schedules(code, groups)
    given = {slot.pk: (cap, hours) for slot, cap, hours in clean}
    slots = list(code.slots.all())
    for slot in slots:
        slot.cap, slot.hours = given.get(slot.pk, (None, []))
    GroupCodeSlot.objects.bulk_update(slots, ["cap", "hours"])
    code.timed = any(slot.hours for slot in slots)
    code.save(update_fields=["timed"])
    roll(code.pk)
    audit.record(
        enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_code.schedules",
        target_type="group_code", target_id=code.pk,
        summary=audit.text(N_("%(hours)s groups with hours, %(caps)s with their own cap"),
                           hours=sum(1 for s in slots if s.hours), caps=sum(1 for s in slots if s.cap is not None)),
    )
    return code
