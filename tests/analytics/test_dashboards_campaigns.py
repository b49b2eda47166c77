"""The campaigns and journeys dashboard against hand computation on a small dataset of its own. Range: March 2026 in
Shanghai days (previous period 2026-01-29 .. 2026-02-28)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import count
from typing import Any

import pytest

from siyu.analytics import queries
from siyu.analytics.dashboards.framework import Table
from siyu.analytics.engine import CopyEngine
from siyu.automation.models import Enrollment, Journey, JourneyVersion, Step
from siyu.customers.models import Customer
from siyu.messaging.models import Campaign, Conversion, Delivery
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
    staff_a: Staff


def _campaign(enterprise: Enterprise, name: str, cost: int) -> Campaign:
    return Campaign.objects.create(enterprise=enterprise, name=name, audience_kind="list", channels=["wecom"],
                                   content={"wecom": "hi"}, cost_fen=cost)


def _deliver(campaign: Campaign, who: Customer, created: datetime, status: str, *, channel: str = "wecom",
             variant: str = "", staff: Staff | None = None, sent: datetime | None = None) -> Delivery:
    return Delivery.objects.create(campaign=campaign, enterprise_id=campaign.enterprise_id, customer=who,
                                   key=f"d{next(_seq)}", channel=channel, variant=variant, status=status, staff=staff,
                                   due_at=created, created_at=created, sent_at=sent)


def _convert(delivery: Delivery, fen: int, paid: datetime, touch: str = "last") -> None:
    Conversion.objects.create(enterprise_id=delivery.enterprise_id, delivery=delivery, campaign=delivery.campaign,
                              order_id=next(_seq), touch=touch, revenue_fen=fen, paid_at=paid)


def _enroll(version: JourneyVersion, who: Customer, entered: datetime, nodes: list[tuple[str, datetime]]) -> None:
    enrollment = Enrollment.objects.create(enterprise_id=who.enterprise_id, journey=version.journey, version=version,
                                           customer=who, entry_key=f"e{next(_seq)}", entered_at=entered)
    for node, at in nodes:
        Step.objects.create(enterprise_id=who.enterprise_id, enrollment=enrollment, journey_id_copy=version.journey_id,
                            node=node, kind="send", outcome="done", key=f"s{next(_seq)}", at=at)

pytestmark = pytest.mark.usefixtures("dashboards_uncached")


@pytest.fixture
def shop(db: None) -> Shop:
    enterprise = EnterpriseFactory.create(code="camp", name="Camp")
    region = RegionFactory.create(enterprise=enterprise)
    s1, s2 = StoreFactory.create(region=region), StoreFactory.create(region=region)
    a, b = data.staff(enterprise, Role.STORE_STAFF, s1), data.staff(enterprise, Role.STORE_STAFF, s2)
    m1, m2 = (data.customer(enterprise, created=sh(1, 1), store=s1, source="wecom") for _ in range(2))
    m3, m4, m5, m6 = (data.customer(enterprise, created=sh(1, 1), store=s2, source="wecom") for _ in range(4))
    spring, old = _campaign(enterprise, "Spring", 10000), _campaign(enterprise, "Old", 0)
    d1 = _deliver(spring, m1, sh(3, 10), "delivered", variant="A", staff=a, sent=sh(3, 10, 20, 30))
    _deliver(spring, m2, sh(3, 10), "sent", channel="sms", variant="B", sent=sh(3, 10, 9, 15))
    d3 = _deliver(spring, m3, sh(3, 10), "confirmed", variant="A", staff=b, sent=sh(3, 10, 20, 45))
    _deliver(spring, m4, sh(3, 10), "holdout")  # not reached
    _deliver(spring, m5, sh(3, 10), "failed", channel="sms")  # reached, not sent
    _deliver(spring, m6, sh(4, 1, 0, 10), "sent", sent=sh(4, 1, 0, 10))  # after the range
    _deliver(old, m1, sh(2, 20), "sent", sent=sh(2, 20))  # previous period
    _convert(d1, 30000, sh(3, 11, 21, 10))
    _convert(d1, 30000, sh(3, 11, 21, 10), touch="first")  # first-touch credit: not counted again
    _convert(d3, 5000, sh(3, 12, 8))
    journey = Journey.objects.create(enterprise=enterprise, name="Welcome", created_at=sh(1, 1), updated_at=sh(1, 1))
    version = JourneyVersion.objects.create(journey=journey, number=1, definition={}, created_at=sh(1, 1))
    _enroll(version, m1, sh(3, 5), [("n1", sh(3, 5, 10)), ("n2", sh(3, 6))])
    _enroll(version, m2, sh(3, 6), [("n1", sh(3, 6, 10))])
    _enroll(version, m3, sh(2, 1), [("n1", sh(2, 1, 10))])  # entered before the range
    other = EnterpriseFactory.create(code="camp-other", name="Other")
    x = data.customer(other, created=sh(1, 1), store=None, source="wecom")
    _convert(_deliver(_campaign(other, "Alien", 1), x, sh(3, 10), "delivered", sent=sh(3, 10)), 77700, sh(3, 11))
    return Shop(enterprise, data.staff(enterprise, Role.STORE_MANAGER, s1), a)


def keyed(t: Table) -> dict[str, list[Any]]:
    return {str(r[0]): r[1:] for r in t.rows}


def test_campaigns_by_dimension_hours_and_journeys(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(shop.enterprise.pk), "campaigns", MARCH, engine=engine)
    got = {f.key: (f.value, f.previous) for f in board.figures}
    # reached d1 d2 d3 d5 (not the holdout, not April's); before: Old's one delivery
    assert got["reach"] == (4, 1)
    assert got["sent"] == (3, 1) and got["delivered"] == (2, 0)
    assert got["converted"] == (2, 0) and got["conversion"][0] == 1.0  # d1, d3 of the 2 delivered
    assert got["revenue"] == (35000, 0)  # last touch only, not the other brand's 77700
    # reach, sent, delivered, converted, conversion, orders, revenue, cost, ROI
    assert keyed(table(board, "by_campaign"))["Spring"] == [4, 3, 2, 2, 1.0, 2, 35000, 10000, 2.5]
    variants = keyed(table(board, "by_variant"))
    assert variants["A"] == [2, 2, 2, 2, 1.0, 2, 35000] and variants["B"] == [1, 1, 0, 0, 0.0, 0, 0]
    channels = keyed(table(board, "by_channel"))
    assert channels["wecom"][:4] == [2, 2, 2, 2] and channels["sms"][:4] == [2, 1, 0, 0]
    assert keyed(table(board, "by_staff"))[shop.staff_a.name][6] == 30000
    hours = keyed(table(board, "hours"))
    assert (hours["09:00"], hours["20:00"], hours["21:00"], hours["08:00"]) == ([1, 0], [2, 0], [0, 1], [0, 1])
    journeys = [(r[2], r[3], r[4]) for r in table(board, "journeys").rows]
    assert journeys == [("", 2, 1.0), ("n1", 2, 1.0), ("n2", 1, 0.5)]  # m1, m2 entered in March


def test_campaigns_store_manager_scope(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(scope_for_staff(shop.manager), "campaigns", MARCH, engine=engine)
    got = {f.key: f.value for f in board.figures}
    assert (got["reach"], got["revenue"]) == (2, 30000)  # m1 and m2 of store s1
    assert len(table(board, "by_campaign").columns) == 8  # no cost or ROI outside HQ
