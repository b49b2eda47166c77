"""The shopper's own reads: my orders, one of my orders, my cart, my address book (the signed-in customer, not a
staff Scope), and the brand a mall URL names."""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import NotFound
from siyu.core.pagination import Page, paginate
from siyu.orders import queries as order_queries
from siyu.orders.models import CartItem, Order, OrderLine, StorefrontSession
from siyu.org.models import Enterprise
from siyu.storefront.models import MallAddress


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


# ---------------------------------------------------------------------------------------------------------------
# The H5 mall


def mall_enterprise(code: str) -> Enterprise:
    """The brand whose mall is at /m/<code>/ (404 for an unknown code, naming nothing else)."""
    found = Enterprise.objects.filter(code=code).first() if len(code) <= 64 else None
    if found is None:
        raise NotFound(_("no such shop"), field="enterprise")
    return found


def addresses(*, enterprise_id: int, customer_id: int, limit: int = 20) -> list[MallAddress]:
    return list(MallAddress.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
                .order_by("-created_at", "-id")[:limit])


def address(*, enterprise_id: int, customer_id: int, address_id: int) -> MallAddress:
    found = MallAddress.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id, pk=address_id).first()
    if found is None:
        raise NotFound(_("address %(address_id)s not found") % {"address_id": address_id}, field="address_id")
    return found


def session_row(session_id: int) -> StorefrontSession | None:
    return StorefrontSession.objects.filter(pk=session_id).first()


def my_order_by_key(*, enterprise_id: int, customer_id: int, idempotency_key: str) -> int | None:
    """The order this customer already placed with this key (a repeated checkout form), if any."""
    return Order.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id,
                                idempotency_key=idempotency_key).values_list("pk", flat=True).first()
