"""POS order history: a hand-made receipt file (rows of one receipt adjacent), matched by phone and member card.

receipt A001 at bj1: 2 lines 30.00 + 12.50 = 4250 fen, phone of a known customer
receipt A002 at bj1: 1 line 99.90, member card of a known customer
receipt B001 at tj1: phone nobody has -> a new customer (source store)
receipt A001 at tj1: the same number in another store: a different receipt
receipt C001 at nowhere: unknown store -> error
receipt A003 at bj1: card nobody has -> order without customer
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from siyu.core.errors import PermissionDenied
from siyu.customers.models import Customer, Event
from siyu.customers.services import IdentityInput, create_customer
from siyu.orders.models import Order
from siyu.orders.services.history_import import import_order_history
from siyu.org.scope import scope_for_staff
from tests.conftest import Org

CSV = """门店编码,小票号,交易时间,会员手机号,会员卡号,商品编码,商品名称,数量,实收金额
bj1,A001,2025-03-01 10:00:00,13900000001,,T1,纸巾,2,30.00
bj1,A001,2025-03-01 10:00:00,13900000001,,T2,湿巾,1,12.50
bj1,A002,2025-03-02 11:00:00,,VIP0002,T1,纸巾,1,99.90
tj1,B001,2025-03-03 12:00:00,13900000003,,T1,纸巾,1,10
tj1,A001,2025-03-04 12:00:00,13900000001,,T1,纸巾,1,5
nowhere,C001,2025-03-05 12:00:00,13900000001,,T1,纸巾,1,5
bj1,A003,2025-03-06 12:00:00,,VIP9999,T1,纸巾,1,7
"""


def test_history_import_matches_and_is_idempotent(org: Org) -> None:
    ent = org.enterprise.pk
    known = create_customer(enterprise_id=ent, name="老王", phone="13900000001")
    carded = create_customer(enterprise_id=ent, name="卡客",
                             identities=[IdentityInput(kind="member_card", value="VIP0002")])
    scope = scope_for_staff(org.hq)
    now = datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    result = import_order_history(scope=scope, content=CSV.encode("gbk"), now=now)
    assert (result.rows, result.orders, result.matched, result.created_customers, result.without_customer) == \
        (7, 5, 3, 1, 1)
    assert result.errors == [(7, "no store has the code 'nowhere'")]
    a001 = Order.objects.get(idempotency_key=f"pos:{org.store_n1.pk}:A001")
    assert (a001.customer_id, a001.amount_fen, a001.status, a001.source) == (known.pk, 4250, "completed", "store")
    assert [(x.name, x.quantity, x.payable_fen) for x in a001.lines.all()] == [("纸巾", 2, 3000), ("湿巾", 1, 1250)]
    assert Order.objects.get(idempotency_key=f"pos:{org.store_n1.pk}:A002").customer_id == carded.pk
    assert Order.objects.get(idempotency_key=f"pos:{org.store_n2.pk}:A001").amount_fen == 500
    new = Customer.objects.get(phone="13900000003")
    assert (new.created_source, new.home_store_id) == ("store", org.store_n2.pk)
    assert Order.objects.get(idempotency_key=f"pos:{org.store_n1.pk}:A003").customer_id is None
    paid = Event.objects.filter(name="order_paid", customer=known).values_list("properties__amount_fen", flat=True)
    assert sorted(paid) == [500, 4250]
    again = import_order_history(scope=scope, content=CSV, now=now)
    assert (again.orders, again.duplicates, again.created_customers) == (0, 5, 0)
    assert Order.objects.filter(enterprise=org.enterprise).count() == 5
    with pytest.raises(PermissionDenied):
        import_order_history(scope=scope_for_staff(org.n1_manager), content=CSV, now=now)


def test_history_import_over_the_api(org: Org) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    response = client.post("/api/admin/order-history", {"file": SimpleUploadedFile("pos.csv", CSV.encode())})
    assert response.status_code == 201
    body = response.json()
    assert (body["orders"], body["errors"]) == (5, [{"row": 7, "message": "no store has the code 'nowhere'"}])
