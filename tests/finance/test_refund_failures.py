"""A refund the platform gives up on (CLOSED by notify, ABNORMAL by the query fallback) does not leave its after-sale
open: the after-sale is closed with the reason (shown on the order page), nothing counts as refunded, nothing is
posted, and the same refund can be asked for again and paid."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from simulator.state import current
from siyu.core.models import AuditEntry
from siyu.finance import services
from siyu.finance.models import JournalEntry, PayNotify, Refund, RefundStatus
from siyu.orders.models import AfterSale, Order, OrderLine
from tests.finance.conftest import Paying
from tests.finance.test_refunds import _paid_order, _refund_notify

pytestmark = pytest.mark.django_db


def _platform_refund(p: Paying, refund: Refund) -> dict[str, Any]:
    platform = current().wechatpay.order(p.merchant.mch_id, refund.payment.out_trade_no)
    assert platform is not None
    found: dict[str, Any] = next(r for r in platform.refunds if r["out_refund_no"] == refund.out_refund_no)
    return found


def _closed_notify(p: Paying, refund: Refund, status: str = "CLOSED") -> int:
    sent = _platform_refund(p, refund)
    resource = {"mchid": p.merchant.mch_id, "out_trade_no": refund.payment.out_trade_no,
                "transaction_id": refund.payment.transaction_id, "out_refund_no": refund.out_refund_no,
                "refund_id": sent["refund_id"], "refund_status": status,
                "amount": {"total": refund.payment.paid_fen, "refund": refund.amount_fen,
                           "payer_total": refund.payment.paid_fen, "payer_refund": refund.amount_fen}}
    h, b = current().wechatpay.build_notify(p.merchant.mch_id, f"REFUND.{status}", resource, original_type="refund")
    return int(p.client.post(p.notify_url, b, content_type="application/json", headers=h).status_code)


def _one_unit(p: Paying, order: Order) -> tuple[OrderLine, Refund]:
    tissue = order.lines.get(sku=p.shop.tissue)  # 2 x 1,990 fen
    refund = services.refund_lines(scope=p.shop.hq, order_id=order.pk, reason="破损",
                                   lines=[services.LineRefund(line_id=tissue.pk, quantity=1)])
    assert refund.status == RefundStatus.PROCESSING and refund.amount_fen == 1990
    return tissue, refund


def test_a_closed_refund_closes_its_after_sale_with_the_reason_and_can_be_asked_again(paying: Paying) -> None:
    order = _paid_order(paying)
    tissue, refund = _one_unit(paying, order)
    assert _closed_notify(paying, refund) == 204  # acknowledged: the platform stops repeating it
    refund.refresh_from_db()
    assert (refund.status, refund.detail) == (RefundStatus.FAILED, "CLOSED")
    sale = AfterSale.objects.get(pk=refund.after_sale_id)
    assert sale.status == "rejected" and "closed the refund" in sale.reject_reason
    assert refund.out_refund_no in sale.reject_reason and sale.idempotency_key == ""
    order.refresh_from_db()
    tissue.refresh_from_db()
    assert (order.refunded_fen, order.status, tissue.refunded_quantity, tissue.refunded_fen) == (0, "paid", 0, 0)
    assert not JournalEntry.objects.filter(kind="refund").exists()
    trail = AuditEntry.objects.get(action="after_sale.refund_failed")
    assert trail.actor_label == "system" and trail.target_id == str(sale.pk)
    assert PayNotify.objects.filter(outcome="flagged", code="refund_closed").count() == 1
    # the same notify again changes nothing
    assert _closed_notify(paying, refund) == 204
    assert AuditEntry.objects.filter(action="after_sale.refund_failed").count() == 1
    # the order page shows it to HQ
    web = Client()
    web.force_login(get_user_model().objects.get(username="hq"))
    page = web.get(f"/orders/{order.pk}/").content.decode()
    assert "closed the refund" in page and 'id="finance-refund"' in page
    # the same refund asked for again is a new refund of the same amount, and it can succeed
    again = services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason="破损",
                                  lines=[services.LineRefund(line_id=tissue.pk, quantity=1)])
    assert again.pk != refund.pk and again.amount_fen == 1990 and again.status == RefundStatus.PROCESSING
    assert _refund_notify(paying, again) == 204
    order.refresh_from_db()
    tissue.refresh_from_db()
    assert (order.refunded_fen, tissue.refunded_quantity) == (1990, 1)
    assert JournalEntry.objects.filter(kind="refund").count() == 1


def test_an_abnormal_refund_found_by_the_query_fallback_closes_its_after_sale(paying: Paying) -> None:
    order = _paid_order(paying)
    _tissue, refund = _one_unit(paying, order)
    _platform_refund(paying, refund)["status"] = "ABNORMAL"  # the buyer's card was closed
    applied = services.sync_refund(refund_id=refund.pk)
    assert (applied.outcome, applied.code) == ("flagged", "refund_abnormal")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    sale = AfterSale.objects.get(pk=refund.after_sale_id)
    assert sale.status == "rejected" and "ABNORMAL" in sale.reject_reason
    # whole payment refundable again: the failed refund holds nothing of it
    rest = services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason="全部退款",
                                 lines=[services.LineRefund(line_id=x.pk, quantity=x.quantity)
                                        for x in order.lines.all()])
    assert rest.amount_fen == 33_880


def test_a_closed_notify_after_the_refund_succeeded_changes_nothing(paying: Paying) -> None:
    order = _paid_order(paying)
    _tissue, refund = _one_unit(paying, order)
    assert _refund_notify(paying, refund) == 204
    assert _closed_notify(paying, refund) == 204
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert AfterSale.objects.get(pk=refund.after_sale_id).status == "refunded"
    assert not AuditEntry.objects.filter(action="after_sale.refund_failed").exists()
    assert timezone.now()
