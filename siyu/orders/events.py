"""Event types the orders write to the customer's log (registered on app start, see apps.py).

Keys: `order_created:<id>`, `order_paid:<id>` (a presale's deposit: `order_paid:<id>:deposit`), `order_shipped:<id>`,
`order_completed:<id>`, `order_cancelled:<id>`, `refund_requested:<after_sale_id>`, `refund_completed:<after_sale_id>`.
"""

from __future__ import annotations

from pydantic import Field

from siyu.customers.events import EventProperties, register


class OrderCreated(EventProperties):
    order_id: int = Field(ge=1)
    order_no: str = Field(max_length=32)
    amount_fen: int = Field(ge=0)
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    items: int = Field(default=0, ge=0)
    source: str = Field(default="mall", max_length=10)
    kind: str = Field(default="normal", max_length=10)
    platform: str = Field(default="", max_length=10)
    product_ids: list[int] = Field(default_factory=list, max_length=100)
    category_ids: list[int] = Field(default_factory=list, max_length=100)


class OrderPaid(EventProperties):
    order_id: int = Field(ge=1)
    order_no: str = Field(max_length=32)
    amount_fen: int = Field(ge=0)
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    stage: str = Field(default="full", pattern="^(full|deposit|balance)$")
    payment_ref: str = Field(default="", max_length=64)
    cart_id: str = Field(default="", max_length=64)  # the storefront cart paid, for keyed waits (journeys)


class OrderShipped(EventProperties):
    order_id: int = Field(ge=1)
    order_no: str = Field(max_length=32)
    fulfillment: str = Field(default="delivery", pattern="^(delivery|pickup)$")
    carrier: str = Field(default="", max_length=32)
    tracking_no: str = Field(default="", max_length=64)


class OrderRef(EventProperties):
    order_id: int = Field(ge=1)
    order_no: str = Field(max_length=32)
    amount_fen: int = Field(default=0, ge=0)


class OrderCancelled(EventProperties):
    order_id: int = Field(ge=1)
    order_no: str = Field(max_length=32)
    reason: str = Field(max_length=16)


class RefundEvent(EventProperties):
    after_sale_id: int = Field(ge=1)
    order_id: int = Field(ge=1)
    order_no: str = Field(max_length=32)
    kind: str = Field(pattern="^(refund_only|return_refund)$")
    amount_fen: int = Field(ge=0)
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    reason: str = Field(default="", max_length=200)


register("order_created", OrderCreated)
register("order_paid", OrderPaid)
register("order_shipped", OrderShipped)
register("order_completed", OrderRef)
register("order_cancelled", OrderCancelled)
register("refund_requested", RefundEvent)
register("refund_completed", RefundEvent)
