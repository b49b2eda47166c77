"""Best sending hour from a hand-made history: weights 3 (paid order), 2 (reply), 1 (click), Shanghai clock hours,
ties to the earlier hour, only the last 90 days, only customers in the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from siyu.content import queries
from siyu.customers.models import Customer, Event
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
_n = [0]


def _event(customer: Customer, name: str, utc: datetime) -> None:
    _n[0] += 1
    Event.objects.create(enterprise_id=customer.enterprise_id, customer=customer, name=name, occurred_at=utc,
                         idempotency_key=f"best-{_n[0]}")


def test_weighted_hours_in_shanghai(org: Org) -> None:
    a, b, c, d = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(4))
    for customer in (a, b, c, d):
        RelationshipFactory.create(customer=customer, staff=org.n1_staff)
    # a: three clicks at 20:xx Shanghai (12:xx UTC) = 3; one paid order at 09:xx Shanghai (01:xx UTC) = 3 -> tie: 9.
    for minute in (5, 20, 40):
        _event(a, "page_viewed", datetime(2026, 12, 1, 12, minute, tzinfo=UTC))
    _event(a, "order_paid", datetime(2026, 11, 30, 1, 30, tzinfo=UTC))
    # b: two replies at 23:xx Shanghai (15:xx UTC) beat three clicks at 07:xx (23:xx UTC the day before) -> 4 vs 3.
    _event(b, "message_received", datetime(2026, 12, 2, 15, 0, tzinfo=UTC))
    _event(b, "message_received", datetime(2026, 12, 3, 15, 59, tzinfo=UTC))
    for day in (1, 2, 3):
        _event(b, "product_viewed", datetime(2026, 11, day, 23, 10, tzinfo=UTC))
    # c: only history older than 90 days and events that say nothing about attention -> absent.
    _event(c, "order_paid", datetime(2026, 8, 1, 12, 0, tzinfo=UTC))
    _event(c, "tag_added", datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    hq = scope_for_staff(org.hq)
    assert queries.best_sending_hours(hq, at=NOW) == {a.pk: 9, b.pk: 23}
    assert queries.best_sending_hours(hq, [b.pk, c.pk], at=NOW) == {b.pk: 23}
    assert queries.best_sending_hours(scope_for_staff(org.n2_staff), at=NOW) == {}  # not their customers


def test_the_api_answers_for_a_customer_in_scope(org: Org, hq_api: Client, staff_api: Client) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    RelationshipFactory.create(customer=customer, staff=org.n1_staff)
    _event(customer, "order_paid", datetime.now(UTC).replace(hour=12, minute=0))
    assert staff_api.get(f"/api/content/customers/{customer.pk}/best-hour").json() == {
        "customer_id": customer.pk, "hour": 20}
    stranger = CustomerFactory.create(enterprise=org.enterprise)
    assert staff_api.get(f"/api/content/customers/{stranger.pk}/best-hour").status_code == 404
    assert hq_api.get(f"/api/content/customers/{stranger.pk}/best-hour").json()["hour"] is None


def test_a_segments_members_spread_over_the_day(org: Org, hq_api: Client, staff_api: Client) -> None:
    from siyu.audiences.models import Segment, SegmentMembership

    a, b, c, d, outsider = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(5))
    for customer in (a, b, c, d, outsider):
        RelationshipFactory.create(customer=customer, staff=org.n1_staff)
    now = datetime.now(UTC)
    day = now.replace(minute=0, second=0, microsecond=0)
    _event(a, "order_paid", day.replace(hour=12))  # 20:00 Shanghai
    _event(b, "page_viewed", day.replace(hour=12))  # 20:00
    _event(c, "message_received", day.replace(hour=1))  # 09:00
    # d: no history; outsider: history, but not in the segment
    _event(outsider, "order_paid", day.replace(hour=3))
    segment = Segment.objects.create(enterprise=org.enterprise, name="冬季名单", kind="static", rule={})
    for customer in (a, b, c, d):
        SegmentMembership.objects.create(segment=segment, customer=customer, entered_at=now)
    SegmentMembership.objects.create(segment=segment, customer=outsider, entered_at=now, left_at=now)
    answer = hq_api.get(f"/api/content/segments/{segment.pk}/best-hours").json()
    expected = [0] * 24
    expected[20], expected[9] = 2, 1
    assert answer == {"hours": expected, "busiest_hour": 20, "without_history": 1, "total": 4}
    # n2's staff see none of these customers; another segment id is a 404
    assert staff_api.get(f"/api/content/segments/{segment.pk}/best-hours").json()["total"] == 4
    n2 = scope_for_staff(org.n2_staff)
    assert queries.segment_best_hours(n2, segment.pk).total == 0
    assert hq_api.get("/api/content/segments/999999/best-hours").status_code == 404
