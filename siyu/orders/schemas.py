"""The order schemas the staff API (siyu.orders.api) and the shopper's API (siyu.storefront.api) both answer with, and
the converters that fill them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict


class Input(Schema):
    model_config = ConfigDict(extra="forbid")

class OrderLineOut(Schema):
    id: int
    index: int
    sku_id: int | None
    bundle_id: int | None
    product_id: int | None
    name: str
    quantity: int
    price_source: str
    unit_list_price_fen: int
    unit_price_fen: int
    list_amount_fen: int
    amount_fen: int
    reduction_discount_fen: int
    coupon_discount_fen: int
    payable_fen: int
    refunded_quantity: int
    refunded_fen: int

class AfterSaleOut(Schema):
    id: int
    order_id: int
    kind: str
    status: str
    reason: str
    amount_fen: int
    currency: str
    requested_at: datetime
    reject_reason: str
    refunded_at: datetime | None

class OrderOut(Schema):
    id: int
    order_no: str
    kind: str
    status: str
    source: str
    platform: str
    external_order_no: str
    customer_id: int | None
    fulfillment: str
    store_id: int | None
    staff_id: int | None
    campaign: str
    channel_state: str
    currency: str
    list_total_fen: int
    subtotal_fen: int
    reduction_discount_fen: int
    coupon_discount_fen: int
    shipping_fen: int
    amount_fen: int
    deposit_fen: int
    paid_fen: int
    refunded_fen: int
    coupon_id: int | None
    presale_id: int | None
    created_at: datetime
    pay_deadline: datetime | None
    paid_at: datetime | None
    shipped_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    lines: list[OrderLineOut]

class OrderDetailOut(OrderOut):
    address: dict[str, str]
    carrier: str
    tracking_no: str
    breakdown: dict[str, Any]
    after_sales: list[AfterSaleOut]

class OrderPage(Schema):
    items: list[OrderOut]
    total: int
    page: int
    pages: int


def _lines(order: Any) -> list[Any]:
    return list(order.lines.all())

def order_data(order: Any) -> dict[str, Any]:
    data = {name: getattr(order, name) for name in OrderOut.model_fields if name != "lines"}
    data["lines"] = _lines(order)
    return data

def order_detail_data(order: Any) -> dict[str, Any]:
    data = order_data(order)
    data.update(address=order.address or {}, carrier=order.carrier, tracking_no=order.tracking_no,
                breakdown=order.breakdown or {}, after_sales=list(order.after_sales.all()))
    return data
