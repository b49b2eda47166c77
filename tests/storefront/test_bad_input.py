"""Bad input at checkout: a clear 4xx with a code and the failing field, and nothing written (no order, no stock
taken, the coupon untouched, no event)."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.core.money import Money
from siyu.customers.models import Customer, Event
from siyu.orders.models import CartItem, Order
from siyu.promotions import services as promotions
from siyu.promotions.models import Coupon
from siyu.promotions.services import CouponTemplateInput
from tests.orders.helpers import ADDRESS, Shop, later
from tests.storefront.conftest import Phone


@pytest.fixture
def buyer(shop: Shop, phone: Phone) -> Customer:
    return Customer.objects.get(pk=phone.login("dora").json()["customer_id"])


def _nothing_written(shop: Shop, buyer: Customer) -> None:
    assert not Order.objects.exists()
    assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (50, 5)
    assert not Event.objects.filter(name__startswith="order_").exists()
    assert not Coupon.objects.filter(customer=buyer, status="used").exists()


def _place(phone: Phone, lines: list[dict[str, Any]], **extra: Any) -> tuple[int, dict[str, Any]]:
    response = phone.post("/api/storefront/orders", {"lines": lines, "address": ADDRESS, **extra})
    return response.status_code, response.json()


def test_unknown_sku(shop: Shop, phone: Phone, buyer: Customer) -> None:
    status, body = _place(phone, [{"sku_id": shop.tissue.pk, "quantity": 1}, {"sku_id": 987654, "quantity": 1}])
    assert (status, body["code"], body["field"], body["index"]) == (404, "unknown_sku", "lines[1].sku_id", 1)
    _nothing_written(shop, buyer)


def test_negative_quantity(shop: Shop, phone: Phone, buyer: Customer) -> None:
    status, body = _place(phone, [{"sku_id": shop.tissue.pk, "quantity": -2}])
    assert (status, body["code"], body["field"]) == (422, "invalid_quantity", "lines[0].quantity")
    cart = phone.post("/api/storefront/cart/items", {"sku_id": shop.tissue.pk, "quantity": 0})
    assert (cart.status_code, cart.json()["code"]) == (422, "invalid_quantity")
    assert not CartItem.objects.exists()
    _nothing_written(shop, buyer)


def test_expired_coupon(shop: Shop, phone: Phone, buyer: Customer) -> None:
    coupon = shop.coupon(customer=buyer, now=later(-60 * 24 * 10))
    status, body = _place(phone, [{"sku_id": shop.pan.pk, "quantity": 1}], coupon_id=coupon.pk)
    assert (status, body["code"], body["field"]) == (422, "coupon_expired", "coupon_id")
    _nothing_written(shop, buyer)


def test_coupon_out_of_scope(shop: Shop, phone: Phone, buyer: Customer) -> None:
    home = shop.pan.product.category.parent_id
    assert home is not None
    template = promotions.create_coupon_template(scope=shop.hq, data=CouponTemplateInput(
        name="家居券", kind="fixed", amount_off=Money(500), scope="categories", category_ids=[home], valid_days=7))
    coupon = promotions.issue_coupon(enterprise_id=shop.enterprise_id, template_id=template.pk, customer_id=buyer.pk,
                                     idempotency_key="home-1")
    status, body = _place(phone, [{"sku_id": shop.tissue.pk, "quantity": 3}], coupon_id=coupon.pk)
    assert (status, body["code"], body["field"]) == (422, "coupon_out_of_scope", "coupon_id")
    assert Coupon.objects.get(pk=coupon.pk).status == "available"
    _nothing_written(shop, buyer)


def test_stock_exhausted(shop: Shop, phone: Phone, buyer: Customer) -> None:
    status, body = _place(phone, [{"sku_id": shop.tissue.pk, "quantity": 1}, {"sku_id": shop.pan.pk, "quantity": 6}])
    assert (status, body["code"], body["field"]) == (409, "out_of_stock", "lines[1].quantity")
    _nothing_written(shop, buyer)


def test_someone_elses_coupon_and_malformed_bodies(shop: Shop, phone: Phone, buyer: Customer) -> None:
    theirs = shop.coupon("theirs")  # belongs to shop.customer, not to dora
    status, body = _place(phone, [{"sku_id": shop.pan.pk, "quantity": 1}], coupon_id=theirs.pk)
    assert (status, body["code"]) == (422, "coupon_not_owned")
    typo = phone.post("/api/storefront/orders", {"lines": [{"sku": shop.pan.pk, "quantity": 1}]})
    assert (typo.status_code, typo.json()["code"]) == (422, "invalid")
    pickup = phone.post("/api/storefront/orders", {"lines": [{"sku_id": shop.pan.pk, "quantity": 1}],
                                                  "fulfillment": "pickup", "store_id": 424242})
    assert (pickup.status_code, pickup.json()["code"], pickup.json()["field"]) == (404, "unknown_store", "store_id")
    _nothing_written(shop, buyer)
