"""Channel codes (渠道活码): a contact-me QR per store, staff member or team, with auto tags, a welcome message (see
welcome.py) and a
`state` that records where every customer came from; per-code stats by day.

Routing among several staff is Siyu's: the code is one multi-member contact way, and Siyu keeps its member list to
the staff who should get the next customer (round robin: one at a time; daily cap: those under their cap today),
updating it through update_contact_way after each add. Scans are counted on Siyu's landing page for the code
(/channels/wecom/qr/<config_id>/), which is what the printed QR opens.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import schedules
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.models import (
    AssignMode,
    ChannelCode,
    ChannelCodeDay,
    ChannelCodeStaff,
    ChannelCodeStaffDay,
    CodeStatus,
    OutboundCall,
    ScanVisit,
)
from siyu.channels.wecom.outbox import REF, enqueue_call, on_failure, on_success
from siyu.channels.wecom.welcome import clean_attachments, clean_welcome
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.timeutil import local_day, now
from siyu.customers import queries as customer_queries
from siyu.org import queries as org_queries
from siyu.org.models import Staff
from siyu.org.scope import Scope

STATE_RE = re.compile(r"^[A-Za-z0-9_\-]{1,30}$")
MAX_CODE_STAFF = 100


def _clean_state(account: ChannelAccount, state: str) -> str:
    state = state.strip() or "c" + secrets.token_hex(6)
    if not STATE_RE.match(state):
        raise ValidationFailed(_("state is 1-30 letters, digits, _ or -"), field="state",
                               code="state_format")
    if ChannelCode.objects.filter(account=account, state=state).exists():
        raise Conflict(
            _("state %(state)s is already used by another code") % {"state": repr(state)},
            field="state", code="duplicate",
        )
    return state


def _code_staff(scope: Scope, staff_ids: Sequence[int], store_id: int | None) -> list[Staff]:
    visible = org_queries.staff(scope)
    if not staff_ids and store_id is not None:
        org_queries.get_store(scope, store_id)
        found = list(visible.filter(store_id=store_id, is_active=True).exclude(wecom_userid="").order_by("id"))
        if not found:
            raise ValidationFailed(_("this store has no active staff with a WeCom account"), field="store_id",
                                   code="store_no_active_staff")
        return found[:MAX_CODE_STAFF]
    if not staff_ids:
        raise ValidationFailed(_("pick at least one staff member or a store"), field="staff_ids",
                               code="staff_required")
    if len(staff_ids) > MAX_CODE_STAFF:
        raise ValidationFailed(
            _("at most %(MAX_CODE_STAFF)s staff per code") % {"MAX_CODE_STAFF": MAX_CODE_STAFF},
            field="staff_ids",
            code="too_many_staff",
        )
    by_id = {s.pk: s for s in visible.filter(id__in=staff_ids)}
    out = []
    for index, staff_id in enumerate(dict.fromkeys(staff_ids)):
        staff = by_id.get(staff_id)
        if staff is None:
            raise NotFound(_("staff %(staff_id)s not found") % {"staff_id": staff_id}, field="staff_ids", index=index)
        if not staff.wecom_userid or not staff.is_active:
            raise ValidationFailed(
                _("%(name)s has no active WeCom account") % {"name": staff.name},
                field="staff_ids", index=index,
                code="no_active_wecom_account",
            )
        out.append(staff)
    return out


def _check_tags(scope: Scope, tag_ids: Sequence[int]) -> list[int]:
    known = set(customer_queries.tags(scope).filter(id__in=tag_ids).values_list("id", flat=True))
    for index, tag_id in enumerate(tag_ids):
        if tag_id not in known:
            raise NotFound(_("unknown tag %(tag_id)s") % {"tag_id": tag_id}, field="tag_ids", index=index)
    return list(dict.fromkeys(tag_ids))


@transaction.atomic
def create_channel_code(
    *,
    scope: Scope,
    account_id: int,
    name: str,
    staff_ids: Sequence[int] = (),
    store_id: int | None = None,
    assign_mode: str = AssignMode.ALL,
    daily_cap: int | None = None,
    tag_ids: Sequence[int] = (),
    welcome_text: str = "",
    welcome_attachments: Sequence[Mapping[str, Any]] = (),
    state: str = "",
    skip_verify: bool = True,
    actor: Actor = None,
) -> ChannelCode:
    """Create a code and, through the outbox, its contact way on WeCom (the code is active once WeCom answers)."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(_("name is 1-64 characters"), field="name", code="name_length")
    if assign_mode not in AssignMode.values:
        raise ValidationFailed(
            _("assign_mode is one of %(join)s") % {"join": ', '.join(AssignMode.values)},
            field="assign_mode",
            code="unknown_assign_mode",
        )
    if assign_mode == AssignMode.DAILY_CAP and (daily_cap is None or daily_cap < 1):
        raise ValidationFailed(_("a daily cap of at least 1 is needed"), field="daily_cap", code="daily_cap_range")
    members = _code_staff(scope, staff_ids, store_id)
    tags = _check_tags(scope, tag_ids)
    attachments = clean_attachments(welcome_attachments)
    text = clean_welcome(welcome_text)
    code = ChannelCode.objects.create(
        enterprise_id=scope.enterprise_id,
        account=account,
        name=name,
        state=_clean_state(account, state),
        store_id=store_id,
        assign_mode=assign_mode,
        skip_verify=skip_verify,
        live_skip_verify=skip_verify,
        welcome_text=text,
        welcome_attachments=attachments,
        created_by=audit.user_of(actor),
    )
    code.tags.set(tags)
    ChannelCodeStaff.objects.bulk_create(
        [
            ChannelCodeStaff(code=code, staff=staff, sort=index, daily_cap=daily_cap)
            for index, staff in enumerate(members)
        ]
    )
    users = [members[0].wecom_userid] if assign_mode == AssignMode.ROUND_ROBIN else [s.wecom_userid for s in members]
    code.active_userids = users
    code.save(update_fields=["active_userids"])
    enqueue_call(
        account=account,
        method="add_contact_way",
        payload={
            "users": users,
            "state": code.state,
            "remark": name[:30],
            "skip_verify": skip_verify,
            "type": 2,
            "scene": 2,
            REF: {"code_id": code.pk},
        },
        key=f"add_contact_way:{code.pk}",
    )
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="wecom.code.create", target_type="channel_code", target_id=code.pk, summary=name)
    return code


