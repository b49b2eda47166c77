"""Aware UTC in storage; Asia/Shanghai for display and for what a "day" is."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    return datetime.now(UTC)


def local_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(SHANGHAI).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of a Shanghai calendar day."""
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 Shanghai of the week holding `moment`, as UTC."""
    day = local_day(moment)
    return day_bounds(day - timedelta(days=day.weekday()))[0]
