"""Refunds through WeChat Pay: by order line from an approved after-sale, row first, the refund notify completes the
after-sale (stock and coupon rules stay the orders app's) and posts the ledger once; partial refunds until the order
is fully refunded; nothing above what the payment can give back."""

from __future__ import annotations

import pytest
from django.utils import timezone

from simulator import wechatpay as sim
from simulator.state import current
from siyu.core.errors import Conflict
from siyu.finance import queries, services
from siyu.finance.models import Account, JournalEntry, Refund, RefundStatus
from siyu.orders.models import Order
from siyu.orders.services import after_sale, states
from siyu.org.scope import Scope
from tests.finance.conftest import Paying
from tests.orders.helpers import line

pytestmark = pytest.mark.django_db


def _paid_order(p: Paying) -> Order:
    order = p.shop.order(line(p.shop.tissue, 2), line(p.shop.pan, 1))  # 3,980 + 29,900, free shipping
    out_trade_no = p.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.pay(p.merchant.mch_id, out_trade_no, notify=False)
    assert p.notify(sim.transaction_json(platform)).status_code == 204
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_fen == 33_880
    return order


def _approved(p: Paying, order: Order, lines: list[after_sale.RefundLineInput] | None) -> int:
    sale = after_sale.request_refund(enterprise_id=p.shop.enterprise_id, customer_id=p.shop.customer.pk,
                                         order_id=order.pk, kind="refund_only", reason="不想要了", lines=lines)
    after_sale.approve_refund(scope=p.shop.hq, after_sale_id=sale.pk)
    return sale.pk


def _refund_notify(p: Paying, refund: Refund) -> int:
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


def test_partial_refunds_by_line_until_fully_refunded(paying: Paying) -> None:
    order = _paid_order(paying)
    tissue_line = order.lines.get(sku=paying.shop.tissue)
    sale_id = _approved(paying, order, [after_sale.RefundLineInput(line_id=tissue_line.pk, quantity=1)])
    refund = services.start_refund(scope=paying.shop.hq, after_sale_id=sale_id)
    assert services.start_refund(scope=paying.shop.hq, after_sale_id=sale_id).pk == refund.pk  # asked twice
    assert refund.status == RefundStatus.PROCESSING and refund.amount_fen == 1990
    platform = current().wechatpay.order(paying.merchant.mch_id, refund.payment.out_trade_no)
    assert platform is not None and len(platform.refunds) == 1  # one refund at the platform
    assert _refund_notify(paying, refund) == 204
    assert _refund_notify(paying, refund) == 204  # delivered again: applied once
    order.refresh_from_db()
    assert order.refunded_fen == 1990 and order.status == "paid"
    hq = Scope.hq(paying.shop.enterprise_id)
    assert queries.balance(hq, Account.PLATFORM_CLEARING, currency="CNY") == 33_880 - 1990
    assert JournalEntry.objects.filter(kind="refund").count() == 1

    rest = _approved(paying, order, None)
    second = services.start_refund(scope=paying.shop.hq, after_sale_id=rest)
    assert second.amount_fen == 33_880 - 1990
    assert _refund_notify(paying, second) == 204
    order.refresh_from_db()
    assert order.status == "refunded" and order.refunded_fen == 33_880
    assert queries.balance(hq, Account.PLATFORM_CLEARING, currency="CNY") == 0
    assert queries.balance(hq, Account.CUSTOMER_PREPAID, currency="CNY") == 0
    assert queries.trial_balance(hq).balanced


def test_a_refund_of_an_order_not_paid_through_wechat_pay_is_refused(paying: Paying) -> None:
    order = paying.shop.order(line(paying.shop.tissue, 1))
    states.mark_paid(order_id=order.pk, paid_at=timezone.now(), payment_ref="cash-1")
    sale_id = _approved(paying, order, None)
    with pytest.raises(Conflict) as caught:
        services.start_refund(scope=paying.shop.hq, after_sale_id=sale_id)
    assert caught.value.code == "no_wechat_payment" and not Refund.objects.exists()


def test_a_requested_but_unapproved_after_sale_is_not_paid_back(paying: Paying) -> None:
    order = _paid_order(paying)
    sale = after_sale.request_refund(enterprise_id=paying.shop.enterprise_id, customer_id=paying.shop.customer.pk,
                                         order_id=order.pk, kind="refund_only")
    with pytest.raises(Conflict) as caught:
        services.start_refund(scope=paying.shop.hq, after_sale_id=sale.pk)
    assert caught.value.code == "invalid_transition" and not Refund.objects.exists()


def test_a_refund_whose_notify_never_comes_is_queried_and_completed(paying: Paying) -> None:
    order = _paid_order(paying)
    sale_id = _approved(paying, order, None)
    current().wechatpay.refund_notifies = False
    try:
        refund = services.start_refund(scope=paying.shop.hq, after_sale_id=sale_id)
    finally:
        current().wechatpay.refund_notifies = True
    assert refund.status == RefundStatus.PROCESSING
    assert services.sync_stale_refunds(older_than_s=600) == 0  # not overdue yet: not asked
    assert services.sync_stale_refunds(older_than_s=0) == 1
    refund.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and refund.refund_id.startswith("50")
    assert order.status == "refunded" and queries.balance(Scope.hq(order.enterprise_id), "platform_clearing",
                                                         currency="CNY") == 0
    assert JournalEntry.objects.filter(kind="refund").count() == 1
    assert services.sync_stale_refunds(older_than_s=0) == 0  # done: nothing left to ask
    assert _refund_notify(paying, refund) == 204  # the late notify is a duplicate, posted once
    assert JournalEntry.objects.filter(kind="refund").count() == 1
