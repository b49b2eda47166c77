"""Presales (预售): a deposit now, the balance in its window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from siyu.catalog import queries as catalog_queries
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.orders.models import (
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    Presale,
)
from siyu.orders.services.common import _now, pay_timeout
from siyu.orders.services.placement import (
    CheckoutInput,
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
from siyu.org.scope import Scope

# ---------------------------------------------------------------------------------------------------------------
# Presales


@dataclass(frozen=True)
class PresaleInput:
    name: str
    sku_id: int
    price_fen: int
    deposit_fen: int
    deposit_starts_at: datetime
    deposit_ends_at: datetime
    balance_starts_at: datetime
    balance_ends_at: datetime
    per_customer_limit: int = 5
    is_active: bool = True


def _clean_presale_windows(data: PresaleInput) -> None:
    times = [data.deposit_starts_at, data.deposit_ends_at, data.balance_starts_at, data.balance_ends_at]
    if any(t is None or t.tzinfo is None for t in times):
        raise ValidationFailed(_("all four times are needed, with a timezone"), field="deposit_starts_at",
                               code="naive_datetime")
    if not data.deposit_starts_at < data.deposit_ends_at <= data.balance_starts_at < data.balance_ends_at:
        raise ValidationFailed(_("deposit window, then balance window, each ending after it starts"),
                               field="balance_starts_at", code="invalid_window")


@transaction.atomic
def create_presale(*, scope: Scope, data: PresaleInput, actor: Actor = None) -> Presale:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ sets up presales"))
    name = (data.name or "").strip()
    if not name or len(name) > 64:
        raise ValidationFailed(_("name is 1-64 characters"), field="name", code="required")
    try:
        sku = catalog_queries.get_sku(scope, data.sku_id)
    except NotFound as exc:
        raise NotFound(
            _("unknown SKU %(sku_id)s") % {"sku_id": data.sku_id},
            field="sku_id", code="unknown_sku",
        ) from exc
    if not isinstance(data.price_fen, int) or data.price_fen <= 0:
        raise ValidationFailed(_("the presale price is above zero"), field="price_fen", code="invalid_price")
    if not isinstance(data.deposit_fen, int) or not 0 < data.deposit_fen < data.price_fen:
        raise ValidationFailed(_("the deposit is above zero and below the price"), field="deposit_fen",
                               code="invalid_deposit")
    if not isinstance(data.per_customer_limit, int) or not 1 <= data.per_customer_limit <= 1000:
        raise ValidationFailed(_("per-customer limit is 1-1000"), field="per_customer_limit",
                               code="per_customer_limit_range")
    _clean_presale_windows(data)
    presale = Presale.objects.create(
        enterprise_id=scope.enterprise_id, name=name, sku=sku, price_fen=data.price_fen, deposit_fen=data.deposit_fen,
        currency=sku.product.currency, deposit_starts_at=data.deposit_starts_at, deposit_ends_at=data.deposit_ends_at,
        balance_starts_at=data.balance_starts_at, balance_ends_at=data.balance_ends_at,
        per_customer_limit=data.per_customer_limit, is_active=data.is_active,
    )
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="presale.create", target_type="presale", target_id=presale.pk, summary=name)
    return presale


def _locked_presale(enterprise_id: int, presale_id: int, moment: datetime) -> Presale:
    presale = Presale.objects.select_for_update(of=("self",)).select_related("sku", "sku__product").filter(
        pk=presale_id, enterprise_id=enterprise_id).first()
    if presale is None:
        raise NotFound(
            _("presale %(presale_id)s not found") % {"presale_id": presale_id},
            field="presale_id", code="unknown_presale",
        )
    if not presale.is_active or not presale.deposit_starts_at <= moment < presale.deposit_ends_at:
        raise ValidationFailed(_("this presale is not taking deposits now"), field="presale_id",
                               code="presale_not_active")
    return presale


def _presale_breakdown(presale: Presale, quantity: int) -> dict[str, Any]:
    sku = presale.sku
    name = f"{sku.product.name} {' '.join(str(v) for v in (sku.specs or {}).values())}".strip()
    total = presale.price_fen * quantity
    line = {"index": 0, "sku_id": sku.pk, "bundle_id": None, "product_id": sku.product_id, "name": name,
            "quantity": quantity, "price_source": "presale", "unit_list_price_fen": sku.price_fen,
            "unit_price_fen": presale.price_fen, "list_amount_fen": sku.price_fen * quantity, "amount_fen": total,
            "reduction_discount_fen": 0, "coupon_discount_fen": 0, "payable_fen": total, "flash_item_id": None,
            "group_buy_id": None, "components": [[sku.pk, quantity]]}
    return {"currency": presale.currency, "list_total_fen": sku.price_fen * quantity, "subtotal_fen": total,
            "price_discount_fen": sku.price_fen * quantity - total, "reduction_discount_fen": 0,
            "coupon_discount_fen": 0, "goods_payable_fen": total, "shipping_fen": 0, "payable_fen": total,
            "deposit_fen": presale.deposit_fen * quantity, "balance_fen": total - presale.deposit_fen * quantity,
            "reduction_id": None, "coupon_id": None, "lines": [line], "promotions": [
                {"kind": "presale", "promotion_id": presale.pk, "name": presale.name, "applied": True,
                 "amount_fen": sku.price_fen * quantity - total, "reason": "", "line_indexes": [0],
                 "shortfall_fen": None, "shortfall_pieces": None}]}


def _check_presale_limit(presale: Presale, customer_id: int, quantity: int) -> None:
    held = sum(Order.objects.filter(presale=presale, customer_id=customer_id).exclude(
        status__in=[OrderStatus.CANCELLED, OrderStatus.REFUNDED]).values_list("lines__quantity", flat=True))
    if held + quantity > presale.per_customer_limit:
        raise Conflict(
            _("at most %(per_customer_limit)s per customer in this presale")
            % {"per_customer_limit": presale.per_customer_limit},
            field="quantity", code="presale_limit_exceeded",
        )


def place_presale_order(
    *, enterprise_id: int, customer_id: int, presale_id: int, quantity: int, data: CheckoutInput,
    idempotency_key: str = "", now: datetime | None = None,
) -> Order:
    """Order a presale item: the deposit is due within the payment timeout and reserves the stock now; the balance is
    due in the balance window. Presale orders ship free and take no other promotion."""
    moment = _now(now)
    _check_quantity(quantity)
    key = _clean_key(idempotency_key)
    if key and (existing := _existing_by_key(enterprise_id, customer_id, key)) is not None:
        return existing
    _check_store(enterprise_id, data)
    address = _clean_address(data)
    attribution = _clean_attribution(enterprise_id, data.attribution)
    with transaction.atomic():
        presale = _locked_presale(enterprise_id, presale_id, moment)
        _check_presale_limit(presale, customer_id, quantity)
        snapshot = _presale_breakdown(presale, quantity)
        order = Order.objects.create(
            enterprise_id=enterprise_id, customer_id=customer_id, order_no=_new_order_no(moment),
            kind=OrderKind.PRESALE, fulfillment=data.fulfillment, store_id=data.store_id,
            channel=attribution.channel, staff_id=attribution.staff_id, campaign=attribution.campaign,
            channel_state=attribution.channel_state, currency=presale.currency,
            list_total_fen=snapshot["list_total_fen"], subtotal_fen=snapshot["subtotal_fen"],
            amount_fen=snapshot["payable_fen"], deposit_fen=snapshot["deposit_fen"], presale=presale,
            breakdown=snapshot, address=address, idempotency_key=key, created_at=moment,
            pay_deadline=min(moment + pay_timeout(), presale.deposit_ends_at),
        )
        line = snapshot["lines"][0]
        fields = {k: v for k, v in line.items() if k not in ("index", "bundle_id")}
        lines = OrderLine.objects.bulk_create([OrderLine(order=order, index=0, **fields,
                                                         category_id=presale.sku.product.category_id)])
        _take_stock(order, lines)
        _order_created_event(order, lines)
    return _attach_lines(order, lines)
