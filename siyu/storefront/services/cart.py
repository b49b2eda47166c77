"""The shopper's cart: lines by SKU or bundle, quantities checked against what is sellable. `LineInput` (a line)
is the orders app's placement type, named here as well."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, ExpressionWrapper, F, IntegerField, Max, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from siyu.catalog import queries as catalog_queries
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers import services as customer_services
from siyu.orders.models import (
    CartItem,
)
from siyu.orders.services.common import _hq, _now
from siyu.orders.services.placement import LineInput as LineInput
from siyu.orders.services.placement import _check_quantity

MAX_CART_LINES = 100

# ---------------------------------------------------------------------------------------------------------------
# Cart


def _line_key(line: LineInput) -> str:
    key = f"s{line.sku_id}" if line.sku_id is not None else f"b{line.bundle_id}"
    if line.flash_item_id is not None:
        key += f":f{line.flash_item_id}"
    if line.group_buy_id is not None:
        key += f":g{line.group_buy_id}"
    return key


def _check_sellable(enterprise_id: int, line: LineInput) -> None:
    if (line.sku_id is None) == (line.bundle_id is None):
        raise ValidationFailed(_("name either a SKU or a bundle"), field="sku_id", code="invalid_line")
    if line.bundle_id is not None:
        bundle = catalog_queries.on_sale_bundles(enterprise_id=enterprise_id).filter(id=line.bundle_id).first()
        if bundle is None:
            raise NotFound(
                _("unknown bundle %(bundle_id)s") % {"bundle_id": line.bundle_id},
                field="bundle_id", code="unknown_bundle",
            )
        return
    assert line.sku_id is not None
    try:
        sku = catalog_queries.get_sku(_hq(enterprise_id), line.sku_id)
    except NotFound as exc:
        raise NotFound(
            _("unknown SKU %(sku_id)s") % {"sku_id": line.sku_id},
            field="sku_id", code="unknown_sku",
        ) from exc
    if not sku.is_active or sku.product.status != "on_sale":
        raise Conflict(_("%(name)s is not on sale") % {"name": sku.product.name}, field="sku_id", code="not_on_sale")


@transaction.atomic
def add_to_cart(*, enterprise_id: int, customer_id: int, line: LineInput, now: datetime | None = None) -> CartItem:
    """Put something in the cart; the same thing again raises its quantity."""
    _check_quantity(line.quantity)
    _check_sellable(enterprise_id, line)
    key = _line_key(line)
    existing = CartItem.objects.select_for_update().filter(customer_id=customer_id, line_key=key).first()
    if existing is not None:
        _check_quantity(existing.quantity + line.quantity)
        existing.quantity = F("quantity") + line.quantity
        existing.save(update_fields=["quantity", "updated_at"])
        existing.refresh_from_db()
        return existing
    if CartItem.objects.filter(customer_id=customer_id).count() >= MAX_CART_LINES:
        raise ValidationFailed(
            _("a cart holds at most %(MAX_CART_LINES)s lines") % {"MAX_CART_LINES": MAX_CART_LINES},
            field="sku_id", code="cart_full",
        )
    return CartItem.objects.create(
        enterprise_id=enterprise_id, customer_id=customer_id, line_key=key, sku_id=line.sku_id,
        cart_id=cart_id_of(customer_id) or f"{customer_id}-{uuid.uuid4().hex[:16]}",
        bundle_id=line.bundle_id, flash_item_id=line.flash_item_id, group_buy_id=line.group_buy_id,
        quantity=line.quantity, added_at=_now(now),
    )


def _cart_item(customer_id: int, item_id: int) -> CartItem:
    item = CartItem.objects.filter(pk=item_id, customer_id=customer_id).first()
    if item is None:
        raise NotFound(_("cart item %(item_id)s not found") % {"item_id": item_id}, field="item_id")
    return item


@transaction.atomic
def update_cart_item(*, customer_id: int, item_id: int, quantity: int) -> CartItem:
    _check_quantity(quantity)
    item = _cart_item(customer_id, item_id)
    item.quantity = quantity
    item.save(update_fields=["quantity", "updated_at"])
    return item


@transaction.atomic
def remove_cart_item(*, customer_id: int, item_id: int) -> None:
    _cart_item(customer_id, item_id).delete()


def cart_lines(*, customer_id: int) -> list[LineInput]:
    return [
        LineInput(quantity=q, sku_id=s, bundle_id=b, flash_item_id=f, group_buy_id=g)
        for s, b, f, g, q in CartItem.objects.filter(customer_id=customer_id).order_by("added_at", "id").values_list(
            "sku_id", "bundle_id", "flash_item_id", "group_buy_id", "quantity")
    ]


def cart_id_of(customer_id: int) -> str:
    """The cart's identity (every line carries it; a cart emptied by checkout or by hand starts a new one)."""
    return str(CartItem.objects.filter(customer_id=customer_id).order_by("added_at", "id").values_list(
        "cart_id", flat=True).first() or "")


# ---------------------------------------------------------------------------------------------------------------
# Abandoned carts


ABANDON_MINUTES = 60
LOOKBACK = timedelta(days=1)
EMIT_BATCH = 1000


def abandon_minutes() -> int:
    return int(getattr(settings, "SIYU_CART_ABANDON_MINUTES", ABANDON_MINUTES))


def emit_abandoned_carts(*, now: datetime | None = None, minutes: int | None = None) -> int:
    """`cart_abandoned` for every cart whose lines were all left untouched for `minutes` (one grouped statement
    finds them; a day back at most), once per cart version: the event's key is the cart and its last change, so a
    cart touched again and left again is a new event, and a scan run twice writes nothing twice. The amount is the
    lines at their list price. Returns the events written."""
    moment = _now(now)
    quiet_since = moment - timedelta(minutes=abandon_minutes() if minutes is None else minutes)
    carts = (CartItem.objects.filter(customer__erased_at__isnull=True, customer__merged_into__isnull=True)
             .exclude(cart_id="").order_by().values("enterprise_id", "customer_id", "cart_id")
             .annotate(last=Max("updated_at"), lines=Count("id"),
                       amount=Coalesce(Sum(ExpressionWrapper(F("quantity") * F("sku__price_fen"),
                                                             output_field=IntegerField())), 0))
             .filter(last__lte=quiet_since, last__gt=quiet_since - LOOKBACK))
    written = 0
    batches: dict[int, list[customer_services.EventInput]] = {}
    for cart in carts.order_by("enterprise_id").iterator(chunk_size=EMIT_BATCH):
        version = int(cart["last"].timestamp() * 1000)
        batch = batches.setdefault(cart["enterprise_id"], [])
        batch.append(customer_services.EventInput(
            name="cart_abandoned", occurred_at=moment, customer_id=cart["customer_id"],
            idempotency_key=f"cart_abandoned:{cart['cart_id']}:{version}",
            properties={"cart_id": cart["cart_id"], "amount_fen": int(cart["amount"] or 0), "lines": cart["lines"]}))
        if len(batch) >= EMIT_BATCH:
            written += customer_services.append_events(enterprise_id=cart["enterprise_id"], batch=batch)
            batch.clear()
    return written + sum(customer_services.append_events(enterprise_id=enterprise_id, batch=batch)
                         for enterprise_id, batch in batches.items() if batch)
