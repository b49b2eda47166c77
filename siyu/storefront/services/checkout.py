"""Checkout: preview and placement share `_quote`, so they cannot disagree; stock is taken with the order.

The input types and the steps every placement shares (store, address, attribution, stock, order_created) are the
orders app's (siyu.orders.services.placement), which presales use too; `Attribution` and `CheckoutInput` are named
here as well so a caller of checkout needs one import.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed
from siyu.orders import hooks
from siyu.orders.models import (
    CartItem,
    Order,
    OrderLine,
    OrderSource,
)
from siyu.orders.services.common import _now, pay_timeout
from siyu.orders.services.placement import (
    Attribution as Attribution,
)
from siyu.orders.services.placement import (
    CheckoutInput as CheckoutInput,
)
from siyu.orders.services.placement import (
    LineInput,
    _attach_lines,
    _check_quantity,
    _check_store,
    _clean_address,
    _clean_attribution,
    _clean_key,
    _existing_by_key,
    _new_order_no,
    _order_created_event,
    _take_stock,
)
from siyu.promotions import pricing
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services
from siyu.promotions.pricing import CartLine, PricingBreakdown, PricingInput
from siyu.storefront.services.cart import cart_id_of, cart_lines

# ---------------------------------------------------------------------------------------------------------------
# Checkout: preview and placement share `_quote`, so they cannot disagree


@dataclass(frozen=True)
class Quote:
    cart: PricingInput
    breakdown: PricingBreakdown
    from_cart: bool


def _checkout_lines(customer_id: int, data: CheckoutInput) -> tuple[list[LineInput], bool]:
    if data.lines is None:
        lines = cart_lines(customer_id=customer_id)
        if not lines:
            raise ValidationFailed(_("the cart is empty"), field="lines", code="empty_cart")
        return lines, True
    for index, line in enumerate(data.lines):
        _check_quantity(line.quantity, field=f"lines[{index}].quantity", index=index)
    return list(data.lines), False


def _quote(*, enterprise_id: int, customer_id: int, data: CheckoutInput, now: datetime) -> Quote:
    _check_store(enterprise_id, data)
    lines, from_cart = _checkout_lines(customer_id, data)
    cart_input = promotion_queries.load_pricing_input(
        enterprise_id=enterprise_id, customer_id=customer_id, coupon_id=data.coupon_id, store_id=data.store_id,
        fulfillment=data.fulfillment, now=now,
        lines=[CartLine(quantity=x.quantity, sku_id=x.sku_id, bundle_id=x.bundle_id, flash_item_id=x.flash_item_id,
                        group_buy_id=x.group_buy_id) for x in lines],
    )
    member = hooks.checkout_member_offer(enterprise_id, customer_id, now)
    if member is not None:  # a running paid plan: member prices, its share of the list price, free shipping
        cart_input = replace(cart_input, member=member)
    if data.points:  # no points app: an empty offer, so the engine refuses (points_not_accepted)
        offer = hooks.checkout_points_offer(enterprise_id, customer_id, data.points, now)
        cart_input = replace(cart_input, points=offer or pricing.PointsOffer(
            requested=data.points, balance=0, points_per_yuan=0, max_percent=0))
    return Quote(cart=cart_input, breakdown=pricing.price(cart_input), from_cart=from_cart)


def preview_checkout(
    *, enterprise_id: int, customer_id: int, data: CheckoutInput, now: datetime | None = None
) -> PricingBreakdown:
    """The full price breakdown the customer would pay now (nothing is written)."""
    return _quote(enterprise_id=enterprise_id, customer_id=customer_id, data=data, now=_now(now)).breakdown


def _line_rows(order: Order, quote: Quote) -> list[OrderLine]:
    rows = []
    for line in quote.breakdown.lines:
        info = quote.cart.skus.get(line.sku_id) if line.sku_id is not None else None
        rows.append(OrderLine(
            order=order, index=line.index, sku_id=line.sku_id, bundle_id=line.bundle_id, product_id=line.product_id,
            category_id=info.category_id if info else None, name=line.name[:200], quantity=line.quantity,
            price_source=line.price_source, unit_list_price_fen=line.unit_list_price.fen,
            unit_price_fen=line.unit_price.fen, list_amount_fen=line.list_amount.fen, amount_fen=line.amount.fen,
            reduction_discount_fen=line.reduction_discount.fen, coupon_discount_fen=line.coupon_discount.fen,
            payable_fen=line.payable_fen, flash_item_id=line.flash_item_id, group_buy_id=line.group_buy_id,
            components=[list(c) for c in line.components],
        ))
    return rows


def place_order(
    *, enterprise_id: int, customer_id: int, data: CheckoutInput, idempotency_key: str = "",
    source: str = OrderSource.MALL, now: datetime | None = None,
) -> Order:
    """Price the checkout with the same engine as the preview, write the order with its breakdown, take the flash
    and SKU stock (conditional UPDATEs: never oversold), lock the coupon and log order_created. All or nothing: bad
    input or a shortfall raises a 4xx domain error and writes nothing. A repeat with the same idempotency key
    returns the first order."""
    moment = _now(now)
    key = _clean_key(idempotency_key)
    if key and (existing := _existing_by_key(enterprise_id, customer_id, key)) is not None:
        return existing
    quote = _quote(enterprise_id=enterprise_id, customer_id=customer_id, data=data, now=moment)
    address = _clean_address(data)
    attribution = _clean_attribution(enterprise_id, data.attribution)
    if len(data.buyer_note) > 200:
        raise ValidationFailed(_("the note is at most 200 characters"), field="buyer_note", code="too_long")
    try:
        return _write_order(enterprise_id=enterprise_id, customer_id=customer_id, data=data, quote=quote,
                            address=address, attribution=attribution, key=key, source=source, moment=moment)
    except IntegrityError:
        if key and (winner := _existing_by_key(enterprise_id, customer_id, key)) is not None:
            return winner  # a concurrent request with the same key won the race
        raise


@transaction.atomic
def _write_order(
    *, enterprise_id: int, customer_id: int, data: CheckoutInput, quote: Quote, address: dict[str, str],
    attribution: Attribution, key: str, source: str, moment: datetime,
) -> Order:
    breakdown = quote.breakdown
    order = Order.objects.create(
        enterprise_id=enterprise_id, customer_id=customer_id, order_no=_new_order_no(moment), source=source,
        fulfillment=data.fulfillment, store_id=data.store_id, channel=attribution.channel,
        staff_id=attribution.staff_id, campaign=attribution.campaign, channel_state=attribution.channel_state,
        currency=breakdown.currency, list_total_fen=breakdown.list_total.fen, subtotal_fen=breakdown.subtotal.fen,
        reduction_discount_fen=breakdown.reduction_discount.fen, coupon_discount_fen=breakdown.coupon_discount.fen,
        shipping_fen=breakdown.shipping.fen, amount_fen=breakdown.payable.fen, coupon_id=breakdown.coupon_id,
        reduction_id=breakdown.reduction_id, group_team_id=data.group_team_id, breakdown=breakdown.as_dict(),
        address=address, buyer_note=data.buyer_note.strip(), idempotency_key=key, created_at=moment,
        pay_deadline=moment + pay_timeout(), cart_id=cart_id_of(customer_id) if quote.from_cart else "",
    )
    lines = OrderLine.objects.bulk_create(_line_rows(order, quote))
    _take_stock(order, lines)
    if breakdown.coupon_id is not None:
        assert quote.cart.coupon is not None and quote.cart.coupon.coupon_id == breakdown.coupon_id
        promotion_services.use_coupon_at_checkout(enterprise_id=enterprise_id, coupon=quote.cart.coupon,
                                                  customer_id=customer_id, order_id=order.pk, now=moment)
    if breakdown.points_used:
        hooks.spend_checkout_points(enterprise_id, customer_id, order.pk, order.order_no, breakdown.points_used,
                                    moment)
    if quote.from_cart:
        CartItem.objects.filter(customer_id=customer_id).delete()
    _order_created_event(order, lines)
    return _attach_lines(order, lines)
