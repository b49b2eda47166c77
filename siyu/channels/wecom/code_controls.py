"""Setting a channel code's controls: its members with their work schedules, backups and daily caps, its auto-accept
hours and the nicknames that get no welcome (the rules are in schedules.py). The contact way on WeCom follows through
the outbox (`rebalance`), and the periodic sweep keeps it following as shifts and hours pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.wecom import channel_codes, schedules
from siyu.channels.wecom.models import ChannelCode, ChannelCodeStaff, CodeStatus
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import NotFound, ValidationFailed
from siyu.org.scope import Scope


@dataclass(frozen=True)
class MemberIn:
    staff_id: int
    is_backup: bool = False
    daily_cap: int | None = None
    shifts: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


def _clean_members(scope: Scope, members: Sequence[MemberIn]) -> list[tuple[Any, MemberIn, list[dict[str, Any]]]]:
    if len({m.staff_id for m in members}) != len(members):
        raise ValidationFailed(_("a staff member is listed twice"), field="members", code="duplicate")
    found = channel_codes._code_staff(scope, [m.staff_id for m in members], None)  # noqa: SLF001 (same package)
    if not any(not m.is_backup for m in members):
        raise ValidationFailed(_("a code needs at least one member who is not a backup"), field="members",
                               code="no_primary")
    out = []
    for index, (staff, member) in enumerate(zip(found, members, strict=True)):
        if member.daily_cap is not None and not 1 <= member.daily_cap <= 10000:
            raise ValidationFailed(_("a daily cap is 1 to 10000"), field="members", index=index, code="bad_cap")
        try:
            shifts = schedules.clean_windows(member.shifts, field="members")
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, field="members", index=index, code=exc.code) from exc
        out.append((staff, member, shifts))
    return out


@transaction.atomic
def set_code_controls(
    *,
    scope: Scope,
    code_id: int,
    members: Sequence[MemberIn],
    auto_accept_windows: Sequence[Mapping[str, Any]] = (),
    no_welcome_nicknames: Sequence[str] = (),
    actor: Actor = None,
) -> ChannelCode:
    """Replace the code's member list (order = hand-out order) and its controls; push the new hand-out to WeCom."""
    code = ChannelCode.objects.select_for_update().filter(pk=code_id, enterprise_id=scope.enterprise_id).first()
    if code is None:
        raise NotFound(_("channel code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    if code.status == CodeStatus.DISABLED:
        raise ValidationFailed(_("the code is disabled"), field="code_id", code="disabled")
    clean = _clean_members(scope, members)
    windows = schedules.clean_windows(auto_accept_windows, field="auto_accept_windows")
    code.auto_accept_windows = windows
    code.no_welcome_nicknames = schedules.clean_nicknames(no_welcome_nicknames)
    code.timed = bool(windows) or any(shifts or member.daily_cap is not None for _s, member, shifts in clean)
    code.save(update_fields=["auto_accept_windows", "no_welcome_nicknames", "timed"])
    ChannelCodeStaff.objects.filter(code=code).exclude(staff_id__in=[s.pk for s, _m, _w in clean]).delete()
    for sort, (staff, member, shifts) in enumerate(clean):
        ChannelCodeStaff.objects.update_or_create(
            code=code, staff=staff,
            defaults={"sort": sort, "is_backup": member.is_backup, "daily_cap": member.daily_cap, "shifts": shifts},
        )
    channel_codes.rebalance(code)
    audit.record(
        enterprise_id=scope.enterprise_id, actor=actor, action="wecom.code.controls", target_type="channel_code",
        target_id=code.pk,
        summary=audit.text(N_("%(members)s members, %(backups)s backups, %(windows)s auto-accept windows, "
                              "%(nicknames)s nicknames"), members=len(clean),
                           backups=sum(m.is_backup for _s, m, _w in clean), windows=len(windows),
                           nicknames=len(code.no_welcome_nicknames)),
    )
    return code
