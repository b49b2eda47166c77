"""The traffic dashboard and acquisition costs against hand computation on a small dataset of its own. Range: March
2026 in Shanghai days (previous period 2026-01-29 .. 2026-02-28)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from itertools import count
from typing import Any

import pytest

from siyu.analytics import queries, services
from siyu.analytics.dashboards.framework import Table
from siyu.analytics.engine import CopyEngine
from siyu.analytics.models import AcquisitionCost
from siyu.core.audit import AuditEntry
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.customers.models import Customer, Event, Relationship
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


def _add(who: Customer, staff: Staff, at: datetime, state: str, status: str = "active") -> None:
    Relationship.objects.create(customer=who, staff=staff, added_at=at, channel="wecom", state=state, status=status,
                                status_changed_at=at if status != "active" else None)


def _follow_oa(who: Customer, at: datetime, scene: str) -> None:
    Event.objects.create(enterprise_id=who.enterprise_id, customer=who, name="oa_followed", occurred_at=at,
                         idempotency_key=f"oa:{next(_seq)}", properties={"scene": scene})

pytestmark = pytest.mark.usefixtures("dashboards_uncached")


@pytest.fixture
def shop(db: None) -> Shop:
    enterprise = EnterpriseFactory.create(code="traffic", name="Traffic")
    region = RegionFactory.create(enterprise=enterprise)
    s1, s2 = StoreFactory.create(region=region, name="North"), StoreFactory.create(region=region, name="South")
    a, b = data.staff(enterprise, Role.STORE_STAFF, s1), data.staff(enterprise, Role.STORE_STAFF, s2)
    hq = Scope.hq(enterprise.pk)
    t1 = data.customer(enterprise, created=sh(3, 3), store=s1, source="wecom")
    _add(t1, a, sh(3, 3), "ad1")  # paid: ad1 has a cost in March
    t2 = data.customer(enterprise, created=sh(3, 4), store=s1, source="wecom")
    _add(t2, a, sh(3, 4), "free", "deleted_by_customer")
    t3 = data.customer(enterprise, created=sh(3, 5), store=s2, source="official_account")
    _follow_oa(t3, sh(3, 5), "poster")
    data.customer(enterprise, created=sh(3, 31, 23, 30), store=s2, source="platform")  # t4: paid (platform cost)
    data.customer(enterprise, created=sh(4, 1, 0, 10), store=s2, source="import")  # t5: after the range
    t6 = data.customer(enterprise, created=sh(2, 10), store=s1, source="import")  # previous period
    _add(t6, b, sh(3, 10), "ad1")  # an old customer adds b through ad1: not new to the pool
    _follow_oa(t6, sh(3, 12), "menu")
    data.customer(enterprise, created=sh(2, 20), store=s2, source="wecom")  # t7: previous period, paid (wecom cost)
    services.record_cost(scope=hq, day=date(2026, 3, 1), code_state="ad1", amount_fen=3000)
    services.record_cost(scope=hq, day=date(2026, 3, 20), code_state="ad1", amount_fen=1000)
    services.record_cost(scope=hq, day=date(2026, 3, 31), channel="platform", amount_fen=5000)
    services.record_cost(scope=hq, day=date(2026, 4, 1), channel="import", amount_fen=9999)  # outside
    services.record_cost(scope=hq, day=date(2026, 2, 15), channel="wecom", amount_fen=2000)  # previous period
    other = EnterpriseFactory.create(code="traffic-other", name="Other")
    data.customer(other, created=sh(3, 3), store=None, source="wecom")
    services.record_cost(scope=Scope.hq(other.pk), day=date(2026, 3, 3), channel="wecom", amount_fen=77700)
    return Shop(enterprise, data.staff(enterprise, Role.STORE_MANAGER, s1))


def keyed(t: Table) -> dict[str, list[Any]]:
    return {str(r[0]): r[1:] for r in t.rows}


def test_traffic_sources_paid_and_costs(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(shop.enterprise.pk), "traffic", MARCH, engine=engine)
    got = {f.key: (f.value, f.previous) for f in board.figures}
    # March: t1 (wecom, ad1: paid), t2 (wecom), t3 (OA), t4 (platform: paid); previous: t6 (import), t7 (wecom: paid)
    assert got["acquired"] == (4, 2)
    assert got["paid"] == (2, 1) and got["natural"] == (2, 1)
    assert got["natural_share"] == (0.5, 0.5)
    assert got["imported"] == (1, 1)  # t4 (platform); before: t6 (import)
    assert got["cost"] == (9000, 2000)  # ad1 3000 + 1000, platform 5000; not April's 9999 nor the other brand's
    assert got["cpa"][0] == 4500  # 9000 / 2 paid customers
    channels = keyed(table(board, "channels"))
    assert channels["wecom"] == [2, 1, 1, 1, 0.5]  # customers, previous, paid, natural, share
    assert channels["platform"][:4] == [1, 0, 1, 0]
    codes = keyed(table(board, "codes"))
    assert codes["ad1"] == [2, 2, 1, 0, 1.0]  # t1 and t6 added through it; t1 new to the pool
    assert codes["free"] == [1, 1, 1, 1, 0.0]  # t2, deleted since
    costs = {r[0]: r[2:] for r in table(board, "costs").rows}
    assert costs["ad1"] == [4000, 1, 4000]  # one new customer through ad1
    assert costs["platform"] == [5000, 1, 5000]
    assert keyed(table(board, "scenes")) == {"poster": [1], "menu": [1]}
    assert keyed(table(board, "stores")) == {"North": [2], "South": [2]}
    staff_adds = sorted(r[1] for r in table(board, "staff").rows)
    assert staff_adds == [1, 2]


def test_traffic_store_manager_sees_no_enterprise_spend(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(scope_for_staff(shop.manager), "traffic", MARCH, engine=engine)
    got = {f.key: f.value for f in board.figures}
    assert (got["acquired"], got["paid"]) == (2, 1)  # t1, t2 of store North
    assert "cost" not in got and all(t.key != "costs" for t in board.tables)
    assert keyed(table(board, "codes"))["ad1"][:3] == [2, 2, 1]  # t1 and t6 (home store North)


def test_record_cost_rules(shop: Shop) -> None:
    with pytest.raises(PermissionDenied):
        services.record_cost(scope=scope_for_staff(shop.manager), day=date(2026, 3, 1), channel="wecom",
                             amount_fen=1)
    hq = Scope.hq(shop.enterprise.pk)
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "channel"), ({"channel": "fax"}, "channel"), ({"code_state": "x" * 65}, "code_state"),
        ({"channel": "wecom", "amount_fen": -1}, "amount")]
    for kwargs, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            services.record_cost(scope=hq, day=date(2026, 3, 1), **{"amount_fen": 100, **kwargs})
        assert caught.value.field == field
    before = AcquisitionCost.objects.count()
    services.record_cost(scope=hq, day=date(2026, 3, 2), channel="sms", amount_fen=100, note="x")
    assert AcquisitionCost.objects.count() == before + 1
    assert AuditEntry.objects.filter(enterprise_id=shop.enterprise.pk, action="acquisition_cost.create").count() == 6
