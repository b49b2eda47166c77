"""What the pricing loader reads from the rows (its SKU and running-promotions reads are raw SQL): every value below
is stated by hand from the rows the test writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.catalog.models import Sku
from siyu.core.money import Money
from siyu.org.scope import Scope, scope_for_staff
from siyu.promotions import pricing, queries, services
from siyu.promotions.models import FullReduction
from siyu.promotions.pricing import CartLine, ShippingRule, TargetScope
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import CustomerFactory

NOW = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def hq(org: Org) -> Scope:
    return scope_for_staff(org.hq)


def _rule(hq: Scope, name: str, starts: timedelta, ends: timedelta, **kw: object) -> FullReduction:
    return services.create_full_reduction(scope=hq, data=services.FullReductionInput(
        name=name, tiers=[(10000, 1000)], starts_at=NOW + starts, ends_at=NOW + ends, **kw))  # type: ignore[arg-type]


def test_sku_rows_carry_product_category_and_store_facts(org: Org, hq: Scope) -> None:
    category = leaf(hq, "服饰", "T恤")
    shirt = product(hq, "T恤", sku("TS-R", 9900, 8900, stock=7, 颜色="红"),
                    sku("TS-B", 9900, stock=0, 颜色="蓝"), category=category, all_stores=False,
                    store_ids=[org.store_n1.pk, org.store_s1.pk])
    red, blue = Sku.objects.get(code="TS-R"), Sku.objects.get(code="TS-B")
    Sku.objects.filter(pk=blue.pk).update(is_active=False)
    draft = Sku.objects.get(product=product(hq, "草稿品", sku("DR-1", 500), status="draft"))

    cart = queries.load_pricing_input(enterprise_id=org.enterprise.pk, now=NOW, lines=[
        CartLine(quantity=1, sku_id=red.pk), CartLine(quantity=1, sku_id=blue.pk),
        CartLine(quantity=1, sku_id=draft.pk), CartLine(quantity=1, sku_id=999_999)])

    assert set(cart.skus) == {red.pk, blue.pk, draft.pk}  # the unknown id is simply absent
    info = cart.skus[red.pk]
    assert (info.name, info.price_fen, info.member_price_fen, info.stock, info.on_sale) == (
        "T恤 红", 9900, 8900, 7, True)
    assert (info.product_id, info.category_id, info.parent_category_id) == (shirt.pk, category.pk,
                                                                            category.parent_id)
    assert info.store_ids == frozenset({org.store_n1.pk, org.store_s1.pk}) and info.currency == "CNY"
    assert cart.skus[blue.pk].on_sale is False  # the SKU is inactive
    assert cart.skus[draft.pk].on_sale is False and cart.skus[draft.pk].store_ids is None  # draft, sold everywhere


def test_another_enterprises_sku_is_not_read(org: Org, hq: Scope) -> None:
    mine = Sku.objects.get(product=product(hq, "抽纸", sku("T-1", 1990)))
    cart = queries.load_pricing_input(enterprise_id=org.enterprise.pk + 1, now=NOW,
                                      lines=[CartLine(quantity=1, sku_id=mine.pk)])
    assert dict(cart.skus) == {}


def test_only_rules_running_now_are_read(org: Org, hq: Scope) -> None:
    ended = _rule(hq, "刚结束", timedelta(days=-2), timedelta(0))  # ends exactly now: over
    starting = _rule(hq, "刚开始", timedelta(0), timedelta(days=1))  # starts exactly now: running
    _rule(hq, "未开始", timedelta(seconds=1), timedelta(days=1))
    top = leaf(hq).parent_id
    assert top is not None
    running = _rule(hq, "进行中", timedelta(days=-1), timedelta(days=1), scope="categories", category_ids=[top])
    switched_off = _rule(hq, "已停用", timedelta(days=-1), timedelta(days=1))
    FullReduction.objects.filter(pk=switched_off.pk).update(is_active=False)

    rules = queries.load_pricing_input(enterprise_id=org.enterprise.pk, lines=[], now=NOW).reductions

    assert [r.rule_id for r in rules] == sorted([starting.pk, running.pk])
    by_name = {r.name: r for r in rules}
    assert by_name["刚开始"].tiers == ((10000, 1000),) and by_name["刚开始"].scope == TargetScope()
    assert by_name["进行中"].scope == TargetScope(kind="categories", category_ids=frozenset({top}))
    assert (by_name["进行中"].starts_at, by_name["进行中"].ends_at) == (NOW - timedelta(days=1),
                                                                    NOW + timedelta(days=1))
    assert ended.pk not in [r.rule_id for r in rules]
    later = queries.load_pricing_input(enterprise_id=org.enterprise.pk, lines=[], now=NOW + timedelta(days=2))
    assert later.reductions == ()  # every rule has ended by then


def test_shipping_rule_with_and_without_a_policy(org: Org, hq: Scope) -> None:
    def rule() -> ShippingRule:
        return queries.load_pricing_input(enterprise_id=org.enterprise.pk, lines=[], now=NOW).shipping

    assert rule() == ShippingRule(free_over_fen=pricing.DEFAULT_FREE_SHIPPING_OVER_FEN,
                                  fee_fen=pricing.DEFAULT_SHIPPING_FEE_FEN)
    _rule(hq, "进行中", timedelta(days=-1), timedelta(days=1))  # a running rule does not hide the defaults
    assert rule() == ShippingRule(free_over_fen=9900, fee_fen=1000)
    services.set_shipping_policy(scope=hq, free_over=None, fee=Money(800))
    assert rule() == ShippingRule(free_over_fen=None, fee_fen=800)
    services.set_shipping_policy(scope=hq, free_over=Money(5000), fee=Money(600))
    assert rule() == ShippingRule(free_over_fen=5000, fee_fen=600)


def test_the_coupon_is_read_with_its_template(org: Org, hq: Scope) -> None:
    category = leaf(hq)
    template = services.create_coupon_template(scope=hq, data=services.CouponTemplateInput(
        name="纸品8折", kind="percent", percent_off=20, max_off=Money(3000), threshold=Money(2000),
        scope="categories", category_ids=[category.pk], valid_days=7))
    buyer = CustomerFactory.create(enterprise=org.enterprise)
    coupon = services.issue_coupon(enterprise_id=org.enterprise.pk, template_id=template.pk, customer_id=buyer.pk,
                                   idempotency_key="k", now=NOW)
    info = queries.load_pricing_input(enterprise_id=org.enterprise.pk, lines=[], coupon_id=coupon.pk, now=NOW).coupon
    assert info is not None
    assert (info.coupon_id, info.template_id, info.name, info.kind, info.percent_off, info.max_off_fen,
            info.threshold_fen, info.customer_id, info.status) == (
        coupon.pk, template.pk, "纸品8折", "percent", 20, 3000, 2000, buyer.pk, "available")
    assert info.scope == TargetScope(kind="categories", category_ids=frozenset({category.pk}))
    # Issued 2026-06-18 20:00 Shanghai, valid 7 days: to the end of 2026-06-24 in Shanghai (16:00 UTC).
    assert (info.valid_from, info.valid_until) == (NOW, datetime(2026, 6, 24, 16, 0, tzinfo=UTC))
