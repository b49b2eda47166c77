"""The shopper's own reads: my orders, one of my orders, my cart (the signed-in customer, not a staff Scope)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import NotFound
from siyu.core.pagination import Page, paginate
from siyu.orders import queries as order_queries
from siyu.orders.models import CartItem, Order, OrderLine


def my_orders(*, enterprise_id: int, customer_id: int, status: str = "", page: int = 1,
              page_size: int = 20) -> Page[Order]:
    qs = Order.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("index")))
                    .order_by("-created_at", "-id"), page=page, page_size=page_size)


def my_order(*, enterprise_id: int, customer_id: int, order_id: int) -> Order:
    mine = Order.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
    found = order_queries.with_details(mine).filter(pk=order_id).first()
    if found is None:
        raise NotFound(_("order %(order_id)s not found") % {"order_id": order_id}, field="order_id")
    return found


def cart_items(*, enterprise_id: int, customer_id: int) -> list[CartItem]:
    return list(CartItem.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).select_related(
        "sku", "sku__product", "bundle").order_by("added_at", "id"))
