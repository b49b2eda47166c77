"""The orders console pages: list with filters, export, detail with actions, after-sales, presales, imports with
their report, invitations; scoped to what the signed-in staff member may see."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from siyu.customers.services import add_relationship
from siyu.orders.models import AfterSale, Order, PlatformImport
from siyu.orders.services import after_sale
from tests.orders.helpers import Shop, line, paid

CSV = (Path(__file__).parent / "fixtures" / "tmall_orders.csv").read_bytes()


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = "en"  # English labels in the assertions
    return client


def _csv_rows(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def test_the_list_filters_and_exports(shop: Shop) -> None:
    first = shop.order(line(shop.tissue, 2))
    second = shop.order(line(shop.pan), fulfillment="pickup", store_id=shop.org.store_n1.pk)
    paid(shop, second)
    hq = _client(shop.org.hq.user)
    page = hq.get("/orders/").content.decode()
    assert first.order_no in page and second.order_no in page
    only_paid = hq.get("/orders/", {"status": "paid"}).content.decode()
    assert second.order_no in only_paid and first.order_no not in only_paid
    by_store = hq.get("/orders/", {"store": shop.org.store_n1.pk}).content.decode()
    assert second.order_no in by_store and first.order_no not in by_store
    partial = hq.get("/orders/", {"customer": str(shop.customer.pk)}, headers={"HX-Request": "true"})
    assert b'id="results"' in partial.content and b"<html" not in partial.content
    rows = _csv_rows(hq.get("/orders/export.csv", {"status": "paid"}))
    assert len(rows) == 2 and rows[1][0] == second.order_no and rows[1][15] == "¥299.00"


def test_store_staff_see_their_own_customers_orders_only(shop: Shop) -> None:
    order = shop.order(line(shop.tissue))
    staff = _client(shop.org.n1_staff.user)
    assert order.order_no not in staff.get("/orders/").content.decode()
    assert staff.get(f"/orders/{order.pk}/").status_code == 404
    add_relationship(customer=shop.customer, staff=shop.org.n1_staff, added_at=timezone.now())
    assert order.order_no in staff.get("/orders/").content.decode()
    assert staff.get(f"/orders/{order.pk}/").status_code == 200


def test_detail_shows_the_breakdown_and_runs_actions(shop: Shop) -> None:
    coupon = shop.coupon()
    order = shop.order(line(shop.tissue, 3), line(shop.pan), coupon=coupon)
    hq = _client(shop.org.hq.user)
    page = hq.get(f"/orders/{order.pk}/").content.decode()
    assert "¥348.70" in page and "¥58.04" in page and 'data-action="mark_paid"' in page
    hq.post(f"/orders/{order.pk}/mark_paid/", {"reason": "现金"})
    assert Order.objects.get(pk=order.pk).status == "paid"
    hq.post(f"/orders/{order.pk}/ship/", {"carrier": "SF", "tracking_no": "SF9"})
    assert Order.objects.get(pk=order.pk).tracking_no == "SF9"
    response = hq.post(f"/orders/{order.pk}/ship/", follow=True)  # again: refused with a message, not a 500
    assert response.status_code == 200 and Order.objects.get(pk=order.pk).status == "shipped"
    hq.post(f"/orders/{order.pk}/complete/")
    assert Order.objects.get(pk=order.pk).status == "completed"
    staff = _client(shop.org.n1_manager.user)
    add_relationship(customer=shop.customer, staff=shop.org.n1_manager, added_at=timezone.now())
    other = shop.order(line(shop.tissue))
    assert staff.post(f"/orders/{other.pk}/mark_paid/").status_code == 403


def test_after_sales_are_decided_in_the_console(shop: Shop) -> None:
    order = shop.order(line(shop.pan))
    paid(shop, order)
    request = after_sale.request_refund(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                      order_id=order.pk, kind="refund_only", reason="质量问题")
    hq = _client(shop.org.hq.user)
    listing = hq.get("/orders/after-sales/", {"status": "requested"}).content.decode()
    assert "质量问题" in listing and order.order_no in listing
    hq.post(f"/orders/after-sales/{request.pk}/approve/")
    hq.post(f"/orders/after-sales/{request.pk}/refund/", {"next": f"/orders/{order.pk}/"})
    assert AfterSale.objects.get(pk=request.pk).status == "refunded"
    assert Order.objects.get(pk=order.pk).status == "refunded"


def test_upload_runs_the_import_and_reports(shop: Shop, django_capture_on_commit_callbacks: Any,
                                            settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    hq = _client(shop.org.hq.user)
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        response = hq.post("/orders/imports/", {"platform": "tmall",
                                                 "file": SimpleUploadedFile("tmall.csv", CSV, "text/csv")})
    imp = PlatformImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/imports/{imp.pk}/"
    assert imp.status == "done" and imp.imported == 6
    detail = hq.get(f"/orders/imports/{imp.pk}/").content.decode()
    assert 'data-status="done"' in detail and "137****0000" in detail
    rows = _csv_rows(hq.get(f"/orders/imports/{imp.pk}/report.csv"))
    # Nobody is known yet: full phones become customers, masked ones stay unmatched (tb_known twice).
    assert [(r[3], r[10]) for r in rows[1:]] == [
        ("T1001", "SMS"), ("T1002", "Package insert"), ("T1003", "Package insert"), ("T1004", "SMS"), ("T1006", ""),
        ("T1007", "Package insert")]
    invitations = hq.get("/orders/invitations/").content.decode()
    assert 'data-kpi="sms"' in invitations and "13700002222" in invitations
    sms = _csv_rows(hq.get("/orders/invitations/sms.csv"))
    assert [r[2] for r in sms[1:]] == ["13700002222", "13900001111"]  # newest first
    inserts = _csv_rows(hq.get("/orders/invitations/package-insert.csv"))
    assert sorted((r[1], r[4]) for r in inserts[1:]) == [("tb_ghost", "T1003"), ("tb_known", "T1007")]
    assert _client(shop.org.n1_manager.user).get("/orders/imports/").status_code == 403


@pytest.mark.parametrize("path", ["/orders/", "/orders/after-sales/", "/orders/presales/"])
def test_pages_render_for_every_role(shop: Shop, path: str) -> None:
    shop.order(line(shop.tissue))
    for staff in (shop.org.hq, shop.org.north_manager, shop.org.n1_staff):
        assert _client(staff.user).get(path).status_code == 200
