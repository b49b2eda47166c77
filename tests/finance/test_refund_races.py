"""Partial refunds of one payment raced on PostgreSQL by threads with their own connections (SQLite serialises
writers: skipped there). Shoppers and finance keep asking for one unit back at once, over real HTTP to the simulated
WeChat Pay, until nothing is left: whatever interleaving, the payment never gives back more than it took, each unit
is refunded once, the commission comes back to exactly zero, and the books stay balanced. The same refund notify
delivered by several threads at once posts once."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.db import connection
from django.utils import timezone

from simulator import wechatpay as sim
from simulator.state import current
from siyu.finance import commissions, queries, services
from siyu.finance.models import Account, JournalEntry, Payment, Refund
from siyu.orders.models import Order
from siyu.orders.services import after_sale
from siyu.orders.services.placement import Attribution
from siyu.storefront.services import checkout
from tests.finance.conftest import Paying
from tests.orders.helpers import line
from tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
UNITS = 5
TISSUE = 1990


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")


def _paid(p: Paying) -> Order:
    commissions.create_rule(scope=p.shop.hq, data=commissions.RuleInput(
        name="纸品 7%", target="category", basis="percent", rate_bp=700,
        category_id=p.shop.tissue.product.category_id, valid_from=date(2020, 1, 1)))
    data = p.shop.checkout(line(p.shop.tissue, UNITS),
                           attribution=Attribution(staff_id=p.shop.org.n1_staff.pk))
    order = checkout.place_order(enterprise_id=p.shop.enterprise_id, customer_id=p.shop.customer.pk, data=data)
    out_trade_no = p.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.pay(p.merchant.mch_id, out_trade_no, notify=False)
    assert p.notify(sim.transaction_json(platform)).status_code == 204
    order.refresh_from_db()
    assert order.paid_fen == UNITS * TISSUE  # ¥99.50: free shipping from ¥99
    return order


def _notify(p: Paying, refund: Refund) -> int:
    platform = current().wechatpay.order(p.merchant.mch_id, refund.payment.out_trade_no)
    assert platform is not None
    sent = next(r for r in platform.refunds if r["out_refund_no"] == refund.out_refund_no)
    resource = {"mchid": p.merchant.mch_id, "out_trade_no": platform.out_trade_no,
                "transaction_id": platform.transaction_id, "out_refund_no": refund.out_refund_no,
                "refund_id": sent["refund_id"], "refund_status": "SUCCESS",
                "success_time": timezone.now().isoformat(),
                "amount": {"total": platform.total, "refund": sent["amount"]["refund"],
                           "payer_total": platform.total, "payer_refund": sent["amount"]["refund"]}}
    h, b = current().wechatpay.build_notify(p.merchant.mch_id, "REFUND.SUCCESS", resource, original_type="refund")
    return int(p.client.post(p.notify_url, b, content_type="application/json", headers=h).status_code)


def _one_unit_back(p: Paying, order: Order) -> None:
    tissue = order.lines.get()
    sale = after_sale.request_refund(enterprise_id=p.shop.enterprise_id, customer_id=p.shop.customer.pk,
                                     order_id=order.pk, kind="refund_only",
                                     lines=[after_sale.RefundLineInput(line_id=tissue.pk, quantity=1)])
    after_sale.approve_refund(scope=p.shop.hq, after_sale_id=sale.pk)
    refund = services.start_refund(scope=p.shop.hq, after_sale_id=sale.pk)
    assert _notify(p, refund) == 204


def test_racing_partial_refunds_never_give_back_more_than_was_paid(paying: Paying) -> None:
    order = _paid(paying)
    seen: Counter[str] = Counter()
    for _round in range(4 * UNITS):
        if Order.objects.get(pk=order.pk).status == "refunded":
            break
        seen += race(6, lambda _i: _one_unit_back(paying, order))
    assert not [k for k in seen if k.startswith("crash")], seen
    order.refresh_from_db()
    payment = Payment.objects.get(order_id=order.pk)
    refunds = list(Refund.objects.filter(payment=payment, status="succeeded").values_list("amount_fen", flat=True))
    assert order.status == "refunded" and sum(refunds) == order.paid_fen == payment.paid_fen
    assert sorted(refunds) == [TISSUE] * UNITS  # each unit once
    assert order.refunded_fen == order.paid_fen
    hq = paying.shop.hq
    assert queries.trial_balance(hq).balanced
    for account in (Account.PLATFORM_CLEARING, Account.CUSTOMER_PREPAID, Account.STORE_RECEIVABLE,
                    Account.STAFF_COMMISSION_PAYABLE, Account.COMMISSION_EXPENSE):
        assert queries.balance(hq, account, currency="CNY") == 0, account


def test_one_refund_notify_delivered_at_once_by_many_posts_once(paying: Paying) -> None:
    order = _paid(paying)
    sale = after_sale.request_refund(enterprise_id=paying.shop.enterprise_id, customer_id=paying.shop.customer.pk,
                                     order_id=order.pk, kind="refund_only", lines=None)
    after_sale.approve_refund(scope=paying.shop.hq, after_sale_id=sale.pk)
    outcomes = race(6, lambda _i: services.start_refund(scope=paying.shop.hq, after_sale_id=sale.pk))
    assert outcomes == Counter({"ok": 6})
    refund = Refund.objects.get(after_sale_id=sale.pk)
    assert race(6, lambda _i: _notify(paying, refund)) == Counter({"ok": 6})
    assert JournalEntry.objects.filter(idempotency_key=f"refund:{refund.out_refund_no}").count() == 1
    assert JournalEntry.objects.filter(idempotency_key=f"commission-refund:{refund.out_refund_no}").count() == 1
    assert queries.balance(paying.shop.hq, Account.STAFF_COMMISSION_PAYABLE, currency="CNY") == 0
    assert queries.trial_balance(paying.shop.hq).balanced
