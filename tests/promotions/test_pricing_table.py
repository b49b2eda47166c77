"""The pricing engine against a table of hand-computed carts (catalog in tests/promotions/carts.py).

Every expected number below was worked out by hand in the comment above its case: list prices, unit prices,
which promotions stack (docs/pricing.md), the largest-remainder split of each discount over the lines
(share_i = floor(D·w_i / W), the leftover fen to the largest remainders, ties to the earlier line), and shipping
(free from ¥99.00 of goods payable, else ¥10.00).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from siyu.promotions.pricing import MemberOffer, PricingInput, ShippingRule, price
from tests.promotions.carts import K1, K2, K3, K4, R1, R2, bundle, cart, line


@dataclass(frozen=True)
class Case:
    name: str
    cart: PricingInput
    subtotal: int
    reduction: int
    coupon: int
    shipping: int
    payable: int
    line_payables: tuple[int, ...]
    sources: tuple[str, ...] = ()
    applied: frozenset[str] = field(default_factory=frozenset)  # "kind:id" of applied promotions
    rejected: dict[str, str] = field(default_factory=dict)  # "kind:id" -> reason


CASES = [
    # 1. A×1, no member: 5000. Goods 5000 < 9900 → shipping 1000. Payable 6000.
    Case("list price plus shipping", cart(line(1)), 5000, 0, 0, 1000, 6000, (5000,), ("list",),
         rejected={"free_shipping:None": "threshold_not_met"}),
    # 2. A×1, member: member price 4500. Shipping 1000. Payable 5500.
    Case("member price", cart(line(1), is_member=True), 4500, 0, 0, 1000, 5500, (4500,), ("member",),
         applied=frozenset({"member_price:None"})),
    # 3. B×1, member but B has no member price: 3000 + 1000 = 4000.
    Case("member without a member price pays list", cart(line(2), is_member=True), 3000, 0, 0, 1000, 4000,
         (3000,), ("list",)),
    # 4. A×2 = 10000 ≥ 9900 → free shipping. Payable 10000.
    Case("free shipping above the threshold", cart(line(1, 2)), 10000, 0, 0, 0, 10000, (10000,),
         applied=frozenset({"free_shipping:None"})),
    # 5. E×1 = 9900, exactly the threshold → free (the rule is "from ¥99"). Payable 9900.
    Case("free shipping at exactly the threshold", cart(line(5)), 9900, 0, 0, 0, 9900, (9900,)),
    # 6. F×29 = 333·29 = 9657 < 9900 → +1000 = 10657.
    Case("just under the shipping threshold", cart(line(6, 29)), 9657, 0, 0, 1000, 10657, (9657,)),
    # 7. R1 on A×4 = 20000 ≥ 19900 → tier 1, 2000 off. 18000, free shipping.
    Case("full-reduction tier 1", cart(line(1, 4), reductions=(R1,)), 20000, 2000, 0, 0, 18000, (18000,),
         applied=frozenset({"full_reduction:701"})),
    # 8. R1 on A×4 (20000) + B×4 (12000) = 32000 ≥ 29900 → tier 2, 4000 off.
    #    A: 4000·20000/32000 = 2500 exactly; B: 4000·12000/32000 = 1500. Payables 17500, 10500 → 28000.
    Case("full-reduction tier 2 split exactly", cart(line(1, 4), line(2, 4), reductions=(R1,)), 32000, 4000, 0, 0,
         28000, (17500, 10500)),
    # 9. R1 on A×3 = 15000 < 19900 → rejected, 4900 short. Free shipping (15000). Payable 15000.
    Case("full-reduction threshold not met", cart(line(1, 3), reductions=(R1,)), 15000, 0, 0, 0, 15000, (15000,),
         rejected={"full_reduction:701": "threshold_not_met"}),
    # 10. R1 on A×3 (15000) + F×1 (333) + G×5 (5005) = 20338 → 2000 off.
    #     A: 30000000/20338 = 1475 rem 1450; F: 666000/20338 = 32 rem 15184; G: 10010000/20338 = 492 rem 3704.
    #     Floors add to 1999; the last fen goes to F (largest remainder) → 1475, 33, 492.
    #     Payables 13525, 300, 4513 = 18338. Free shipping.
    Case("largest remainder gives the odd fen", cart(line(1, 3), line(6), line(7, 5), reductions=(R1,)), 20338,
         2000, 0, 0, 18338, (13525, 300, 4513)),
    # 11. R2 (category 2): C×1 + D×1 = 2 pieces → 10% of 14890 = 1489.
    #     C: 1489·12900/14890 = 1290 exactly; D: 1489·1990/14890 = 199 exactly. Payables 11610, 1791 = 13401.
    Case("piece-count discount tier 1", cart(line(3), line(4), reductions=(R2,)), 14890, 1489, 0, 0, 13401,
         (11610, 1791), applied=frozenset({"full_reduction:702"})),
    # 12. R2: D×3 = 5970, 3 pieces → 15% = 895.5 → rounds half up to 896. 5074 + shipping 1000 = 6074.
    Case("percent off rounds half up", cart(line(4, 3), reductions=(R2,)), 5970, 896, 0, 1000, 6074, (5074,)),
    # 13. R1 and R2 both reached on C×2 = 25800: R1 tier 1 = 2000; R2 2 pieces 10% = 2580. The best (R2) applies,
    #     R1 is rejected as not_best. 25800 - 2580 = 23220.
    Case("the best full-reduction wins", cart(line(3, 2), reductions=(R1, R2)), 25800, 2580, 0, 0, 23220, (23220,),
         applied=frozenset({"full_reduction:702"}), rejected={"full_reduction:701": "not_best"}),
    # 14. C×1 + A×2: R1 on 22900 → 2000; R2 covers C only (1 piece) → not met. R1 split:
    #     C: 25800000/22900 = 1126 rem 14600; A: 20000000/22900 = 873 rem 8300 → the odd fen to C: 1127, 873.
    #     Payables 11773, 9127 = 20900.
    Case("full-reduction split with a remainder", cart(line(3), line(1, 2), reductions=(R1, R2)), 22900, 2000, 0, 0,
         20900, (11773, 9127), rejected={"full_reduction:702": "threshold_not_met"}),
    # 15. K1 (¥10 off) on A×1: 5000 - 1000 = 4000, + shipping 1000 = 5000.
    Case("fixed coupon", cart(line(1), coupon=K1), 5000, 0, 1000, 1000, 5000, (4000,),
         applied=frozenset({"coupon:801"})),
    # 16. K2 (满100减15) on A×1 + B×2 = 11000 ≥ 10000 → 1500.
    #     A: 7500000/11000 = 681 rem 9000; B: 9000000/11000 = 818 rem 2000 → odd fen to A: 682, 818.
    #     Payables 4318, 5182 = 9500 < 9900 → shipping 1000 → 10500.
    Case("threshold coupon split over lines", cart(line(1), line(2, 2), coupon=K2), 11000, 0, 1500, 1000, 10500,
         (4318, 5182)),
    # 17. R1 then K2 on A×4: 20000 → R1 2000 → 18000 ≥ 10000 → K2 1500 → 16500, free shipping.
    Case("full-reduction and coupon stack", cart(line(1, 4), reductions=(R1,), coupon=K2), 20000, 2000, 1500, 0,
         16500, (16500,)),
    # 18. K3 (20% off A, cap 3000) on A×2 + B×1: only A counts: 10000 → 2000. A 8000, B 3000 → 11000.
    Case("product-scoped percent coupon", cart(line(1, 2), line(2), coupon=K3), 13000, 0, 2000, 0, 11000,
         (8000, 3000)),
    # 19. K3 on A×4 = 20000 → 20% = 4000, capped at 3000 → 17000.
    Case("percent coupon cap", cart(line(1, 4), coupon=K3), 20000, 0, 3000, 0, 17000, (17000,)),
    # 20. R1 + K3 on A×4 (20000) + B×1 (3000) = 23000 → R1 2000:
    #     A: 40000000/23000 = 1739 rem 3000; B: 6000000/23000 = 260 rem 20000 → odd fen to B: 1739, 261.
    #     K3 base = A after reduction = 20000 - 1739 = 18261 → 20% = 3652.2 → 3652 → cap 3000.
    #     A 18261 - 3000 = 15261; B 3000 - 261 = 2739. Total 18000.
    Case("coupon counts the amount after the full-reduction", cart(line(1, 4), line(2), reductions=(R1,), coupon=K3),
         23000, 2000, 3000, 0, 18000, (15261, 2739)),
    # 21. K4 (10% off category 3, given as the parent) on E×1 + A×1: E (category 31 under 3) 9900 → 990.
    #     E 8910, A 5000 → 13910, free shipping.
    Case("category coupon covers child categories", cart(line(5), line(1), coupon=K4), 14900, 0, 990, 0, 13910,
         (8910, 5000)),
    # 22. Member A×2 = 9000, K1 -1000 = 8000 < 9900 → shipping 1000 → 9000.
    Case("member price and coupon stack", cart(line(1, 2), is_member=True, coupon=K1), 9000, 0, 1000, 1000, 9000,
         (8000,), ("member",)),
    # 23. Flash E×2 at 5900 = 11800 (list 19800). R1 ignores flash lines → out_of_scope. Free shipping.
    Case("flash-sale line", cart(line(5, 2, flash=501), reductions=(R1,)), 11800, 0, 0, 0, 11800, (11800,),
         ("flash_sale",), applied=frozenset({"flash_sale:501"}), rejected={"full_reduction:701": "out_of_scope"}),
    # 24. Flash D at 1900 but a member pays 1890 anyway: the lower wins, still a flash line. D×2 = 3780 + 1000.
    Case("member price below the flash price", cart(line(4, 2, flash=502), is_member=True), 3780, 0, 0, 1000, 4780,
         (3780,), ("flash_sale",)),
    # 25. Same for a non-member: flash 1900 × 2 = 3800 + 1000 = 4800.
    Case("flash price for a non-member", cart(line(4, 2, flash=502)), 3800, 0, 0, 1000, 4800, (3800,),
         ("flash_sale",)),
    # 26. Flash E×1 (5900) + A×1 (5000) with K1: the coupon covers A only → A 4000, E 5900 → 9900 → free shipping.
    Case("coupons skip flash lines", cart(line(5, flash=501), line(1), coupon=K1), 10900, 0, 1000, 0, 9900,
         (5900, 4000)),
    # 27. Group-buy C at 9900 + A×2 (10000): R1 counts only A's 10000 < 19900 → not met (9900 short).
    #     19900, free shipping.
    Case("group-buy lines are not counted for full-reductions", cart(line(3, group=601), line(1, 2),
         reductions=(R1,)), 19900, 0, 0, 0, 19900, (9900, 10000), ("group_buy", "list"),
         rejected={"full_reduction:701": "threshold_not_met"}),
    # 28. Bundle ×1: list 5000 + 2·3000 = 11000, bundle price 9900 → free shipping → 9900.
    Case("bundle price", cart(bundle(1)), 9900, 0, 0, 0, 9900, (9900,), ("bundle",),
         applied=frozenset({"bundle:1"})),
    # 29. Bundle ×2 (19800) + F×1 (333) = 20133 → R1 (scope all counts bundles) 2000:
    #     bundle: 39600000/20133 = 1966 rem 18522; F: 666000/20133 = 33 rem 1611 → odd fen to the bundle: 1967, 33.
    #     Payables 17833, 300 = 18133.
    Case("bundles count for store-wide full-reductions", cart(bundle(1, 2), line(6), reductions=(R1,)), 20133, 2000,
         0, 0, 18133, (17833, 300)),
    # 30. Pickup: A×1 = 5000, no shipping.
    Case("pickup has no shipping", cart(line(1), fulfillment="pickup"), 5000, 0, 0, 0, 5000, (5000,)),
    # 31. A rule that is never free, fee 800: A×4 = 20000 + 800 = 20800.
    Case("shipping never free", cart(line(1, 4), shipping=ShippingRule(free_over_fen=None, fee_fen=800)), 20000, 0,
         0, 800, 20800, (20000,)),
    # 32. K1 ¥10 on F×1 (333): the coupon is capped at what it covers, 333 → goods 0 → shipping 1000.
    Case("coupon capped at the amount it covers", cart(line(6), coupon=K1), 333, 0, 333, 1000, 1000, (0,)),
    # 33. K4 10% on F×5 = 1665 → 166.5 → 167 (half up). 1498 + 1000 = 2498.
    Case("percent coupon rounds half up", cart(line(6, 5), coupon=K4), 1665, 0, 167, 1000, 2498, (1498,)),
    # 34. K1 over three equal lines B, B, B (3000 each): 1000·3000/9000 = 333 rem 3000 each; floors 999;
    #     equal remainders → the first line gets the fen: 334, 333, 333 → 2666, 2667, 2667 = 8000, + 1000.
    Case("ties go to the earlier line", cart(line(2), line(2), line(2), coupon=K1), 9000, 0, 1000, 1000, 9000,
         (2666, 2667, 2667)),
]


def _key(kind: str, promotion_id: int | None) -> str:
    return f"{kind}:{promotion_id}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pricing_table(case: Case) -> None:
    result = price(case.cart)
    got = {
        "subtotal": result.subtotal.fen, "reduction": result.reduction_discount.fen,
        "coupon": result.coupon_discount.fen, "shipping": result.shipping.fen, "payable": result.payable.fen,
        "lines": tuple(line.payable.fen for line in result.lines),
    }
    want = {
        "subtotal": case.subtotal, "reduction": case.reduction, "coupon": case.coupon, "shipping": case.shipping,
        "payable": case.payable, "lines": case.line_payables,
    }
    assert got == want
    if case.sources:
        assert tuple(line.price_source for line in result.lines) == case.sources
    applied = {_key(p.kind, p.promotion_id) for p in result.promotions if p.applied}
    assert case.applied <= applied
    rejected = {_key(p.kind, p.promotion_id): p.reason for p in result.promotions if not p.applied}
    for key, reason in case.rejected.items():
        assert rejected.get(key) == reason


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 25


def test_shortfalls_tell_how_far_a_threshold_is() -> None:
    # A×3 = 15000 against R1's first tier 19900: 4900 short. R2 on C×1: one piece short of 2.
    result = price(cart(line(1, 3), line(3), reductions=(R1, R2)))
    rejected = {p.promotion_id: p for p in result.promotions if not p.applied and p.kind == "full_reduction"}
    # A×3 + C×1 = 27900 reaches R1 tier 1, so only R2 is rejected here:
    assert rejected[702].shortfall_pieces == 1
    alone = price(cart(line(1, 3), reductions=(R1,)))
    (miss,) = [p for p in alone.promotions if p.kind == "full_reduction"]
    assert (miss.applied, miss.shortfall_fen) == (False, 4900)
    # Shipping: A×1 → goods 5000, 4900 short of free shipping.
    (ship,) = [p for p in price(cart(line(1))).promotions if p.kind == "free_shipping"]
    assert ship.shortfall_fen == 4900


def test_breakdown_totals_and_line_fields() -> None:
    # Bundle ×1 + member A×1 with K2: list 11000 + 5000 = 16000; subtotal 9900 + 4500 = 14400 ≥ 10000 → 1500:
    # bundle 1500·9900/14400 = 1031 rem 3600 (14850000 - 14846400), A 1500·4500/14400 = 468 rem 10800 → A gets
    # the odd fen: 1031, 469. Goods 12900, free shipping.
    result = price(cart(bundle(1), line(1), is_member=True, coupon=K2))
    assert (result.list_total.fen, result.subtotal.fen, result.price_discount.fen) == (16000, 14400, 1600)
    assert [line.coupon_discount.fen for line in result.lines] == [1031, 469]
    assert (result.goods_payable.fen, result.payable.fen, result.total_discount.fen) == (12900, 12900, 3100)
    assert result.lines[0].components == ((1, 1), (2, 2))
    assert result.coupon_id == 802
    body = result.as_dict()
    assert body["payable_fen"] == 12900
    assert body["lines"][1]["unit_price_fen"] == 4500


PLUS = MemberOffer(plan="PLUS 年卡", price_percent=95, free_shipping=True)
PLAIN = MemberOffer(plan="会员月卡")


def test_a_paid_plan_takes_the_lower_of_its_share_and_the_member_price_and_ships_free() -> None:
    # PLUS: 95 % of list and free shipping. A 5000: 95 % = 4750, own member price 4500 → 4500.
    # B 3000, no member price: 95 % = 2850. G 1001: 95 % = 950.95 → 950 (down, in the customer's favour).
    # Subtotal 4500 + 2850 + 950 = 8300 < 9900, but the plan ships free: payable 8300.
    result = price(cart(line(1), line(2), line(7), member=PLUS))
    assert [ln.unit_price_fen for ln in result.lines] == [4500, 2850, 950]
    assert [ln.price_source for ln in result.lines] == ["member", "member", "member"]
    assert (result.subtotal_fen, result.shipping_fen, result.payable_fen) == (8300, 0, 8300)
    (waived,) = [p for p in result.promotions if p.kind == "member_shipping"]
    assert (waived.applied, waived.amount_fen, waived.name) == (True, 1000, "PLUS 年卡")
    assert not [p for p in result.promotions if p.kind == "free_shipping"]
    # Pickup has no fee to waive: nothing is credited to the plan.
    pickup = price(cart(line(2), member=PLUS, fulfillment="pickup"))
    assert pickup.shipping_fen == 0 and not [p for p in pickup.promotions if p.kind == "member_shipping"]


def test_a_plan_without_a_discount_still_gives_member_prices_and_flash_keeps_the_lower() -> None:
    # 会员月卡 (100 %, no free shipping): A at its member price 4500, B at list 3000; 7500 + 1000 shipping.
    result = price(cart(line(1), line(2), member=PLAIN))
    assert [ln.unit_price_fen for ln in result.lines] == [4500, 3000]
    assert (result.shipping_fen, result.payable_fen) == (1000, 8500)
    # Flash D at 1900 vs PLUS: 95 % of 1990 = 1890.5 → 1890, member price 1890: the lower (1890) wins, still flash.
    flash = price(cart(line(4, 2, flash=502), member=PLUS))
    assert [(ln.unit_price_fen, ln.price_source) for ln in flash.lines] == [(1890, "flash_sale")]
    # Bundles keep their own price: A+2B 9900, shipping waived.
    packed = price(cart(bundle(1), member=PLUS))
    assert (packed.subtotal_fen, packed.shipping_fen) == (9900, 0)
