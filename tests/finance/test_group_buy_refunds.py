"""A group-buy team that fails is refunded through WeChat Pay: the periodic payout sends each member's approved
system refund once (the Refund row first, the platform call outside any transaction), and the refund notify
completes the order like any other refund."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from simulator import wechatpay as sim
from simulator.state import current
from siyu.core.models import AuditEntry
from siyu.core.money import Money
from siyu.finance import services
from siyu.finance.models import Refund, RefundStatus
from siyu.orders.models import Order
from siyu.orders.services import after_sale
from siyu.promotions import services as promotions
from siyu.promotions.models import GroupBuyTeam
from siyu.promotions.services import GroupBuyInput
from tests.finance.conftest import Paying
from tests.finance.test_refunds import _refund_notify
from tests.orders.helpers import later, line

pytestmark = pytest.mark.django_db


def _paid_group_order(p: Paying) -> Order:
    group = promotions.create_group_buy(scope=p.shop.hq, data=GroupBuyInput(
        name="两人团", sku_id=p.shop.pan.pk, group_price=Money(24900), starts_at=later(-10), ends_at=later(600),
        group_size=2, hours=2))
    order = p.shop.order(line(p.shop.pan, 1, group_buy_id=group.pk))  # 249.00, free shipping over 99.00
    out_trade_no = p.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.pay(p.merchant.mch_id, out_trade_no, notify=False)
    assert p.notify(sim.transaction_json(platform)).status_code == 204
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == ("paid", 24900)
    return order


def test_a_failed_team_is_paid_back_once_through_wechat_pay(paying: Paying) -> None:
    order = _paid_group_order(paying)
    assert GroupBuyTeam.objects.get().status == "open"
    assert services.pay_out_system_refunds() == 0  # nothing approved yet: the team is still forming

    assert after_sale.refund_failed_group_buys(now=timezone.now() + timedelta(hours=3)) == 1
    assert services.pay_out_system_refunds() == 1
    assert services.pay_out_system_refunds() == 0  # a second run sends nothing again
    refund = Refund.objects.get()
    assert (refund.status, refund.amount_fen) == (RefundStatus.PROCESSING, 24900)
    platform = current().wechatpay.order(paying.merchant.mch_id, refund.payment.out_trade_no)
    assert platform is not None and len(platform.refunds) == 1
    assert AuditEntry.objects.filter(action="after_sale.refund_started", actor_label="system").count() == 1

    assert _refund_notify(paying, refund) == 204
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == ("refunded", 24900)


def test_a_payout_whose_call_failed_is_sent_on_the_next_run(paying: Paying, monkeypatch: pytest.MonkeyPatch) -> None:
    _paid_group_order(paying)
    after_sale.refund_failed_group_buys(now=timezone.now() + timedelta(hours=3))
    real = services._send_refund

    def unreachable(refund: Refund, *, reason: str) -> bool:
        raise services.PayError("WeChat Pay could not be reached", platform_code="UNREACHABLE")

    monkeypatch.setattr(services, "_send_refund", unreachable)
    assert services.pay_out_system_refunds() == 0
    assert Refund.objects.get().status == RefundStatus.CREATED  # the row is there, the platform never heard of it
    monkeypatch.setattr(services, "_send_refund", real)
    assert services.pay_out_system_refunds() == 1
    assert Refund.objects.get().status == RefundStatus.PROCESSING
