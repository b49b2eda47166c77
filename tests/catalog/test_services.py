from __future__ import annotations

from dataclasses import replace
from random import Random

import pytest

from siyu.catalog import queries, services
from siyu.catalog.models import Bundle, Category, Product, Sku
from siyu.catalog.services import BundleInput, BundleItemInput, ProductInput, StockItem
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.money import Money
from siyu.org.scope import Scope, scope_for_staff
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org


@pytest.fixture
def hq(org: Org) -> Scope:
    return scope_for_staff(org.hq)


# ---------------------------------------------------------------------------------------------------------------
# Categories


def test_categories_have_two_levels(hq: Scope) -> None:
    root = services.create_category(scope=hq, name="个护美妆")
    child = services.create_category(scope=hq, name="护肤", parent_id=root.pk)
    with pytest.raises(ValidationFailed) as info:
        services.create_category(scope=hq, name="面霜", parent_id=child.pk)
    assert (info.value.code, info.value.field) == ("too_deep", "parent_id")


def test_duplicate_category_names_clash_only_under_the_same_parent(hq: Scope) -> None:
    a = services.create_category(scope=hq, name="A")
    b = services.create_category(scope=hq, name="B")
    services.create_category(scope=hq, name="其他", parent_id=a.pk)
    services.create_category(scope=hq, name="其他", parent_id=b.pk)
    with pytest.raises(Conflict) as info:
        services.create_category(scope=hq, name="其他", parent_id=a.pk)
    assert info.value.code == "duplicate"


def test_products_go_into_leaves_and_a_category_with_products_gets_no_children(hq: Scope) -> None:
    root = services.create_category(scope=hq, name="食品")
    services.create_category(scope=hq, name="零食", parent_id=root.pk)
    with pytest.raises(ValidationFailed) as info:
        product(hq, "坚果", sku("N1", 100), category=root)
    assert info.value.code == "category_not_leaf"
    lonely = services.create_category(scope=hq, name="礼品卡")
    product(hq, "礼品卡 100元", sku("GC100", 10000), category=lonely)
    with pytest.raises(Conflict) as info2:
        services.create_category(scope=hq, name="电子卡", parent_id=lonely.pk)
    assert info2.value.code == "category_has_products"


def test_category_tree_counts_products_of_children(hq: Scope) -> None:
    food = leaf(hq, "食品", "零食")
    drinks = leaf(hq, "食品", "饮品")
    product(hq, "坚果", sku("N1", 100), category=food)
    product(hq, "饼干", sku("N2", 100), category=food)
    product(hq, "咖啡", sku("N3", 100), category=drinks)
    (root,) = queries.category_tree(hq)
    assert (root.category.name, root.product_count) == ("食品", 3)
    assert [(c.category.name, c.product_count) for c in root.children] == [("零食", 2), ("饮品", 1)]
    services.delete_category(scope=hq, category_id=leaf(hq, "食品", "空").pk)
    with pytest.raises(Conflict):
        services.delete_category(scope=hq, category_id=food.pk)


# ---------------------------------------------------------------------------------------------------------------
# Products


def _input(hq: Scope, *skus: services.SkuInput, name: str = "T恤") -> ProductInput:
    return ProductInput(name=name, category_id=leaf(hq).pk, skus=list(skus))


@pytest.mark.parametrize(
    ("skus", "name", "code", "field", "index"),
    [
        ([sku("T1", 100)], "  ", "required", "name", None),
        ([sku("T1", -1)], "T恤", "negative_price", "skus[0].price", 0),
        ([sku("T1", 100), sku("T2", 100, member=101)], "T恤", "member_price_too_high", "skus[1].member_price", 1),
        ([sku("T1", 100, 颜色="红", 尺码="M"), sku("T2", 100, 尺码="M", 颜色="红")], "T恤", "duplicate_specs",
         "skus[1].specs", 1),
        ([sku("T1", 100, 颜色="红"), sku("T1", 100, 颜色="蓝")], "T恤", "duplicate_code", "skus[1].code", 1),
        ([sku("T1", 100, 颜色="红"), sku("T2", 100, 尺码="M")], "T恤", "inconsistent_specs", "skus[1].specs", 1),
        ([sku("T 1", 100)], "T恤", "invalid_code", "skus[0].code", 0),
        ([sku("T1", 100, stock=-5)], "T恤", "invalid_stock", "skus[0].stock", 0),
        ([], "T恤", "required", "skus", None),
    ],
)
def test_bad_products_are_refused_and_nothing_is_written(
    hq: Scope, skus: list[services.SkuInput], name: str, code: str, field: str, index: int | None
) -> None:
    data = replace(_input(hq), name=name, skus=skus)
    with pytest.raises(ValidationFailed) as info:
        services.create_product(scope=hq, data=data)
    assert (info.value.code, info.value.field, info.value.index) == (code, field, index)
    assert Product.objects.count() == 0
    assert Sku.objects.count() == 0


