"""Property: any sequence of pay / partial refund / full refund / re-delivered notifies / store settlement, run
through the real services (apply_transaction and apply_refund_result, the code the notify URL calls, with orders'
after-sales and the commission accrual behind them), keeps every entry and the books balanced, never lets a payment
give back more than it took, and leaves each staff member's commission payable, each store's receivable and the
customers' prepaid money equal to what plain arithmetic on the facts says (computed here, not read from the ledger).

Hand rules: tissue ¥19.90 earns 10% of its line (category rule); the pan ¥299.00 earns ¥15 per unit (product rule).
Shipping is ¥10 under ¥99 and stays with HQ (customer prepaid) until refunded with the last unit.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import F, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.catalog.models import Sku
from siyu.channels.wechatpay.client import Transaction
from siyu.finance import commissions, queries, services
from siyu.finance.models import Account, LedgerTransfer, Payment, PayMerchant, Refund
from siyu.orders.models import Order
from siyu.orders.services import after_sale
from siyu.orders.services.placement import Attribution
from siyu.org.scope import Scope
from siyu.storefront.services import checkout
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop, line

pytestmark = pytest.mark.django_db
_MONTHS = itertools.count()
TISSUE, PAN, SHIPPING = 1990, 29_900, 1000


@dataclass
class _Order:
    order: Order
    payment: Payment
    staff: int | None
    store: int | None
    lines: dict[int, list[int]]  # line id -> [unit price, quantity, refunded quantity, commission, given back]
    shipping: int
    refunds: list[Refund] = field(default_factory=list)

    def left(self) -> int:
        return sum(q - r for _u, q, r, _c, _g in self.lines.values())


@dataclass
class _Model:
    payable: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))  # staff -> commission
    receivable: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))  # store -> owed
    prepaid: int = 0
    orders: list[_Order] = field(default_factory=list)
    settled: dict[int, int] = field(default_factory=dict)


_OP = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 4), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.just("partial_refund"), st.integers(0, 5), st.integers(0, 1), st.integers(1, 3)),
    st.tuples(st.just("full_refund"), st.integers(0, 5), st.just(0), st.just(0)),
    st.tuples(st.just("redeliver"), st.integers(0, 5), st.just(0), st.just(0)),
    st.tuples(st.just("settle"), st.integers(0, 1), st.just(0), st.just(0)),
)


class _World:
    def __init__(self, org: Org) -> None:
        self.org = org
        self.shop: Shop = build_shop(org)
        Sku.objects.update(stock=10**7)
        hq = self.shop.hq
        commissions.create_rule(scope=hq, data=commissions.RuleInput(
            name="纸品 10%", target="category", basis="percent", rate_bp=1000,
            category_id=self.shop.tissue.product.category_id, valid_from=date(1990, 1, 1)))
        commissions.create_rule(scope=hq, data=commissions.RuleInput(
            name="锅 ¥15", target="product", basis="fixed", fixed_fen=1500, product_id=self.shop.pan.product.pk,
            valid_from=date(1990, 1, 1)))
        self.merchant = PayMerchant(enterprise=org.enterprise, name="m", mch_id="1900000109", app_id="wxprop",
                                    merchant_serial_no="S", platform_key_id="PUB_KEY_ID_X", platform_public_key="-")
        self.merchant.save()
        self.staff = [org.n1_staff.pk, org.n2_staff.pk, None]
        self.stores = {org.n1_staff.pk: org.store_n1.pk, org.n2_staff.pk: org.store_n2.pk, None: None}

    @property
    def hq(self) -> Scope:
        return self.shop.hq


def _tx(p: Payment, at: datetime) -> Transaction:
    return Transaction(out_trade_no=p.out_trade_no, transaction_id=f"T{p.pk:08d}", trade_state="SUCCESS",
                       total_fen=p.amount_fen, payer_total_fen=p.amount_fen, currency="CNY",
                       success_time=at.isoformat(), openid=p.openid, mch_id=p.merchant.mch_id,
                       app_id=p.merchant.app_id)


def _pay(w: _World, m: _Model, tissues: int, pans: int, who: int, at: datetime) -> None:
    lines = [line(w.shop.tissue, tissues)] + ([line(w.shop.pan, pans)] if pans else [])
    staff = w.staff[who]
    order = checkout.place_order(enterprise_id=w.shop.enterprise_id, customer_id=w.shop.customer.pk,
                                 data=w.shop.checkout(*lines, attribution=Attribution(staff_id=staff)))
    payment = Payment.objects.create(enterprise=w.org.enterprise, merchant=w.merchant, order_id=order.pk,
                                     out_trade_no=f"{order.order_no}F", amount_fen=order.amount_fen,
                                     openid="o_prop", status="prepaid")
    assert services.apply_transaction(payment, _tx(payment, at)).outcome == "applied"
    rows: dict[int, list[int]] = {}
    for row in order.lines.all():
        unit = TISSUE if row.sku_id == w.shop.tissue.pk else PAN
        commission = unit * row.quantity * 1000 // 10_000 if unit == TISSUE else min(1500 * row.quantity,
                                                                                      unit * row.quantity)
        rows[row.pk] = [unit, row.quantity, 0, commission if staff else 0, 0]
    goods = sum(u * q for u, q, _r, _c, _g in rows.values())
    shipping = 0 if goods >= 9900 else SHIPPING
    assert order.amount_fen == goods + shipping  # the hand price agrees with the pricing engine
    store = w.stores[staff]
    m.orders.append(_Order(order, payment, staff, store, rows, shipping))
    m.payable[staff] += sum(c for *_x, c, _g in rows.values())
    if store is not None:
        m.receivable[store] += goods
    m.prepaid += shipping


def _refund(w: _World, m: _Model, o: _Order, wanted: dict[int, int] | None, at: datetime) -> None:
    lines = None if wanted is None else [after_sale.RefundLineInput(line_id=k, quantity=v) for k, v in wanted.items()]
    sale = after_sale.request_refund(enterprise_id=w.shop.enterprise_id, customer_id=w.shop.customer.pk,
                                     order_id=o.order.pk, kind="refund_only", lines=lines)
    after_sale.approve_refund(scope=w.hq, after_sale_id=sale.pk)
    refund = Refund.objects.create(enterprise=w.org.enterprise, payment=o.payment, after_sale_id=sale.pk,
                                   out_refund_no=f"R{sale.pk:010d}", amount_fen=sale.amount_fen, status="processing")
    result = {"refund_status": "SUCCESS", "amount": {"refund": sale.amount_fen}, "success_time": at.isoformat(),
              "refund_id": f"RF{sale.pk}"}
    assert services.apply_refund_result(refund, result).outcome == "applied"
    o.refunds.append(refund)
    taking = wanted if wanted is not None else {k: q - r for k, (_u, q, r, _c, _g) in o.lines.items() if q > r}
    goods = 0
    for line_id, quantity in taking.items():
        unit, total, done, commission, given = o.lines[line_id]
        goods += unit * quantity
        done += quantity
        target = commission if done == total else commission * unit * done // (unit * total)
        m.payable[o.staff] -= target - given
        o.lines[line_id] = [unit, total, done, commission, target]
    if o.store is not None:
        m.receivable[o.store] -= goods
    if o.left() == 0:  # the last unit out takes the shipping back with it
        m.prepaid -= o.shipping
    assert sale.amount_fen == goods + (o.shipping if o.left() == 0 else 0)


def _apply(w: _World, m: _Model, month: date, n: int, op: tuple[str, int, int, int]) -> None:
    kind, a, b, c = op
    at = datetime(month.year, month.month, 10, 2, tzinfo=UTC) + timedelta(minutes=n)
    open_orders = [o for o in m.orders if o.left() > 0]
    if kind == "pay":
        _pay(w, m, a, b, c, at)
    elif kind == "partial_refund" and open_orders:
        o = open_orders[a % len(open_orders)]
        ids = [k for k, v in o.lines.items() if v[1] > v[2]]
        line_id = ids[b % len(ids)]
        _refund(w, m, o, {line_id: min(c, o.lines[line_id][1] - o.lines[line_id][2])}, at)
    elif kind == "full_refund" and open_orders:
        _refund(w, m, open_orders[a % len(open_orders)], None, at)
    elif kind == "redeliver" and m.orders:
        o = m.orders[a % len(m.orders)]
        assert services.apply_transaction(o.payment, _tx(o.payment, at)).outcome == "duplicate"
        for refund in o.refunds:
            again = {"refund_status": "SUCCESS", "amount": {"refund": refund.amount_fen},
                     "success_time": at.isoformat(), "refund_id": "again"}
            assert services.apply_refund_result(refund, again).outcome == "duplicate"
    elif kind == "settle":
        store = [w.org.store_n1.pk, w.org.store_n2.pk][a]
        done = commissions.settle_store_month(scope=w.hq, store_id=store, month=month)
        if store not in m.settled:
            m.settled[store] = m.receivable[store]
            assert done.amount_fen == m.receivable[store]
            m.receivable[store] = 0
        assert done.amount_fen == m.settled[store]


def _check(w: _World, m: _Model, base: dict[tuple[str, int | None], int]) -> None:
    e = w.org.enterprise.pk
    tb = queries.trial_balance(w.hq)
    assert tb.balanced
    # Every entry sums to zero: per entry, what its legs debit equals what they credit, account by account summed.
    debits = dict(LedgerTransfer.objects.filter(enterprise_id=e).values_list("entry_id").annotate(
        s=Sum("amount_fen")).order_by())
    credits = {k: v for k, v in LedgerTransfer.objects.filter(enterprise_id=e).exclude(
        debit_account=F("credit_account")).values_list("entry_id").annotate(s=Sum("amount_fen")).order_by()}
    assert debits == credits and tb.debit_total_fen == tb.credit_total_fen

    def bal(account: str, *, staff: int | None = None, store: int | None = None) -> int:
        return queries.balance(w.hq, account, currency="CNY", staff_id=staff, store_id=store) - base.get(
            (account, staff or store), 0)

    for staff in (w.org.n1_staff.pk, w.org.n2_staff.pk):
        assert bal(Account.STAFF_COMMISSION_PAYABLE, staff=staff) == m.payable[staff]
    for store in (w.org.store_n1.pk, w.org.store_n2.pk):
        assert bal(Account.STORE_RECEIVABLE, store=store) == m.receivable[store]
    assert bal(Account.CUSTOMER_PREPAID) == m.prepaid
    for o in m.orders:
        refunded = sum(Refund.objects.filter(payment=o.payment, status="succeeded").values_list("amount_fen",
                                                                                               flat=True))
        o.order.refresh_from_db()
        assert 0 <= o.order.paid_fen - o.order.refunded_fen == o.payment.amount_fen - refunded


def _baseline(w: _World) -> dict[tuple[str, int | None], int]:
    out: dict[tuple[str, int | None], int] = {}
    for staff in (w.org.n1_staff.pk, w.org.n2_staff.pk):
        out[(Account.STAFF_COMMISSION_PAYABLE, staff)] = queries.balance(
            w.hq, Account.STAFF_COMMISSION_PAYABLE, currency="CNY", staff_id=staff)
    for store in (w.org.store_n1.pk, w.org.store_n2.pk):
        out[(Account.STORE_RECEIVABLE, store)] = queries.balance(w.hq, Account.STORE_RECEIVABLE, currency="CNY",
                                                                 store_id=store)
    out[(Account.CUSTOMER_PREPAID, None)] = queries.balance(w.hq, Account.CUSTOMER_PREPAID, currency="CNY")
    return out


@pytest.fixture
def world(org: Org) -> _World:
    return _World(org)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_OP, min_size=1, max_size=10))
def test_any_sequence_keeps_books_balanced_and_commissions_as_computed(world: _World,
                                                                       ops: list[tuple[str, int, int, int]]) -> None:
    k = next(_MONTHS)  # each example its own past month, so settlements (once per store per month) never collide
    month = date(2000 + k // 12, k % 12 + 1, 1)
    assert commissions_month_is_over(month)
    base = _baseline(world)
    model = _Model()
    for n, op in enumerate(ops):
        _apply(world, model, month, n, op)
        _check(world, model, base)


def commissions_month_is_over(month: date) -> bool:
    from siyu.finance.commission_queries import month_bounds

    return month_bounds(month)[1] < timezone.now()
