"""Pricing engine cost per order on realistic carts (target: < 1 ms per order).

Carts have 3-8 lines over a 300-SKU catalog (some bundles, members at times), with a store-wide full-reduction, a
category piece-count discount and a percentage coupon with a cap, so every stage of the engine runs: unit prices,
stock checks, choosing the best full-reduction, the coupon, the largest-remainder splits and shipping. The baseline,
timed in the same run over the same carts, is the plain sum of quantity × price a naive checkout would do.

    python -m bench.pricing [--orders 20000] [--seed 7]

Prints a table, then one JSON line: {"bench": "pricing", "figures": {...}, "ratios": {...}}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from random import Random
from types import MappingProxyType

from siyu.promotions.pricing import (
    BundleInfo,
    CartLine,
    CouponInfo,
    PricingInput,
    ReductionRule,
    ShippingRule,
    SkuInfo,
    TargetScope,
    price,
)

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)
START, END = NOW - timedelta(days=7), NOW + timedelta(days=7)
CUSTOMER = 42


def _catalog(rng: Random) -> tuple[dict[int, SkuInfo], dict[int, BundleInfo]]:
    skus = {}
    for sku_id in range(1, 301):
        parent = 1 + sku_id % 4
        price_fen = rng.choice([990, 1290, 1990, 2990, 3990, 5990, 8900, 12900, 19900, 29900, 59900])
        member = price_fen * 9 // 10 if rng.random() < 0.6 else None
        skus[sku_id] = SkuInfo(sku_id=sku_id, product_id=1000 + sku_id // 2, category_id=parent * 10 + sku_id % 3,
                               parent_category_id=parent, name=f"SKU {sku_id}", price_fen=price_fen,
                               member_price_fen=member, stock=10_000, on_sale=True)
    bundles = {}
    for bundle_id in range(1, 11):
        parts = tuple((rng.randint(1, 300), rng.randint(1, 2)) for _ in range(3))
        parts = tuple(dict(parts).items())
        list_total = sum(skus[s].price_fen * q for s, q in parts)
        bundles[bundle_id] = BundleInfo(bundle_id=bundle_id, name=f"Bundle {bundle_id}",
                                        price_fen=list_total * 85 // 100, components=parts, on_sale=True)
    return skus, bundles


def _carts(rng: Random, n: int) -> list[PricingInput]:
    skus, bundles = _catalog(rng)
    reductions = (
        ReductionRule(rule_id=1, name="满199减20/满299减40/满499减80", threshold_kind="amount", benefit_kind="amount",
                      tiers=((19900, 2000), (29900, 4000), (49900, 8000)), scope=TargetScope(), starts_at=START,
                      ends_at=END),
        ReductionRule(rule_id=2, name="食品 满2件9折/满3件85折", threshold_kind="quantity", benefit_kind="percent",
                      tiers=((2, 10), (3, 15)), scope=TargetScope(kind="categories", category_ids=frozenset({4})),
                      starts_at=START, ends_at=END),
    )
    coupon = CouponInfo(coupon_id=9, template_id=3, name="个护9折", kind="percent", amount_off_fen=0, percent_off=10,
                        max_off_fen=5000, threshold_fen=0, scope=TargetScope(kind="categories",
                                                                             category_ids=frozenset({2, 3})),
                        customer_id=CUSTOMER, status="available", valid_from=START, valid_until=END)
    sku_map, bundle_map = MappingProxyType(skus), MappingProxyType(bundles)
    covered = [s.sku_id for s in skus.values() if s.parent_category_id in (2, 3)]
    carts = []
    for _ in range(n):
        lines = [CartLine(quantity=rng.randint(1, 2), sku_id=rng.choice(covered))]  # something the coupon covers
        for _line in range(rng.randint(2, 7)):
            if rng.random() < 0.1:
                lines.append(CartLine(quantity=1, bundle_id=rng.randint(1, 10)))
            else:
                lines.append(CartLine(quantity=rng.randint(1, 3), sku_id=rng.randint(1, 300)))
        carts.append(PricingInput(lines=tuple(lines), now=NOW, skus=sku_map, bundles=bundle_map,
                                  reductions=reductions, coupon=coupon, customer_id=CUSTOMER,
                                  is_member=rng.random() < 0.4, shipping=ShippingRule()))
    return carts


def _naive(cart: PricingInput) -> int:
    total = 0
    for line in cart.lines:
        if line.sku_id is not None:
            total += cart.skus[line.sku_id].price_fen * line.quantity
        elif line.bundle_id is not None:
            total += cart.bundles[line.bundle_id].price_fen * line.quantity
    return total


def _time_each(carts: list[PricingInput], fn: Callable[[PricingInput], object]) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for cart in carts:
        start = clock()
        fn(cart)
        out.append((clock() - start) / 1000)
    return out


def run(orders: int, seed: int) -> dict[str, object]:
    carts = _carts(Random(seed), orders)
    _time_each(carts[: min(500, orders)], price)  # warm up
    engine = _time_each(carts, price)
    naive = _time_each(carts, _naive)
    applied = sum(1 for cart in carts[:200] if price(cart).coupon_id is not None)
    engine_mean, naive_mean = statistics.fmean(engine), statistics.fmean(naive)
    p99 = sorted(engine)[int(len(engine) * 0.99) - 1]
    figures = {
        "price_us_per_order": round(engine_mean, 1),
        "price_p50_us": round(statistics.median(engine), 1),
        "price_p99_us": round(p99, 1),
        "orders_per_s": round(1_000_000 / engine_mean),
        "naive_sum_us_per_order": round(naive_mean, 2),
        "lines_per_order": round(statistics.fmean(len(c.lines) for c in carts), 2),
    }
    print(f"pricing engine over {orders} carts (seed {seed}); coupon applied in {applied} of the first 200")
    print(f"{'figure':<26}{'value':>12}")
    for name, value in figures.items():
        print(f"{name:<26}{value:>12}")
    print(f"{'target':<26}{'< 1000 µs':>12}")
    return {"bench": "pricing", "figures": figures,
            "ratios": {"price_vs_naive_sum": round(engine_mean / naive_mean, 1)}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="carts to price")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.orders, args.seed), ensure_ascii=False))


if __name__ == "__main__":
    main()
