"""Asia/Shanghai (UTC+8, no daylight saving) decides what a "day" is; expected instants are computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from siyu.core.timeutil import day_bounds, local_day, week_start


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_shanghai_day_bounds_are_eight_hours_before_utc_midnight() -> None:
    start, end = day_bounds(date(2026, 11, 24))
    assert start == utc(2026, 11, 23, 16, 0)
    assert end == utc(2026, 11, 24, 16, 0)
    assert start.tzinfo is not None and end.tzinfo is not None


def test_day_bounds_across_month_and_year_ends() -> None:
    assert day_bounds(date(2027, 1, 1)) == (utc(2026, 12, 31, 16, 0), utc(2027, 1, 1, 16, 0))
    assert day_bounds(date(2028, 3, 1)) == (utc(2028, 2, 29, 16, 0), utc(2028, 3, 1, 16, 0))


def test_local_day_switches_at_16_utc() -> None:
    assert local_day(utc(2026, 11, 23, 15, 59, 59)) == date(2026, 11, 23)
    assert local_day(utc(2026, 11, 23, 16, 0, 0)) == date(2026, 11, 24)


def test_local_day_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        local_day(datetime(2026, 11, 24, 12, 0))  # noqa: DTZ001 - the point of the test


def test_week_starts_monday_midnight_shanghai() -> None:
    # 2026-11-24 is a Tuesday; its week starts Monday 2026-11-23 00:00 Shanghai = 2026-11-22 16:00 UTC.
    assert week_start(utc(2026, 11, 24, 3, 0)) == utc(2026, 11, 22, 16, 0)
    # Monday 00:30 Shanghai is still that week; Sunday 23:59 Shanghai belongs to the week before.
    assert week_start(utc(2026, 11, 22, 16, 30)) == utc(2026, 11, 22, 16, 0)
    assert week_start(utc(2026, 11, 22, 15, 59)) == utc(2026, 11, 15, 16, 0)
