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


def _receipts(count: int, first_phone: int) -> str:
    rows = ["门店编码,小票号,交易时间,会员手机号,商品名称,实收金额"]
    rows += [f"bj1,N{first_phone}-{i:05d},2025-04-01 09:{i % 60:02d}:00,{first_phone + i},纸巾,1" for i in range(count)]
    # the first phone again, at another store
    rows.append(f"tj1,N{first_phone}-99999,2025-04-02 10:00:00,{first_phone},纸巾,2")
    return "\n".join(rows) + "\n"


def _queries_for(org: Org, count: int, first_phone: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    with CaptureQueriesContext(connection) as captured:
        result = import_order_history(scope=scope_for_staff(org.hq), content=_receipts(count, first_phone), now=now)
    assert (result.orders, result.created_customers, result.matched) == (count + 1, count, 1)
    return len(captured.captured_queries)


def test_phones_nobody_has_become_customers_set_based(org: Org) -> None:
    """The buyers nobody knows are created per chunk, not one by one: 295 more new phones add some statements (the
    driver splits a bulk insert past SQLite's 999 parameters), not the eight or so each one cost alone."""
    few = _queries_for(org, 5, 13700000000)
    many = _queries_for(org, 300, 13800000000)
    assert many - few < 100, (few, many)  # one at a time: at least seven statements each, over 2,000
    ent = org.enterprise.pk
    made = Customer.objects.filter(enterprise_id=ent, phone__startswith="138")
    assert made.count() == 300
    first = made.get(phone="13800000000")
    # the phone's first receipt (bj1, 09:00) gives its store and time; its later receipt (tj1) finds the customer
    assert (first.created_source, first.home_store_id) == ("store", org.store_n1.pk)
    assert first.created_at == datetime(2025, 4, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert list(first.identities.values_list("kind", "value")) == [("phone", "13800000000")]
    assert Order.objects.filter(enterprise_id=ent, customer=first).count() == 2
    created = Event.objects.filter(enterprise_id=ent, name="customer_created", customer__phone__startswith="138")
    assert created.count() == 300
    assert created.get(customer=first).idempotency_key == f"customer_created:{first.pk}"


def test_a_phone_claimed_concurrently_falls_back_to_one_at_a_time(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the look-up and the insert another writer takes one of the phones: the set-based step rolls back to
    its savepoint and each phone is resolved alone, so the order goes to the other writer's customer."""
    from siyu.customers import services
    from siyu.customers.services import PhoneCustomerInput, create_customers_by_phone

    ent = org.enterprise.pk
    racer = create_customer(enterprise_id=ent, name="抢先", phone="13600000001")
    real = services.Identity.objects.filter
    calls: list[object] = []

    def not_yet(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        if len(calls) == 1:  # the look-up ran before the other writer committed: it saw nobody
            return services.Identity.objects.none()
        return real(*args, **kwargs)

    monkeypatch.setattr(services.Identity.objects, "filter", not_yet)
    when = datetime(2025, 5, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    got = create_customers_by_phone(enterprise_id=ent, created_source="store", people=[
        PhoneCustomerInput(phone="13600000001", home_store_id=None, created_at=when),
        PhoneCustomerInput(phone="13600000002", home_store_id=None, created_at=when)])
    assert got["13600000001"] == racer.pk
    other = Customer.objects.get(enterprise_id=ent, phone="13600000002")
    assert got["13600000002"] == other.pk
    assert Customer.objects.filter(enterprise_id=ent, phone__startswith="136").count() == 2
