"""The users dashboard against hand computation on a small dataset of its own (expected values in the comments).
Range: March 2026 in Shanghai days; the start is 2026-03-01 00:00 and the end 2026-04-01 00:00 Shanghai time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import count

import pytest
from django.utils import translation

from siyu.analytics import queries
from siyu.analytics.dashboards.framework import Board
from siyu.analytics.engine import CopyEngine
from siyu.audiences.models import CustomerScore
from siyu.customers.models import Customer, Event
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


def _stage(who: Customer, at: datetime, before: str, after: str) -> None:
    Event.objects.create(enterprise_id=who.enterprise_id, customer=who, name="lifecycle_changed", occurred_at=at,
                         idempotency_key=f"lc:{next(_seq)}", properties={"from_stage": before, "to_stage": after})


def _tier(who: Customer, at: datetime, before: str, after: str) -> None:
    Event.objects.create(enterprise_id=who.enterprise_id, customer=who, name="tier_changed", occurred_at=at,
                         idempotency_key=f"tier:{next(_seq)}",
                         properties={"direction": "up", "from_tier": before, "to_tier": after, "value": 0})


def _score(who: Customer, cell: str, stage: str, score: float, orders: int, fen: int) -> None:
    CustomerScore.objects.create(customer=who, enterprise_id=who.enterprise_id, cell=cell, stage=stage,
                                 super_score=score, frequency=orders, monetary_fen=fen)

pytestmark = pytest.mark.usefixtures("dashboards_uncached")


@pytest.fixture
def shop(db: None) -> Shop:
    enterprise = EnterpriseFactory.create(code="users", name="Users")
    region = RegionFactory.create(enterprise=enterprise)
    s1, s2 = StoreFactory.create(region=region), StoreFactory.create(region=region)
    u1 = data.customer(enterprise, created=sh(2, 1), store=s1, source="wecom")
    _stage(u1, sh(2, 10), "new", "active")
    _stage(u1, sh(3, 15), "active", "silent")
    _tier(u1, sh(2, 5), "", "silver")
    _tier(u1, sh(3, 31, 23, 30), "silver", "gold")  # 23:30 on the last day: gold at the end
    _score(u1, "important_value", "silent", 90, 5, 50000)
    u2 = data.customer(enterprise, created=sh(2, 1), store=s1, source="wecom")
    _stage(u2, sh(4, 1, 0, 10), "at_risk", "active")  # after the end: at risk on both sides
    _score(u2, "general_win_back", "active", 50, 1, 3000)
    u3 = data.customer(enterprise, created=sh(2, 1), store=s2, source="wecom")
    _score(u3, "", "churned", 85, 0, 0)  # no change ever: its current stage on both sides
    u4 = data.customer(enterprise, created=sh(3, 10), store=s1, source="wecom")
    _stage(u4, sh(3, 20), "new", "active")
    _score(u4, "general_develop", "active", 10, 1, 2000)
    u5 = data.customer(enterprise, created=sh(1, 1), store=s2, source="wecom")
    _stage(u5, sh(3, 31, 23, 30), "churned", "won_back")
    _score(u5, "important_win_back", "won_back", 80, 2, 10000)
    other = EnterpriseFactory.create(code="users-other", name="Other")
    x = data.customer(other, created=sh(2, 1), store=None, source="wecom")
    _stage(x, sh(3, 3), "active", "churned")
    _score(x, "important_value", "churned", 99, 9, 999999)
    return Shop(enterprise, data.staff(enterprise, Role.STORE_MANAGER, s1))


def flows(board: Board, key: str) -> dict[tuple[str, str], int]:
    return {(r[0], r[1]): r[2] for r in table(board, key).rows}


def test_users_lifecycle_rfm_tiers_super(shop: Shop, engine: CopyEngine) -> None:
    with translation.override("en"):  # the RFM table labels the unscored cell in the viewer's language
        board = queries.dashboard(Scope.hq(shop.enterprise.pk), "users", MARCH, engine=engine)
    # u1 active -> silent; u2 at_risk both; u3 churned both; u4 added on 03-10 -> active; u5 churned -> won_back
    assert flows(board, "lifecycle") == {("active", "silent"): 1, ("at_risk", "at_risk"): 1,
                                         ("churned", "churned"): 1, ("not_in_pool", "active"): 1,
                                         ("churned", "won_back"): 1}
    got = {f.key: (f.value, f.previous) for f in board.figures}
    assert got["customers"] == (5, 4)
    assert got["active"] == (2, 1)  # end: u4 active, u5 won back; start: u1
    assert got["churned"] == (1, 2)  # end: u3; start: u3, u5
    assert got["moved"][0] == 2 and got["won_back"][0] == 1 and got["super_users"][0] == 3  # u1, u3, u5 (>= 80)
    assert flows(board, "tiers") == {("silver", "gold"): 1, ("none", "none"): 3, ("not_in_pool", "none"): 1}
    rfm = {r[0]: r[1:] for r in table(board, "rfm").rows}
    assert rfm["important_value"] == [1, 0.2, 50000, 5.0, 1]
    assert rfm["no purchase"][0] == 1 and rfm["important_win_back"][4] == 1
    assert sum(r[1] for r in table(board, "rfm").rows) == 5  # not the other enterprise's customer
    supers = [(r[0], r[1]) for r in table(board, "super_users").rows]
    assert [s for _c, s in supers] == [90.0, 85.0, 80.0]


def test_users_store_manager_scope(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(scope_for_staff(shop.manager), "users", MARCH, engine=engine)
    # store S1: u1, u2, u4
    assert flows(board, "lifecycle") == {("active", "silent"): 1, ("at_risk", "at_risk"): 1,
                                         ("not_in_pool", "active"): 1}
    assert [r[1] for r in table(board, "super_users").rows] == [90.0]
