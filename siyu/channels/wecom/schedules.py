"""Channel-code controls as pure rules: work schedules (which staff a code hands out by weekday and hour,
Asia/Shanghai), backup staff, auto-accept hours and the nicknames that get no welcome message.

A window is `{"days": [1..7], "start": "HH:MM", "end": "HH:MM"}` (ISO weekdays, Monday = 1; start inclusive, end
exclusive, "24:00" allowed; a shift over midnight is two windows). A member without windows is always on duty, so a
code without schedules behaves as before. The hand-out (`hand_out`) is:

1. the primary members who are on duty now and under their daily cap;
2. if none, the backup members who are on duty and under their cap;
3. if none, the one on-duty member with the fewest adds today (an overflow: the QR must keep working); if nobody is
   on duty at all, the member with the fewest adds.

Round robin takes one of that pool by the code's cursor; the other modes hand out the whole pool.

Group codes use the same windows per group (`open_seats`): the join way lists the groups under their cap and inside
their hours; when none is, the groups under their cap outside their hours (the QR must keep working); when every
group is full, the last live group (and the code asks staff for a new one).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed
from siyu.core.timeutil import SHANGHAI

MAX_WINDOWS = 21
MAX_NICKNAMES = 200
NICKNAME_MAX = 64
_TIME_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _minutes(raw: Any, *, field: str, index: int) -> int:
    match = _TIME_RE.match(str(raw or "").strip())
    minutes = int(match.group(1)) * 60 + int(match.group(2)) if match else -1
    if not 0 <= minutes <= 24 * 60:
        raise ValidationFailed(_("a time is HH:MM between 00:00 and 24:00"), field=field, index=index,
                               code="bad_time")
    return minutes


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def clean_windows(raw: Iterable[Mapping[str, Any]] | None, *, field: str) -> list[dict[str, Any]]:
    """Windows as stored: days sorted and unique, times as HH:MM; refusals name the field and the window's index."""
    items = list(raw or [])
    if len(items) > MAX_WINDOWS:
        raise ValidationFailed(_("at most %(n)s time windows") % {"n": MAX_WINDOWS}, field=field, code="too_many")
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValidationFailed(_("a window is {days, start, end}"), field=field, index=index,
                                   code="window_format")
        days = item.get("days")
        if (not isinstance(days, list) or not days
                or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in days)):
            raise ValidationFailed(_("days are weekdays 1 (Monday) to 7 (Sunday)"), field=field, index=index,
                                   code="bad_days")
        start = _minutes(item.get("start"), field=field, index=index)
        end = _minutes(item.get("end"), field=field, index=index)
        if start >= end:
            raise ValidationFailed(_("a window ends after it starts (split a night shift in two)"), field=field,
                                   index=index, code="bad_range")
        out.append({"days": sorted(set(days)), "start": _hhmm(start), "end": _hhmm(end)})
    return out


def parse_windows(text: str, *, field: str) -> list[dict[str, Any]]:
    """The console's notation: `1-5 09:00-18:00; 6,7 10:00-14:00` (one window per `;` or line)."""
    raw = []
    for index, part in enumerate(p.strip() for p in re.split(r"[;\n]", text or "")):
        if not part:
            continue
        match = re.match(r"^([\d,\-\s]+?)\s+(\S+)\s*-\s*(\S+)$", part)
        if match is None:
            raise ValidationFailed(_("write a window as 1-5 09:00-18:00"), field=field, index=index, code="bad_window")
        days: list[int] = []
        for chunk in match.group(1).replace(" ", "").split(","):
            bounds = chunk.split("-")
            if not all(b.isdigit() for b in bounds) or len(bounds) > 2:
                raise ValidationFailed(_("days are weekdays 1 (Monday) to 7 (Sunday)"), field=field, index=index,
                                       code="bad_days")
            low, high = int(bounds[0]), int(bounds[-1])
            days.extend(range(low, high + 1) if low <= high else [0])
        raw.append({"days": days, "start": match.group(2), "end": match.group(3)})
    return clean_windows(raw, field=field)


def format_windows(windows: Sequence[Mapping[str, Any]]) -> str:
    def days(ds: Sequence[int]) -> str:
        runs: list[list[int]] = []
        for d in ds:
            if runs and runs[-1][-1] == d - 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)

    return "; ".join(f"{days(w['days'])} {w['start']}-{w['end']}" for w in windows)


