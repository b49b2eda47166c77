"""Presales: the deposit reserves stock, the balance is paid in its window or the order lapses (deposit kept),
and the demand report counts units by stage."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.orders import queries
from siyu.orders.models import Order, Presale
from siyu.orders.services import presale as orders_presale
from siyu.orders.services import states
from siyu.orders.services.placement import CheckoutInput
from siyu.orders.services.presale import PresaleInput
from siyu.org.scope import scope_for_staff
from tests.factories import CustomerFactory
from tests.orders.helpers import ADDRESS, Shop


def _presale(shop: Shop, now: datetime) -> Presale:
    return orders_presale.create_presale(scope=shop.hq, data=PresaleInput(
        name="新款锅 预售", sku_id=shop.pan.pk, price_fen=25900, deposit_fen=5000, per_customer_limit=2,
        deposit_starts_at=now - timedelta(hours=1), deposit_ends_at=now + timedelta(hours=1),
        balance_starts_at=now + timedelta(hours=2), balance_ends_at=now + timedelta(hours=26)))


def _deposit(shop: Shop, presale: Presale, quantity: int = 1, customer_id: int | None = None) -> Order:
    return orders_presale.place_presale_order(enterprise_id=shop.enterprise_id,
                                              customer_id=customer_id or shop.customer.pk,
                                              presale_id=presale.pk, quantity=quantity,
                                              data=CheckoutInput(address=ADDRESS))


def test_deposit_then_balance(shop: Shop) -> None:
    now = timezone.now()
    presale = _presale(shop, now)
    order = _deposit(shop, presale, 2)
    assert (order.kind, order.amount_fen, order.deposit_fen, order.shipping_fen) == ("presale", 51800, 10000, 0)
    assert shop.stock(shop.pan) == 3  # the deposit order holds the stock
    order = states.mark_paid(order_id=order.pk, paid_at=now, payment_ref="dep-1")
    assert (order.status, order.paid_fen, order.pay_deadline) == ("deposit_paid", 10000, presale.balance_ends_at)
    with pytest.raises(Conflict) as info:
        states.mark_paid(order_id=order.pk, paid_at=now + timedelta(minutes=30), payment_ref="bal-early")
    assert info.value.code == "balance_not_open"
    order = states.mark_paid(order_id=order.pk, paid_at=now + timedelta(hours=3), payment_ref="bal-1")
    assert (order.status, order.paid_fen) == ("paid", 51800)
    assert states.expire_unpaid_orders(now=now + timedelta(hours=30)) == 0


def test_an_unpaid_balance_lapses_and_the_deposit_is_kept(shop: Shop) -> None:
    now = timezone.now()
    presale = _presale(shop, now)
    order = _deposit(shop, presale)
    states.mark_paid(order_id=order.pk, paid_at=now, payment_ref="dep-1")
    assert states.expire_unpaid_orders(now=now + timedelta(hours=25)) == 0
    assert states.expire_unpaid_orders(now=now + timedelta(hours=27)) == 1
    order.refresh_from_db()
    assert (order.status, order.cancel_reason, order.paid_fen) == ("cancelled", "balance_timeout", 5000)
    assert shop.stock(shop.pan) == 5


def test_limits_and_windows(shop: Shop) -> None:
    now = timezone.now()
    presale = _presale(shop, now)
    _deposit(shop, presale, 2)
    with pytest.raises(Conflict) as info:
        _deposit(shop, presale, 1)
    assert info.value.code == "presale_limit_exceeded"
    with pytest.raises(PermissionDenied):
        orders_presale.create_presale(scope=scope_for_staff(shop.org.n1_manager), data=PresaleInput(
            name="x", sku_id=shop.pan.pk, price_fen=100, deposit_fen=10, deposit_starts_at=now,
            deposit_ends_at=now + timedelta(hours=1), balance_starts_at=now + timedelta(hours=1),
            balance_ends_at=now + timedelta(hours=2)))
    with pytest.raises(ValidationFailed) as info2:
        orders_presale.create_presale(scope=shop.hq, data=PresaleInput(
            name="x", sku_id=shop.pan.pk, price_fen=100, deposit_fen=100, deposit_starts_at=now,
            deposit_ends_at=now + timedelta(hours=1), balance_starts_at=now + timedelta(hours=1),
            balance_ends_at=now + timedelta(hours=2)))
    assert info2.value.code == "invalid_deposit"
    closed = orders_presale.create_presale(scope=shop.hq, data=PresaleInput(
        name="已结束", sku_id=shop.tissue.pk, price_fen=1500, deposit_fen=500,
        deposit_starts_at=now - timedelta(hours=3), deposit_ends_at=now - timedelta(hours=2),
        balance_starts_at=now - timedelta(hours=1), balance_ends_at=now + timedelta(hours=1)))
    with pytest.raises(ValidationFailed) as info3:
        _deposit(shop, closed)
    assert info3.value.code == "presale_not_active"


def test_the_demand_report_counts_units_by_stage(shop: Shop) -> None:
    now = timezone.now()
    presale = _presale(shop, now)
    buyers = [CustomerFactory.create(enterprise=shop.org.enterprise).pk for _ in range(3)]
    pending = _deposit(shop, presale, 1, buyers[0])  # deposit not paid yet
    deposit_only = _deposit(shop, presale, 2, buyers[1])
    states.mark_paid(order_id=deposit_only.pk, paid_at=now, payment_ref="d-2")
    full = _deposit(shop, presale, 1, buyers[2])
    states.mark_paid(order_id=full.pk, paid_at=now, payment_ref="d-3")
    states.mark_paid(order_id=full.pk, paid_at=now + timedelta(hours=3), payment_ref="b-3")
    (row,) = queries.presale_demand(shop.hq)
    assert (row.deposit_pending_orders, row.deposit_pending_units) == (1, 1)
    assert (row.deposits_paid_orders, row.deposits_paid_units) == (2, 3)
    assert (row.balances_paid_orders, row.balances_paid_units) == (1, 1)
    assert (row.deposits_fen, row.balances_fen) == (15000, 20900)
    states.cancel_by_customer(enterprise_id=shop.enterprise_id, customer_id=buyers[0], order_id=pending.pk)
    (row,) = queries.presale_demand(shop.hq)
    assert (row.deposit_pending_units, row.cancelled_units) == (0, 1)
