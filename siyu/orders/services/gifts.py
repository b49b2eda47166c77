"""A gift order: a SKU the customer takes for points (loyalty's gift redemption), at zero price.

The order is written already paid (nothing is owed in money: `paid_fen` 0, the payment reference names what paid
for it), takes the SKU's stock with the same conditional UPDATE as a checkout (never oversold; a shortfall raises
Conflict(out_of_stock) and the caller rolls back), and then goes through shipping or pick-up like any paid order.
The paid hooks are not run: a gift earns no points. Called inside the caller's transaction (the redemption that
takes the points), so the points and the order commit or roll back together.
"""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext_lazy as _

from siyu.catalog import queries as catalog_queries
from siyu.core.errors import Conflict, ValidationFailed
from siyu.orders.models import Order, OrderLine, OrderSource, OrderStatus
from siyu.orders.services.common import _hq
from siyu.orders.services.placement import (
    CheckoutInput,
    _attach_lines,
    _check_quantity,
    _check_store,
    _clean_address,
    _new_order_no,
    _order_created_event,
    _take_stock,
)


def place_gift_order(*, enterprise_id: int, customer_id: int, sku_id: int, quantity: int, data: CheckoutInput,
                     paid_by: str, now: datetime) -> Order:
    """Write the gift order (paid, zero price) and take its stock. `paid_by` (at most 64 characters) is the
    payment reference, e.g. `points:<redemption key>`."""
    _check_quantity(quantity)
    _check_store(enterprise_id, data)
    address = _clean_address(data)
    if not paid_by or len(paid_by) > 64:
        raise ValidationFailed(_("a payment reference of 1-64 characters"), field="paid_by",
                               code="paid_by_length")
    sku = catalog_queries.skus(_hq(enterprise_id)).select_related("product").filter(pk=sku_id).first()
    if sku is None or not sku.is_active:
        raise Conflict(_("this gift is no longer available"), field="sku_id", code="gift_unavailable")
    list_fen = sku.price_fen * quantity
    order = Order.objects.create(
        enterprise_id=enterprise_id, customer_id=customer_id, order_no=_new_order_no(now), source=OrderSource.MALL,
        fulfillment=data.fulfillment, store_id=data.store_id, status=OrderStatus.PAID, list_total_fen=list_fen,
        subtotal_fen=0, amount_fen=0, paid_fen=0, breakdown={"gift": True, "list_total_fen": list_fen,
                                                             "payable_fen": 0, "paid_by": paid_by},
        address=address, created_at=now, paid_at=now, payment_ref=paid_by, pay_deadline=None)
    lines = OrderLine.objects.bulk_create([OrderLine(
        order=order, index=0, sku_id=sku.pk, product_id=sku.product_id, category_id=sku.product.category_id,
        name=sku.product.name[:200], quantity=quantity, price_source="gift", unit_list_price_fen=sku.price_fen,
        unit_price_fen=0, list_amount_fen=list_fen, amount_fen=0, payable_fen=0, components=[[sku.pk, quantity]])])
    _take_stock(order, lines)
    _order_created_event(order, lines)  # no order_paid: a gift is not a purchase (nor counted as one)
    return _attach_lines(order, lines)