@on_success("add_contact_way")
def _contact_way_created(call: OutboundCall, result: dict[str, Any]) -> None:
    code_id = call.payload.get(REF, {}).get("code_id")
    ChannelCode.objects.filter(pk=code_id).update(
        config_id=result.get("config_id", ""), qr_code=result.get("qr_code", ""), status=CodeStatus.ACTIVE
    )


@on_failure("add_contact_way")
def _contact_way_failed(call: OutboundCall, exc: WecomError) -> None:
    ChannelCode.objects.filter(pk=call.payload.get(REF, {}).get("code_id")).update(status=CodeStatus.FAILED)


@transaction.atomic
def update_channel_code(
    *,
    scope: Scope,
    code_id: int,
    name: str | None = None,
    tag_ids: Sequence[int] | None = None,
    welcome_text: str | None = None,
    welcome_attachments: Sequence[Mapping[str, Any]] | None = None,
    actor: Actor = None,
) -> ChannelCode:
    code = ChannelCode.objects.select_for_update().filter(pk=code_id, enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("channel code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    if name is not None:
        if not 1 <= len(name.strip()) <= 64:
            raise ValidationFailed(_("name is 1-64 characters"), field="name", code="name_length")
        code.name = name.strip()
    if welcome_text is not None:
        code.welcome_text = clean_welcome(welcome_text)
    if welcome_attachments is not None:
        code.welcome_attachments = clean_attachments(welcome_attachments)
    code.save()
    if tag_ids is not None:
        code.tags.set(_check_tags(scope, tag_ids))
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="wecom.code.update", target_type="channel_code", target_id=code.pk)
    return code


def code_for_state(account: ChannelAccount, state: str) -> ChannelCode | None:
    if not state:
        return None
    return ChannelCode.objects.filter(account=account, state=state).first()


# ---------------------------------------------------------------------------------------------------------------
# Stats


def _bump_day(code: ChannelCode, day: date, **counts: int) -> None:
    row, _ignored = ChannelCodeDay.objects.get_or_create(code=code, day=day)
    ChannelCodeDay.objects.filter(pk=row.pk).update(**{k: F(k) + v for k, v in counts.items()})


def record_scan(*, config_id: str, visitor: str) -> ChannelCode | None:
    """The landing page of a code was opened: one scan today, unless this visitor already opened it today (Shanghai
    day). The visit row's unique key decides, so concurrent opens count once. Returns the code (for its QR) or None."""
    code = ChannelCode.objects.filter(config_id=config_id).exclude(config_id="").first()
    if code is None:
        return None
    day = local_day(now())
    try:
        with transaction.atomic():
            ScanVisit.objects.create(code=code, day=day, visitor=visitor[:64])
            _bump_day(code, day, scans=1)
    except IntegrityError:
        pass  # seen today: not another scan
    return code


def prune_scan_visits() -> int:
    """Periodic: visit rows of days before yesterday can no longer de-duplicate anything."""
    deleted, _ignored = ScanVisit.objects.filter(day__lt=local_day(now()) - timedelta(days=1)).delete()
    return deleted


def count_add(code: ChannelCode, staff: Staff | None, at: datetime) -> None:
    """Inside the callback's transaction: one add for the code and its staff member, then re-balance its members."""
    day = local_day(at)
    _bump_day(code, day, adds=1)
    if staff is not None:
        row, _ignored = ChannelCodeStaffDay.objects.get_or_create(code=code, staff=staff, day=day)
        ChannelCodeStaffDay.objects.filter(pk=row.pk).update(adds=F("adds") + 1)
    if code.assign_mode == AssignMode.ROUND_ROBIN:
        ChannelCode.objects.filter(pk=code.pk).update(rr_cursor=F("rr_cursor") + 1)
        code.refresh_from_db(fields=["rr_cursor"])
    rebalance(code)


def count_delete(code: ChannelCode, at: datetime) -> None:
    _bump_day(code, local_day(at), deletes=1)


def _desired(code: ChannelCode, at: datetime) -> tuple[list[str], bool]:
    """Who the contact way should lead to at `at`, and whether it adds without verification (schedules.py)."""
    rows = list(code.members.select_related("staff").filter(staff__is_active=True).order_by("sort", "id"))
    members = [
        schedules.Member(staff_id=m.staff_id, userid=m.staff.wecom_userid, sort=m.sort, is_backup=m.is_backup,
                         daily_cap=m.daily_cap, shifts=tuple(m.shifts or ()))
        for m in rows
    ]
    adds = dict(ChannelCodeStaffDay.objects.filter(code=code, day=local_day(at)).values_list("staff_id", "adds"))
    users = schedules.hand_out(members, adds=adds, at=at, round_robin=code.assign_mode == AssignMode.ROUND_ROBIN,
                               cursor=code.rr_cursor)
    skip = schedules.auto_accept(windows=code.auto_accept_windows or [], default=code.skip_verify, at=at)
    return users, skip


def rebalance(code: ChannelCode, *, at: datetime | None = None) -> bool:
    """Point the contact way at the staff who should get the next customer (and set its auto-accept); True when an
    update was queued. Each push is keyed by the code's push counter, so a retried sweep pushes a change once."""
    if not code.config_id or code.status != CodeStatus.ACTIVE:
        return False
    users, skip = _desired(code, at or now())
    if not users or (users == list(code.active_userids) and skip == code.live_skip_verify):
        return False
    ChannelCode.objects.filter(pk=code.pk).update(active_userids=users, live_skip_verify=skip,
                                                  push_seq=F("push_seq") + 1)
    code.refresh_from_db(fields=["active_userids", "live_skip_verify", "push_seq"])
    enqueue_call(
        account=code.account,
        method="update_contact_way",
        payload={"config_id": code.config_id, "users": users, "skip_verify": skip},
        key=f"update_contact_way:{code.pk}:{code.push_seq}",
    )
    return True


def _needs_sweep() -> Q:
    """Codes whose hand-out changes with the clock: daily caps reset at midnight, shifts and auto-accept hours
    (`timed` is set with the controls)."""
    return Q(assign_mode=AssignMode.DAILY_CAP) | Q(timed=True)


def rebalance_all(*, at: datetime | None = None) -> int:
    """Periodic (every minute): caps reset after midnight, shifts start and end, auto-accept hours open and close."""
    when = at or now()
    count = 0
    ids = ChannelCode.objects.filter(_needs_sweep(), status=CodeStatus.ACTIVE).values_list("pk", flat=True).distinct()
    for code_id in list(ids):
        with transaction.atomic():
            code = ChannelCode.objects.select_for_update().get(pk=code_id)
            count += rebalance(code, at=when)
    return count


@transaction.atomic
def disable_channel_code(*, scope: Scope, code_id: int, actor: Actor = None) -> ChannelCode:
    code = ChannelCode.objects.select_for_update().filter(pk=code_id, enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("channel code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    if code.status == CodeStatus.DISABLED:
        return code
    if code.config_id:
        enqueue_call(
            account=code.account,
            method="del_contact_way",
            payload={"config_id": code.config_id},
            key=f"del_contact_way:{code.pk}",
        )
    code.status = CodeStatus.DISABLED
    code.save(update_fields=["status"])
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="wecom.code.disable", target_type="channel_code", target_id=code.pk)
    return code


def code_choices() -> dict[str, Any]:
    return {"assign_modes": AssignMode.choices}
