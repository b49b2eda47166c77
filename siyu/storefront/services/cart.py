"""The shopper's cart: lines by SKU or bundle, quantities checked against what is sellable. `LineInput` (a line)
is the orders app's placement type, named here as well."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from siyu.catalog import queries as catalog_queries
from siyu.core.errors import Conflict, NotFound, ValidationFailed
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
