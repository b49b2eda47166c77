"""Points on the real payment path: the WeChat Pay notify (through the simulator, signed and encrypted) earns the
order's points in the payment's transaction, a re-delivered notify earns nothing more, and the refund notify takes
them back proportionally (loyalty hooks into orders' paid and refunded paths; finance never imports loyalty)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.finance import queries, services
from siyu.finance.models import Account
from siyu.loyalty import services as loyalty
from siyu.loyalty.models import LotStatus, PointsLot, PointsOperation
from siyu.orders.services import after_sale
from siyu.org.scope import Scope
from tests.finance.conftest import Paying
from tests.finance.test_refunds import _approved, _paid_order, _refund_notify
from tests.loyalty.helpers import setup_program

pytestmark = pytest.mark.django_db


def test_notify_earns_points_and_the_refund_notify_reverses_them(paying: Paying) -> None:
    setup_program(paying.shop)  # 1 point per yuan, paper goods too; 1 fen a point; 7-day window
    order = _paid_order(paying)  # 2 tissues (3,980 fen) and a pan (29,900 fen)
    lot = PointsLot.objects.get(order_id=order.pk)
    assert (lot.points, lot.status) == (39 + 299, LotStatus.PENDING)
    assert lot.line_points == {str(order.lines.get(sku=paying.shop.tissue).pk): 39,
                               str(order.lines.get(sku=paying.shop.pan).pk): 299}
    loyalty.unlock_all(now=timezone.now() + timedelta(days=8))
    hq = Scope.hq(paying.shop.enterprise_id)
    assert queries.balance(hq, Account.POINTS_LIABILITY, currency="CNY") == 338

    tissue = order.lines.get(sku=paying.shop.tissue)
    sale_id = _approved(paying, order, [after_sale.RefundLineInput(line_id=tissue.pk, quantity=1)])
    refund = services.start_refund(scope=paying.shop.hq, after_sale_id=sale_id)
    assert _refund_notify(paying, refund) == 204
    assert _refund_notify(paying, refund) == 204  # delivered again: reversed once
    op = PointsOperation.objects.get(kind="reverse")
    assert (op.points, op.shortfall) == (19, 0)  # floor(39 × 1990 / 3980) = 19, taken from the order's own lot
    assert queries.balance(hq, Account.POINTS_LIABILITY, currency="CNY") == 338 - 19
    assert queries.trial_balance(hq).balanced
