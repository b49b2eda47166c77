"""A small hand-made catalog for pricing tests, built as engine inputs (no database).

SKUs (price / member price, in fen):
  1 A  product 101, category 11 (parent 1)   5000 / 4500
  2 B  product 102, category 11 (parent 1)   3000 / —
  3 C  product 103, category 21 (parent 2)  12900 / 11900
  4 D  product 104, category 22 (parent 2)   1990 / 1890
  5 E  product 105, category 31 (parent 3)   9900 / 8900
  6 F  product 106, category 31 (parent 3)    333 / —
  7 G  product 107, category 11 (parent 1)   1001 / —
Bundle 1: A×1 + B×2 (list 11000) for 9900.
Flash item 501: E at 5900, 10 left, 2 per customer. Flash item 502: D at 1900, 10 left, 5 per customer.
Group buy 601: C at 9900.
Full-reductions: R1 (701) 满199减20 / 满299减40 on everything; R2 (702) 满2件9折 / 满3件85折 on category 2.
Coupons of customer 9: K1 (801) ¥10 off; K2 (802) 满100减15; K3 (803) 20% off capped ¥30 on product 101 (A);
K4 (804) 10% off on category 3; K5 (805) 满190减10.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from siyu.promotions.pricing import (
    BundleInfo,
    CartLine,
    CouponInfo,
    FlashOffer,
    GroupOffer,
    PricingInput,
    ReductionRule,
    ShippingRule,
    SkuInfo,
    TargetScope,
)

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
START = NOW - timedelta(days=1)
END = NOW + timedelta(days=1)
CUSTOMER = 9


def _sku(sku_id: int, category: int, parent: int, price: int, member: int | None, name: str) -> SkuInfo:
    return SkuInfo(sku_id=sku_id, product_id=100 + sku_id, category_id=category, parent_category_id=parent,
                   name=name, price_fen=price, member_price_fen=member, stock=100, on_sale=True)


SKUS = {
    1: _sku(1, 11, 1, 5000, 4500, "A"),
    2: _sku(2, 11, 1, 3000, None, "B"),
    3: _sku(3, 21, 2, 12900, 11900, "C"),
    4: _sku(4, 22, 2, 1990, 1890, "D"),
    5: _sku(5, 31, 3, 9900, 8900, "E"),
    6: _sku(6, 31, 3, 333, None, "F"),
    7: _sku(7, 11, 1, 1001, None, "G"),
}
BUNDLES = {1: BundleInfo(bundle_id=1, name="A+2B", price_fen=9900, components=((1, 1), (2, 2)), on_sale=True)}
FLASH = {
    501: FlashOffer(item_id=501, flash_sale_id=50, name="flash E", sku_id=5, price_fen=5900, remaining=10,
                    per_customer_limit=2, bought=0, starts_at=START, ends_at=END),
    502: FlashOffer(item_id=502, flash_sale_id=50, name="flash D", sku_id=4, price_fen=1900, remaining=10,
                    per_customer_limit=5, bought=0, starts_at=START, ends_at=END),
}
GROUPS = {601: GroupOffer(group_buy_id=601, name="group C", sku_id=3, price_fen=9900, group_size=3, starts_at=START,
                          ends_at=END)}
R1 = ReductionRule(rule_id=701, name="R1", threshold_kind="amount", benefit_kind="amount",
                   tiers=((19900, 2000), (29900, 4000)), scope=TargetScope(), starts_at=START, ends_at=END)
R2 = ReductionRule(rule_id=702, name="R2", threshold_kind="quantity", benefit_kind="percent",
                   tiers=((2, 10), (3, 15)), scope=TargetScope(kind="categories", category_ids=frozenset({2})),
                   starts_at=START, ends_at=END)


def _coupon(coupon_id: int, kind: str, *, amount: int = 0, percent: int = 0, cap: int | None = None,
            threshold: int = 0, scope: TargetScope | None = None) -> CouponInfo:
    return CouponInfo(coupon_id=coupon_id, template_id=coupon_id - 700, name=f"K{coupon_id - 800}", kind=kind,
                      amount_off_fen=amount, percent_off=percent, max_off_fen=cap, threshold_fen=threshold,
                      scope=scope or TargetScope(), customer_id=CUSTOMER, status="available", valid_from=START,
                      valid_until=END)


K1 = _coupon(801, "fixed", amount=1000)
K2 = _coupon(802, "threshold", amount=1500, threshold=10000)
K3 = _coupon(803, "percent", percent=20, cap=3000, scope=TargetScope(kind="products", product_ids=frozenset({101})))
K4 = _coupon(804, "percent", percent=10, scope=TargetScope(kind="categories", category_ids=frozenset({3})))
K5 = _coupon(805, "threshold", amount=1000, threshold=19000)


def line(sku: int, qty: int = 1, *, flash: int | None = None, group: int | None = None) -> CartLine:
    return CartLine(quantity=qty, sku_id=sku, flash_item_id=flash, group_buy_id=group)


def bundle(bundle_id: int, qty: int = 1) -> CartLine:
    return CartLine(quantity=qty, bundle_id=bundle_id)


def cart(*lines: CartLine, **options: Any) -> PricingInput:
    """A cart over the catalog above; options override PricingInput fields (reductions, coupon, is_member...)."""
    base = PricingInput(
        lines=tuple(lines), now=NOW, skus=MappingProxyType(SKUS), bundles=MappingProxyType(BUNDLES),
        flash_offers=MappingProxyType(FLASH), group_offers=MappingProxyType(GROUPS), customer_id=CUSTOMER,
        shipping=ShippingRule(free_over_fen=9900, fee_fen=1000),
    )
    return replace(base, **options)


def with_sku(sku_id: int, **changes: Any) -> MappingProxyType[int, SkuInfo]:
    return MappingProxyType({**SKUS, sku_id: replace(SKUS[sku_id], **changes)})
