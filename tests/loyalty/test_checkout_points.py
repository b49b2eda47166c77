"""Points paying part of an order at checkout, through the pricing engine. Worked by hand from the shop in
tests/orders/helpers.py (tissue ¥19.90, pan ¥299.00, free shipping from ¥99) and a programme that earns 1 point per
yuan at 1 fen a point, available at once (no return window), and takes 100 points for ¥1 at checkout (150 in some
tests), up to 50% of the goods. The customer starts with 5,000 points from an HQ adjustment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.errors import Conflict, ValidationFailed
from siyu.loyalty import queries, services
from siyu.loyalty.models import LotSource, OperationKind, PointsLot, PointsOperation
from siyu.orders.models import Order, OrderStatus
from siyu.orders.services import states
from siyu.storefront.services import checkout
from tests.conftest import Org
from tests.loyalty.helpers import ledger_matches_lots, liability, lots_consistent, pay, refund
from tests.orders.helpers import Shop, build_shop, line

pytestmark = pytest.mark.django_db


def program(shop: Shop, rate: int, share: int = 50) -> None:
    services.configure_program(scope=shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=0, expiry_days=30,
        checkout_points_per_yuan=rate, checkout_max_percent=share))


def setup(org: Org, *, rate: int = 100, start: int = 5000) -> Shop:
    shop = build_shop(org)
    program(shop, rate)
    if start:
        services.adjust(scope=shop.hq, customer_id=shop.customer.pk, points=start, reason="start", key="start")
    return shop


def balance(shop: Shop) -> int:
    return queries.balance(shop.enterprise_id, shop.customer.pk)


def test_points_pay_part_of_the_goods_and_show_in_the_breakdown(org: Org) -> None:
    shop = setup(org)
    preview = checkout.preview_checkout(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                        data=shop.checkout(line(shop.pan, 1), points=3000))
    shown = preview.as_dict()
    assert (shown["goods_payable_fen"], shown["points_used"], shown["points_discount_fen"], shown["shipping_fen"],
            shown["payable_fen"]) == (29900, 3000, 3000, 0, 26900)
    assert shown["lines"][0]["points_discount_fen"] == 3000 and shown["lines"][0]["payable_fen"] == 26900
    assert [p["kind"] for p in shown["promotions"] if p["applied"]] == ["free_shipping", "points"]
    assert balance(shop) == 5000  # a preview writes nothing
    order = shop.order(line(shop.pan, 1), points=3000)
    assert order.amount_fen == 26900 and order.breakdown["points_used"] == 3000
    assert balance(shop) == 2000 and liability(shop) == 2000
    spent = PointsOperation.objects.get(kind=OperationKind.CHECKOUT)
    assert (spent.key, spent.order_id, spent.points) == (f"checkout:{order.pk}", order.pk, 3000)
    pay(order)  # earns on the money paid: floor(26900 / 100) = 269
    assert PointsLot.objects.get(key=f"order:{order.pk}").points == 269
    assert balance(shop) == 2269
    ledger_matches_lots(shop)


def test_the_share_caps_the_points_and_the_fewest_points_pay_the_fen(org: Org) -> None:
    shop = setup(org, start=50000)
    capped = checkout.preview_checkout(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                       data=shop.checkout(line(shop.pan, 1), points=20000))
    assert (capped.points_used, capped.points_discount_fen) == (14950, 14950)  # 50% of ¥299.00
    program(shop, 150)
    fewer = checkout.preview_checkout(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                      data=shop.checkout(line(shop.tissue, 5), points=1000))
    # 1000 points at 150 a yuan pay floor(1000 × 100 / 150) = 666 fen; 999 points pay those 666 fen
    assert (fewer.points_used, fewer.points_discount_fen, fewer.payable_fen) == (999, 666, 9950 - 666)


def test_more_points_than_held_or_not_accepted_is_refused_and_writes_nothing(org: Org) -> None:
    shop = setup(org)
    stock = shop.stock(shop.pan)
    with pytest.raises(Conflict) as short:
        shop.order(line(shop.pan, 1), points=5001)
    assert (short.value.code, short.value.field) == ("insufficient_points", "points")
    with pytest.raises(ValidationFailed) as negative:
        shop.order(line(shop.pan, 1), points=-1)
    assert negative.value.code == "invalid_points"
    assert not Order.objects.exists() and shop.stock(shop.pan) == stock
    assert not PointsOperation.objects.filter(kind=OperationKind.CHECKOUT).exists() and balance(shop) == 5000
    program(shop, 0)
    with pytest.raises(ValidationFailed) as refused:
        shop.order(line(shop.pan, 1), points=100)
    assert refused.value.code == "points_not_accepted" and not Order.objects.exists()


def test_a_cancelled_or_expired_unpaid_order_gives_every_point_back(org: Org) -> None:
    shop = setup(org)
    first = shop.order(line(shop.pan, 1), points=3000)
    states.cancel_by_customer(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, order_id=first.pk)
    assert balance(shop) == 5000
    back = PointsLot.objects.get(source=LotSource.RETURNED)
    assert (back.key, back.points, back.order_id) == (f"checkout-cancel:{first.pk}", 3000, first.pk)
    second = shop.order(line(shop.tissue, 5), points=2000)  # cap: 50% of ¥99.50 = 4975 fen; 2000 points = ¥20
    assert second.amount_fen == 9950 - 2000 + 0 and balance(shop) == 3000
    expired = states.expire_unpaid_orders(now=timezone.now() + timedelta(days=1))
    assert expired == 1 and Order.objects.get(pk=second.pk).status == OrderStatus.CANCELLED
    assert balance(shop) == 5000
    states.expire_unpaid_orders(now=timezone.now() + timedelta(days=2))  # nothing more
    assert PointsLot.objects.filter(source=LotSource.RETURNED).count() == 2
    lots_consistent(shop.customer.pk)
    ledger_matches_lots(shop)


def test_refunds_give_the_points_back_in_proportion_and_all_of_them_in_the_end(org: Org) -> None:
    shop = setup(org, rate=150)
    order = pay(shop.order(line(shop.tissue, 5), line(shop.pan, 1), points=3000))
    # 3000 points at 150 a yuan = 2000 fen over the lines 9950 : 29900 -> 499.37 / 1500.63: 499 and 1501
    lines = {x.sku_id: x for x in order.lines.all()}
    tissue, pan = lines[shop.tissue.pk], lines[shop.pan.pk]
    assert (tissue.payable_fen, pan.payable_fen, order.amount_fen) == (9950 - 499, 29900 - 1501, 37850)
    assert balance(shop) == 2000 + 94 + 283  # earned on the money: floor(9451 / 100), floor(28399 / 100)
    refund(shop, order, {pan.pk: 1}, "r1")  # 28399 of 37850 fen back: floor(3000 × 28399 / 37850) = 2250 points
    assert list(PointsLot.objects.filter(source=LotSource.RETURNED).values_list("points", flat=True)) == [2250]
    refund(shop, order, {tissue.pk: 5}, "r2")  # the rest of the money: the rest of the points
    assert sorted(PointsLot.objects.filter(source=LotSource.RETURNED).values_list("points", flat=True)) == [
        750, 2250]
    assert balance(shop) == 5000  # the 377 earned went back with the refunds
    lots_consistent(shop.customer.pk)
    ledger_matches_lots(shop)
