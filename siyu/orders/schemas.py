"""The order schemas the staff API (siyu.orders.api) and the shopper's API (siyu.storefront.api) both answer with, and
the converters that fill them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict

from siyu.promotions import queries as promotion_queries


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

class GroupTeamOut(Schema):
    """The group-buy team a paid group-buy order sits in: share `team_id` so a friend joins it
    (`group_team_id` at checkout)."""

    team_id: int
    group_buy_id: int
    status: str
    status_label: str
    size: int
    member_count: int
    seats_left: int
    expires_at: datetime

class OrderDetailOut(OrderOut):
    group_team: GroupTeamOut | None = None
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

def group_team_data(team: Any) -> dict[str, Any]:
    return {"team_id": team.pk, "group_buy_id": team.group_buy_id, "status": team.status,
            "status_label": promotion_queries.team_status_label(team.status), "size": team.size,
            "member_count": team.member_count, "seats_left": max(team.size - team.member_count, 0),
            "expires_at": team.expires_at}

def order_detail_data(order: Any) -> dict[str, Any]:
    data = order_data(order)
    team = None
    if any(line.group_buy_id for line in data["lines"]):
        team = promotion_queries.team_of_order(enterprise_id=order.enterprise_id, order_id=order.pk)
    data.update(address=order.address or {}, carrier=order.carrier, tracking_no=order.tracking_no,
                breakdown=order.breakdown or {}, after_sales=list(order.after_sales.all()),
                group_team=group_team_data(team) if team is not None else None)
    return data
