"""Checkout: preview and placement share `_quote`, so they cannot disagree; stock is taken with the order."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu.catalog import services as catalog_services
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers.services import (
    append_event,
)
from siyu.customers.validation import normalize_phone
from siyu.orders.models import (
    CartItem,
    Fulfillment,
    Order,
    OrderLine,
    OrderSource,
)
from siyu.orders.services.cart import LineInput, _check_quantity, cart_lines
from siyu.orders.services.common import _event_time, _hq, _now, pay_timeout
from siyu.org import queries as org_queries
from siyu.promotions import pricing
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services
from siyu.promotions.pricing import CartLine, PricingBreakdown, PricingInput

# ---------------------------------------------------------------------------------------------------------------
# Checkout: preview and placement share `_quote`, so they cannot disagree


@dataclass(frozen=True)
class Attribution:
    """Where the order came from: a link a staff member shared carries staff_id, campaign and channel code."""

    staff_id: int | None = None
    campaign: str = ""
    channel_state: str = ""
    channel: str = "miniprogram"


@dataclass(frozen=True)
class CheckoutInput:
    """`lines` None means "the cart". `address` ({name, phone, detail, region}) is needed to place a delivery order;
    `group_team_id` names the group-buy team to join (none: the customer leads a new team)."""

    lines: Sequence[LineInput] | None = None
    coupon_id: int | None = None
    store_id: int | None = None
    fulfillment: str = Fulfillment.DELIVERY
    address: Mapping[str, str] = field(default_factory=dict)
    buyer_note: str = ""
    attribution: Attribution = Attribution()
    group_team_id: int | None = None


@dataclass(frozen=True)
class Quote:
    cart: PricingInput
    breakdown: PricingBreakdown
    from_cart: bool


def _checkout_lines(customer_id: int, data: CheckoutInput) -> tuple[list[LineInput], bool]:
    if data.lines is None:
        lines = cart_lines(customer_id=customer_id)
        if not lines:
            raise ValidationFailed("the cart is empty", field="lines", code="empty_cart")
        return lines, True
    for index, line in enumerate(data.lines):
        _check_quantity(line.quantity, field=f"lines[{index}].quantity", index=index)
    return list(data.lines), False


def _check_store(enterprise_id: int, data: CheckoutInput) -> None:
    if data.fulfillment not in Fulfillment.values:
        raise ValidationFailed("fulfillment is delivery or pickup", field="fulfillment")
    if data.store_id is not None:
        if not org_queries.stores(_hq(enterprise_id)).filter(pk=data.store_id, is_active=True).exists():
            raise NotFound(f"store {data.store_id} not found", field="store_id", code="unknown_store")
    elif data.fulfillment == Fulfillment.PICKUP:
        raise ValidationFailed("choose the store to pick up from", field="store_id", code="required")


def _quote(*, enterprise_id: int, customer_id: int, data: CheckoutInput, now: datetime) -> Quote:
    _check_store(enterprise_id, data)
    lines, from_cart = _checkout_lines(customer_id, data)
    cart_input = promotion_queries.load_pricing_input(
        enterprise_id=enterprise_id, customer_id=customer_id, coupon_id=data.coupon_id, store_id=data.store_id,
        fulfillment=data.fulfillment, now=now,
        lines=[CartLine(quantity=x.quantity, sku_id=x.sku_id, bundle_id=x.bundle_id, flash_item_id=x.flash_item_id,
                        group_buy_id=x.group_buy_id) for x in lines],
    )
    return Quote(cart=cart_input, breakdown=pricing.price(cart_input), from_cart=from_cart)


def preview_checkout(
    *, enterprise_id: int, customer_id: int, data: CheckoutInput, now: datetime | None = None
) -> PricingBreakdown:
    """The full price breakdown the customer would pay now (nothing is written)."""
    return _quote(enterprise_id=enterprise_id, customer_id=customer_id, data=data, now=_now(now)).breakdown


def _clean_address(data: CheckoutInput) -> dict[str, str]:
    if data.fulfillment == Fulfillment.PICKUP:
        return {}
    raw = {key: str(value).strip() for key, value in data.address.items()}
    for key in ("name", "phone", "detail"):
        if not raw.get(key):
            raise ValidationFailed(f"the delivery address needs {key}", field=f"address.{key}", code="required")
    for key in raw:
        if key not in ("name", "phone", "detail", "region"):
            raise ValidationFailed(f"unknown address field {key!r}", field=f"address.{key}")
        if len(raw[key]) > 200:
            raise ValidationFailed(f"{key} is at most 200 characters", field=f"address.{key}", code="too_long")
    raw["phone"] = normalize_phone(raw["phone"], field="address.phone")
    return raw


def _clean_attribution(enterprise_id: int, attribution: Attribution) -> Attribution:
    """Text is checked strictly; a staff id that is unknown or has left is dropped (a stale link must not stop a
    sale) while its campaign and channel code are kept."""
    if len(attribution.campaign) > 64 or len(attribution.channel_state) > 64:
        raise ValidationFailed("campaign and channel code are at most 64 characters", field="attribution",
                               code="too_long")
    staff_id = attribution.staff_id
    if staff_id is not None:
        known = org_queries.staff(_hq(enterprise_id)).filter(pk=staff_id, is_active=True).exists()
        staff_id = staff_id if known else None
    return Attribution(staff_id=staff_id, campaign=attribution.campaign.strip(),
                       channel_state=attribution.channel_state.strip(), channel=attribution.channel)


def _new_order_no(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d") + f"{secrets.randbelow(10**12):012d}"


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
            payable_fen=line.payable.fen, flash_item_id=line.flash_item_id, group_buy_id=line.group_buy_id,
            components=[list(c) for c in line.components],
        ))
    return rows


def _take_stock(order: Order, lines: Sequence[OrderLine]) -> None:
    """Flash units first, then SKU stock (the documented lock order). Any shortfall rolls the order back."""
    flash = [
        promotion_services.FlashReservation(item_id=line.flash_item_id, quantity=line.quantity, line=line.index)
        for line in lines if line.flash_item_id is not None
    ]
    if flash:
        assert order.customer_id is not None
        promotion_services.reserve_flash(enterprise_id=order.enterprise_id, customer_id=order.customer_id,
                                         items=flash, now=order.created_at)
    stock = [
        catalog_services.StockItem(sku_id=int(sku_id), quantity=int(units), line=line.index)
        for line in lines for sku_id, units in line.components
    ]
    if stock:
        catalog_services.reserve_stock(enterprise_id=order.enterprise_id, items=stock)


def _order_created_event(order: Order, lines: Sequence[OrderLine]) -> None:
    assert order.customer_id is not None
    append_event(
        enterprise_id=order.enterprise_id, name="order_created", idempotency_key=f"order_created:{order.pk}",
        customer_id=order.customer_id, occurred_at=_event_time(order.created_at), channel=order.channel,
        store_id=order.store_id, staff_id=order.staff_id, campaign=order.campaign,
        properties={
            "order_id": order.pk, "order_no": order.order_no, "amount_fen": order.amount_fen,
            "currency": order.currency, "items": sum(line.quantity for line in lines), "source": order.source,
            "kind": order.kind, "product_ids": sorted({x.product_id for x in lines if x.product_id})[:100],
            "category_ids": sorted({x.category_id for x in lines if x.category_id})[:100],
        },
    )


def _attach_lines(order: Order, lines: list[OrderLine]) -> Order:
    """A new order carries the lines just written (and no after-sales), so callers need not read them back."""
    setattr(order, "_prefetched_objects_cache", {"lines": lines, "after_sales": []})  # noqa: B010
    return order


def _existing_by_key(enterprise_id: int, customer_id: int, key: str) -> Order | None:
    found = Order.objects.filter(enterprise_id=enterprise_id, idempotency_key=key).first()
    if found is not None and found.customer_id != customer_id:
        raise Conflict("this idempotency key was used for another order", field="idempotency_key",
                       code="idempotency_key_reused")
    return found


def _clean_key(key: str) -> str:
    key = (key or "").strip()
    if len(key) > 64:
        raise ValidationFailed("idempotency_key is at most 64 characters", field="idempotency_key")
    return key


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
        raise ValidationFailed("the note is at most 200 characters", field="buyer_note", code="too_long")
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
        pay_deadline=moment + pay_timeout(),
    )
    lines = OrderLine.objects.bulk_create(_line_rows(order, quote))
    _take_stock(order, lines)
    if breakdown.coupon_id is not None:
        assert quote.cart.coupon is not None and quote.cart.coupon.coupon_id == breakdown.coupon_id
        promotion_services.use_coupon_at_checkout(enterprise_id=enterprise_id, coupon=quote.cart.coupon,
                                                  customer_id=customer_id, order_id=order.pk, now=moment)
    if quote.from_cart:
        CartItem.objects.filter(customer_id=customer_id).delete()
    _order_created_event(order, lines)
    return _attach_lines(order, lines)
