"""The order state machine: each move from the right state only, stock and coupons given back on cancel, unpaid
orders expiring after the configured time (safely when run twice)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.errors import Conflict, NotFound
from siyu.customers.models import Event
from siyu.orders.models import Order
from siyu.orders.services import states
from siyu.org.scope import scope_for_staff
from siyu.promotions.models import Coupon
from tests.orders.helpers import Shop, later, line, paid


def _names(shop: Shop) -> list[str]:
    return list(Event.objects.filter(customer=shop.customer, name__startswith="order_").order_by("id").values_list(
        "name", flat=True))


def test_paid_shipped_completed_with_one_event_each(shop: Shop) -> None:
    order = shop.order(line(shop.tissue, 5))
    paid(shop, order)
    states.ship_order(scope=shop.hq, order_id=order.pk, carrier="SF", tracking_no="SF123")
    done = states.complete_order(scope=shop.hq, order_id=order.pk)
    assert (done.status, done.paid_fen, done.carrier, done.tracking_no) == ("completed", 9950, "SF", "SF123")
    assert _names(shop) == ["order_created", "order_paid", "order_shipped", "order_completed"]
    keys = set(Event.objects.filter(customer=shop.customer).values_list("idempotency_key", flat=True))
    assert {f"order_paid:{order.pk}", f"order_completed:{order.pk}"} <= keys


def test_a_payment_reported_twice_is_recorded_once(shop: Shop) -> None:
    order = shop.order(line(shop.tissue))
    paid(shop, order, "wx-1")
    again = paid(shop, order, "wx-1")
    assert again.status == "paid"
    assert _names(shop).count("order_paid") == 1
    with pytest.raises(Conflict) as info:
        paid(shop, order, "wx-2")  # a different payment for a paid order
    assert info.value.code == "invalid_transition"


@pytest.mark.parametrize("move", ["ship", "complete", "pickup"])
def test_unpaid_orders_cannot_be_fulfilled(shop: Shop, move: str) -> None:
    order = shop.order(line(shop.tissue))
    action = {"ship": states.ship_order, "complete": states.complete_order, "pickup": states.mark_picked_up}
    with pytest.raises(Conflict) as info:
        action[move](scope=shop.hq, order_id=order.pk)
    assert info.value.code == "invalid_transition"
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_paid_orders_cannot_be_cancelled_and_cancelled_ones_cannot_be_paid(shop: Shop) -> None:
    first = shop.order(line(shop.tissue))
    paid(shop, first)
    with pytest.raises(Conflict) as info:
        states.cancel_by_staff(scope=shop.hq, order_id=first.pk)
    assert info.value.code == "invalid_transition"
    with pytest.raises(Conflict):
        states.complete_order(scope=shop.hq, order_id=first.pk)  # paid but not shipped
    second = shop.order(line(shop.tissue))
    states.cancel_by_customer(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, order_id=second.pk)
    with pytest.raises(Conflict) as info2:
        paid(shop, second, "late")
    assert info2.value.code == "invalid_transition"


def test_a_pickup_order_is_handed_over_not_shipped(shop: Shop) -> None:
    order = shop.order(line(shop.tissue), fulfillment="pickup", store_id=shop.org.store_n1.pk)
    paid(shop, order)
    with pytest.raises(Conflict):
        states.ship_order(scope=shop.hq, order_id=order.pk)
    states.mark_picked_up(scope=shop.hq, order_id=order.pk)
    assert states.complete_order(scope=shop.hq, order_id=order.pk).status == "completed"


def test_cancelling_gives_back_stock_and_coupon(shop: Shop) -> None:
    coupon = shop.coupon()
    order = shop.order(line(shop.tissue, 3), line(shop.pan, 2), coupon=coupon)
    assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (47, 3)
    cancelled = states.cancel_by_customer(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                            order_id=order.pk)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "customer")
    assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (50, 5)
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == ("available", None)
    assert _names(shop) == ["order_created", "order_cancelled"]
    again = shop.order(line(shop.pan), coupon=coupon)  # the coupon works again
    assert again.coupon_discount_fen == 1000


def test_customers_only_reach_their_own_orders(shop: Shop) -> None:
    order = shop.order(line(shop.tissue))
    stranger = shop.customer.__class__.objects.create(enterprise=shop.org.enterprise, created_at=timezone.now())
    with pytest.raises(NotFound):
        states.cancel_by_customer(enterprise_id=shop.enterprise_id, customer_id=stranger.pk, order_id=order.pk)
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_staff_outside_the_order_cannot_move_it(shop: Shop) -> None:
    order = shop.order(line(shop.tissue), fulfillment="pickup", store_id=shop.org.store_n1.pk)
    paid(shop, order)
    with pytest.raises(NotFound):
        states.mark_picked_up(scope=scope_for_staff(shop.org.s1_staff), order_id=order.pk)
    done = states.mark_picked_up(scope=scope_for_staff(shop.org.n1_manager), order_id=order.pk)
    assert done.status == "picked_up"


def test_unpaid_orders_expire_after_the_timeout_once(shop: Shop) -> None:
    coupon = shop.coupon()
    unpaid = shop.order(line(shop.tissue, 4), line(shop.pan), coupon=coupon)
    settled = shop.order(line(shop.tissue, 1))
    paid(shop, settled)
    assert states.expire_unpaid_orders(now=later(29)) == 0
    assert Order.objects.get(pk=unpaid.pk).status == "pending_payment"
    assert states.expire_unpaid_orders(now=later(31)) == 1
    assert states.expire_unpaid_orders(now=later(32)) == 0  # a second worker or a repeat finds nothing
    expired = Order.objects.get(pk=unpaid.pk)
    assert (expired.status, expired.cancel_reason) == ("cancelled", "timeout")
    assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (49, 5)
    assert Coupon.objects.get(pk=coupon.pk).status == "available"
    assert Order.objects.get(pk=settled.pk).status == "paid"
    assert Event.objects.filter(name="order_cancelled", idempotency_key=f"order_cancelled:{unpaid.pk}").count() == 1


def test_the_timeout_is_configurable(shop: Shop, settings: object) -> None:
    settings.SIYU_ORDER_PAY_TIMEOUT_MINUTES = 5  # type: ignore[attr-defined]
    order = shop.order(line(shop.tissue))
    assert order.pay_deadline is not None
    assert abs((order.pay_deadline - order.created_at) - timedelta(minutes=5)) < timedelta(seconds=1)
    assert states.expire_unpaid_orders(now=later(6)) == 1


def test_expiry_works_in_batches(shop: Shop) -> None:
    for _ in range(5):
        shop.order(line(shop.tissue, 2))
    assert shop.stock(shop.tissue) == 40
    assert states.expire_unpaid_orders(now=later(31), batch_size=2) == 5
    assert shop.stock(shop.tissue) == 50
