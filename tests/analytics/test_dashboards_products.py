"""The products dashboard against hand computation on a small dataset of its own (expected values worked out in the
comments). Range: March 2026 in Shanghai days; k3's order at 00:10 on April 1 (16:10 UTC on March 31) is outside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import count
from typing import Any

import pytest

from siyu.analytics import queries
from siyu.analytics.dashboards.framework import Table
from siyu.analytics.dashboards.products import robust_z
from siyu.analytics.engine import CopyEngine
from siyu.catalog.models import Category, Product
from siyu.customers.models import Customer
from siyu.orders.models import Order, OrderLine
from siyu.org.models import Enterprise, Role, Staff
from siyu.org.scope import Scope, scope_for_staff
from tests.analytics import dashboard_data as data
from tests.analytics.dashboard_data import table
from tests.factories import EnterpriseFactory, RegionFactory, StoreFactory

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}
sh = data.sh
_seq = count(1)


@dataclass
class Shop:
    enterprise: Enterprise
    manager: Staff


def _order(who: Customer, at: datetime, lines: list[tuple[Product, int, int]], status: str = "paid") -> None:
    total = sum(fen for _p, _q, fen in lines)
    order = Order.objects.create(enterprise_id=who.enterprise_id, customer=who, order_no=f"P{next(_seq):08d}",
                                 status=status, amount_fen=total, paid_fen=total, created_at=at, paid_at=at)
    for i, (product, quantity, fen) in enumerate(lines):
        OrderLine.objects.create(order=order, index=i, product_id=product.pk, category_id=product.category_id,
                                 name=product.name, quantity=quantity, payable_fen=fen, amount_fen=fen)

pytestmark = pytest.mark.usefixtures("dashboards_uncached")


@pytest.fixture
def shop(db: None) -> Shop:
    enterprise = EnterpriseFactory.create(code="shop", name="Shop")
    region = RegionFactory.create(enterprise=enterprise)
    s1, s2 = StoreFactory.create(region=region), StoreFactory.create(region=region)
    category = Category.objects.create(enterprise=enterprise, name="Skin")
    mask = Product.objects.create(enterprise=enterprise, category=category, name="Mask", role="traffic")
    serum = Product.objects.create(enterprise=enterprise, category=category, name="Serum", role="profit")
    cream = Product.objects.create(enterprise=enterprise, category=category, name="Cream", role="image")
    k1 = data.customer(enterprise, created=sh(2, 1), store=s1, source="wecom")
    k2 = data.customer(enterprise, created=sh(2, 1), store=s1, source="miniprogram")
    k3 = data.customer(enterprise, created=sh(2, 1), store=s2, source="wecom")
    _order(k1, sh(2, 20), [(mask, 1, 1000)])  # k1's first order ever, in February
    _order(k1, sh(3, 2), [(mask, 1, 1000), (serum, 1, 5000)])  # A
    _order(k1, sh(3, 12), [(mask, 2, 2000)])  # B: k1 buys the mask again 10 days later
    _order(k2, sh(3, 5), [(mask, 1, 1000), (serum, 1, 5000)])  # C: k2's first order
    _order(k2, sh(3, 31, 23, 30), [(serum, 1, 5000)])  # D: 23:30 on the last day counts
    _order(k3, sh(3, 10), [(cream, 1, 9000)])  # E: k3's first order
    _order(k3, sh(4, 1, 0, 10), [(cream, 1, 9000)])  # after the range (still March 31 in UTC)
    _order(k3, sh(3, 15), [(mask, 5, 5000)], status="cancelled")  # never counts
    other = EnterpriseFactory.create(code="other2", name="Other")
    other_cat = Category.objects.create(enterprise=other, name="X")
    alien = Product.objects.create(enterprise=other, category=other_cat, name="Alien", role="profit")
    _order(data.customer(other, created=sh(2, 1), store=None, source="wecom"), sh(3, 3), [(alien, 1, 77700)])
    return Shop(enterprise, data.staff(enterprise, Role.STORE_MANAGER, s1))


def keyed(t: Table) -> dict[str, dict[str, Any]]:
    return {row[0]: dict(zip([c.key for c in t.columns], row, strict=True)) for row in t.rows}


def test_products_per_product_roles_pairs_sources(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(shop.enterprise.pk), "products", MARCH, engine=engine)
    got = {f.key: (f.value, f.previous) for f in board.figures}
    # March lines: A 6000, B 2000, C 6000, D 5000, E 9000 = 28000 fen; units A 2, B 2, C 2, D 1, E 1 = 8;
    # February: k1's 1000 (1 unit)
    assert got["sales"] == (28000, 1000)
    assert got["units"] == (8, 1)
    assert got["products"] == (3, 1) and got["buyers"] == (3, 1)
    p = keyed(table(board, "products"))
    assert list(p) == ["Serum", "Cream", "Mask"]  # by sales: 15000, 9000, 4000
    # Mask: orders A, B, C; buyers k1, k2; k1 bought it in two orders (10 days apart)
    assert [p["Mask"][k] for k in ("units", "sales", "orders", "buyers", "repurchase", "cycle_days")] == \
        [4, 4000, 3, 2, 0.5, 10.0]
    # Serum: A, C, D; k2 again after 26 days 11.5 hours
    assert [p["Serum"][k] for k in ("sales", "orders", "buyers", "repurchase", "cycle_days")] == \
        [15000, 3, 2, 0.5, 26.5]
    assert (p["Cream"]["repurchase"], p["Cream"]["cycle_days"]) == (0.0, None)
    # first orders in March: C (k2: mask + serum) and E (k3: cream); k1's first was in February
    assert [p[n]["first_share"] for n in ("Mask", "Serum", "Cream")] == [0.5, 0.5, 0.5]
    assert p["Mask"]["sales_share"] == pytest.approx(4000 / 28000)
    roles = keyed(table(board, "roles"))
    assert (roles["traffic"]["first_share"], roles["traffic"]["sales_share"]) == (0.5, pytest.approx(1 / 7))
    assert roles["profit"]["sales_share"] == pytest.approx(15 / 28)
    assert roles["image"]["first_orders"] == 1
    # orders with products: A{mask, serum} B{mask} C{mask, serum} D{serum} E{cream}: n = 5
    pairs = table(board, "pairs").rows
    assert len(pairs) == 1
    a, b, both, support, conf_ab, conf_ba, lift = pairs[0]
    assert {a, b} == {"Mask", "Serum"} and both == 2 and support == pytest.approx(2 / 5)
    assert (conf_ab, conf_ba) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert lift == pytest.approx((2 / 3) / (3 / 5))  # 10/9
    sources = keyed(table(board, "buyer_sources"))
    assert (sources["Mask"]["src_wecom"], sources["Mask"]["src_miniprogram"]) == (1, 1)
    assert (sources["Cream"]["src_wecom"], sources["Cream"]["src_miniprogram"]) == (1, 0)


def test_products_trend_anomaly_and_shanghai_days(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(shop.enterprise.pk), "products", MARCH, engine=engine)
    trend = keyed(table(board, "trend"))
    assert len(trend) == 31
    assert trend["2026-03-31"]["sales"] == 5000  # D at 23:30; not the 00:10 order of April 1
    assert trend["2026-03-02"]["sales"] == 6000
    # Baseline of 03-02 = Feb 16 .. Mar 1: thirteen 0s and Feb 20's 1000: median 0, MAD 0, so the mean absolute
    # deviation stands in: 1.2533 * 1000 / 14 = 89.52; z = 6000 / 89.52 = 67.02
    assert trend["2026-03-02"]["z"] == pytest.approx(67.02, abs=0.01) and trend["2026-03-02"]["flag"] == "▲"
    # 03-03: no sales; baseline has 1000 and 6000: median 0 -> z = 0, not flagged
    assert trend["2026-03-03"]["z"] == 0.0 and trend["2026-03-03"]["flag"] == ""


def test_robust_z_by_hand() -> None:
    baseline = [10.0, 12, 11, 13, 9, 10, 11, 12, 10, 11, 12, 13, 9, 10]
    # sorted: 9 9 10 10 10 10 11 11 11 12 12 12 13 13 -> median 11; |deviations| median 1
    assert robust_z(30.0, baseline) == pytest.approx(0.6745 * 19)
    assert robust_z(5.0, [5.0] * 14) is None  # flat baseline: no score
    assert robust_z(5.0, [1.0, 2.0]) is None  # too short


def test_products_store_manager_scope(shop: Shop, engine: CopyEngine) -> None:
    board = queries.dashboard(scope_for_staff(shop.manager), "products", MARCH, engine=engine)
    got = {f.key: f.value for f in board.figures}
    assert (got["sales"], got["buyers"]) == (19000, 2)  # k1 and k2 only (store S1); not k3's cream
    p = keyed(table(board, "products"))
    assert set(p) == {"Mask", "Serum"}
    assert p["Mask"]["first_share"] == 1.0  # the manager's only first order in March is C
