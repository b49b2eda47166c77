"""What every order capability shares: the payment deadline, the clock, the HQ scope of a background step."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers.services import (
    record_event,
)
from siyu.orders.models import (
    OPEN_AFTER_SALE,
    AfterSale,
    Order,
    OrderStatus,
)
from siyu.org.scope import Scope

MAX_QUANTITY = 9999
DEFAULT_PAY_TIMEOUT_MINUTES = 30
EXPIRE_BATCH = 500
PAID_STATES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.PICKED_UP, OrderStatus.COMPLETED)


def pay_timeout() -> timedelta:
    minutes = getattr(settings, "SIYU_ORDER_PAY_TIMEOUT_MINUTES", None)
    if minutes is None:
        minutes = int(os.environ.get("SIYU_ORDER_PAY_TIMEOUT_MINUTES", str(DEFAULT_PAY_TIMEOUT_MINUTES)))
    return timedelta(minutes=int(minutes))


def _now(now: datetime | None) -> datetime:
    moment = now or timezone.now()
    if moment.tzinfo is None:
        raise ValidationFailed(_("a moment needs a timezone"), field="now", code="naive_datetime")
    return moment


def _event_time(moment: datetime) -> datetime:
    """The log refuses events dated in the future: a test's future `now` is logged as now."""
    return min(moment, timezone.now())


def _hq(enterprise_id: int) -> Scope:
    return Scope.hq(enterprise_id, label="orders")


def _clean_ref(payment_ref: str, field: str = "payment_ref") -> str:
    ref = (payment_ref or "").strip()
    if not ref or len(ref) > 64:
        raise ValidationFailed(_("%(field)s is 1-64 characters") % {"field": field}, field=field, code="required")
    return ref


def _event(order: Order, name: str, key: str, moment: datetime, properties: dict[str, Any]) -> None:
    if order.customer is None:
        return  # a platform order nobody matched: no customer log to write to
    record_event(customer=order.customer, name=name, idempotency_key=key, occurred_at=_event_time(moment),
                 channel=order.channel, store_id=order.store_id, staff_id=order.staff_id, campaign=order.campaign,
                 properties={"order_id": order.pk, "order_no": order.order_no, **properties})


def _no_open_after_sale(order_id: int) -> None:
    if AfterSale.objects.filter(order_id=order_id, status__in=OPEN_AFTER_SALE).exists():
        raise Conflict(_("settle the open after-sale request first"), field="order_id", code="after_sale_open")


def _own_order(enterprise_id: int, customer_id: int, order_id: int) -> Order:
    order = Order.objects.filter(pk=order_id, enterprise_id=enterprise_id, customer_id=customer_id).first()
    if order is None:
        raise NotFound(_("order %(order_id)s not found") % {"order_id": order_id}, field="order_id")
    return order
