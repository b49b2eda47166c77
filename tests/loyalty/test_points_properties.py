"""Property: any sequence of paid orders, partial refunds, adjustments, redemptions and time passing (with the
unlock and expiry jobs run at each step, some twice) keeps the books balanced and the points consistent:

- every journal entry balances and the trial balance does;
- each lot's remaining equals its points minus what operations took from it (allocations), within [0, points];
- the ledger's points liability equals the value left in available lots (sum of remaining × fen per point);
- every point earned is either still in a lot or taken by exactly one operation (conservation);
- a redemption succeeds exactly when the balance covers it and lowers it by exactly that much, else writes nothing;
- an order refunded in full has had all its points asked back (taken or recorded as shortfall), never more.

Rules (tests/loyalty/helpers.py): tissue ¥19.90 earns 1 point per yuan, a point is worth 1 fen, 7-day return window,
30-day expiry.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.db.models import F, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.catalog.models import Sku
from siyu.core.errors import Conflict
from siyu.customers.models import Customer
from siyu.finance import queries as finance_queries
from siyu.finance.models import LedgerTransfer
from siyu.loyalty import queries, services
from siyu.loyalty.models import PointsLot, PointsOperation
from siyu.orders.models import Order
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.loyalty.helpers import ledger_matches_lots, lots_consistent, pay, refund, setup_program
from tests.orders.helpers import Shop, build_shop, line

pytestmark = pytest.mark.django_db
_KEYS = itertools.count()


@dataclass
class _Run:
    shop: Shop
    customer: Customer
    clock: datetime
    orders: list[tuple[Order, int]] = field(default_factory=list)  # (order, units not yet refunded)


_OP = st.one_of(
    st.tuples(st.just("order"), st.integers(1, 6)),
    st.tuples(st.just("refund"), st.integers(0, 4), st.integers(1, 6)),
    st.tuples(st.just("adjust"), st.integers(-60, 200)),
    st.tuples(st.just("redeem"), st.integers(1, 250)),
    st.tuples(st.just("advance"), st.integers(1, 40)),
)


@pytest.fixture
def shop(org: Org) -> Shop:
    shop = build_shop(org)
    Sku.objects.update(stock=10**7)
    setup_program(shop)
    return shop


def _step(r: _Run, op: tuple[int | str, ...]) -> None:
    kind, c, key = op[0], r.customer.pk, f"p{next(_KEYS)}"
    if kind == "order":
        order = r.shop.order(line(r.shop.tissue, int(op[1])), customer=r.customer)
        r.orders.append((pay(order, at=r.clock, ref=key), int(op[1])))
    elif kind == "refund" and r.orders:
        index = int(op[1]) % len(r.orders)
        order, left = r.orders[index]
        units = min(int(op[2]), left)
        if units:
            refund(r.shop, order, {order.lines.get().pk: units}, key, at=r.clock)
            r.orders[index] = (order, left - units)
    elif kind == "adjust" and op[1] != 0:
        held = queries.balance(r.shop.enterprise_id, c, now=r.clock)
        try:
            services.adjust(scope=r.shop.hq, customer_id=c, points=int(op[1]), reason="p", key=key, now=r.clock)
            assert int(op[1]) > 0 or held >= -int(op[1])
        except Conflict as exc:
            assert exc.code == "insufficient_points" and held < -int(op[1])
    elif kind == "redeem":
        _redeem(r, int(op[1]), key)
    elif kind == "advance":
        r.clock += timedelta(days=int(op[1]))
        services.unlock_all(now=r.clock)
        services.expire_all(now=r.clock)
        assert services.expire_all(now=r.clock) == 0 and services.unlock_all(now=r.clock) == 0  # idempotent


def _redeem(r: _Run, points: int, key: str) -> None:
    c = r.customer.pk
    held = queries.balance(r.shop.enterprise_id, c, now=r.clock)
    operations = PointsOperation.objects.count()
    try:
        services.redeem(scope=r.shop.hq, customer_id=c, points=points, reason="p", key=key, now=r.clock)
    except Conflict as exc:
        assert exc.code == "insufficient_points" and held < points
        assert PointsOperation.objects.count() == operations  # nothing written
        return
    assert held >= points
    assert queries.balance(r.shop.enterprise_id, c, now=r.clock) == held - points


def _check(r: _Run) -> None:
    shop, c = r.shop, r.customer.pk
    assert finance_queries.trial_balance(shop.hq).balanced
    per_entry = LedgerTransfer.objects.filter(enterprise_id=shop.enterprise_id).values("entry_id").annotate(
        n=Sum("amount_fen")).order_by()
    assert all(row["n"] > 0 for row in per_entry)  # every transfer is a positive, two-sided movement (CHECKs)
    lots_consistent(c)
    ledger_matches_lots(shop)
    earned = PointsLot.objects.filter(customer_id=c).aggregate(p=Sum("points"), r=Sum("remaining"))
    taken = PointsOperation.objects.filter(customer_id=c).aggregate(p=Sum("points"))["p"] or 0
    assert (earned["p"] or 0) == (earned["r"] or 0) + taken
    assert queries.balance(shop.enterprise_id, c, now=r.clock) >= 0
    for order, left in r.orders:
        lot = PointsLot.objects.filter(key=f"order:{order.pk}").first()
        if lot is None:
            continue
        asked = PointsOperation.objects.filter(kind="reverse", order_id=order.pk).aggregate(
            a=Sum(F("points") + F("shortfall")))["a"] or 0
        assert asked <= lot.points
        if left == 0:
            assert asked == lot.points


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_OP, min_size=1, max_size=12))
def test_any_sequence_keeps_the_ledger_balanced_and_the_lots_equal_to_the_balance(
        shop: Shop, ops: list[tuple[int | str, ...]]) -> None:
    customer = CustomerFactory.create(enterprise=shop.org.enterprise)
    run = _Run(shop=shop, customer=customer, clock=timezone.now())
    for op in ops:
        _step(run, op)
        _check(run)
