"""Importing a Tmall-style order export (tests/orders/fixtures/tmall_orders.csv, made by hand):

row 2 T1001  full phone of a known customer (K1)           → matched; buyer id tb_wang attached to K1
row 3 T1002  masked phone, buyer id known (K2)             → matched by buyer id
row 4 T1003  masked phone, unknown buyer id                → unmatched: imported without a customer
row 5 T1004  full phone nobody has                         → new customer (source platform)
row 6 T1005  the same new buyer, masked phone              → matched to the customer row 5 created
row 7 T1006  amount "abc"                                  → error
row 8 T1001  again                                         → duplicate
row 9 T1007  K2, closed before payment                     → matched, imported as cancelled
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.customers.models import Customer, Event, Identity
from siyu.customers.services import IdentityInput, attach_identity, create_customer
from siyu.orders import queries
from siyu.orders.models import Order, OrderLine, PlatformImport
from siyu.orders.services import imports
from siyu.org.scope import scope_for_staff
from tests.orders.helpers import Shop

CSV = (Path(__file__).parent / "fixtures" / "tmall_orders.csv").read_text(encoding="utf-8")
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def known(shop: Shop) -> tuple[Customer, Customer]:
    k1 = create_customer(enterprise_id=shop.enterprise_id, name="老顾客", phone="13900001111")
    k2 = create_customer(enterprise_id=shop.enterprise_id, name="小李", identities=[
        IdentityInput(kind="platform_buyer_id", value="tmall:tb_known", account="tmall")])
    return k1, k2


def _import(shop: Shop, content: str | bytes = CSV) -> PlatformImport:
    return imports.import_platform_orders(scope=shop.hq, platform="tmall", content=content,
                                           filename="tmall.csv")


def _counts(imp: PlatformImport) -> tuple[int, ...]:
    return (imp.total_rows, imp.processed_rows, imp.imported, imp.duplicates, imp.matched, imp.created_customers,
            imp.unmatched, imp.errors)


def test_first_import_matches_creates_and_reports(shop: Shop, known: tuple[Customer, Customer]) -> None:
    k1, k2 = known
    imp = _import(shop)
    assert imp.status == "done"
    assert _counts(imp) == (8, 8, 6, 1, 5, 1, 1, 1)
    orders = {o.external_order_no: o for o in Order.objects.filter(platform="tmall")}
    assert set(orders) == {"T1001", "T1002", "T1003", "T1004", "T1005", "T1007"}
    t1001 = orders["T1001"]
    assert (t1001.customer_id, t1001.amount_fen, t1001.list_total_fen, t1001.status) == (k1.pk, 31880, 33880,
                                                                                        "completed")
    assert t1001.created_at == datetime(2026, 3, 1, 10, 0, tzinfo=BEIJING)
    # ¥318.80 over the items by list price (39.80 : 299.00): 37.45 and 281.35.
    lines = list(OrderLine.objects.filter(order=t1001).order_by("index").values_list("sku_id", "quantity",
                                                                                      "payable_fen"))
    assert lines == [(shop.tissue.pk, 2, 3745), (shop.pan.pk, 1, 28135)]
    assert orders["T1002"].customer_id == k2.pk and orders["T1007"].customer_id == k2.pk
    assert orders["T1007"].status == "cancelled" and orders["T1007"].paid_fen == 0
    assert orders["T1003"].customer_id is None and orders["T1003"].amount_fen == 119900
    assert orders["T1003"].status == "shipped"
    new = Customer.objects.get(phone="13700002222")
    assert (new.created_source, new.name) == ("platform", "陈女士")
    assert orders["T1004"].customer_id == new.pk and orders["T1005"].customer_id == new.pk
    assert Identity.objects.filter(customer=k1, kind="platform_buyer_id", value="tmall:tb_wang").exists()
    assert Identity.objects.filter(customer=new, kind="platform_buyer_id", value="tmall:tb_new").exists()
    paid_event = Event.objects.get(customer=k1, name="order_paid")
    assert paid_event.occurred_at == datetime(2026, 3, 1, 10, 5, tzinfo=BEIJING)
    assert paid_event.channel == "platform" and paid_event.properties["amount_fen"] == 31880
    report = list(queries.import_report_rows(shop.hq, imp.pk).values_list("row_number", "outcome", "phone"))
    assert report == [(4, "unmatched", "137****0000"), (5, "created_customer", "13700002222"),
                      (7, "error", "13700003333")]


def test_importing_again_adds_nothing(shop: Shop, known: tuple[Customer, Customer]) -> None:
    _import(shop)
    orders, customers, events = Order.objects.count(), Customer.objects.count(), Event.objects.count()
    again = _import(shop)
    assert _counts(again) == (8, 8, 0, 7, 6, 0, 1, 1)
    assert (Order.objects.count(), Customer.objects.count(), Event.objects.count()) == (orders, customers, events)


def test_a_buyer_matched_later_gets_the_old_order_and_leaves_the_insert_list(shop: Shop,
                                                                              known: tuple[Customer, Customer]) -> None:
    _, k2 = known
    _import(shop)
    counts = queries.invitation_counts(shop.hq)
    assert (counts.sms, counts.package_insert) == (1, 1)
    assert [r.buyer_id for r in queries.package_insert_targets(shop.hq)] == ["tb_ghost"]
    attach_identity(customer=k2, identity=IdentityInput(kind="platform_buyer_id", value="tmall:tb_ghost",
                                                        account="tmall"))
    _import(shop)
    assert Order.objects.get(external_order_no="T1003").customer_id == k2.pk
    assert queries.invitation_counts(shop.hq).package_insert == 0
    new = Customer.objects.get(phone="13700002222")
    attach_identity(customer=new, identity=IdentityInput(kind="mp_openid", value="o-joined-the-mall"))
    assert queries.invitation_counts(shop.hq).sms == 0  # joined the private domain


def test_gbk_files_and_missing_columns(shop: Shop, known: tuple[Customer, Customer]) -> None:
    imp = _import(shop, CSV.encode("gb18030"))
    assert imp.imported == 6
    with pytest.raises(ValidationFailed) as info:
        _import(shop, "订单编号,买家会员名\nT1,x\n")
    assert info.value.code == "missing_columns"
    with pytest.raises(ValidationFailed) as info2:
        _import(shop, CSV.splitlines()[0] + "\n")
    assert info2.value.code == "empty_file"
    with pytest.raises(PermissionDenied):
        imports.import_platform_orders(scope=scope_for_staff(shop.org.n1_manager), platform="tmall", content=CSV)


def test_a_malformed_phone_is_reported_as_invalid_not_as_masked(shop: Shop, known: tuple[Customer, Customer]) -> None:
    header = CSV.splitlines()[0]
    rows = [
        "T2001,短号,tb_short,1380013800,抽纸,TISSUE-6,1,19.90,19.90,交易成功,2026-03-05 10:00:00,2026-03-05 10:01:00,",
        "T2002,字母,,1380013800x,抽纸,TISSUE-6,1,19.90,19.90,交易成功,2026-03-05 11:00:00,2026-03-05 11:01:00,",
        "T2003,打码,tb_mask,136****1111,抽纸,TISSUE-6,1,19.90,19.90,交易成功,2026-03-05 12:00:00,2026-03-05 12:01:00,",
    ]
    imp = _import(shop, "\n".join([header, *rows]) + "\n")
    assert (imp.imported, imp.unmatched, imp.errors) == (2, 2, 1)
    report = {r.row_number: r for r in queries.import_report_rows(shop.hq, imp.pk)}
    assert (report[2].outcome, report[2].phone) == ("invalid_phone", "1380013800")
    assert "not a valid mobile number" in report[2].message
    assert report[3].outcome == "error" and "'1380013800x' is not a valid mobile number" in report[3].message
    assert (report[4].outcome, report[4].message) == ("unmatched", "")  # masked stays masked
    with translation.override("zh-hans"):
        assert queries.label("outcome", "invalid_phone") == "未匹配（手机号无效）"
    # both unknown buyers get a card in their parcel
    assert sorted(r.buyer_id for r in queries.package_insert_targets(shop.hq)) == ["tb_mask", "tb_short"]
