"""The loader gathers the right inputs from the database: quote() on real rows gives hand-computed numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from siyu.catalog import services as catalog_services
from siyu.catalog.models import Sku
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.money import Money
from siyu.customers.models import Customer
from siyu.org.scope import scope_for_staff
from siyu.promotions import queries, services
from siyu.promotions.models import FlashSaleItem
from siyu.promotions.pricing import CartLine, PricingBreakdown
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import CustomerFactory

NOW = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)
STARTS, ENDS = NOW - timedelta(days=1), NOW + timedelta(days=1)


class Shop:
    def __init__(self, org: Org) -> None:
        self.hq = scope_for_staff(org.hq)
        self.ent = org.enterprise.pk
        hq = self.hq
        tissues = leaf(hq, "日用消耗", "纸品清洁")
        skin = leaf(hq, "个护美妆", "护肤")
        # 抽纸 19.90 (member 17.90); 面霜 199.00 (member 179.00); 面膜 39.90 (no member price).
        self.tissue = Sku.objects.get(product=product(hq, "抽纸", sku("TS-6", 1990, 1790), category=tissues))
        self.cream = Sku.objects.get(product=product(hq, "面霜", sku("CR-50", 19900, 17900, stock=5), category=skin))
        self.mask = Sku.objects.get(product=product(hq, "面膜", sku("MK-10", 3990), category=skin))
        self.bundle = catalog_services.create_bundle(scope=hq, data=catalog_services.BundleInput(
            name="护肤套装", price=Money(21900), status="on_sale",
            items=[catalog_services.BundleItemInput(self.cream.pk, 1),
                   catalog_services.BundleItemInput(self.mask.pk, 1)],
        ))
        services.create_full_reduction(scope=hq, data=services.FullReductionInput(
            name="满199减20/满299减40", tiers=[(19900, 2000), (29900, 4000)], starts_at=STARTS, ends_at=ENDS))
        services.create_full_reduction(scope=hq, data=services.FullReductionInput(
            name="已结束", tiers=[(100, 99)], starts_at=NOW - timedelta(days=9), ends_at=NOW - timedelta(days=8)))
        self.skin_coupon = services.create_coupon_template(scope=hq, data=services.CouponTemplateInput(
            name="护肤9折", kind="percent", percent_off=10, max_off=Money(5000), scope="categories",
            category_ids=[skin.parent_id or skin.pk], valid_days=7))
        flash = services.create_flash_sale(scope=hq, data=services.FlashSaleInput(
            name="面膜秒杀", items=[services.FlashItemInput(sku_id=self.mask.pk, flash_price=Money(1990),
                                                           flash_stock=10, per_customer_limit=2)],
            starts_at=STARTS, ends_at=ENDS))
        self.flash_item = FlashSaleItem.objects.get(flash_sale=flash)

    def quote(self, *lines: CartLine, **kw: Any) -> PricingBreakdown:
        return queries.quote(enterprise_id=self.ent, lines=list(lines), now=kw.pop("now", NOW), **kw)


@pytest.fixture
def shop(org: Org) -> Shop:
    return Shop(org)


@pytest.fixture
def alice(org: Org) -> Customer:
    return CustomerFactory.create(enterprise=org.enterprise)


def test_quote_member_full_reduction_and_coupon(shop: Shop, alice: Customer) -> None:
    coupon = services.issue_coupon(enterprise_id=shop.ent, template_id=shop.skin_coupon.pk, customer_id=alice.pk,
                                   idempotency_key="k", now=NOW)
    result = shop.quote(CartLine(quantity=2, sku_id=shop.tissue.pk), CartLine(quantity=1, sku_id=shop.cream.pk),
                        customer_id=alice.pk, coupon_id=coupon.pk, is_member=True)
    # Member prices: 抽纸 2 × 1790 = 3580, 面霜 17900. Subtotal 21480 ≥ 19900 → 2000 off (the ended rule is not
    # loaded). Split: 抽纸 2000·3580/21480 = 333 rem 7160; 面霜 2000·17900/21480 = 1666 rem 14320 → 333, 1667.
    # Coupon: 护肤 (the top category) covers 面霜 only: 17900 - 1667 = 16233 → 10% = 1623.3 → 1623.
    # Goods 21480 - 2000 - 1623 = 17857 ≥ 9900 → free shipping.
    assert [line.amount.fen for line in result.lines] == [3580, 17900]
    assert [line.reduction_discount.fen for line in result.lines] == [333, 1667]
    assert [line.coupon_discount.fen for line in result.lines] == [0, 1623]
    assert (result.payable.fen, result.shipping.fen) == (17857, 0)
    assert result.coupon_id == coupon.pk


def test_quote_bundle_and_flash(shop: Shop, alice: Customer) -> None:
    result = shop.quote(CartLine(quantity=1, bundle_id=shop.bundle.pk),
                        CartLine(quantity=2, sku_id=shop.mask.pk, flash_item_id=shop.flash_item.pk),
                        customer_id=alice.pk)
    # Bundle 21900 (list 19900 + 3990 = 23890) counts for the store-wide rule: 21900 ≥ 19900 → 2000 off.
    # Flash 面膜 2 × 1990 = 3980, not counted. Goods 21900 - 2000 + 3980 = 23880.
    assert [(line.price_source, line.list_amount.fen, line.amount.fen) for line in result.lines] == [
        ("bundle", 23890, 21900), ("flash_sale", 7980, 3980)]
    assert (result.reduction_discount.fen, result.payable.fen) == (2000, 23880)
    # Stock: the bundle takes one 面霜 and one 面膜, the flash line two 面膜.
    assert result.lines[0].components == ((shop.cream.pk, 1), (shop.mask.pk, 1))


def test_quote_sees_the_customers_flash_purchases(shop: Shop, alice: Customer) -> None:
    services.reserve_flash(enterprise_id=shop.ent, customer_id=alice.pk,
                           items=[services.FlashReservation(shop.flash_item.pk, 2)], now=NOW)
    with pytest.raises(Conflict) as info:
        shop.quote(CartLine(quantity=1, sku_id=shop.mask.pk, flash_item_id=shop.flash_item.pk), customer_id=alice.pk)
    assert info.value.code == "flash_limit_exceeded"


def test_quote_errors(shop: Shop, alice: Customer, org: Org) -> None:
    with pytest.raises(NotFound) as info:
        shop.quote(CartLine(quantity=1, sku_id=987_654), customer_id=alice.pk)
    assert (info.value.code, info.value.field) == ("unknown_sku", "lines[0].sku_id")
    with pytest.raises(Conflict) as info2:
        shop.quote(CartLine(quantity=6, sku_id=shop.cream.pk))
    assert info2.value.code == "out_of_stock"
    with pytest.raises(NotFound) as info3:
        shop.quote(CartLine(quantity=1, sku_id=shop.cream.pk), coupon_id=123_456)
    assert info3.value.code == "coupon_not_found"
    bob = CustomerFactory.create(enterprise=org.enterprise)
    theirs = services.issue_coupon(enterprise_id=shop.ent, template_id=shop.skin_coupon.pk, customer_id=bob.pk,
                                   idempotency_key="b", now=NOW)
    with pytest.raises(ValidationFailed) as info4:
        shop.quote(CartLine(quantity=1, sku_id=shop.cream.pk), customer_id=alice.pk, coupon_id=theirs.pk)
    assert info4.value.code == "coupon_not_owned"
    mine = services.issue_coupon(enterprise_id=shop.ent, template_id=shop.skin_coupon.pk, customer_id=alice.pk,
                                 idempotency_key="a", now=NOW)
    with pytest.raises(ValidationFailed) as info5:
        shop.quote(CartLine(quantity=1, sku_id=shop.tissue.pk), customer_id=alice.pk, coupon_id=mine.pk)
    assert info5.value.code == "coupon_out_of_scope"
    with pytest.raises(ValidationFailed) as info6:
        shop.quote(CartLine(quantity=1, sku_id=shop.cream.pk), customer_id=alice.pk, coupon_id=mine.pk,
                   now=NOW + timedelta(days=30))
    assert info6.value.code == "coupon_expired"


def test_an_off_sale_product_cannot_be_bought(shop: Shop) -> None:
    catalog_services.set_product_status(scope=shop.hq, product_ids=[shop.tissue.product_id], status="off_sale")
    with pytest.raises(Conflict) as info:
        shop.quote(CartLine(quantity=1, sku_id=shop.tissue.pk))
    assert info.value.code == "not_on_sale"


def test_shipping_policy_per_enterprise(shop: Shop) -> None:
    line = CartLine(quantity=1, sku_id=shop.tissue.pk)
    assert shop.quote(line).shipping.fen == 1000  # the defaults: free from ¥99, else ¥10
    services.set_shipping_policy(scope=shop.hq, free_over=Money(1000), fee=Money(600))
    assert shop.quote(line).shipping.fen == 0  # 19.90 ≥ 10.00
    services.set_shipping_policy(scope=shop.hq, free_over=None, fee=Money(600))
    assert shop.quote(line).payable.fen == 1990 + 600


def test_coupon_options_rank_what_applies(shop: Shop, alice: Customer) -> None:
    fixed = services.create_coupon_template(scope=shop.hq, data=services.CouponTemplateInput(
        name="无门槛5元", kind="fixed", amount_off=Money(500), valid_days=7))
    big = services.create_coupon_template(scope=shop.hq, data=services.CouponTemplateInput(
        name="满500减100", kind="threshold", amount_off=Money(10000), threshold=Money(50000), valid_days=7))
    ids = {}
    for template in (fixed, big, shop.skin_coupon):
        ids[template.pk] = services.issue_coupon(enterprise_id=shop.ent, template_id=template.pk,
                                                 customer_id=alice.pk, idempotency_key=f"t{template.pk}", now=NOW).pk
    options = queries.coupon_options(enterprise_id=shop.ent, customer_id=alice.pk, now=NOW,
                                     lines=[CartLine(quantity=1, sku_id=shop.mask.pk)])
    # 面膜 3990: 护肤9折 → 399; 无门槛5元 → 500; 满500减100 → threshold not met.
    assert [(o.coupon.pk, o.discount.fen if o.discount else None, o.reason) for o in options] == [
        (ids[fixed.pk], 500, ""), (ids[shop.skin_coupon.pk], 399, ""), (ids[big.pk], None, "threshold_not_met")]


def test_the_loader_reads_a_bounded_number_of_queries(shop: Shop, alice: Customer,
                                                      django_assert_max_num_queries: Any) -> None:
    coupon = services.issue_coupon(enterprise_id=shop.ent, template_id=shop.skin_coupon.pk, customer_id=alice.pk,
                                   idempotency_key="k", now=NOW)
    lines = [CartLine(quantity=1, sku_id=s.pk) for s in (shop.tissue, shop.cream, shop.mask)] + [
        CartLine(quantity=1, bundle_id=shop.bundle.pk),
        CartLine(quantity=1, sku_id=shop.mask.pk, flash_item_id=shop.flash_item.pk)]
    with django_assert_max_num_queries(12):
        queries.load_pricing_input(enterprise_id=shop.ent, lines=lines, customer_id=alice.pk, coupon_id=coupon.pk,
                                   now=NOW)


def test_store_staff_read_the_promotions(org: Org, shop: Shop) -> None:
    staff = scope_for_staff(org.n1_staff)
    assert [t.pk for t in queries.coupon_templates(staff)] == [shop.skin_coupon.pk]
    assert [r.name for r in queries.full_reductions(staff)] == ["已结束", "满199减20/满299减40"]