def in_windows(windows: Sequence[Mapping[str, Any]], at: datetime) -> bool:
    local = at.astimezone(SHANGHAI)
    minute, weekday = local.hour * 60 + local.minute, local.isoweekday()
    return any(
        weekday in w["days"] and int(w["start"][:2]) * 60 + int(w["start"][3:]) <= minute
        < int(w["end"][:2]) * 60 + int(w["end"][3:])
        for w in windows
    )


@dataclass(frozen=True)
class Member:
    staff_id: int
    userid: str
    sort: int = 0
    is_backup: bool = False
    daily_cap: int | None = None
    shifts: tuple[Mapping[str, Any], ...] = ()


def on_duty(member: Member, at: datetime) -> bool:
    return not member.shifts or in_windows(member.shifts, at)


def hand_out(members: Sequence[Member], *, adds: Mapping[int, int], at: datetime, round_robin: bool,
             cursor: int = 0) -> list[str]:
    """The WeCom userids the code should lead to at `at`, given today's adds per staff id (see the module doc)."""
    if not members:
        return []

    def free(m: Member) -> bool:
        return on_duty(m, at) and (m.daily_cap is None or adds.get(m.staff_id, 0) < m.daily_cap)

    pool = [m for m in members if not m.is_backup and free(m)] or [m for m in members if m.is_backup and free(m)]
    if not pool:
        awake = [m for m in members if on_duty(m, at)] or list(members)
        pool = [min(awake, key=lambda m: (adds.get(m.staff_id, 0), m.is_backup, m.sort))]
    if round_robin:
        return [pool[cursor % len(pool)].userid]
    return [m.userid for m in pool]


@dataclass(frozen=True)
class Seat:
    """A group of a group code as the roll-over sees it: its live members, its cap and its hours (none: always)."""

    group_id: int
    chat_id: str
    members: int
    cap: int
    hours: tuple[Mapping[str, Any], ...] = ()
    alive: bool = True

    def has_room(self) -> bool:
        return self.alive and self.members < self.cap

    def in_hours(self, at: datetime) -> bool:
        return not self.hours or in_windows(self.hours, at)


def open_seats(seats: Sequence[Seat], at: datetime) -> tuple[list[Seat], bool]:
    """(the groups a group code's join way should list at `at`, in the code's order; whether every group is full):
    the live groups under their cap and inside their hours; if none, those under their cap outside their hours (the
    QR must keep working); if none, the last live group (else the last group) and True."""
    room = [s for s in seats if s.has_room()]
    if not room:
        alive = [s for s in seats if s.alive]
        return (alive[-1:] or list(seats[-1:])), True
    return ([s for s in room if s.in_hours(at)] or room), False


def auto_accept(*, windows: Sequence[Mapping[str, Any]], default: bool, at: datetime) -> bool:
    """skip_verify now: inside an auto-accept window when the code has any, else the code's fixed setting."""
    return in_windows(windows, at) if windows else default


def normalize_nickname(name: str) -> str:
    return unicodedata.normalize("NFKC", name or "").strip().casefold()


def clean_nicknames(raw: Iterable[Any] | None) -> list[str]:
    names: list[str] = []
    for index, item in enumerate(raw or []):
        name = unicodedata.normalize("NFKC", str(item)).strip()
        if not name:
            continue
        if len(name) > NICKNAME_MAX:
            raise ValidationFailed(_("a nickname is at most 64 characters"), field="no_welcome_nicknames",
                                   index=index, code="too_long")
        if normalize_nickname(name) not in {normalize_nickname(n) for n in names}:
            names.append(name)
    if len(names) > MAX_NICKNAMES:
        raise ValidationFailed(_("at most %(n)s nicknames") % {"n": MAX_NICKNAMES}, field="no_welcome_nicknames",
                               code="too_many")
    return names


def welcome_withheld(nicknames: Sequence[str], name: str) -> bool:
    """A listed nickname (a competitor's probe account) gets no welcome: exact match, width and case ignored."""
    wanted = normalize_nickname(name)
    return bool(wanted) and any(normalize_nickname(n) == wanted for n in nicknames)
