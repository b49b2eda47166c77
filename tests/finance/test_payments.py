"""A storefront order paid through WeChat Pay (the simulator plays the platform; its notifies are sent to our
notify URL as the platform would): row first, notify applied once, forged/stale/unknown notifies refused and logged,
mismatches flagged for finance and never paid, the query fallback, and the ledger posted once per payment."""

from __future__ import annotations

import json
import time

import pytest
from django.utils import timezone

from simulator import wechatpay as sim
from simulator.state import current
from siyu.finance import queries, services
from siyu.finance.models import Account, JournalEntry, Payment, PaymentStatus, PayMerchant, PayNotify
from siyu.orders.models import Order
from siyu.orders.services import states
from siyu.org.scope import Scope
from tests.finance.conftest import OPENID, Paying
from tests.orders.helpers import line

pytestmark = pytest.mark.django_db


def _order(p: Paying) -> Order:
    return p.shop.order(line(p.shop.tissue, 2))  # 2 × ¥19.90 + ¥10 shipping = ¥49.80


def test_pay_then_notify_marks_the_order_paid_and_posts_the_ledger_once(paying: Paying) -> None:
    order = _order(paying)
    assert order.amount_fen == 4980
    first = paying.pay_route(order)
    assert first.status_code == 200, first.content
    started = first.json()
    assert started["amount_fen"] == 4980 and started["request_payment"]["signType"] == "RSA"
    again = paying.pay_route(order).json()
    assert again["payment_id"] == started["payment_id"]
    assert again["request_payment"]["package"] == started["request_payment"]["package"]
    platform = current().wechatpay.order(paying.merchant.mch_id, started["out_trade_no"])
    assert platform is not None and platform.total == 4980 and platform.openid == OPENID

    current().wechatpay.pay(paying.merchant.mch_id, started["out_trade_no"], notify=False)
    h, b = current().wechatpay.build_notify(paying.merchant.mch_id, "TRANSACTION.SUCCESS",
                                            sim.transaction_json(platform))
    assert paying.client.post(paying.notify_url, b, content_type="application/json", headers=h).status_code == 204
    assert paying.client.post(paying.notify_url, b, content_type="application/json", headers=h).status_code == 204
    assert paying.notify(sim.transaction_json(platform)).status_code == 204  # a second delivery, new nonce
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_fen == 4980 and order.payment_ref == platform.transaction_id
    assert Payment.objects.get().status == PaymentStatus.PAID
    assert paying.clearing() == 4980
    assert JournalEntry.objects.filter(kind="payment").count() == 1
    assert list(PayNotify.objects.order_by("id").values_list("outcome", flat=True)) == ["applied", "duplicate"]


def test_forged_stale_and_unknown_notifies_are_refused_logged_and_change_nothing(paying: Paying) -> None:
    order = _order(paying)
    out_trade_no = paying.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.order(paying.merchant.mch_id, out_trade_no)
    assert platform is not None
    current().wechatpay.pay(paying.merchant.mch_id, out_trade_no, notify=False)
    resource = sim.transaction_json(platform)
    h, b = current().wechatpay.build_notify(paying.merchant.mch_id, "TRANSACTION.SUCCESS", resource)
    forged = paying.client.post(paying.notify_url, b.replace(b'"id": "', b'"id": "x'),
                                content_type="application/json", headers=h)
    assert forged.status_code == 401 and forged.json() == {"code": "FAIL", "message": "bad_signature"}
    stale = paying.notify(resource, timestamp=int(time.time()) - 400)
    assert stale.status_code == 401 and stale.json()["message"] == "stale"
    unknown = paying.notify({**resource, "out_trade_no": "SY_NOBODY_0001"})
    assert unknown.status_code == 404 and unknown.json()["message"] == "unknown_out_trade_no"
    other_mch = paying.client.post("/finance/wechatpay/callback/1234567890/", b, content_type="application/json",
                                   headers=h)
    assert other_mch.status_code == 404
    order.refresh_from_db()
    assert order.status == "pending_payment" and paying.clearing() == 0
    assert Payment.objects.get().status == PaymentStatus.PREPAID
    assert sorted(PayNotify.objects.values_list("code", flat=True)) == [
        "bad_signature", "stale", "unknown_merchant", "unknown_out_trade_no"]
    assert not PayNotify.objects.exclude(outcome="rejected").exists()


def test_an_amount_or_currency_mismatch_is_flagged_and_never_paid(paying: Paying) -> None:
    order = _order(paying)
    out_trade_no = paying.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.order(paying.merchant.mch_id, out_trade_no)
    assert platform is not None
    current().wechatpay.pay(paying.merchant.mch_id, out_trade_no, notify=False)
    resource = sim.transaction_json(platform)
    resource["amount"] = {**resource["amount"], "total": 1}
    assert paying.notify(resource).status_code == 204
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.FLAGGED and payment.flag_code == "amount_mismatch"
    resource["amount"] = {**resource["amount"], "total": 4980, "currency": "USD"}
    assert paying.notify(resource).status_code == 204
    assert Payment.objects.get().flag_code == "currency_mismatch"
    order.refresh_from_db()
    assert order.status == "pending_payment" and paying.clearing() == 0