def test_sku_codes_are_unique_in_the_enterprise(hq: Scope) -> None:
    product(hq, "A", sku("SHARED", 100))
    with pytest.raises(Conflict) as info:
        product(hq, "B", sku("OWN", 100, 规格="小"), sku("SHARED", 200, 规格="大"))
    assert (info.value.code, info.value.field, info.value.index) == ("duplicate_code", "skus[1].code", 1)
    assert Product.objects.count() == 1


def test_only_hq_edits_the_catalog(org: Org, hq: Scope) -> None:
    store_staff = scope_for_staff(org.n1_staff)
    with pytest.raises(PermissionDenied):
        services.create_category(scope=store_staff, name="X")
    with pytest.raises(PermissionDenied):
        services.create_product(scope=store_staff, data=_input(hq, sku("T1", 100)))


def test_a_product_on_sale_needs_an_active_sku(hq: Scope) -> None:
    off = services.SkuInput(code="T1", price=Money(100), is_active=False)
    with pytest.raises(ValidationFailed) as info:
        services.create_product(scope=hq, data=replace(_input(hq, off), status="on_sale"))
    assert info.value.code == "no_active_sku"
    draft = product(hq, "草稿", off, status="draft")
    with pytest.raises(ValidationFailed):
        services.set_product_status(scope=hq, product_ids=[draft.pk], status="on_sale")


def test_update_deactivates_missing_skus_and_revives_a_readded_combination(hq: Scope) -> None:
    p = product(hq, "T恤", sku("T-R", 5900, 颜色="红"), sku("T-B", 5900, 颜色="蓝"))
    red, blue = Sku.objects.filter(product=p).order_by("id")
    data = replace(_input(hq), skus=[replace(sku("T-R", 6900, 颜色="红"), id=red.pk)])
    services.update_product(scope=hq, product_id=p.pk, data=data)
    blue.refresh_from_db()
    red.refresh_from_db()
    assert (red.price_fen, red.is_active, blue.is_active) == (6900, True, False)
    # Adding 蓝 again (as a new row) brings back the same SKU row: orders that point at it stay valid.
    data = replace(data, skus=[*data.skus, sku("T-B2", 6900, stock=8, 颜色="蓝")])
    services.update_product(scope=hq, product_id=p.pk, data=data)
    blue.refresh_from_db()
    assert (blue.is_active, blue.code, blue.stock) == (True, "T-B2", 8)
    assert Sku.objects.filter(product=p).count() == 2


def test_a_removed_sku_revives_once(hq: Scope) -> None:
    p = product(hq, "袜子", sku("SOCK-R", 990, 颜色="红"), sku("SOCK-B", 990, 颜色="蓝"))
    red, blue = Sku.objects.filter(product=p).order_by("id")
    only_blue = replace(_input(hq), name="袜子", skus=[replace(sku("SOCK-B", 990, 颜色="蓝"), id=blue.pk)])
    services.update_product(scope=hq, product_id=p.pk, data=only_blue)
    # Two new rows: one with red's specs (revives red under a new code), one with red's old code but new specs
    # (a new SKU: red cannot be revived twice).
    rows = [*only_blue.skus, sku("SOCK-R2", 990, 颜色="红"), sku("SOCK-R", 990, 颜色="绿")]
    services.update_product(scope=hq, product_id=p.pk, data=replace(only_blue, skus=rows))
    red.refresh_from_db()
    assert (red.is_active, red.code, red.specs) == (True, "SOCK-R2", {"颜色": "红"})
    rows_now = Sku.objects.filter(product=p).order_by("id").values_list("code", "specs", "is_active")
    assert list(rows_now) == [("SOCK-R2", {"颜色": "红"}, True), ("SOCK-B", {"颜色": "蓝"}, True),
                              ("SOCK-R", {"颜色": "绿"}, True)]


def test_editor_stock_is_a_delta_from_what_it_showed(hq: Scope) -> None:
    p = product(hq, "纸巾", sku("P1", 1990, stock=10))
    row = Sku.objects.get(product=p)
    services.reserve_stock(enterprise_id=hq.enterprise_id, items=[StockItem(sku_id=row.pk, quantity=3)])  # 7 left
    # The operator saw 10 and typed 15 (+5): the 3 sold meanwhile are kept → 12, not 15.
    edited = replace(sku("P1", 1990, stock=15), id=row.pk, stock_seen=10)
    services.update_product(scope=hq, product_id=p.pk, data=replace(_input(hq), name="纸巾", skus=[edited]))
    row.refresh_from_db()
    assert row.stock == 12


