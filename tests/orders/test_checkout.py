"""Placing orders through the service: the stored breakdown, stock, coupon and the customer's log. Totals are worked
by hand from the shop in helpers.py."""

from __future__ import annotations

import pytest

from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers.models import Event
from siyu.orders.models import Order, OrderLine
from siyu.promotions import services as promotions
from siyu.promotions.models import Coupon
from siyu.promotions.services import FullReductionInput
from siyu.storefront.services import cart, checkout
from tests.orders.helpers import ADDRESS, Shop, later, line


def test_an_order_keeps_its_breakdown_and_takes_stock_and_the_coupon(shop: Shop) -> None:
    coupon = shop.coupon()
    order = shop.order(line(shop.tissue, 3), line(shop.pan), coupon=coupon)
    # 3 × 19.90 + 299.00 = 358.70; 满50减10 → 348.70; free shipping from 99.
    assert (order.list_total_fen, order.coupon_discount_fen, order.shipping_fen, order.amount_fen) == (
        35870, 1000, 0, 34870)
    assert order.status == "pending_payment" and order.currency == "CNY"
    # The ¥10 is spread by amount: 59.70/358.70 of it is 1.6643 → 1.66, the pan takes the remaining 8.34.
    lines = list(OrderLine.objects.filter(order=order).order_by("index").values_list(
        "name", "quantity", "unit_price_fen", "coupon_discount_fen", "payable_fen"))
    assert lines == [("抽纸", 3, 1990, 166, 5804), ("不粘锅", 1, 29900, 834, 29066)]
    assert order.breakdown["payable_fen"] == 34870 and len(order.breakdown["lines"]) == 2
    assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (47, 4)
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == ("used", order.pk)
    event = Event.objects.get(customer=shop.customer, name="order_created")
    assert event.idempotency_key == f"order_created:{order.pk}"
    assert event.properties["amount_fen"] == 34870 and event.properties["items"] == 4


def test_shipping_is_charged_under_the_free_threshold(shop: Shop) -> None:
    order = shop.order(line(shop.tissue, 2))
    assert (order.list_total_fen, order.shipping_fen, order.amount_fen) == (3980, 1000, 4980)


def test_pickup_is_free_and_needs_a_store(shop: Shop) -> None:
    with pytest.raises(ValidationFailed) as info:
        shop.order(line(shop.tissue), fulfillment="pickup")
    assert (info.value.code, info.value.field) == ("required", "store_id")
    order = shop.order(line(shop.tissue), fulfillment="pickup", store_id=shop.org.store_n1.pk)
    assert (order.shipping_fen, order.amount_fen, order.store_id) == (0, 1990, shop.org.store_n1.pk)


def test_preview_and_placement_agree_with_full_reduction_and_coupon(shop: Shop) -> None:
    promotions.create_full_reduction(scope=shop.hq, data=FullReductionInput(
        name="满199减20/满299减40", tiers=[(19900, 2000), (29900, 4000)], starts_at=later(-60), ends_at=later(600)))
    coupon = shop.coupon()
    data = shop.checkout(line(shop.tissue, 3), line(shop.pan), coupon=coupon)
    preview = checkout.preview_checkout(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, data=data)
    order = checkout.place_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, data=data)
    # 358.70 reaches 满299 → -40 (66.6/33.34 split: 6.66 and 33.34); coupon on 318.70 → -10 (1.66 / 8.34).
    assert (preview.reduction_discount.fen, preview.coupon_discount.fen, preview.payable.fen) == (4000, 1000, 30870)
    assert order.breakdown == preview.as_dict()
    assert (order.reduction_discount_fen, order.coupon_discount_fen, order.amount_fen) == (4000, 1000, 30870)
    payable = list(OrderLine.objects.filter(order=order).order_by("index").values_list(
        "reduction_discount_fen", "coupon_discount_fen", "payable_fen"))
    assert payable == [(666, 166, 5138), (3334, 834, 25732)]


def test_stock_runs_out_and_the_shortfall_writes_nothing(shop: Shop) -> None:
    shop.order(line(shop.pan, 3))
    orders_before = Order.objects.count()
    with pytest.raises(Conflict) as info:
        shop.order(line(shop.tissue), line(shop.pan, 3))
    assert (info.value.code, info.value.field) == ("out_of_stock", "lines[1].quantity")
    assert Order.objects.count() == orders_before
    assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (50, 2)


