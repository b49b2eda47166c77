"""Checkouts raced on PostgreSQL by threads with their own connections (SQLite serialises writers: skipped there).

50 customers check out 1 unit each of a flash-sale SKU with 10 flash units: exactly 10 orders, 10 flash units
sold, 10 units of stock taken, and every other checkout refused with out_of_stock and nothing written.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from siyu.catalog.models import Sku
from siyu.core.money import Money
from siyu.customers.models import Event
from siyu.orders.models import Order, OrderLine
from siyu.orders.services import states
from siyu.promotions import services as promotions
from siyu.promotions.models import Coupon, FlashSaleItem
from siyu.promotions.services import FlashItemInput, FlashSaleInput
from siyu.storefront.services import checkout
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.orders.helpers import build_shop, later, line
from tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")


def test_fifty_checkouts_for_ten_flash_units_sell_exactly_ten(org: Org) -> None:
    shop = build_shop(org)
    Sku.objects.filter(pk=shop.pan.pk).update(stock=100)
    sale = promotions.create_flash_sale(scope=shop.hq, data=FlashSaleInput(
        name="双11 秒杀", starts_at=later(-5), ends_at=later(60),
        items=[FlashItemInput(sku_id=shop.pan.pk, flash_price=Money(9900), flash_stock=10, per_customer_limit=1)]))
    item = FlashSaleItem.objects.get(flash_sale=sale)
    buyers = [CustomerFactory.create(enterprise=org.enterprise).pk for _ in range(50)]
    data = checkout.CheckoutInput(lines=[line(shop.pan, 1, flash_item_id=item.pk)], fulfillment="pickup",
                                  store_id=org.store_n1.pk)

    outcomes = race(50, lambda i: checkout.place_order(enterprise_id=org.enterprise.pk, customer_id=buyers[i],
                                                       data=data))

    assert outcomes == Counter({"ok": 10, "out_of_stock": 40})
    item.refresh_from_db()
    assert item.sold == 10
    assert Sku.objects.get(pk=shop.pan.pk).stock == 90
    assert Order.objects.count() == 10 and OrderLine.objects.count() == 10
    assert set(Order.objects.values_list("amount_fen", flat=True)) == {9900}
    assert len(set(Order.objects.values_list("customer_id", flat=True))) == 10
    assert Event.objects.filter(name="order_created").count() == 10


def test_fifty_checkouts_for_ten_units_of_stock(org: Org) -> None:
    shop = build_shop(org)
    Sku.objects.filter(pk=shop.pan.pk).update(stock=10)
    buyers = [CustomerFactory.create(enterprise=org.enterprise).pk for _ in range(50)]
    data = checkout.CheckoutInput(lines=[line(shop.pan, 1)], fulfillment="pickup", store_id=org.store_n1.pk)

    outcomes = race(50, lambda i: checkout.place_order(enterprise_id=org.enterprise.pk, customer_id=buyers[i],
                                                       data=data))

    assert outcomes == Counter({"ok": 10, "out_of_stock": 40})
    assert Sku.objects.get(pk=shop.pan.pk).stock == 0
    assert Order.objects.count() == 10


def test_carts_sharing_skus_in_either_order_sell_out_without_deadlocks(org: Org) -> None:
    """Each checkout takes both SKUs in one statement that locks them in id order, whatever the cart's order."""
    shop = build_shop(org)
    Sku.objects.filter(pk__in=[shop.tissue.pk, shop.pan.pk]).update(stock=20)
    buyers = [CustomerFactory.create(enterprise=org.enterprise).pk for _ in range(40)]
    carts = [checkout.CheckoutInput(lines=lines, fulfillment="pickup", store_id=org.store_n1.pk) for lines in (
        [line(shop.tissue, 1), line(shop.pan, 1)], [line(shop.pan, 1), line(shop.tissue, 1)])]

    outcomes = race(40, lambda i: checkout.place_order(enterprise_id=org.enterprise.pk, customer_id=buyers[i],
                                                       data=carts[i % 2]))

    assert outcomes == Counter({"ok": 20, "out_of_stock": 20})
    assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (0, 0)
    assert Order.objects.count() == 20 and OrderLine.objects.count() == 40
    assert Event.objects.filter(name="order_created").count() == 20


def test_ten_checkouts_racing_for_one_coupon_use_it_once(org: Org) -> None:
    shop = build_shop(org)
    coupon = shop.coupon()
    data = checkout.CheckoutInput(lines=[line(shop.tissue, 3)], coupon_id=coupon.pk, fulfillment="pickup",
                                  store_id=org.store_n1.pk)

    outcomes = race(10, lambda _i: checkout.place_order(enterprise_id=org.enterprise.pk,
                                                        customer_id=shop.customer.pk, data=data))

    assert outcomes == Counter({"ok": 1, "coupon_used": 9})
    order = Order.objects.get()
    assert order.coupon_discount_fen == 1000 and shop.stock(shop.tissue) == 47
    assert Coupon.objects.values_list("status", "order_id").get(pk=coupon.pk) == ("used", order.pk)
    assert Event.objects.filter(name="coupon_used").count() == 1


def test_two_workers_expire_each_order_once(org: Org) -> None:
    shop = build_shop(org)
    for _ in range(30):
        shop.order(line(shop.tissue, 1))
    assert shop.stock(shop.tissue) == 20
    counts: list[int] = []
    guard = threading.Lock()

    def work(_i: int) -> None:
        done = states.expire_unpaid_orders(now=later(40), batch_size=5)
        with guard:
            counts.append(done)

    assert race(4, work) == Counter({"ok": 4})
    assert sum(counts) == 30
    assert shop.stock(shop.tissue) == 50
    assert Event.objects.filter(name="order_cancelled").count() == 30
