"""The mall end to end as a customer sees it: login → browse → cart → preview → order → (paid by the payments
service) → shipped → confirmed; then the operator sees the order on the customer's profile and in the timeline."""

from __future__ import annotations

from django.test import Client
from django.utils import timezone

from siyu.customers.models import Event
from siyu.orders.models import Order
from siyu.orders.services import states
from siyu.org.services import create_api_token
from tests.orders.helpers import ADDRESS, Shop
from tests.storefront.conftest import Phone


def test_a_customer_buys_and_the_operator_sees_it(shop: Shop, phone: Phone) -> None:
    customer_id = phone.login("alice").json()["customer_id"]

    tree = phone.get("/api/storefront/categories").json()
    assert {(c["name"], tuple(x["name"] for x in c["children"])) for c in tree} == {
        ("日用消耗", ("纸品清洁",)), ("家居耐用", ("厨具",))}
    daily = next(c for c in tree if c["name"] == "日用消耗")
    listed = phone.get("/api/storefront/products", category_id=daily["id"]).json()
    assert [(p["name"], p["min_price_fen"]) for p in listed["items"]] == [("抽纸", 1990)]
    pan = phone.get(f"/api/storefront/products/{shop.pan.product_id}").json()
    assert [(s["code"], s["price_fen"], s["stock"]) for s in pan["skus"]] == [("PAN-28", 29900, 5)]

    assert phone.post("/api/storefront/cart/items", {"sku_id": shop.tissue.pk, "quantity": 2}).status_code == 201
    phone.post("/api/storefront/cart/items", {"sku_id": shop.pan.pk, "quantity": 1})
    cart = phone.post("/api/storefront/cart/items", {"sku_id": shop.tissue.pk, "quantity": 1}).json()
    assert [(i["name"], i["quantity"]) for i in cart["items"]] == [("抽纸", 3), ("不粘锅", 1)]

    coupon = shop.coupon(customer=shop.customer.__class__.objects.get(pk=customer_id))
    assert [c["id"] for c in phone.get("/api/storefront/coupons").json()] == [coupon.pk]
    preview = phone.post("/api/storefront/checkout/preview", {"coupon_id": coupon.pk, "address": ADDRESS}).json()
    assert (preview["list_total_fen"], preview["coupon_discount_fen"], preview["payable_fen"]) == (35870, 1000, 34870)

    placed = phone.post(f"/api/storefront/orders?staff_id={shop.org.n1_staff.pk}&campaign=618&channel_code=qr-n1",
                        {"coupon_id": coupon.pk, "address": ADDRESS, "idempotency_key": "k1"})
    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert (order["status"], order["amount_fen"], order["staff_id"], order["campaign"], order["channel_state"]) == (
        "pending_payment", 34870, shop.org.n1_staff.pk, "618", "qr-n1")
    assert [line["payable_fen"] for line in order["lines"]] == [5804, 29066]
    assert phone.get("/api/storefront/cart").json()["items"] == []

    states.mark_paid(order_id=order["id"], paid_at=timezone.now(), payment_ref="wx-pay-1")  # the payments issue
    _token, secret = create_api_token(staff=shop.org.hq, name="ops")
    shipped = Client().post(f"/api/admin/orders/{order['id']}/ship", {"carrier": "SF", "tracking_no": "SF1"},
                            content_type="application/json", headers={"Authorization": f"Bearer {secret}"})
    assert shipped.json()["status"] == "shipped"
    confirmed = phone.post(f"/api/storefront/orders/{order['id']}/confirm")
    assert confirmed.json()["status"] == "completed"
    mine = phone.get("/api/storefront/orders").json()
    assert [(o["order_no"], o["status"]) for o in mine["items"]] == [(order["order_no"], "completed")]

    events = list(Event.objects.filter(customer_id=customer_id, name__startswith="order_").order_by("id")
                  .values_list("name", "staff_id", "campaign"))
    assert [e[0] for e in events] == ["order_created", "order_paid", "order_shipped", "order_completed"]
    assert events[0][1:] == (shop.org.n1_staff.pk, "618")
    console = Client()
    assert shop.org.hq.user is not None
    console.force_login(shop.org.hq.user)
    profile = console.get(f"/customers/{customer_id}/").content.decode()
    assert order["order_no"] in profile and 'id="profile-orders"' in profile


def test_preview_and_placement_never_disagree(shop: Shop, phone: Phone) -> None:
    phone.login("bob")
    body = {"lines": [{"sku_id": shop.tissue.pk, "quantity": 4}, {"sku_id": shop.pan.pk, "quantity": 1}],
            "address": ADDRESS}
    preview = phone.post("/api/storefront/checkout/preview", body).json()
    placed = phone.post("/api/storefront/orders", body).json()
    stored = placed["breakdown"]
    for key in ("list_total_fen", "subtotal_fen", "reduction_discount_fen", "coupon_discount_fen", "shipping_fen",
                "payable_fen"):
        assert stored[key] == preview[key], key
    assert [x["payable_fen"] for x in stored["lines"]] == [x["payable_fen"] for x in preview["lines"]]
    assert placed["amount_fen"] == preview["payable_fen"] == 4 * 1990 + 29900


def test_cancel_and_refund_requests_from_the_mall(shop: Shop, phone: Phone) -> None:
    phone.login("carol")
    body = {"lines": [{"sku_id": shop.pan.pk, "quantity": 2}], "address": ADDRESS}
    first = phone.post("/api/storefront/orders", body).json()
    assert shop.stock(shop.pan) == 3
    cancelled = phone.post(f"/api/storefront/orders/{first['id']}/cancel").json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "customer")
    assert shop.stock(shop.pan) == 5
    again = phone.post(f"/api/storefront/orders/{first['id']}/cancel")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    second = phone.post("/api/storefront/orders", body).json()
    states.mark_paid(order_id=second["id"], paid_at=timezone.now(), payment_ref="p-2")
    refund = phone.post(f"/api/storefront/orders/{second['id']}/refunds", {"kind": "refund_only", "reason": "买错了"})
    assert refund.status_code == 201
    assert (refund.json()["amount_fen"], refund.json()["status"]) == (59800, "requested")
    detail = phone.get(f"/api/storefront/orders/{second['id']}").json()
    assert [a["status"] for a in detail["after_sales"]] == ["requested"]
    other = phone.get("/api/storefront/orders/999999")
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    assert Order.objects.count() == 2
