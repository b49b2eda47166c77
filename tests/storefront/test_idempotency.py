"""Placing an order, a presale deposit or a refund request needs an Idempotency-Key (header, or the body's
idempotency_key): a repeat returns the first answer (same status and body) and does nothing again; the same key with
another body is a 409; no key is a 400 naming the header."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from siyu.orders.models import AfterSale, Order
from siyu.orders.services import states
from tests.orders.helpers import ADDRESS, Shop
from tests.storefront.conftest import Phone


def _post(phone: Phone, path: str, body: dict[str, Any], key: str | None) -> Any:
    headers = dict(phone.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return phone.client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def test_an_order_without_a_key_is_refused_and_nothing_is_taken(shop: Shop, phone: Phone) -> None:
    phone.login("dave")
    body = {"lines": [{"sku_id": shop.pan.pk, "quantity": 1}], "address": ADDRESS}
    for extra in ({}, {"idempotency_key": ""}, {"idempotency_key": "   "}):
        response = _post(phone, "/api/storefront/orders", {**body, **extra}, None)
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "idempotency_key_required"
        assert response.json()["field"] == "Idempotency-Key"
    assert Order.objects.count() == 0 and shop.stock(shop.pan) == 5


def test_a_repeated_order_returns_the_first_answer_and_takes_stock_once(shop: Shop, phone: Phone) -> None:
    phone.login("erin")
    body = {"lines": [{"sku_id": shop.pan.pk, "quantity": 2}], "address": ADDRESS}
    first = _post(phone, "/api/storefront/orders", body, "tap-7f3a")
    again = _post(phone, "/api/storefront/orders", body, "tap-7f3a")
    in_body = _post(phone, "/api/storefront/orders", {**body, "idempotency_key": "tap-7f3a"}, None)

    assert first.status_code == again.status_code == in_body.status_code == 201, first.content
    assert again.json() == first.json() == in_body.json()
    assert Order.objects.count() == 1 and shop.stock(shop.pan) == 3

    other = _post(phone, "/api/storefront/orders", {**body, "lines": [{"sku_id": shop.pan.pk, "quantity": 1}]},
                  "tap-7f3a")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1 and shop.stock(shop.pan) == 3
    fresh = _post(phone, "/api/storefront/orders", body, "tap-8b01")
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]


def test_a_presale_deposit_needs_a_key(shop: Shop, phone: Phone) -> None:
    phone.login("fay")
    response = _post(phone, "/api/storefront/presale-orders", {"presale_id": 1, "quantity": 1}, None)
    assert response.status_code == 400 and response.json()["field"] == "Idempotency-Key"


def test_a_repeated_refund_request_returns_the_first_answer(shop: Shop, phone: Phone) -> None:
    phone.login("gus")
    order = _post(phone, "/api/storefront/orders",
                  {"lines": [{"sku_id": shop.pan.pk, "quantity": 1}], "address": ADDRESS}, "o-1").json()
    states.mark_paid(order_id=order["id"], paid_at=timezone.now(), payment_ref="p-1")
    path = f"/api/storefront/orders/{order['id']}/refunds"
    body = {"kind": "refund_only", "reason": "买错了"}

    missing = _post(phone, path, body, None)
    assert missing.status_code == 400 and missing.json()["field"] == "Idempotency-Key"
    first = _post(phone, path, body, "r-1")
    again = _post(phone, path, body, "r-1")

    assert first.status_code == again.status_code == 201, again.content
    assert again.json() == first.json()
    assert AfterSale.objects.count() == 1
    other = _post(phone, path, {**body, "reason": "不想要了"}, "r-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
