"""The pricing breakdown's API fields, shared by the operators' price preview and the storefront's checkout preview
so the two describe one engine's output the same way."""

from __future__ import annotations

from ninja import Schema


class BreakdownLineFields(Schema):
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
    points_discount_fen: int = 0
    payable_fen: int
    flash_item_id: int | None
    group_buy_id: int | None


class BreakdownPromotionFields(Schema):
    kind: str
    promotion_id: int | None
    name: str
    applied: bool
    amount_fen: int
    reason: str
    shortfall_fen: int | None
    shortfall_pieces: int | None


class BreakdownTotalsFields(Schema):
    currency: str
    list_total_fen: int
    subtotal_fen: int
    price_discount_fen: int
    reduction_discount_fen: int
    coupon_discount_fen: int
    goods_payable_fen: int
    shipping_fen: int
    points_used: int = 0
    points_discount_fen: int = 0
    payable_fen: int
    reduction_id: int | None
    coupon_id: int | None
