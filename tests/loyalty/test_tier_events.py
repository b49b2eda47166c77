"""The evaluation's `tier_changed` events are written by one INSERT … SELECT from its history rows: each carries the
same key and properties the upgrade-on-payment path writes one by one, none is written twice, and a customer merged
away gets none. Numbers from the shop in tests/orders/helpers.py: the pan ¥299.00 (growth 299)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from siyu.core.errors import ValidationFailed
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, Event
from siyu.customers.services import EventRows
from siyu.loyalty import services
from siyu.loyalty.models import TierChange
from tests.conftest import Org
from tests.loyalty.helpers import pay, refund, setup_program
from tests.loyalty.test_tiers import setup_tiers
from tests.orders.helpers import build_shop, line

pytestmark = pytest.mark.django_db


def utc(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_the_evaluation_writes_each_change_as_an_event_with_the_upgrade_paths_shape(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop, window=0)
    setup_tiers(shop, window=30, grace=0)
    pay(shop.order(line(shop.pan, 1)), at=utc(1, 2), ref="p1")  # 299: silver, on payment
    second = pay(shop.order(line(shop.pan, 1)), at=utc(1, 3), ref="p2")  # 598: gold, on payment
    refund(shop, second, {second.lines.get().pk: 1}, "r1", at=utc(2, 2))
    evaluated = utc(3, 2)
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=evaluated)
    assert run is not None and run.downgraded == 1
    down = TierChange.objects.get(run=run)
    events = {e.idempotency_key: e for e in Event.objects.filter(name="tier_changed", customer=shop.customer)}
    ups = TierChange.objects.filter(run__isnull=True).order_by("id")
    assert set(events) == {f"tier-change:{c.pk}" for c in [*ups, down]}
    written = events[f"tier-change:{down.pk}"]
    assert written.properties == {"direction": "down", "from_tier": "gold", "to_tier": "silver", "value": 299}
    assert written.occurred_at == evaluated and written.enterprise_id == shop.enterprise_id
    by_payment = events[f"tier-change:{ups[1].pk}"]  # written one by one: the same shape
    assert by_payment.properties == {"direction": "up", "from_tier": "silver", "to_tier": "gold", "value": 598}


def test_a_customer_without_a_tier_gets_an_empty_from_tier_and_a_second_write_adds_nothing(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    setup_tiers(shop)
    pay(shop.order(line(shop.tissue, 5)))  # 99: below silver (100)
    setup_tiers(shop, tiers=(services.TierInput(code="silver", name="银卡", threshold=50), services.TierInput(
        code="gold", name="金卡", threshold=500)))
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id)
    assert run is not None and run.upgraded == 1
    change = TierChange.objects.get(run=run)
    event = Event.objects.get(name="tier_changed")
    assert (event.idempotency_key, event.properties) == (
        f"tier-change:{change.pk}", {"direction": "up", "from_tier": "", "to_tier": "silver", "value": 99})
    services._tier_events(run)  # the same rows again: keys already in the log are skipped
    assert Event.objects.filter(name="tier_changed").count() == 1


def test_rows_of_a_merged_away_customer_are_left_out(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    setup_tiers(shop)
    pay(shop.order(line(shop.pan, 1)))  # silver on payment: one history row, one event
    change = TierChange.objects.get()
    Event.objects.filter(name="tier_changed").delete()
    other = Customer.objects.create(enterprise_id=shop.enterprise_id, name="survivor", created_at=change.at)
    Customer.objects.filter(pk=shop.customer.pk).update(merged_into=other)
    rows = EventRows(source=f"{TierChange._meta.db_table} c", where="c.id = %s", params=(change.pk,),
                     customer="c.customer_id", occurred_at="c.at", key="'x:' || CAST(c.id AS VARCHAR(20))",
                     properties=(("direction", "c.direction"), ("value", "c.value")))
    assert customer_services.append_events_from(enterprise_id=shop.enterprise_id, name="tier_changed",
                                                rows=rows) == 0
    Customer.objects.filter(pk=shop.customer.pk).update(merged_into=None)
    assert customer_services.append_events_from(enterprise_id=shop.enterprise_id, name="tier_changed",
                                                rows=rows) == 1
    assert Event.objects.get(idempotency_key=f"x:{change.pk}").properties == {"direction": "up", "value": 299}


def test_properties_must_match_the_event_types_schema(org: Org) -> None:
    shop = build_shop(org)
    base = {"source": "loyalty_tierchange c", "params": (), "customer": "c.customer_id", "occurred_at": "c.at",
            "key": "'k'"}
    for properties, name in [((("value", "c.value"),), "tier_changed"),  # direction is required
                             ((("direction", "c.direction"), ("colour", "'red'")), "tier_changed"),  # not in it
                             ((("direction", "c.direction"),), "no_such_event")]:
        with pytest.raises(ValidationFailed):
            customer_services.append_events_from(enterprise_id=shop.enterprise_id, name=name,
                                                 rows=EventRows(properties=properties, **base))  # type: ignore[arg-type]
    assert not Event.objects.filter(name="tier_changed").exists()