def test_a_late_notify_for_an_order_cancelled_meanwhile_is_flagged_for_a_refund(paying: Paying) -> None:
    order = _order(paying)
    out_trade_no = paying.pay_route(order).json()["out_trade_no"]
    states.cancel_by_customer(enterprise_id=paying.shop.enterprise_id, customer_id=paying.shop.customer.pk,
                                      order_id=order.pk)
    platform = current().wechatpay.pay(paying.merchant.mch_id, out_trade_no, notify=False)
    assert paying.notify(sim.transaction_json(platform)).status_code == 204
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.FLAGGED and payment.flag_code == "order_not_payable"
    order.refresh_from_db()
    assert order.status == "cancelled" and paying.clearing() == 0


def test_the_query_fallback_applies_a_payment_whose_notify_never_came(paying: Paying) -> None:
    order = _order(paying)
    started = paying.pay_route(order).json()
    assert services.sync_payment(payment_id=started["payment_id"]).outcome == "ignored"  # not paid yet
    current().wechatpay.pay(paying.merchant.mch_id, started["out_trade_no"], notify=False)
    assert services.sync_payment(payment_id=started["payment_id"]).outcome == "applied"
    assert services.sync_payment(payment_id=started["payment_id"]).outcome == "duplicate"
    order.refresh_from_db()
    assert order.status == "paid" and paying.clearing() == 4980


def test_paying_without_a_merchant_or_a_paid_order_is_a_clear_409(paying: Paying) -> None:
    order = _order(paying)
    states.mark_paid(order_id=order.pk, paid_at=timezone.now(), payment_ref="offline-1")
    answer = paying.pay_route(order)
    assert answer.status_code == 409 and answer.json()["code"] == "not_payable"
    PayMerchant.objects.update(is_active=False)
    answer = paying.pay_route(_order(paying))
    assert answer.status_code == 409 and answer.json()["code"] == "no_merchant"
    assert json.loads(paying.client.post(paying.notify_url, b"{}", content_type="application/json").content)[
        "message"] == "unknown_merchant"


def test_an_offline_payment_needs_hq_and_a_reason_and_is_audited_and_posted(paying: Paying) -> None:
    from siyu.core.errors import PermissionDenied, ValidationFailed
    from siyu.core.models import AuditEntry
    from siyu.finance.services import record_offline_payment
    from siyu.org.scope import scope_for_staff

    order = _order(paying)
    with pytest.raises(PermissionDenied):
        record_offline_payment(scope=scope_for_staff(paying.shop.org.n1_manager), order_id=order.pk, reason="现金")
    with pytest.raises(ValidationFailed):
        record_offline_payment(scope=paying.shop.hq, order_id=order.pk, reason="  ")
    record_offline_payment(scope=paying.shop.hq, order_id=order.pk, reason="门店现金收款")
    order.refresh_from_db()
    assert order.status == "paid"
    hq = Scope.hq(paying.shop.enterprise_id)
    assert queries.balance(hq, Account.OFFLINE_RECEIPTS, currency="CNY") == 4980 and paying.clearing() == 0
    assert AuditEntry.objects.filter(action="order.offline_payment", target_id=str(order.pk)).count() == 1


def test_an_expiring_order_is_closed_at_the_platform_before_it_is_cancelled(paying: Paying) -> None:
    from datetime import timedelta

    unpaid, late = _order(paying), _order(paying)
    unpaid_no = paying.pay_route(unpaid).json()["out_trade_no"]
    late_no = paying.pay_route(late).json()["out_trade_no"]
    # paid at the last moment; the notify is not here yet
    current().wechatpay.pay(paying.merchant.mch_id, late_no, notify=False)
    past = timezone.now() - timedelta(minutes=1)
    Order.objects.filter(pk__in=[unpaid.pk, late.pk]).update(pay_deadline=past)
    assert states.expire_unpaid_orders() == 1
    unpaid.refresh_from_db()
    late.refresh_from_db()
    assert unpaid.status == "cancelled" and late.status == "paid"
    closed = current().wechatpay.order(paying.merchant.mch_id, unpaid_no)
    assert closed is not None and closed.state == "CLOSED"
    assert Payment.objects.get(out_trade_no=unpaid_no).status == PaymentStatus.CLOSED
    # the platform honours it
    assert current().wechatpay.pay(paying.merchant.mch_id, unpaid_no, notify=False).state == "CLOSED"
    assert paying.clearing() == late.amount_fen


def test_an_order_whose_payment_cannot_be_closed_is_not_cancelled_yet(paying: Paying) -> None:
    from datetime import timedelta

    order = _order(paying)
    paying.pay_route(order)
    PayMerchant.objects.filter(pk=paying.row.pk).update(base_url="http://127.0.0.1:9")  # the platform is down
    Order.objects.filter(pk=order.pk).update(pay_deadline=timezone.now() - timedelta(minutes=1))
    assert states.expire_unpaid_orders() == 0
    order.refresh_from_db()
    assert order.status == "pending_payment" and Payment.objects.get().status == PaymentStatus.PREPAID
