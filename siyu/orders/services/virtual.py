"""A virtual order: something that is paid but never shipped (loyalty's paid membership), at a price set by its app.

The order is written waiting for payment with one line that names no SKU (nothing is taken from stock), so it is paid
through the one payment path (finance's `start_payment`, the WeChat Pay notify or its query, `states.mark_paid`, the
paid hooks) and refunded like any order (finance's `refund_lines`, the refund hooks). Its `breakdown` carries what it
sells (`{"virtual": "<kind>", ...}`), so the apps that earn on orders can tell it apart. Called inside the caller's
transaction (the row that says what the order buys commits with it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed
from siyu.orders.models import Fulfillment, Order, OrderLine, OrderSource, OrderStatus
from siyu.orders.services.common import pay_timeout
from siyu.orders.services.placement import _attach_lines, _new_order_no, _order_created_event


def place_virtual_order(*, enterprise_id: int, customer_id: int, kind: str, name: str, price_fen: int,
                        currency: str, now: datetime, details: dict[str, Any] | None = None) -> Order:
    """Write an unpaid order of one virtual line (`kind` e.g. `membership`) for `price_fen`."""
    if price_fen <= 0:
        raise ValidationFailed(_("a price above zero"), field="price_fen", code="price_not_positive")
    breakdown = {**(details or {}), "virtual": kind, "list_total_fen": price_fen, "payable_fen": price_fen}
    order = Order.objects.create(
        enterprise_id=enterprise_id, customer_id=customer_id, order_no=_new_order_no(now), source=OrderSource.MALL,
        fulfillment=Fulfillment.DELIVERY, status=OrderStatus.PENDING_PAYMENT, currency=currency,
        list_total_fen=price_fen, subtotal_fen=price_fen, amount_fen=price_fen, breakdown=breakdown,
        created_at=now, pay_deadline=now + pay_timeout())
    lines = OrderLine.objects.bulk_create([OrderLine(
        order=order, index=0, name=name[:200], quantity=1, price_source=kind[:12], unit_list_price_fen=price_fen,
        unit_price_fen=price_fen, list_amount_fen=price_fen, amount_fen=price_fen, payable_fen=price_fen)])
    _order_created_event(order, lines)
    return _attach_lines(order, lines)
