"""The supervision dashboard against hand computation on a small dataset of its own. Range: March 2026 in Shanghai
days (previous period 2026-01-29 .. 2026-02-28). Regions R1 (stores s1, s2) and R2 (s3); staff a@s1, b@s2, c@s3."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import count
from typing import Any

import pytest

from siyu.analytics import queries
from siyu.analytics.dashboards.framework import Table
from siyu.analytics.engine import CopyEngine
from siyu.automation.models import StaffTask
from siyu.customers.models import Customer
from siyu.org.models import Enterprise, Role, Staff
from siyu.org.scope import Scope, scope_for_staff
from tests.analytics import dashboard_data as data
from tests.analytics.dashboard_data import table
from tests.factories import EnterpriseFactory, RegionFactory, StoreFactory

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}
sh = data.sh
_seq = count(1)


@dataclass
class Shop:
    enterprise: Enterprise
    manager: Staff


def _task(staff: Staff, who: Customer, due: datetime, done: datetime | None = None) -> None:
    StaffTask.objects.create(enterprise_id=staff.enterprise_id, staff=staff, store=staff.store, customer=who,
                             title="follow up", key=f"k{next(_seq)}", status="done" if done else "open", due_at=due,
                             created_at=sh(1, 1), done_at=done)

pytestmark = pytest.mark.usefixtures("dashboards_uncached")


@pytest.fixture
def shop(db: None) -> Shop:
    enterprise = EnterpriseFactory.create(code="sup", name="Sup")
    r1, r2 = RegionFactory.create(enterprise=enterprise, name="R1"), RegionFactory.create(enterprise=enterprise,
                                                                                        name="R2")
    s1, s2 = StoreFactory.create(region=r1, name="s1"), StoreFactory.create(region=r1, name="s2")
    s3 = StoreFactory.create(region=r2, name="s3")
    a, b, c = (data.staff(enterprise, Role.STORE_STAFF, s) for s in (s1, s2, s3))
    k1 = data.customer(enterprise, created=sh(3, 2), store=s1, source="wecom")
    data.follow(k1, a, sh(3, 2))
    data.order(k1, sh(3, 3), 10000)  # a converts k1
    k2 = data.customer(enterprise, created=sh(2, 1), store=s1, source="wecom")
    data.follow(k2, a, sh(2, 1), "deleted_by_customer", sh(3, 15))  # a deletion in March; a new contact before
    data.order(k2, sh(3, 10), 5000)  # k2 no longer follows a: not a's revenue
    k3 = data.customer(enterprise, created=sh(3, 1), store=s3, source="wecom")
    data.follow(k3, c, sh(3, 5))
    data.order(k3, sh(3, 4), 3000)  # before c added k3: revenue, not a conversion
    data.order(k3, sh(3, 20), 4000)  # after: k3 converted
    k4 = data.customer(enterprise, created=sh(3, 31, 23, 30), store=s2, source="wecom")
    data.follow(k4, b, sh(3, 31, 23, 30))  # 23:30 on the last day counts
    k5 = data.customer(enterprise, created=sh(4, 1, 0, 10), store=s2, source="wecom")
    data.follow(k5, b, sh(4, 1, 0, 10))  # the next day: not counted
    _task(a, k1, sh(3, 5), done=sh(3, 5, 10))  # on time
    _task(a, k1, sh(3, 10), done=sh(3, 11))  # late
    _task(a, k2, sh(3, 31, 23, 30))  # open past due: overdue
    _task(b, k4, sh(3, 20))  # overdue
    _task(b, k4, sh(4, 1, 0, 10))  # due after the range
    _task(c, k3, sh(3, 3), done=sh(3, 3, 9))  # on time
    _task(a, k2, sh(2, 20), done=sh(2, 19))  # previous period, on time
    other = EnterpriseFactory.create(code="sup-other", name="Other")
    x_store = StoreFactory.create(region=RegionFactory.create(enterprise=other))
    x_staff = data.staff(other, Role.STORE_STAFF, x_store)
    x = data.customer(other, created=sh(3, 2), store=x_store, source="wecom")
    data.follow(x, x_staff, sh(3, 2))
    _task(x_staff, x, sh(3, 6))
    return Shop(enterprise, data.staff(enterprise, Role.STORE_MANAGER, s1))


def keyed(t: Table) -> dict[str, list[Any]]:
    return {str(r[0]): r[1:] for r in t.rows}


def test_supervision_tasks_and_leaderboard(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(shop.enterprise.pk), "supervision", MARCH, engine=engine)
    got = {f.key: (f.value, f.previous) for f in board.figures}
    assert got["tasks"] == (5, 1)  # a 3, b 1, c 1; before: a's February task
    assert got["done_rate"] == (pytest.approx(3 / 5), 1.0)
    assert got["on_time_rate"] == (pytest.approx(2 / 5), 1.0)
    assert got["overdue"] == (2, 0)
    assert got["new_contacts"] == (3, 1)  # k1 (a), k3 (c), k4 (b); before: k2 (a)
    assert got["deletions"] == (1, 0)
    assert got["revenue"][0] == 17000  # k1 10000 (a), k3 3000 + 4000 (c)
    # tasks due, done, on time, overdue, completion, on time
    assert keyed(table(board, "tasks_region")) == {"R1": [4, 2, 1, 2, 0.5, 0.25], "R2": [1, 1, 1, 0, 1.0, 1.0]}
    stores = keyed(table(board, "tasks_store"))
    assert (stores["s1"][:4], stores["s2"][:4], stores["s3"][:4]) == ([3, 2, 1, 1], [1, 0, 0, 1], [1, 1, 1, 0])
    board_rows = {r[1]: r[2:] for r in table(board, "leaderboard").rows if r[2] or r[3] or r[6]}
    # new contacts, deletions, converted, conversion, revenue, orders
    assert board_rows == {"s1": [1, 1, 1, 1.0, 10000, 1], "s2": [1, 0, 0, 0.0, 0, 0], "s3": [1, 0, 1, 1.0, 7000, 2]}


def test_supervision_store_manager_sees_their_store(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(scope_for_staff(shop.manager), "supervision", MARCH, engine=engine)
    got = {f.key: f.value for f in board.figures}
    assert (got["tasks"], got["overdue"], got["new_contacts"], got["revenue"]) == (3, 1, 1, 10000)  # a's only
    assert set(keyed(table(board, "tasks_store"))) == {"s1"}