def test_unknown_sku_and_bad_quantity(shop: Shop) -> None:
    with pytest.raises(NotFound) as info:
        shop.order(cart.LineInput(quantity=1, sku_id=999999))
    assert info.value.code == "unknown_sku"
    with pytest.raises(ValidationFailed) as info2:
        shop.order(line(shop.tissue, -1))
    assert (info2.value.code, info2.value.field) == ("invalid_quantity", "lines[0].quantity")
    assert not Order.objects.exists()


def test_a_delivery_needs_an_address(shop: Shop) -> None:
    data = checkout.CheckoutInput(lines=[line(shop.tissue)], address={"name": "张三", "phone": "138"})
    with pytest.raises(ValidationFailed) as info:
        checkout.place_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, data=data)
    assert info.value.field == "address.detail"
    data = checkout.CheckoutInput(lines=[line(shop.tissue)], address={**ADDRESS, "phone": "12345"})
    with pytest.raises(ValidationFailed) as info2:
        checkout.place_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, data=data)
    assert (info2.value.field, info2.value.code) == ("address.phone", "invalid_phone")
    assert not Order.objects.exists() and shop.stock(shop.tissue) == 50


def test_the_same_idempotency_key_returns_the_first_order(shop: Shop) -> None:
    data = shop.checkout(line(shop.tissue))
    first = checkout.place_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, data=data,
                                 idempotency_key="tap-1")
    again = checkout.place_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, data=data,
                                 idempotency_key="tap-1")
    assert again.pk == first.pk and Order.objects.count() == 1 and shop.stock(shop.tissue) == 49


def test_checking_out_the_cart_empties_it(shop: Shop) -> None:
    cart.add_to_cart(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, line=line(shop.tissue, 2))
    cart.add_to_cart(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, line=line(shop.tissue, 1))
    cart.add_to_cart(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, line=line(shop.pan))
    assert [(x.sku_id, x.quantity) for x in cart.cart_lines(customer_id=shop.customer.pk)] == [
        (shop.tissue.pk, 3), (shop.pan.pk, 1)]
    order = checkout.place_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                 data=checkout.CheckoutInput(address=ADDRESS))
    assert order.list_total_fen == 35870
    assert cart.cart_lines(customer_id=shop.customer.pk) == []
    with pytest.raises(ValidationFailed) as info:
        checkout.place_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                             data=checkout.CheckoutInput(address=ADDRESS))
    assert info.value.code == "empty_cart"


def test_a_stale_staff_link_keeps_campaign_and_channel_code(shop: Shop) -> None:
    attribution = checkout.Attribution(staff_id=shop.org.n1_staff.pk, campaign="双11", channel_state="qr-n1")
    order = shop.order(line(shop.tissue), attribution=attribution)
    assert (order.staff_id, order.campaign, order.channel_state) == (shop.org.n1_staff.pk, "双11", "qr-n1")
    gone = checkout.Attribution(staff_id=987654, campaign="双11", channel_state="qr-x")
    order2 = shop.order(line(shop.tissue), attribution=gone)
    assert (order2.staff_id, order2.campaign, order2.channel_state) == (None, "双11", "qr-x")
    event = Event.objects.get(name="order_created", properties__order_id=order.pk)
    assert (event.staff_id, event.campaign) == (shop.org.n1_staff.pk, "双11")


def test_coupon_problems_are_refused_before_anything_is_written(shop: Shop) -> None:
    expired = shop.coupon("old", now=later(-60 * 24 * 9))  # issued 9 days ago, valid 7 days
    with pytest.raises(ValidationFailed) as info:
        shop.order(line(shop.pan), coupon=expired)
    assert (info.value.code, info.value.field) == ("coupon_expired", "coupon_id")
    other = Coupon.objects.get(pk=shop.coupon("ok").pk)
    with pytest.raises(ValidationFailed) as info2:
        shop.order(line(shop.tissue), coupon=other)  # ¥19.90 does not reach ¥50
    assert info2.value.code == "threshold_not_met"
    assert not Order.objects.exists() and shop.stock(shop.pan) == 5
    assert Coupon.objects.get(pk=other.pk).status == "available"
