"""The staff side of the orders API (/api/admin/...): scoped reads, state moves, HQ-only money actions, after-sales,
presales and platform imports."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.test import Client
from django.utils import timezone

from siyu.orders.services import after_sale, presale, states
from siyu.org.models import Staff
from siyu.org.services import create_api_token
from siyu.storefront.services import checkout
from tests.orders.helpers import Shop, line, paid

CSV = (Path(__file__).parent / "fixtures" / "tmall_orders.csv").read_bytes()


class Api:
    def __init__(self, staff: Staff) -> None:
        _token, secret = create_api_token(staff=staff, name="test")
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(path, json.dumps(body or {}), content_type="application/json", headers=self.headers)


def test_list_filters_and_moves(shop: Shop) -> None:
    api = Api(shop.org.hq)
    first = shop.order(line(shop.tissue, 2))
    second = shop.order(line(shop.pan))
    listed = api.get("/api/admin/orders", status="pending_payment").json()
    assert {o["order_no"] for o in listed["items"]} == {first.order_no, second.order_no}
    by_customer = api.get("/api/admin/orders", customer=str(shop.customer.pk), q=first.order_no).json()
    assert [o["id"] for o in by_customer["items"]] == [first.pk]
    paid_now = api.post(f"/api/admin/orders/{first.pk}/mark-paid", {"payment_ref": "manual-1", "reason": "现金"}).json()
    assert (paid_now["status"], paid_now["paid_fen"]) == ("paid", 4980)
    shipped = api.post(f"/api/admin/orders/{first.pk}/ship", {"carrier": "SF", "tracking_no": "1"}).json()
    assert shipped["status"] == "shipped"
    assert api.post(f"/api/admin/orders/{first.pk}/complete").json()["status"] == "completed"
    bad = api.post(f"/api/admin/orders/{second.pk}/complete")
    assert (bad.status_code, bad.json()["code"]) == (409, "invalid_transition")
    cancelled = api.post(f"/api/admin/orders/{second.pk}/cancel").json()
    assert cancelled["status"] == "cancelled" and shop.stock(shop.pan) == 5


def test_money_actions_are_hq_only(shop: Shop) -> None:
    order = shop.order(line(shop.tissue), fulfillment="pickup", store_id=shop.org.store_n1.pk)
    manager = Api(shop.org.n1_manager)
    assert manager.get(f"/api/admin/orders/{order.pk}").status_code == 200  # the store's order
    refused = manager.post(f"/api/admin/orders/{order.pk}/mark-paid", {"payment_ref": "x", "reason": "现金"})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    hidden = Api(shop.org.s1_staff).get(f"/api/admin/orders/{order.pk}")
    assert hidden.status_code == 404


def test_after_sales_through_the_api(shop: Shop) -> None:
    order = shop.order(line(shop.pan))
    paid(shop, order)
    request = after_sale.request_refund(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                      order_id=order.pk, kind="refund_only", reason="坏了")
    api = Api(shop.org.hq)
    assert [a["id"] for a in api.get("/api/admin/after-sales", status="requested").json()["items"]] == [request.pk]
    assert api.post(f"/api/admin/after-sales/{request.pk}/approve").json()["status"] == "approved"
    done = api.post(f"/api/admin/after-sales/{request.pk}/refund", {"refund_ref": "rf-1"}).json()
    assert (done["status"], done["amount_fen"]) == ("refunded", 29900)
    assert api.get(f"/api/admin/orders/{order.pk}").json()["status"] == "refunded"


def test_presales_and_demand_through_the_api(shop: Shop) -> None:
    api = Api(shop.org.hq)
    now = timezone.now()
    body = {"name": "预售锅", "sku_id": shop.pan.pk, "price_fen": 25900, "deposit_fen": 5000,
            "deposit_starts_at": (now - timedelta(hours=1)).isoformat(),
            "deposit_ends_at": (now + timedelta(hours=1)).isoformat(),
            "balance_starts_at": (now + timedelta(hours=2)).isoformat(),
            "balance_ends_at": (now + timedelta(hours=5)).isoformat()}
    created = api.post("/api/admin/presales", body)
    assert created.status_code == 201, created.content
    presale_id = created.json()["id"]
    order = presale.place_presale_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                         presale_id=presale_id, quantity=2, data=checkout.CheckoutInput(
                                             fulfillment="pickup", store_id=shop.org.store_n1.pk))
    states.mark_paid(order_id=order.pk, paid_at=now, payment_ref="dep")
    (row,) = api.get("/api/admin/presales/demand").json()
    assert (row["presale_id"], row["deposits_paid_units"], row["balances_paid_units"], row["deposits_fen"]) == (
        presale_id, 2, 0, 10000)
    assert Api(shop.org.n1_manager).post("/api/admin/presales", body).status_code == 403


def test_platform_import_through_the_api(shop: Shop) -> None:
    api = Api(shop.org.hq)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.client.post("/api/admin/order-imports", {"platform": "tmall",
                                                            "file": SimpleUploadedFile("t.csv", CSV, "text/csv")},
                               headers=api.headers)
    assert response.status_code == 201, response.content
    report = response.json()
    assert (report["status"], report["imported"], report["errors"]) == ("done", 6, 1)
    again = api.client.post("/api/admin/order-imports", {"platform": "tmall",
                                                         "file": SimpleUploadedFile("t.csv", CSV, "text/csv")},
                            headers=api.headers).json()
    assert (again["imported"], again["duplicates"]) == (0, 7)
    csv_text = api.get(f"/api/admin/order-imports/{report['id']}/unmatched.csv").content.decode("utf-8-sig")
    assert "137****0000" in csv_text and "unmatched" in csv_text
    bad = api.client.post("/api/admin/order-imports", {"platform": "amazon",
                                                       "file": SimpleUploadedFile("t.csv", CSV, "text/csv")},
                          headers=api.headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "platform")
