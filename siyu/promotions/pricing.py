"""The pricing engine: one pure function, `price(cart) -> PricingBreakdown`.

No database access happens here: `promotions.queries.load_pricing_input` gathers SKUs, bundles, the active
promotions, the coupon and the customer's member status into a frozen `PricingInput`. Checkout preview and order
placement call the same function on the same kind of input, so they cannot disagree. The stacking rules are in
docs/pricing.md; in short, in this order:

1. Unit price per line. A plain SKU line costs the list price, or the member price for a member: the lower of the
   SKU's own member price and the paid plan's share of the list price (`MemberOffer.price_percent`). A flash-sale line
   (the line names `flash_item_id`) or a group-buy line (`group_buy_id`) costs the lower of that promotion's price
   and what the customer would pay anyway (member or list) — never both. A bundle line costs the bundle price.
2. Full-reduction (满减/满折): at most one rule per order, the one giving the largest discount. It counts only
   "regular" lines (list or member price) in its scope; bundle lines count for rules scoped to all products;
   flash and group-buy lines never count.
3. Coupon: one per order, on the same kind of lines as 2 within its own scope; its threshold is checked on those
   lines' amount after the full-reduction.
4. Shipping: free when the goods payable (after 2 and 3) reaches the threshold or the customer's paid plan ships for
   free, else a flat fee; pickup is free.
5. Points (积分抵现): the customer may pay part of the goods payable with points, at the programme's rate (points per
   yuan) and up to its share of the goods payable; never the shipping. Points are a way of paying, not a discount:
   they do not change 2-4, but they do lower each line's payable (what cash pays, what refunds and points earned
   are counted on).

Discounts are spread over the lines they came from in proportion to the lines' amounts (largest remainder, integer
fen, ties to the earlier line), so the lines always add up exactly to the totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.money import DEFAULT_CURRENCY, Money

DEFAULT_FREE_SHIPPING_OVER_FEN = 9900
DEFAULT_SHIPPING_FEE_FEN = 1000
MAX_LINES = 100
MAX_LINE_QUANTITY = 9999

# Where a line's unit price came from.
SOURCE_LIST = "list"
SOURCE_MEMBER = "member"
SOURCE_FLASH = "flash_sale"
SOURCE_GROUP = "group_buy"
SOURCE_BUNDLE = "bundle"

# Promotion scopes, coupon kinds, threshold and benefit kinds (the same strings as the model choices).
SCOPE_ALL = "all"
SCOPE_PRODUCTS = "products"
SCOPE_CATEGORIES = "categories"
COUPON_FIXED = "fixed"
COUPON_PERCENT = "percent"
COUPON_THRESHOLD = "threshold"
THRESHOLD_AMOUNT = "amount"
THRESHOLD_QUANTITY = "quantity"
BENEFIT_AMOUNT = "amount"
BENEFIT_PERCENT = "percent"
FULFILLMENT_DELIVERY = "delivery"
FULFILLMENT_PICKUP = "pickup"

_EMPTY: Mapping[int, Any] = MappingProxyType({})


# ---------------------------------------------------------------------------------------------------------------
# Input


@dataclass(frozen=True, slots=True)
class CartLine:
    """A SKU (optionally at a flash-sale item's or a group buy's price) or a bundle, times a quantity."""

    quantity: int
    sku_id: int | None = None
    bundle_id: int | None = None
    flash_item_id: int | None = None
    group_buy_id: int | None = None


@dataclass(frozen=True, slots=True)
class SkuInfo:
    sku_id: int
    product_id: int
    category_id: int
    parent_category_id: int | None
    name: str
    price_fen: int
    member_price_fen: int | None
    stock: int
    on_sale: bool  # the product is on sale and the SKU active
    store_ids: frozenset[int] | None = None  # None: sold in every store
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True, slots=True)
class BundleInfo:
    bundle_id: int
    name: str
    price_fen: int
    components: tuple[tuple[int, int], ...]  # (sku_id, pieces per bundle)
    on_sale: bool
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True, slots=True)
class FlashOffer:
    item_id: int
    flash_sale_id: int
    name: str
    sku_id: int
    price_fen: int
    remaining: int  # flash stock not yet sold
    per_customer_limit: int
    bought: int  # units this customer already bought in this flash sale item
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class GroupOffer:
    group_buy_id: int
    name: str
    sku_id: int
    price_fen: int
    group_size: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class TargetScope:
    """Which lines a promotion covers: all products, chosen products, or chosen categories (a top category covers
    its children)."""

    kind: str = SCOPE_ALL
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class ReductionRule:
    """Tiers ascending: (threshold in fen or pieces, value in fen off or percent off)."""

    rule_id: int
    name: str
    threshold_kind: str
    benefit_kind: str
    tiers: tuple[tuple[int, int], ...]
    scope: TargetScope
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class CouponInfo:
    coupon_id: int
    template_id: int
    name: str
    kind: str
    amount_off_fen: int
    percent_off: int
    max_off_fen: int | None
    threshold_fen: int
    scope: TargetScope
    customer_id: int
    status: str  # available / used / expired
    valid_from: datetime
    valid_until: datetime
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True, slots=True)
class PointsOffer:
    """What the loyalty programme lets this customer pay with points: `balance` held (available, unexpired),
    `points_per_yuan` points pay one yuan (0: points are not accepted), at most `max_percent` of the goods payable;
    `requested` is how many the customer wants to use (the engine may use fewer, never more)."""

    requested: int
    balance: int
    points_per_yuan: int
    max_percent: int


@dataclass(frozen=True, slots=True)
class MemberOffer:
    """What the customer's paid plan (loyalty's membership) gives at checkout today: `price_percent` of the list price
    on plain SKU lines (100: no plan discount), and free shipping. `plan` is its name, shown beside the saving."""

    plan: str
    price_percent: int = 100
    free_shipping: bool = False


@dataclass(frozen=True, slots=True)
class ShippingRule:
    free_over_fen: int | None = DEFAULT_FREE_SHIPPING_OVER_FEN  # None: never free
    fee_fen: int = DEFAULT_SHIPPING_FEE_FEN


@dataclass(frozen=True, slots=True)
class PricingInput:
    lines: tuple[CartLine, ...]
    now: datetime
    skus: Mapping[int, SkuInfo] = field(default_factory=lambda: _EMPTY)
    bundles: Mapping[int, BundleInfo] = field(default_factory=lambda: _EMPTY)
    flash_offers: Mapping[int, FlashOffer] = field(default_factory=lambda: _EMPTY)
    group_offers: Mapping[int, GroupOffer] = field(default_factory=lambda: _EMPTY)
    reductions: tuple[ReductionRule, ...] = ()
    coupon: CouponInfo | None = None
    customer_id: int | None = None
    is_member: bool = False
    store_id: int | None = None
    fulfillment: str = FULFILLMENT_DELIVERY
    shipping: ShippingRule = ShippingRule()
    currency: str = DEFAULT_CURRENCY
    points: PointsOffer | None = None
    member: MemberOffer | None = None  # a paid plan's benefits; is_member is implied by it


# ---------------------------------------------------------------------------------------------------------------
# Output


@dataclass(frozen=True, slots=True)
class PricedLine:
    """One priced line. Amounts are kept as integer fen (`*_fen`) and read as Money through the properties."""

    index: int
    sku_id: int | None
    bundle_id: int | None
    product_id: int | None
    name: str
    quantity: int
    price_source: str
    unit_list_price_fen: int
    unit_price_fen: int
    reduction_discount_fen: int  # this line's share of the full-reduction
    coupon_discount_fen: int  # this line's share of the coupon
    flash_item_id: int | None
    group_buy_id: int | None
    components: tuple[tuple[int, int], ...]  # (sku_id, units) this line takes from stock
    currency: str = DEFAULT_CURRENCY
    points_discount_fen: int = 0  # this line's share of what points pay

    @property
    def list_amount_fen(self) -> int:
        return self.unit_list_price_fen * self.quantity

    @property
    def amount_fen(self) -> int:
        return self.unit_price_fen * self.quantity

    @property
    def payable_fen(self) -> int:
        return self.amount_fen - self.reduction_discount_fen - self.coupon_discount_fen - self.points_discount_fen

    @property
    def unit_list_price(self) -> Money:
        return Money(self.unit_list_price_fen, self.currency)

    @property
    def unit_price(self) -> Money:
        return Money(self.unit_price_fen, self.currency)

    @property
    def list_amount(self) -> Money:
        """Unit list price × quantity."""
        return Money(self.list_amount_fen, self.currency)

    @property
    def amount(self) -> Money:
        """Unit price × quantity."""
        return Money(self.amount_fen, self.currency)

    @property
    def reduction_discount(self) -> Money:
        return Money(self.reduction_discount_fen, self.currency)

    @property
    def coupon_discount(self) -> Money:
        return Money(self.coupon_discount_fen, self.currency)

    @property
    def payable(self) -> Money:
        """Amount - reduction share - coupon share - points share: what cash pays for the line."""
        return Money(self.payable_fen, self.currency)

    @property
    def price_discount(self) -> Money:
        return Money(self.list_amount_fen - self.amount_fen, self.currency)


@dataclass(frozen=True, slots=True)
class PromotionResult:
    """One promotion considered for this cart. A rejected one says why (`reason`) and, for a threshold not met,
    how far off the cart is (`shortfall_fen` or `shortfall_pieces`), so the shop can say "add ¥12 more"."""

    kind: str  # member_price / flash_sale / group_buy / bundle / full_reduction / coupon / free_shipping /
    # member_shipping (the paid plan's free shipping) / points
    promotion_id: int | None
    name: str
    applied: bool
    amount_fen: int
    reason: str = ""
    line_indexes: tuple[int, ...] = ()
    shortfall_fen: int | None = None
    shortfall_pieces: int | None = None
    currency: str = DEFAULT_CURRENCY

    @property
    def amount(self) -> Money:
        """The discount it gave (zero when rejected)."""
        return Money(self.amount_fen, self.currency)


@dataclass(frozen=True, slots=True)
class PricingBreakdown:
    """The checkout breakdown. Totals are integer fen (`*_fen`), read as Money through the properties."""

    lines: tuple[PricedLine, ...]
    list_total_fen: int
    subtotal_fen: int  # after unit prices (member, flash, group, bundle)
    reduction_discount_fen: int
    coupon_discount_fen: int
    shipping_fen: int
    promotions: tuple[PromotionResult, ...]
    reduction_id: int | None
    coupon_id: int | None
    currency: str
    points_used: int = 0
    points_discount_fen: int = 0  # what the points pay (goods only, never shipping)

    @property
    def goods_payable_fen(self) -> int:
        return self.subtotal_fen - self.reduction_discount_fen - self.coupon_discount_fen

    @property
    def payable_fen(self) -> int:
        return self.goods_payable_fen - self.points_discount_fen + self.shipping_fen

    @property
    def list_total(self) -> Money:
        return Money(self.list_total_fen, self.currency)

    @property
    def subtotal(self) -> Money:
        return Money(self.subtotal_fen, self.currency)

    @property
    def reduction_discount(self) -> Money:
        return Money(self.reduction_discount_fen, self.currency)

    @property
    def coupon_discount(self) -> Money:
        return Money(self.coupon_discount_fen, self.currency)

    @property
    def goods_payable(self) -> Money:
        """Subtotal - full-reduction - coupon."""
        return Money(self.goods_payable_fen, self.currency)

    @property
    def shipping(self) -> Money:
        return Money(self.shipping_fen, self.currency)

    @property
    def points_discount(self) -> Money:
        return Money(self.points_discount_fen, self.currency)

    @property
    def payable(self) -> Money:
        """Goods payable - points + shipping: what the customer pays in money."""
        return Money(self.payable_fen, self.currency)

    @property
    def price_discount(self) -> Money:
        return Money(self.list_total_fen - self.subtotal_fen, self.currency)

    @property
    def total_discount(self) -> Money:
        return Money(self.list_total_fen - self.goods_payable_fen, self.currency)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, amounts in fen: what the API returns and what an order stores as its price snapshot."""
        return {
            "currency": self.currency,
            "list_total_fen": self.list_total_fen,
            "subtotal_fen": self.subtotal_fen,
            "price_discount_fen": self.list_total_fen - self.subtotal_fen,
            "reduction_discount_fen": self.reduction_discount_fen,
            "coupon_discount_fen": self.coupon_discount_fen,
            "goods_payable_fen": self.goods_payable_fen,
            "shipping_fen": self.shipping_fen,
            "points_used": self.points_used,
            "points_discount_fen": self.points_discount_fen,
            "payable_fen": self.payable_fen,
            "reduction_id": self.reduction_id,
            "coupon_id": self.coupon_id,
            "lines": [_line_dict(line) for line in self.lines],
            "promotions": [_promotion_dict(p) for p in self.promotions],
        }


