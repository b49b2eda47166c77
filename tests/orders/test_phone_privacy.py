"""Store staff see phone numbers masked (siyu.customers.privacy) wherever orders show one: the delivery address on
the order page and in /api/admin/orders/{id} (and the order a staff action returns), and the rows of a platform
import's report. Managers and HQ see them in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from siyu.customers.services import add_relationship
from siyu.orders.models import Order
from tests.orders.helpers import ADDRESS, Shop, line
from tests.orders.test_api import Api

CSV = (Path(__file__).parent / "fixtures" / "tmall_orders.csv").read_bytes()
FULL = ADDRESS["phone"]  # 13800138000
MASKED = "138****8000"
NEW_BUYER = "13700002222"  # the import creates a customer with this full phone (row T1004)


def _order(shop: Shop) -> Order:
    add_relationship(customer=shop.customer, staff=shop.org.n1_staff, added_at=shop.customer.created_at)
    return shop.order(line(shop.tissue), store_id=shop.org.store_n1.pk)


def _console(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_order_api_masks_the_address_phone_for_store_staff(shop: Shop) -> None:
    order = _order(shop)
    staff_view = Api(shop.org.n1_staff).get(f"/api/admin/orders/{order.pk}")
    assert staff_view.status_code == 200
    assert staff_view.json()["address"]["phone"] == MASKED
    assert FULL not in staff_view.content.decode()
    for manager in (shop.org.n1_manager, shop.org.hq):
        assert Api(manager).get(f"/api/admin/orders/{order.pk}").json()["address"]["phone"] == FULL


def test_the_order_page_masks_the_address_phone_for_store_staff(shop: Shop) -> None:
    order = _order(shop)
    page = _console(shop.org.n1_staff.user).get(f"/orders/{order.pk}/").content.decode()
    assert MASKED in page and FULL not in page
    assert FULL in _console(shop.org.n1_manager.user).get(f"/orders/{order.pk}/").content.decode()


def test_store_staff_never_see_an_import_reports_phones(shop: Shop) -> None:
    """Platform imports are HQ's: store staff are refused the report outright (the masking stays as a second wall)."""
    hq = Api(shop.org.hq)
    report = hq.client.post("/api/admin/order-imports", {"platform": "tmall",
                                                         "file": SimpleUploadedFile("t.csv", CSV, "text/csv")},
                            headers=hq.headers).json()
    path = f"/api/admin/order-imports/{report['id']}/unmatched.csv"
    assert NEW_BUYER in hq.get(path).content.decode("utf-8-sig")
    staff_csv = Api(shop.org.n1_staff).get(path)
    text = staff_csv.content.decode("utf-8-sig")
    assert staff_csv.status_code == 403
    assert NEW_BUYER not in text
    for page in ("/orders/imports/", f"/orders/imports/{report['id']}/", f"/orders/imports/{report['id']}/report.csv"):
        response: Any = _console(shop.org.n1_staff.user).get(page)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert NEW_BUYER.encode() not in body, page
