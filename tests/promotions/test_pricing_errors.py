"""Bad carts give typed errors with a clear code, the failing field and the line index."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.promotions.pricing import CartLine, allocate, percent_of, price
from tests.promotions.carts import (
    BUNDLES,
    END,
    FLASH,
    GROUPS,
    K1,
    K2,
    K3,
    NOW,
    R1,
    START,
    bundle,
    cart,
    line,
    with_sku,
)


def _error(exc_type: type[DomainError], cart_input: object) -> DomainError:
    with pytest.raises(exc_type) as info:
        price(cart_input)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    ("cart_input", "exc_type", "code", "field", "index"),
    [
        (cart(line(1), line(99)), NotFound, "unknown_sku", "lines[1].sku_id", 1),
        (cart(line(1, 0)), ValidationFailed, "invalid_quantity", "lines[0].quantity", 0),
        (cart(line(1), line(2, -3)), ValidationFailed, "invalid_quantity", "lines[1].quantity", 1),
        (cart(line(1, 10_000)), ValidationFailed, "invalid_quantity", "lines[0].quantity", 0),
        (cart(CartLine(quantity=True, sku_id=1)), ValidationFailed, "invalid_quantity", "lines[0].quantity", 0),
        (cart(CartLine(quantity=1)), ValidationFailed, "invalid_line", "lines[0].sku_id", 0),
        (cart(CartLine(quantity=1, sku_id=1, bundle_id=1)), ValidationFailed, "invalid_line", "lines[0].sku_id", 0),
        (cart(line(5, flash=501, group=601)), ValidationFailed, "invalid_line", "lines[0].group_buy_id", 0),
        (cart(), ValidationFailed, "empty_cart", "lines", None),
        (cart(bundle(7)), NotFound, "unknown_bundle", "lines[0].bundle_id", 0),
        (cart(line(1, 101)), Conflict, "out_of_stock", "lines[0].quantity", 0),
        # A is in both lines and in the bundle: 60 + 1 (bundle) + 40 = 101 > 100, tipped by the third line.
        (cart(line(1, 60), bundle(1), line(1, 40)), Conflict, "out_of_stock", "lines[2].quantity", 2),
        (cart(line(1), skus=with_sku(1, on_sale=False)), Conflict, "not_on_sale", "lines[0].sku_id", 0),
        (cart(line(1), store_id=5, skus=with_sku(1, store_ids=frozenset({4}))), Conflict, "not_sold_in_store",
         "lines[0].sku_id", 0),
        (cart(line(5, flash=502)), NotFound, "unknown_flash_item", "lines[0].flash_item_id", 0),
        (cart(line(5, 3, flash=501)), Conflict, "flash_limit_exceeded", "lines[0].quantity", 0),
        (cart(line(5, 1, flash=501), line(5, 2, flash=501)), Conflict, "flash_limit_exceeded", "lines[1].quantity",
         1),
        (cart(line(5, 1, flash=501), flash_offers=MappingProxyType({501: replace(FLASH[501], remaining=0)})),
         Conflict, "out_of_stock", "lines[0].quantity", 0),
        (cart(line(5, 1, flash=501), flash_offers=MappingProxyType({501: replace(FLASH[501], bought=2)})),
         Conflict, "flash_limit_exceeded", "lines[0].quantity", 0),
        (cart(line(5, flash=501), now=END), ValidationFailed, "flash_not_active", "lines[0].flash_item_id", 0),
        (cart(line(5, flash=501), customer_id=None), ValidationFailed, "customer_required", "customer_id", None),
        (cart(line(3, group=601), now=START - (END - START)), ValidationFailed, "group_buy_not_active",
         "lines[0].group_buy_id", 0),
        (cart(line(1), bundles=MappingProxyType({1: replace(BUNDLES[1], on_sale=False)}), lines=(bundle(1),)),
         Conflict, "not_on_sale", "lines[0].bundle_id", 0),
        (cart(line(4, group=601), group_offers=MappingProxyType(GROUPS)), NotFound, "unknown_group_buy",
         "lines[0].group_buy_id", 0),
    ],
)
def test_bad_carts(cart_input: object, exc_type: type[DomainError], code: str, field: str, index: int | None) -> None:
    err = _error(exc_type, cart_input)
    assert (err.code, err.field, err.index) == (code, field, index)


@pytest.mark.parametrize(
    ("cart_input", "exc_type", "code"),
    [
        (cart(line(1), coupon=replace(K1, valid_until=NOW)), ValidationFailed, "coupon_expired"),
        (cart(line(1), coupon=replace(K1, status="expired")), ValidationFailed, "coupon_expired"),
        (cart(line(1), coupon=replace(K1, status="used")), Conflict, "coupon_used"),
        (cart(line(1), coupon=replace(K1, valid_from=NOW + (END - NOW) / 2)), ValidationFailed, "coupon_not_started"),
        (cart(line(1), coupon=replace(K1, customer_id=10)), ValidationFailed, "coupon_not_owned"),
        (cart(line(1), coupon=K1, customer_id=None), ValidationFailed, "coupon_not_owned"),
        (cart(line(2), coupon=K3), ValidationFailed, "coupon_out_of_scope"),
        # The bundle holds A, but a product-scoped coupon never covers bundles.
        (cart(bundle(1), coupon=K3), ValidationFailed, "coupon_out_of_scope"),
        (cart(line(5, flash=501), coupon=K1), ValidationFailed, "coupon_out_of_scope"),
        # A + B = 8000 < 10000.
        (cart(line(1), line(2), coupon=K2), ValidationFailed, "threshold_not_met"),
        # A×4 = 20000 ≥ 19000 before R1, but 18000 after it: the threshold is checked after the full-reduction.
        (cart(line(1, 4), reductions=(R1,), coupon=replace(K2, threshold_fen=19000)), ValidationFailed,
         "threshold_not_met"),
        (cart(line(1), coupon=replace(K1, currency="USD")), ValidationFailed, "currency_mismatch"),
    ],
)
def test_bad_coupons(cart_input: object, exc_type: type[DomainError], code: str) -> None:
    err = _error(exc_type, cart_input)
    assert (err.code, err.field) == (code, "coupon_id")


def test_a_coupon_threshold_met_before_the_full_reduction_is_not_enough() -> None:
    # The same cart without R1 passes the 19000 threshold: 20000 - 1500 = 18500.
    result = price(cart(line(1, 4), coupon=replace(K2, threshold_fen=19000)))
    assert result.goods_payable.fen == 18500


# ---------------------------------------------------------------------------------------------------------------
# Allocation and rounding against a second implementation (exact fractions)


def _reference_allocate(total: int, weights: list[int]) -> list[int]:
    """Largest remainder with exact rationals: floor each quota, hand out the rest by descending fraction."""
    whole = sum(weights)
    quotas = [Fraction(total * w, whole) for w in weights]
    shares = [int(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
       st.data())
def test_allocate_matches_exact_largest_remainder(weights: list[int], data: st.DataObject) -> None:
    total = data.draw(st.integers(min_value=0, max_value=sum(weights)))
    shares = allocate(total, weights)
    assert shares == _reference_allocate(total, weights)
    assert sum(shares) == total
    assert all(0 <= s <= w for s, w in zip(shares, weights, strict=True))


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=100))
def test_percent_of_rounds_half_up(amount: int, percent: int) -> None:
    exact = Fraction(amount * percent, 100)
    floor = int(exact)
    expected = floor + 1 if exact - floor >= Fraction(1, 2) else floor
    assert percent_of(amount, percent) == expected


_LINE = st.tuples(st.sampled_from([1, 2, 3, 4, 6, 7]), st.integers(min_value=1, max_value=12))


@given(st.lists(_LINE, min_size=1, max_size=8), st.booleans(), st.sampled_from([None, K1, K2]),
       st.booleans())
def test_lines_always_add_up(lines: list[tuple[int, int]], member: bool, coupon: object, with_r1: bool) -> None:
    cart_input = cart(*(line(s, q) for s, q in lines), is_member=member, reductions=(R1,) if with_r1 else ())
    try:
        result = price(replace(cart_input, coupon=coupon))  # type: ignore[arg-type]
    except DomainError as exc:
        assert exc.code in {"threshold_not_met", "out_of_stock"}
        return
    assert sum(line.payable.fen for line in result.lines) == result.goods_payable.fen
    assert result.goods_payable.fen == result.subtotal.fen - result.reduction_discount.fen - result.coupon_discount.fen
    for priced in result.lines:
        assert 0 <= priced.payable.fen <= priced.amount.fen <= priced.list_amount.fen
    assert result.payable.fen == result.goods_payable.fen + result.shipping.fen
