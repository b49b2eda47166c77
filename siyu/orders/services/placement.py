"""Placing an order: what the storefront's checkout (siyu.storefront.services.checkout) and presales share.

The input types (a line, the attribution, the checkout input) and the steps every placement takes: checking the store
and the address, cleaning the attribution, numbering the order, taking the stock (flash units, then SKU stock: the
documented lock order), logging order_created and honouring the idempotency key.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.catalog import services as catalog_services
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers.services import append_event
from siyu.customers.validation import normalize_phone
from siyu.orders.models import Fulfillment, Order, OrderLine
from siyu.orders.services.common import MAX_QUANTITY, _event_time, _hq
from siyu.org import queries as org_queries
from siyu.promotions import services as promotion_services


@dataclass(frozen=True)
class LineInput:
    """What a customer buys: a SKU (optionally at a flash-sale item's or a group buy's price) or a bundle."""

    quantity: int
    sku_id: int | None = None
    bundle_id: int | None = None
    flash_item_id: int | None = None
    group_buy_id: int | None = None

def _check_quantity(quantity: Any, *, field: str = "quantity", index: int | None = None) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationFailed(
            _("quantity must be a whole number from 1 to %(MAX_QUANTITY)s") % {"MAX_QUANTITY": MAX_QUANTITY},
            field=field, index=index, code="invalid_quantity",
        )
    return quantity

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
    points: int = 0  # points the customer wants to pay part of the goods with (the pricing engine caps them)

def _check_store(enterprise_id: int, data: CheckoutInput) -> None:
    if data.fulfillment not in Fulfillment.values:
        raise ValidationFailed(_("fulfillment is delivery or pickup"), field="fulfillment", code="unknown_fulfillment")
    if data.store_id is not None:
        if not org_queries.stores(_hq(enterprise_id)).filter(pk=data.store_id, is_active=True).exists():
            raise NotFound(
                _("store %(store_id)s not found") % {"store_id": data.store_id},
                field="store_id", code="unknown_store",
            )
    elif data.fulfillment == Fulfillment.PICKUP:
        raise ValidationFailed(_("choose the store to pick up from"), field="store_id", code="required")

def _clean_address(data: CheckoutInput) -> dict[str, str]:
    if data.fulfillment == Fulfillment.PICKUP:
        return {}
    raw = {key: str(value).strip() for key, value in data.address.items()}
    for key in ("name", "phone", "detail"):
        if not raw.get(key):
            raise ValidationFailed(
                _("the delivery address needs %(key)s") % {"key": key},
                field=f"address.{key}", code="required",
            )
    for key in raw:
        if key not in ("name", "phone", "detail", "region"):
            raise ValidationFailed(_("unknown address field %(key)s") % {"key": repr(key)}, field=f"address.{key}",
                                   code="unknown_address_field")
        if len(raw[key]) > 200:
            raise ValidationFailed(
                _("%(key)s is at most 200 characters") % {"key": key},
                field=f"address.{key}", code="too_long",
            )
    raw["phone"] = normalize_phone(raw["phone"], field="address.phone")
    return raw

def _clean_attribution(enterprise_id: int, attribution: Attribution) -> Attribution:
    """Text is checked strictly; a staff id that is unknown or has left is dropped (a stale link must not stop a
    sale) while its campaign and channel code are kept."""
    if len(attribution.campaign) > 64 or len(attribution.channel_state) > 64:
        raise ValidationFailed(_("campaign and channel code are at most 64 characters"), field="attribution",
                               code="too_long")
    staff_id = attribution.staff_id
    if staff_id is not None:
        known = org_queries.staff(_hq(enterprise_id)).filter(pk=staff_id, is_active=True).exists()
        staff_id = staff_id if known else None
    return Attribution(staff_id=staff_id, campaign=attribution.campaign.strip(),
                       channel_state=attribution.channel_state.strip(), channel=attribution.channel)

def _new_order_no(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d") + f"{secrets.randbelow(10**12):012d}"

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
        raise Conflict(_("this idempotency key was used for another order"), field="idempotency_key",
                       code="idempotency_key_reused")
    return found

def _clean_key(key: str) -> str:
    key = (key or "").strip()
    if len(key) > 64:
        raise ValidationFailed(_("idempotency_key is at most 64 characters"), field="idempotency_key",
                               code="idempotency_key_length")
    return key
