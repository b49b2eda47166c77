"""A shop with a points program: 1 point per yuan paid, paper goods (纸品清洁) 2 per yuan, a point worth 1 fen, a
7-day return window and 30-day expiry (hand-picked so each test's arithmetic is easy to follow)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F, Sum
from django.utils import timezone

from siyu.finance import queries as finance_queries
from siyu.finance.models import Account
from siyu.loyalty import services
from siyu.loyalty.models import LotStatus, PointsAllocation, PointsLot
from siyu.orders.models import Order
from siyu.orders.services import after_sale, states
from tests.orders.helpers import Shop

WINDOW, EXPIRY = 7, 30


def setup_program(shop: Shop, *, paper_rate: int | None = None, value: int = 1, window: int = WINDOW) -> None:
    rates: tuple[tuple[int, int], ...] = ()
    if paper_rate is not None:
        category = shop.tissue.product.category_id
        rates = ((category, paper_rate),)
    services.configure_program(scope=shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=value, return_window_days=window, expiry_days=EXPIRY,
        category_rates=rates))


def pay(order: Order, at: datetime | None = None, ref: str = "pay-1") -> Order:
    return states.mark_paid(order_id=order.pk, paid_at=at or timezone.now(), payment_ref=ref)


def refund(shop: Shop, order: Order, line_quantities: dict[int, int], ref: str, at: datetime | None = None) -> int:
    """A refund-only after-sale of these units, approved and completed (the money went back)."""
    assert order.customer_id is not None
    sale = after_sale.request_refund(
        enterprise_id=shop.enterprise_id, customer_id=order.customer_id, order_id=order.pk, kind="refund_only",
        lines=[after_sale.RefundLineInput(line_id=k, quantity=v) for k, v in line_quantities.items()])
    after_sale.approve_refund(scope=shop.hq, after_sale_id=sale.pk)
    after_sale.complete_refund(after_sale_id=sale.pk, refunded_at=at or timezone.now(), refund_ref=ref,
                               enterprise_id=shop.enterprise_id)
    return sale.pk


def liability(shop: Shop) -> int:
    return finance_queries.balance(shop.hq, Account.POINTS_LIABILITY, currency="CNY")


def later(days: float) -> datetime:
    return timezone.now() + timedelta(days=days)


def lots_consistent(customer_id: int) -> None:
    """Each lot's remaining = its points minus what was allocated from it, and 0 <= remaining <= points."""
    taken = dict(PointsAllocation.objects.filter(lot__customer_id=customer_id).values_list("lot_id").annotate(
        s=Sum("points")).order_by())
    for lot in PointsLot.objects.filter(customer_id=customer_id):
        assert lot.remaining == lot.points - taken.get(lot.pk, 0), lot
        assert 0 <= lot.remaining <= lot.points


def ledger_matches_lots(shop: Shop, baseline: int = 0) -> None:
    """The ledger's points liability equals the value of what is left in available lots."""
    value = PointsLot.objects.filter(enterprise_id=shop.enterprise_id, status=LotStatus.AVAILABLE).aggregate(
        v=Sum(F("remaining") * F("fen_per_point")))["v"] or 0
    assert liability(shop) - baseline == value
