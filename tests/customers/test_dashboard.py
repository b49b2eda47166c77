from __future__ import annotations

from datetime import UTC, datetime

from siyu.customers import queries
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.factories import CustomerFactory


def test_new_per_day_counts_by_shanghai_calendar_day(org: Org) -> None:
    # 15:59 UTC is 23:59 in Shanghai (still the 22nd); 16:00 UTC is midnight (the 23rd).
    for moment in (
        datetime(2026, 11, 22, 15, 59, tzinfo=UTC),
        datetime(2026, 11, 22, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 3, 0, tzinfo=UTC),
        datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        datetime(2026, 9, 1, 1, 0, tzinfo=UTC),  # older than 30 days: not in the series
    ):
        CustomerFactory.create(enterprise=org.enterprise, created_at=moment)

    board = queries.dashboard(Scope.hq(org.enterprise.pk), at=datetime(2026, 11, 24, 4, 0, tzinfo=UTC))

    assert board.new_by_day == [("2026-11-22", 1), ("2026-11-23", 2), ("2026-11-24", 1)]
    assert board.total == 5
