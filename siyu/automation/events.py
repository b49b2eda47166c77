"""Event types journeys add to the log: a cart left unpaid (the abandoned-cart SOP's entry, keyed by its cart; the
storefront's periodic scan `storefront.abandoned_carts` writes it)."""

from __future__ import annotations

from pydantic import Field

from siyu.customers.events import EventProperties, register


class CartAbandoned(EventProperties):
    cart_id: str = Field(min_length=1, max_length=64)
    amount_fen: int = Field(default=0, ge=0)
    lines: int = Field(default=0, ge=0)


register("cart_abandoned", CartAbandoned)
