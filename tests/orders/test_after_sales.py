"""After-sales: refund only and return-and-refund, amounts from the stored breakdown, stock and coupons back."""

from __future__ import annotations

import pytest
from django.utils import timezone

from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.customers.models import Event
from siyu.orders.models import AfterSale, Order, OrderLine
from siyu.orders.services import after_sale as orders_after_sale
from siyu.orders.services import states
from siyu.orders.services.after_sale import RefundLineInput
from siyu.org.scope import scope_for_staff
from siyu.promotions.models import Coupon
from tests.orders.helpers import Shop, line, paid


def _request(shop: Shop, order: Order, kind: str = "refund_only", lines: list[RefundLineInput] | None = None,
             reason: str = "不想要了") -> AfterSale:
    return orders_after_sale.request_refund(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                   order_id=order.pk, kind=kind, reason=reason, lines=lines)


def _refund(after_sale: AfterSale, ref: str = "rf-1") -> AfterSale:
    return orders_after_sale.complete_refund(after_sale_id=after_sale.pk, refunded_at=timezone.now(), refund_ref=ref)


def test_a_full_refund_before_shipping_returns_everything(shop: Shop) -> None:
    order = shop.order(line(shop.tissue, 2))
    paid(shop, order)
    request = _request(shop, order)
    # 2 × 19.90 = 39.80 + 10.00 shipping; nothing shipped yet, so the shipping comes back too.
    assert (request.amount_fen, request.shipping_fen, request.status) == (4980, 1000, "requested")
    orders_after_sale.approve_refund(scope=shop.hq, after_sale_id=request.pk)
    done = _refund(request)
    assert done.status == "refunded"
    order.refresh_from_db()
    assert (order.status, order.refunded_fen, order.paid_fen) == ("refunded", 4980, 4980)
    assert shop.stock(shop.tissue) == 50
    names = list(Event.objects.filter(customer=shop.customer, name__startswith="refund_").values_list("name",
                                                                                                      flat=True))
    assert names == ["refund_requested", "refund_completed"]


def test_the_coupon_comes_back_with_a_full_refund(shop: Shop) -> None:
    coupon = shop.coupon()
    order = shop.order(line(shop.pan), coupon=coupon)
    paid(shop, order)
    request = _request(shop, order)
    assert request.amount_fen == 28900
    orders_after_sale.approve_refund(scope=shop.hq, after_sale_id=request.pk)
    _refund(request)
    assert Coupon.objects.get(pk=coupon.pk).status == "available"


def test_partial_refunds_add_up_to_the_line_exactly(shop: Shop) -> None:
    coupon = shop.coupon()
    order = shop.order(line(shop.tissue, 3), line(shop.pan), coupon=coupon)  # tissue line pays 58.04 for 3
    paid(shop, order)
    tissue = OrderLine.objects.get(order=order, index=0)
    first = _request(shop, order, lines=[RefundLineInput(line_id=tissue.pk, quantity=1)])
    assert first.amount_fen == 1934  # 5804 × 1 // 3
    orders_after_sale.approve_refund(scope=shop.hq, after_sale_id=first.pk)
    _refund(first, "rf-a")
    second = _request(shop, order, lines=[RefundLineInput(line_id=tissue.pk, quantity=2)])
    assert second.amount_fen == 5804 - 1934
    orders_after_sale.approve_refund(scope=shop.hq, after_sale_id=second.pk)
    _refund(second, "rf-b")
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == ("paid", 5804)  # the pan is still to ship
    assert shop.stock(shop.tissue) == 50 and shop.stock(shop.pan) == 4
    with pytest.raises(ValidationFailed) as info:
        _request(shop, order, lines=[RefundLineInput(line_id=tissue.pk, quantity=1)])
    assert info.value.code == "invalid_quantity"


def test_return_and_refund_waits_for_the_goods(shop: Shop) -> None:
    order = shop.order(line(shop.tissue, 2))
    paid(shop, order)
    with pytest.raises(ValidationFailed) as info:
        _request(shop, order, kind="return_refund")
    assert info.value.code == "nothing_to_return"
    states.ship_order(scope=shop.hq, order_id=order.pk)
    request = _request(shop, order, kind="return_refund")
    assert (request.amount_fen, request.shipping_fen) == (3980, 0)  # shipped: the postage is not refunded
    orders_after_sale.approve_refund(scope=shop.hq, after_sale_id=request.pk)
    with pytest.raises(Conflict) as info2:
        _refund(request)
    assert info2.value.code == "invalid_transition"
    assert shop.stock(shop.tissue) == 48
    orders_after_sale.mark_returned(scope=shop.hq, after_sale_id=request.pk, tracking_no="YT1")
    assert shop.stock(shop.tissue) == 50
    _refund(request)
    assert Order.objects.get(pk=order.pk).status == "refunded"


def test_one_open_request_per_order_and_rejections_say_why(shop: Shop) -> None:
    order = shop.order(line(shop.tissue))
    paid(shop, order)
    request = _request(shop, order)
    with pytest.raises(Conflict) as info:
        _request(shop, order)
    assert info.value.code == "after_sale_open"
    with pytest.raises(Conflict) as info2:
        states.ship_order(scope=shop.hq, order_id=order.pk)
    assert info2.value.code == "after_sale_open"
    with pytest.raises(ValidationFailed):
        orders_after_sale.reject_refund(scope=shop.hq, after_sale_id=request.pk, reason=" ")
    with pytest.raises(PermissionDenied):
        orders_after_sale.approve_refund(scope=scope_for_staff(shop.org.n1_staff), after_sale_id=request.pk)
    rejected = orders_after_sale.reject_refund(scope=shop.hq, after_sale_id=request.pk, reason="已发出")
    assert (rejected.status, rejected.reject_reason) == ("rejected", "已发出")
    with pytest.raises(Conflict):
        orders_after_sale.approve_refund(scope=shop.hq, after_sale_id=request.pk)
    assert _request(shop, order).status == "requested"  # a new request is possible after a rejection


def test_unpaid_orders_are_cancelled_not_refunded(shop: Shop) -> None:
    order = shop.order(line(shop.tissue))
    with pytest.raises(Conflict) as info:
        _request(shop, order)
    assert info.value.code == "invalid_transition"
    assert not AfterSale.objects.exists()


def test_a_refund_recorded_twice_counts_once(shop: Shop) -> None:
    order = shop.order(line(shop.pan))
    paid(shop, order)
    request = _request(shop, order)
    orders_after_sale.approve_refund(scope=shop.hq, after_sale_id=request.pk)
    _refund(request, "rf-9")
    _refund(request, "rf-9")
    assert Order.objects.get(pk=order.pk).refunded_fen == 29900
