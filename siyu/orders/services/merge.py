"""Customer merge: the absorbed customer's orders and carts move to the survivor."""

from __future__ import annotations

from siyu.orders.models import (
    AfterSale,
    CartItem,
    Order,
    PlatformImportRow,
    StorefrontSession,
)

# ---------------------------------------------------------------------------------------------------------------
# Customer merge


def merge_customer_orders(absorbed_id: int, survivor_id: int) -> int:
    """Orders, after-sales, carts, storefront sessions and import rows follow a merged customer (a merge step)."""
    moved = int(Order.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))
    AfterSale.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    clash = CartItem.objects.filter(customer_id=survivor_id).values_list("line_key", flat=True)
    CartItem.objects.filter(customer_id=absorbed_id, line_key__in=list(clash)).delete()
    moved += int(CartItem.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))
    StorefrontSession.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    PlatformImportRow.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    return moved
