"""Limits that must hold under concurrency, raced on PostgreSQL by threads with their own connections.

SQLite serialises writers, so these only mean something on PostgreSQL (skipped elsewhere).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction

from siyu.catalog import services as catalog_services
from siyu.catalog.models import Sku
from siyu.catalog.services import StockItem
from siyu.core.errors import DomainError
from siyu.core.money import Money
from siyu.org.scope import scope_for_staff
from siyu.promotions import services
from siyu.promotions.models import Coupon, FlashPurchase, FlashSaleItem
from siyu.promotions.services import CouponTemplateInput, FlashItemInput, FlashReservation, FlashSaleInput
from tests.catalog.helpers import product, sku
from tests.conftest import Org
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = datetime(2026, 11, 11, 0, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")


def race(n: int, work: Callable[[int], object]) -> Counter[str]:
    """Run work(0..n-1) in n threads released together; count "ok" and each error code."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    guard = threading.Lock()

    def run(i: int) -> None:
        outcome = "ok"
        try:
            barrier.wait()
            work(i)
        except DomainError as exc:
            outcome = exc.code
        except Exception as exc:  # noqa: BLE001 - surfaced in the counts, so a crash fails the test visibly
            outcome = f"crash:{type(exc).__name__}:{exc}"
        finally:
            connections.close_all()
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(outcomes)


def _flash(org: Org, *, stock: int, flash_stock: int, limit: int) -> tuple[Sku, FlashSaleItem]:
    hq = scope_for_staff(org.hq)
    target = Sku.objects.get(product=product(hq, "秒杀牙刷", sku("FLASH-1", 29900, stock=stock)))
    sale = services.create_flash_sale(scope=hq, data=FlashSaleInput(
        name="双11", starts_at=NOW - timedelta(minutes=1), ends_at=NOW + timedelta(hours=1),
        items=[FlashItemInput(sku_id=target.pk, flash_price=Money(9900), flash_stock=flash_stock,
                              per_customer_limit=limit)]))
    return target, FlashSaleItem.objects.get(flash_sale=sale)


def _fifty_buyers_for_ten_flash_units(org: Org) -> None:
    target, item = _flash(org, stock=100, flash_stock=10, limit=1)
    buyers = [CustomerFactory.create(enterprise=org.enterprise).pk for _ in range(50)]
    ent = org.enterprise.pk

    def checkout(i: int) -> None:
        with transaction.atomic():
            services.reserve_flash(enterprise_id=ent, customer_id=buyers[i], items=[FlashReservation(item.pk, 1)],
                                   now=NOW)
            catalog_services.reserve_stock(enterprise_id=ent, items=[StockItem(target.pk, 1)])

    counts = race(50, checkout)
    assert counts == Counter({"ok": 10, "out_of_stock": 40})
    item.refresh_from_db()
    target.refresh_from_db()
    assert (item.sold, target.stock) == (10, 90)
    counters = FlashPurchase.objects.filter(item=item, quantity__gt=0).values_list("quantity", flat=True)
    assert sorted(counters) == [1] * 10


def _one_customer_racing_herself(org: Org) -> None:
    hq = scope_for_staff(org.hq)
    target = Sku.objects.get(product=product(hq, "秒杀杯", sku("FLASH-2", 12900, stock=100)))
    sale = services.create_flash_sale(scope=hq, data=FlashSaleInput(
        name="双11 第二场", starts_at=NOW - timedelta(minutes=1), ends_at=NOW + timedelta(hours=1),
        items=[FlashItemInput(sku_id=target.pk, flash_price=Money(4900), flash_stock=100, per_customer_limit=2)]))
    item = FlashSaleItem.objects.get(flash_sale=sale)
    buyer = CustomerFactory.create(enterprise=org.enterprise).pk
    counts = race(20, lambda _i: services.reserve_flash(
        enterprise_id=org.enterprise.pk, customer_id=buyer, items=[FlashReservation(item.pk, 1)], now=NOW))
    assert counts == Counter({"ok": 2, "flash_limit_exceeded": 18})
    item.refresh_from_db()
    assert (item.sold, FlashPurchase.objects.get(item=item).quantity) == (2, 2)


def _fifty_checkouts_for_ten_units_of_stock(org: Org) -> None:
    target = Sku.objects.get(product=product(scope_for_staff(org.hq), "限量杯", sku("CUP-X", 12900, stock=10)))
    counts = race(50, lambda _i: catalog_services.reserve_stock(enterprise_id=org.enterprise.pk,
                                                                items=[StockItem(target.pk, 1)]))
    assert counts == Counter({"ok": 10, "out_of_stock": 40})
    target.refresh_from_db()
    assert target.stock == 0


def _coupon_stock_race(org: Org) -> None:
    hq = scope_for_staff(org.hq)
    template = services.create_coupon_template(scope=hq, data=CouponTemplateInput(
        name="限量券", kind="fixed", amount_off=Money(500), valid_days=3, total_stock=5))
    people = [CustomerFactory.create(enterprise=org.enterprise).pk for _ in range(30)]
    ent = org.enterprise.pk
    counts = race(30, lambda i: services.issue_coupon(enterprise_id=ent, template_id=template.pk,
                                                      customer_id=people[i], idempotency_key=f"drop:{i}", now=NOW))
    assert counts == Counter({"ok": 5, "coupon_sold_out": 25})
    template.refresh_from_db()
    assert (template.issued_count, Coupon.objects.filter(template=template).count()) == (5, 5)


def _same_key_race(org: Org) -> None:
    template = services.create_coupon_template(scope=scope_for_staff(org.hq), data=CouponTemplateInput(
        name="欢迎券", kind="fixed", amount_off=Money(500), valid_days=3, per_customer_limit=1))
    one = CustomerFactory.create(enterprise=org.enterprise).pk
    issued: list[int] = []
    counts = race(20, lambda _i: issued.append(services.issue_coupon(
        enterprise_id=org.enterprise.pk, template_id=template.pk, customer_id=one, idempotency_key="welcome:1",
        now=NOW).pk))
    assert counts == Counter({"ok": 20})
    assert len(set(issued)) == 1
    assert Coupon.objects.filter(template=template).count() == 1


# Each transactional test pays for a database flush, so the races share two tests.


def test_flash_sale_and_stock_limits_hold_under_fifty_parallel_checkouts(org: Org) -> None:
    _fifty_buyers_for_ten_flash_units(org)
    _one_customer_racing_herself(org)
    _fifty_checkouts_for_ten_units_of_stock(org)


def _claim_limit_race(org: Org) -> None:
    """One customer tapping "claim" in the coupon centre twenty times at once (twenty keys): the limit of 2 holds."""
    template = services.create_coupon_template(scope=scope_for_staff(org.hq), data=CouponTemplateInput(
        name="领券中心券", kind="fixed", amount_off=Money(500), valid_days=3, per_customer_limit=2, total_stock=50,
        claimable=True))
    one = CustomerFactory.create(enterprise=org.enterprise).pk
    counts = race(20, lambda i: services.claim_coupon(enterprise_id=org.enterprise.pk, template_id=template.pk,
                                                      customer_id=one, idempotency_key=f"claim:{one}:tap-{i}",
                                                      now=NOW))
    assert counts == Counter({"ok": 2, "coupon_limit_reached": 18})
    template.refresh_from_db()
    assert (template.issued_count, Coupon.objects.filter(template=template, source="claim").count()) == (2, 2)


def test_coupon_stock_and_idempotency_hold_under_a_race(org: Org) -> None:
    _coupon_stock_race(org)
    _same_key_race(org)
    _claim_limit_race(org)