def test_swapping_two_sku_codes_works(hq: Scope) -> None:
    p = product(hq, "杯", sku("CUP-A", 100, 色="白"), sku("CUP-B", 100, 色="黑"))
    a, b = Sku.objects.filter(product=p).order_by("id")
    swapped = [replace(sku("CUP-B", 100, 色="白"), id=a.pk), replace(sku("CUP-A", 100, 色="黑"), id=b.pk)]
    services.update_product(scope=hq, product_id=p.pk, data=replace(_input(hq), name="杯", skus=swapped))
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.code, b.code) == ("CUP-B", "CUP-A")


def test_add_and_update_one_sku(hq: Scope) -> None:
    p = product(hq, "T恤", sku("T-R", 5900, 颜色="红"))
    new = services.add_sku(scope=hq, product_id=p.pk, sku=sku("T-G", 5900, 4900, stock=3, 颜色="绿"))
    assert (new.specs, new.member_price_fen, new.stock) == ({"颜色": "绿"}, 4900, 3)
    with pytest.raises(ValidationFailed) as info:
        services.add_sku(scope=hq, product_id=p.pk, sku=sku("T-G2", 5900, 颜色="绿"))
    assert info.value.code == "duplicate_specs"
    with pytest.raises(ValidationFailed) as carried:  # an id would point at an existing SKU: add takes new ones only
        services.add_sku(scope=hq, product_id=p.pk, sku=replace(sku("T-B", 5900, 颜色="蓝"), id=new.pk))
    assert (carried.value.code, carried.value.field) == ("id_not_allowed", "id")
    assert Sku.objects.filter(product=p).count() == 2
    changed = services.update_sku(scope=hq, sku_id=new.pk, price=Money(5500))
    assert (changed.price_fen, changed.member_price_fen) == (5500, 4900)
    with pytest.raises(ValidationFailed) as info2:  # the member price 4900 would be above the new price 4500
        services.update_sku(scope=hq, sku_id=new.pk, price=Money(4500))
    assert (info2.value.code, info2.value.field) == ("member_price_too_high", "member_price")
    cleared = services.update_sku(scope=hq, sku_id=new.pk, price=Money(4500), clear_member_price=True)
    assert (cleared.price_fen, cleared.member_price_fen) == (4500, None)


def test_store_availability(org: Org, hq: Scope) -> None:
    everywhere = product(hq, "全店", sku("E1", 100))
    some = product(hq, "北京限定", sku("B1", 100), all_stores=False, store_ids=[org.store_n1.pk])
    in_n1 = set(queries.on_sale_products(enterprise_id=hq.enterprise_id, store_id=org.store_n1.pk))
    in_s1 = set(queries.on_sale_products(enterprise_id=hq.enterprise_id, store_id=org.store_s1.pk))
    assert in_n1 == {everywhere, some}
    assert in_s1 == {everywhere}
    with pytest.raises(ValidationFailed) as info:
        product(hq, "无店", sku("X1", 100), all_stores=False, store_ids=[])
    assert info.value.field == "store_ids"


# ---------------------------------------------------------------------------------------------------------------
# Stock


def test_reserve_stock_takes_all_or_nothing(hq: Scope) -> None:
    a = Sku.objects.get(product=product(hq, "A", sku("A1", 100, stock=5)))
    b = Sku.objects.get(product=product(hq, "B", sku("B1", 100, stock=2)))
    services.reserve_stock(enterprise_id=hq.enterprise_id,
                           items=[StockItem(a.pk, 2), StockItem(b.pk, 1), StockItem(a.pk, 1)])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.stock, b.stock) == (2, 1)
    with pytest.raises(Conflict) as info:
        services.reserve_stock(enterprise_id=hq.enterprise_id,
                               items=[StockItem(a.pk, 1, line=0), StockItem(b.pk, 2, line=4)])
    assert (info.value.code, info.value.field, info.value.index) == ("out_of_stock", "lines[4].quantity", 4)
    a.refresh_from_db()
    assert a.stock == 2  # the first line's unit was given back with the rest
    services.release_stock(enterprise_id=hq.enterprise_id, items=[StockItem(a.pk, 2), StockItem(b.pk, 1)])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.stock, b.stock) == (4, 2)