def _line_dict(line: PricedLine) -> dict[str, Any]:
    return {
        "index": line.index, "sku_id": line.sku_id, "bundle_id": line.bundle_id, "product_id": line.product_id,
        "name": line.name, "quantity": line.quantity, "price_source": line.price_source,
        "unit_list_price_fen": line.unit_list_price_fen, "unit_price_fen": line.unit_price_fen,
        "list_amount_fen": line.list_amount_fen, "amount_fen": line.amount_fen,
        "reduction_discount_fen": line.reduction_discount_fen, "coupon_discount_fen": line.coupon_discount_fen,
        "points_discount_fen": line.points_discount_fen,
        "payable_fen": line.payable_fen, "flash_item_id": line.flash_item_id, "group_buy_id": line.group_buy_id,
        "components": [list(c) for c in line.components],
    }


def _promotion_dict(p: PromotionResult) -> dict[str, Any]:
    return {
        "kind": p.kind, "promotion_id": p.promotion_id, "name": p.name, "applied": p.applied,
        "amount_fen": p.amount_fen, "reason": p.reason, "line_indexes": list(p.line_indexes),
        "shortfall_fen": p.shortfall_fen, "shortfall_pieces": p.shortfall_pieces,
    }


# ---------------------------------------------------------------------------------------------------------------
# Arithmetic


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` fen over `weights` in proportion, in whole fen (largest remainder; ties go to the earlier
    weight). The shares add up to `total` exactly and none exceeds its weight when total <= sum(weights)."""
    if total == 0 or not weights:
        return [0] * len(weights)
    whole = sum(weights)
    if whole <= 0 or total < 0 or total > whole:
        raise ValueError(f"cannot allocate {total} over {whole}")
    shares = []
    remainders = []
    for index, weight in enumerate(weights):
        share, remainder = divmod(total * weight, whole)
        shares.append(share)
        remainders.append((-remainder, index))
    left = total - sum(shares)
    for _ignored, index in sorted(remainders)[:left]:
        shares[index] += 1
    return shares


def percent_of(amount_fen: int, percent: int) -> int:
    """`percent`% of an amount, rounded half up to the fen (the same rule as Money.percent)."""
    return (amount_fen * percent * 2 + 100) // 200


# ---------------------------------------------------------------------------------------------------------------
# The engine


class _Line:
    """A line being priced (mutable while the engine works; frozen into a PricedLine at the end)."""

    __slots__ = ("index", "cart_line", "name", "product_id", "category_id", "parent_category_id", "source",
                 "unit_list", "unit", "quantity", "reduction", "coupon", "points", "promotion_id", "components")

    def __init__(self, index: int, cart_line: CartLine) -> None:
        self.index = index
        self.cart_line = cart_line
        self.quantity = cart_line.quantity
        self.name = ""
        self.product_id: int | None = None
        self.category_id: int | None = None
        self.parent_category_id: int | None = None
        self.source = SOURCE_LIST
        self.unit_list = 0
        self.unit = 0
        self.reduction = 0
        self.coupon = 0
        self.points = 0
        self.promotion_id: int | None = None
        self.components: tuple[tuple[int, int], ...] = ()

    @property
    def amount(self) -> int:
        return self.unit * self.quantity

    @property
    def list_amount(self) -> int:
        return self.unit_list * self.quantity

    @property
    def regular(self) -> bool:
        return self.source in (SOURCE_LIST, SOURCE_MEMBER)


def _field(index: int, name: str) -> str:
    return f"lines[{index}].{name}"


def _check_quantity(index: int, line: CartLine) -> None:
    quantity = line.quantity
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise ValidationFailed(
            _("quantity must be a whole number from 1 to %(MAX_LINE_QUANTITY)s")
            % {"MAX_LINE_QUANTITY": MAX_LINE_QUANTITY},
            field=_field(index, "quantity"), index=index, code="invalid_quantity",
        )
    if (line.sku_id is None) == (line.bundle_id is None):
        raise ValidationFailed(_("a line names either a SKU or a bundle"), field=_field(index, "sku_id"), index=index,
                               code="invalid_line")
    if line.bundle_id is not None and (line.flash_item_id is not None or line.group_buy_id is not None):
        raise ValidationFailed(_("a bundle line cannot be a flash-sale or group-buy line"),
                               field=_field(index, "bundle_id"), index=index, code="invalid_line")
    if line.flash_item_id is not None and line.group_buy_id is not None:
        raise ValidationFailed(_("a line is a flash-sale line or a group-buy line, not both"),
                               field=_field(index, "group_buy_id"), index=index, code="invalid_line")


def _sellable_sku(cart: PricingInput, index: int, sku_id: int, name: str = "sku_id") -> SkuInfo:
    sku = cart.skus.get(sku_id)
    if sku is None:
        raise NotFound(
            _("unknown SKU %(sku_id)s") % {"sku_id": sku_id},
            field=_field(index, name), index=index, code="unknown_sku",
        )
    if not sku.on_sale:
        raise Conflict(
            _("%(name)s is not on sale") % {"name": sku.name},
            field=_field(index, name), index=index, code="not_on_sale",
        )
    if cart.store_id is not None and sku.store_ids is not None and cart.store_id not in sku.store_ids:
        raise Conflict(
            _("%(name)s is not sold in this store") % {"name": sku.name},
            field=_field(index, name), index=index, code="not_sold_in_store",
        )
    if sku.currency != cart.currency:
        raise ValidationFailed(
            _("%(name)s is priced in %(currency)s") % {"name": sku.name, "currency": sku.currency},
            field=_field(index, name), index=index, code="currency_mismatch",
        )
    return sku


def _active(now: datetime, starts_at: datetime, ends_at: datetime) -> bool:
    return starts_at <= now < ends_at


def _apply_flash(cart: PricingInput, work: _Line, sku: SkuInfo, item_id: int) -> None:
    index = work.index
    offer = cart.flash_offers.get(item_id)
    if offer is None or offer.sku_id != sku.sku_id:
        raise NotFound(
            _("no flash sale item %(item_id)s for this SKU") % {"item_id": item_id},
            field=_field(index, "flash_item_id"), index=index, code="unknown_flash_item",
        )
    if not _active(cart.now, offer.starts_at, offer.ends_at):
        raise ValidationFailed(
            _("the flash sale %(name)s is not running now") % {"name": offer.name},
            field=_field(index, "flash_item_id"), index=index, code="flash_not_active",
        )
    work.source, work.unit, work.promotion_id = SOURCE_FLASH, min(offer.price_fen, work.unit), item_id


def _apply_group(cart: PricingInput, work: _Line, sku: SkuInfo, group_buy_id: int) -> None:
    index = work.index
    offer = cart.group_offers.get(group_buy_id)
    if offer is None or offer.sku_id != sku.sku_id:
        raise NotFound(
            _("no group buy %(group_buy_id)s for this SKU") % {"group_buy_id": group_buy_id},
            field=_field(index, "group_buy_id"), index=index, code="unknown_group_buy",
        )
    if not _active(cart.now, offer.starts_at, offer.ends_at):
        raise ValidationFailed(
            _("the group buy %(name)s is not running now") % {"name": offer.name},
            field=_field(index, "group_buy_id"), index=index, code="group_buy_not_active",
        )
    work.source, work.unit, work.promotion_id = SOURCE_GROUP, min(offer.price_fen, work.unit), group_buy_id


def _member_unit(cart: PricingInput, sku: SkuInfo) -> int:
    """What a member pays for one piece: the lowest of the list price, the SKU's member price and the paid plan's
    share of the list price (rounded down to the fen in the customer's favour)."""
    unit = sku.price_fen
    if not (cart.is_member or cart.member is not None):
        return unit
    if sku.member_price_fen is not None:
        unit = min(unit, sku.member_price_fen)
    if cart.member is not None and 0 < cart.member.price_percent < 100:
        unit = min(unit, sku.price_fen * cart.member.price_percent // 100)
    return unit


def _price_sku_line(cart: PricingInput, work: _Line, line: CartLine) -> None:
    assert line.sku_id is not None
    sku = _sellable_sku(cart, work.index, line.sku_id)
    work.name, work.product_id = sku.name, sku.product_id
    work.category_id, work.parent_category_id = sku.category_id, sku.parent_category_id
    work.unit_list = work.unit = sku.price_fen
    work.components = ((sku.sku_id, line.quantity),)
    member_unit = _member_unit(cart, sku)
    if member_unit < sku.price_fen:
        work.source, work.unit = SOURCE_MEMBER, member_unit
    if line.flash_item_id is not None:
        _apply_flash(cart, work, sku, line.flash_item_id)
    elif line.group_buy_id is not None:
        _apply_group(cart, work, sku, line.group_buy_id)


def _price_bundle_line(cart: PricingInput, work: _Line, line: CartLine) -> None:
    assert line.bundle_id is not None
    index = work.index
    bundle = cart.bundles.get(line.bundle_id)
    if bundle is None:
        raise NotFound(
            _("unknown bundle %(bundle_id)s") % {"bundle_id": line.bundle_id},
            field=_field(index, "bundle_id"), index=index, code="unknown_bundle",
        )
    if not bundle.on_sale:
        raise Conflict(
            _("%(name)s is not on sale") % {"name": bundle.name},
            field=_field(index, "bundle_id"), index=index, code="not_on_sale",
        )
    if bundle.currency != cart.currency:
        raise ValidationFailed(
            _("%(name)s is priced in %(currency)s") % {"name": bundle.name, "currency": bundle.currency},
            field=_field(index, "bundle_id"), index=index, code="currency_mismatch",
        )
    unit_list = 0
    for sku_id, pieces in bundle.components:
        sku = cart.skus.get(sku_id)
        if sku is None:
            raise NotFound(
                _("unknown SKU %(sku_id)s in bundle %(name)s") % {"sku_id": sku_id, "name": bundle.name},
                field=_field(index, "bundle_id"), index=index, code="unknown_sku",
            )
        if cart.store_id is not None and sku.store_ids is not None and cart.store_id not in sku.store_ids:
            raise Conflict(
                _("%(name)s is not sold in this store") % {"name": bundle.name},
                field=_field(index, "bundle_id"), index=index, code="not_sold_in_store",
            )
        unit_list += sku.price_fen * pieces
    work.name, work.source, work.promotion_id = bundle.name, SOURCE_BUNDLE, bundle.bundle_id
    work.unit_list, work.unit = unit_list, min(bundle.price_fen, unit_list) if unit_list else bundle.price_fen
    work.components = tuple((sku_id, pieces * line.quantity) for sku_id, pieces in bundle.components)


def _price_lines(cart: PricingInput) -> list[_Line]:
    if not cart.lines:
        raise ValidationFailed(_("the cart is empty"), field="lines", code="empty_cart")
    if len(cart.lines) > MAX_LINES:
        raise ValidationFailed(
            _("at most %(MAX_LINES)s lines") % {"MAX_LINES": MAX_LINES},
            field="lines", code="too_many_lines",
        )
    out = []
    for index, line in enumerate(cart.lines):
        _check_quantity(index, line)
        work = _Line(index, line)
        if line.bundle_id is not None:
            _price_bundle_line(cart, work, line)
        else:
            _price_sku_line(cart, work, line)
        out.append(work)
    return out


def _check_stock(cart: PricingInput, lines: list[_Line]) -> None:
    """Every SKU's units over all lines (bundles included) fit its stock; the error names the line that tips it."""
    taken: dict[int, int] = {}
    for work in lines:
        for sku_id, units in work.components:
            total = taken.get(sku_id, 0) + units
            taken[sku_id] = total
            stock = cart.skus[sku_id].stock
            if total > stock:
                raise Conflict(
                    _("only %(stock)s left of %(name)s") % {"stock": stock, "name": cart.skus[sku_id].name},
                    field=_field(work.index, "quantity"), index=work.index, code="out_of_stock",
                )


def _check_flash_limits(cart: PricingInput, lines: list[_Line]) -> None:
    taken: dict[int, int] = {}
    for work in lines:
        if work.source != SOURCE_FLASH or work.promotion_id is None:
            continue
        if cart.customer_id is None:
            raise ValidationFailed(_("flash sales need a signed-in customer"), field="customer_id",
                                   code="customer_required")
        offer = cart.flash_offers[work.promotion_id]
        total = taken.get(offer.item_id, 0) + work.quantity
        taken[offer.item_id] = total
        if total > offer.remaining:
            raise Conflict(
                _("the flash sale has %(remaining)s left") % {"remaining": offer.remaining},
                field=_field(work.index, "quantity"), index=work.index, code="out_of_stock",
            )
        if offer.bought + total > offer.per_customer_limit:
            allowed = max(0, offer.per_customer_limit - offer.bought)
            raise Conflict(_("at most %(allowed)s more per customer in this flash sale") % {"allowed": allowed},
                           field=_field(work.index, "quantity"), index=work.index, code="flash_limit_exceeded")


def _in_scope(work: _Line, scope: TargetScope) -> bool:
    """Whether a full-reduction or a coupon counts this line: regular lines in scope; bundles only for "all"."""
    if work.source == SOURCE_BUNDLE:
        return scope.kind == SCOPE_ALL
    if not work.regular:
        return False
    if scope.kind == SCOPE_ALL:
        return True
    if scope.kind == SCOPE_PRODUCTS:
        return work.product_id in scope.product_ids
    return work.category_id in scope.category_ids or work.parent_category_id in scope.category_ids


def _line_promotions(cart: PricingInput, lines: list[_Line]) -> list[PromotionResult]:
    names = {SOURCE_MEMBER: "member price"}
    out = []
    for work in lines:
        if work.source == SOURCE_LIST:
            continue
        if work.source == SOURCE_FLASH and work.promotion_id is not None:
            name = cart.flash_offers[work.promotion_id].name
        elif work.source == SOURCE_GROUP and work.promotion_id is not None:
            name = cart.group_offers[work.promotion_id].name
        else:
            name = work.name if work.source == SOURCE_BUNDLE else names[work.source]
        kind = "member_price" if work.source == SOURCE_MEMBER else work.source
        out.append(PromotionResult(kind=kind, promotion_id=work.promotion_id, name=name, applied=True,
                                   amount_fen=work.list_amount - work.amount, line_indexes=(work.index,),
                                   currency=cart.currency))
    return out


@dataclass(frozen=True, slots=True)
class _Candidate:
    rule: ReductionRule
    off: int
    lines: tuple[_Line, ...]


def _reduction_off(rule: ReductionRule, base: int, measure: int) -> int | None:
    """The discount of the highest tier reached, or None when no tier is."""
    reached = [value for threshold, value in rule.tiers if measure >= threshold]
    if not reached:
        return None
    value = reached[-1]
    off = value if rule.benefit_kind == BENEFIT_AMOUNT else percent_of(base, value)
    return min(off, base)


def _shortfall(rule: ReductionRule, measure: int) -> dict[str, int]:
    gap = rule.tiers[0][0] - measure if rule.tiers else 0
    return {"shortfall_fen": gap} if rule.threshold_kind == THRESHOLD_AMOUNT else {"shortfall_pieces": gap}


def _consider_reductions(cart: PricingInput, lines: list[_Line], promos: list[PromotionResult]) -> list[_Candidate]:
    candidates = []
    for rule in cart.reductions:
        if not _active(cart.now, rule.starts_at, rule.ends_at):
            continue
        eligible = tuple(work for work in lines if _in_scope(work, rule.scope))
        if not eligible:
            promos.append(PromotionResult(kind="full_reduction", promotion_id=rule.rule_id, name=rule.name,
                                          applied=False, amount_fen=0, reason="out_of_scope",
                                          currency=cart.currency))
            continue
        base = sum(work.amount for work in eligible)
        measure = base if rule.threshold_kind == THRESHOLD_AMOUNT else sum(work.quantity for work in eligible)
        off = _reduction_off(rule, base, measure)
        if off is None:
            promos.append(PromotionResult(kind="full_reduction", promotion_id=rule.rule_id, name=rule.name,
                                          applied=False, amount_fen=0, reason="threshold_not_met",
                                          currency=cart.currency, line_indexes=tuple(w.index for w in eligible),
                                          **_shortfall(rule, measure)))
            continue
        candidates.append(_Candidate(rule=rule, off=off, lines=eligible))
    return candidates


def _apply_reductions(cart: PricingInput, lines: list[_Line], promos: list[PromotionResult]) -> int | None:
    candidates = _consider_reductions(cart, lines, promos)
    if not candidates:
        return None
    best = candidates[0]
    for candidate in candidates[1:]:
        if candidate.off > best.off:
            best = candidate
    shares = allocate(best.off, [work.amount for work in best.lines])
    for work, share in zip(best.lines, shares, strict=True):
        work.reduction = share
    for candidate in candidates:
        chosen = candidate is best
        promos.append(PromotionResult(
            kind="full_reduction", promotion_id=candidate.rule.rule_id, name=candidate.rule.name, applied=chosen,
            amount_fen=candidate.off if chosen else 0, currency=cart.currency, reason="" if chosen else "not_best",
            line_indexes=tuple(w.index for w in candidate.lines),
        ))
    return best.rule.rule_id


def _check_coupon(cart: PricingInput, coupon: CouponInfo) -> None:
    if cart.customer_id is None or coupon.customer_id != cart.customer_id:
        raise ValidationFailed(_("this coupon belongs to another customer"), field="coupon_id", code="coupon_not_owned")
    if coupon.status == "used":
        raise Conflict(_("this coupon has been used"), field="coupon_id", code="coupon_used")
    if coupon.status == "expired" or cart.now >= coupon.valid_until:
        raise ValidationFailed(_("this coupon has expired"), field="coupon_id", code="coupon_expired")
    if cart.now < coupon.valid_from:
        raise ValidationFailed(_("this coupon is not valid yet"), field="coupon_id", code="coupon_not_started")
    if coupon.currency != cart.currency:
        raise ValidationFailed(_("this coupon is in another currency"), field="coupon_id", code="currency_mismatch")


def _coupon_off(coupon: CouponInfo, base: int) -> int:
    if coupon.kind == COUPON_PERCENT:
        off = percent_of(base, coupon.percent_off)
        if coupon.max_off_fen is not None:
            off = min(off, coupon.max_off_fen)
    else:
        off = coupon.amount_off_fen
    return min(off, base)


def _apply_coupon(cart: PricingInput, lines: list[_Line], promos: list[PromotionResult]) -> int | None:
    coupon = cart.coupon
    if coupon is None:
        return None
    _check_coupon(cart, coupon)
    eligible = [work for work in lines if _in_scope(work, coupon.scope)]
    if not eligible:
        raise ValidationFailed(
            _("%(name)s does not cover anything in this cart") % {"name": coupon.name},
            field="coupon_id", code="coupon_out_of_scope",
        )
    weights = [work.amount - work.reduction for work in eligible]
    base = sum(weights)
    if base < coupon.threshold_fen:
        gap = Money(coupon.threshold_fen - base, cart.currency)
        raise ValidationFailed(
            _("%(name)s needs %(gap)s more on the items it covers") % {"name": coupon.name, "gap": gap},
            field="coupon_id", code="threshold_not_met",
        )
    off = _coupon_off(coupon, base)
    for work, share in zip(eligible, allocate(off, weights), strict=True):
        work.coupon = share
    promos.append(PromotionResult(kind="coupon", promotion_id=coupon.coupon_id, name=coupon.name, applied=True,
                                  amount_fen=off, currency=cart.currency,
                                  line_indexes=tuple(w.index for w in eligible)))
    return coupon.coupon_id


def _shipping(cart: PricingInput, goods_payable: int, promos: list[PromotionResult]) -> int:
    rule = cart.shipping
    if cart.fulfillment == FULFILLMENT_PICKUP or rule.fee_fen == 0:
        return 0
    if cart.member is not None and cart.member.free_shipping:
        promos.append(PromotionResult(kind="member_shipping", promotion_id=None, name=cart.member.plan, applied=True,
                                      amount_fen=rule.fee_fen, currency=cart.currency))
        return 0
    if rule.free_over_fen is not None and goods_payable >= rule.free_over_fen:
        promos.append(PromotionResult(kind="free_shipping", promotion_id=None, name="free shipping", applied=True,
                                      amount_fen=rule.fee_fen, currency=cart.currency))
        return 0
    if rule.free_over_fen is not None:
        promos.append(PromotionResult(kind="free_shipping", promotion_id=None, name="free shipping", applied=False,
                                      amount_fen=0, currency=cart.currency, reason="threshold_not_met",
                                      shortfall_fen=rule.free_over_fen - goods_payable))
    return rule.fee_fen


def _apply_points(cart: PricingInput, lines: list[_Line], promos: list[PromotionResult]) -> tuple[int, int]:
    """(points used, fen they pay). The fen are the requested points at the rate, capped at the programme's share of
    the goods payable; the points used are the fewest that pay those fen (never more than requested)."""
    offer = cart.points
    if offer is None or offer.requested == 0:
        return 0, 0
    if offer.requested < 0:
        raise ValidationFailed(_("points must be a whole number of at least 0"), field="points", code="invalid_points")
    if offer.points_per_yuan <= 0 or offer.max_percent <= 0:
        raise ValidationFailed(_("points cannot pay for orders"), field="points", code="points_not_accepted")
    if offer.requested > offer.balance:
        raise Conflict(_("you have %(balance)s points, fewer than %(points)s") % {
            "balance": offer.balance, "points": offer.requested}, field="points", code="insufficient_points")
    weights = [work.amount - work.reduction - work.coupon for work in lines]
    cap = sum(weights) * offer.max_percent // 100
    off = min(offer.requested * 100 // offer.points_per_yuan, cap)
    if off <= 0:
        return 0, 0
    used = -(-off * offer.points_per_yuan // 100)
    for work, share in zip(lines, allocate(off, weights), strict=True):
        work.points = share
    promos.append(PromotionResult(kind="points", promotion_id=None, name="points", applied=True, amount_fen=off,
                                  currency=cart.currency, line_indexes=tuple(w.index for w in lines if w.points)))
    return used, off


def _freeze(work: _Line, currency: str) -> PricedLine:
    line = work.cart_line
    return PricedLine(
        index=work.index, sku_id=line.sku_id, bundle_id=line.bundle_id, product_id=work.product_id, name=work.name,
        quantity=work.quantity, price_source=work.source, unit_list_price_fen=work.unit_list, unit_price_fen=work.unit,
        reduction_discount_fen=work.reduction, coupon_discount_fen=work.coupon, flash_item_id=line.flash_item_id,
        group_buy_id=line.group_buy_id, components=work.components, currency=currency, points_discount_fen=work.points,
    )


def price(cart: PricingInput) -> PricingBreakdown:
    """Price a cart. Raises typed domain errors (with `lines[i].field` and the line index) for bad input:
    unknown_sku, unknown_bundle, invalid_quantity, invalid_line, not_on_sale, not_sold_in_store, out_of_stock,
    flash_not_active, flash_limit_exceeded, group_buy_not_active, customer_required, and for the coupon:
    coupon_not_owned, coupon_used, coupon_expired, coupon_not_started, coupon_out_of_scope, threshold_not_met, and
    for points: invalid_points, points_not_accepted, insufficient_points."""
    lines = _price_lines(cart)
    _check_stock(cart, lines)
    _check_flash_limits(cart, lines)
    promos = _line_promotions(cart, lines)
    reduction_id = _apply_reductions(cart, lines, promos)
    coupon_id = _apply_coupon(cart, lines, promos)
    currency = cart.currency
    subtotal = sum(work.amount for work in lines)
    reduction = sum(work.reduction for work in lines)
    coupon = sum(work.coupon for work in lines)
    shipping = _shipping(cart, subtotal - reduction - coupon, promos)
    points_used, points_off = _apply_points(cart, lines, promos)
    return PricingBreakdown(
        lines=tuple(_freeze(work, currency) for work in lines), list_total_fen=sum(w.list_amount for w in lines),
        subtotal_fen=subtotal, reduction_discount_fen=reduction, coupon_discount_fen=coupon, shipping_fen=shipping,
        promotions=tuple(promos), reduction_id=reduction_id, coupon_id=coupon_id, currency=currency,
        points_used=points_used, points_discount_fen=points_off,
    )