def test_reserve_stock_bad_input(hq: Scope, org: Org) -> None:
    a = Sku.objects.get(product=product(hq, "A", sku("A1", 100, stock=5)))
    with pytest.raises(NotFound) as info:
        services.reserve_stock(enterprise_id=hq.enterprise_id, items=[StockItem(a.pk, 1), StockItem(999_999, 1)])
    assert (info.value.code, info.value.index) == ("unknown_sku", 1)
    with pytest.raises(ValidationFailed) as info2:
        services.reserve_stock(enterprise_id=hq.enterprise_id, items=[StockItem(a.pk, 0)])
    assert info2.value.code == "invalid_quantity"
    with pytest.raises(NotFound):  # another enterprise's id cannot touch this SKU
        services.reserve_stock(enterprise_id=hq.enterprise_id + 1, items=[StockItem(a.pk, 1)])
    a.refresh_from_db()
    assert a.stock == 5


def test_adjust_stock(hq: Scope) -> None:
    a = Sku.objects.get(product=product(hq, "A", sku("A1", 100, stock=5)))
    assert services.adjust_stock(scope=hq, sku_id=a.pk, delta=7, reason="到货") == 12
    with pytest.raises(Conflict):
        services.adjust_stock(scope=hq, sku_id=a.pk, delta=-13)
    assert services.adjust_stock(scope=hq, sku_id=a.pk, delta=-12) == 0


# ---------------------------------------------------------------------------------------------------------------
# Bundles


def test_bundle_availability_is_the_scarcest_component(hq: Scope) -> None:
    a = Sku.objects.get(product=product(hq, "牙膏", sku("TP", 1290, stock=9)))
    b = Sku.objects.get(product=product(hq, "牙刷", sku("TB", 1990, stock=50)))
    made = services.create_bundle(scope=hq, data=BundleInput(
        name="口腔套装", price=Money(3990), items=[BundleItemInput(a.pk, 2), BundleItemInput(b.pk, 1)]))
    bundle = queries.get_bundle(hq, made.pk)
    # 9 // 2 = 4 toothpaste pairs, 50 // 1 = 50 brushes → 4 bundles. List price 2·1290 + 1990 = 4570.
    assert queries.bundle_availability(bundle) == 4
    assert queries.bundle_list_price(bundle).fen == 4570


@pytest.mark.parametrize(
    ("items", "price", "code", "field"),
    [
        ([(0, 1), (0, 1)], 1000, "duplicate_sku", "items[1].sku_id"),
        ([(0, 1)], 1000, "too_small", "items"),
        ([(0, 1), (1, 1)], 3281, "bundle_price_above_components", "price"),
        ([(0, 0), (1, 1)], 1000, "invalid_quantity", "items[0].quantity"),
    ],
)
def test_bad_bundles(hq: Scope, items: list[tuple[int, int]], price: int, code: str, field: str) -> None:
    skus = [Sku.objects.get(product=product(hq, n, sku(c, p))) for n, c, p in (("牙膏", "TP", 1290),
                                                                               ("牙刷", "TB", 1990))]
    data = BundleInput(name="套装", price=Money(price), items=[BundleItemInput(skus[i].pk, q) for i, q in items])
    with pytest.raises(ValidationFailed) as info:
        services.create_bundle(scope=hq, data=data)
    assert (info.value.code, info.value.field) == (code, field)
    assert Bundle.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------------
# Demo


def test_demo_catalog(org: Org) -> None:
    made = services.seed_demo_catalog(org.enterprise.pk, Random(7))
    assert (made.categories, made.products, made.bundles) == (4 + 12, 61, 4)
    assert (made.coupon_templates, made.full_reductions) == (5, 2)
    assert Category.objects.filter(enterprise=org.enterprise, parent__isnull=True).count() == 4
    roles = set(Product.objects.filter(enterprise=org.enterprise).values_list("role", flat=True))
    assert roles == {"traffic", "profit", "image"}
    # 纯棉四件套 has 2 sizes × 2 colours; the 1.8m size costs 115% of 399.00 → 458.85 → shelf price 458.90.
    bedding = Sku.objects.filter(product__name="纯棉四件套")
    assert bedding.count() == 4
    assert sorted(set(bedding.values_list("price_fen", flat=True))) == [39900, 45890]
    assert not Sku.objects.filter(member_price_fen__gt=0, price_fen__lt=1).exists()
    pan = Product.objects.get(name="不粘炒锅 32cm")
    tissue = Product.objects.get(name="抽纸 3层100抽")
    assert (made.repurchase_days[pan.pk], made.repurchase_days[tissue.pk]) == (None, 30)
    for bundle in queries.bundles(Scope.hq(org.enterprise.pk)):
        assert bundle.price_fen < queries.bundle_list_price(bundle).fen
    again = services.seed_demo_catalog(org.enterprise.pk, Random(7))
    assert (again.products, again.bundles, Product.objects.count()) == (61, 4, 61)
    assert again.repurchase_days == made.repurchase_days
