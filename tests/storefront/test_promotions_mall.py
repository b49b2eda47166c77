"""The mall's promotions as a shopper sees them: the coupon centre (claim once per key, per-customer limit and stock
enforced), what is running (flash sales, group buys, presales, bundles), and a group buy a friend joins by the team
id the first shopper's order shows."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from siyu.catalog import services as catalog_services
from siyu.core.money import Money
from siyu.orders.services import presale, states
from siyu.promotions import services as promotions
from siyu.promotions.services import CouponTemplateInput, FlashItemInput, FlashSaleInput, GroupBuyInput
from tests.orders.helpers import ADDRESS, Shop, later
from tests.storefront.conftest import Phone


def _template(shop: Shop, name: str, **kwargs: object) -> int:
    fields: dict[str, object] = {"kind": "fixed", "amount_off": Money(500), "valid_days": 7, "claimable": True,
                                 **kwargs}
    return promotions.create_coupon_template(scope=shop.hq, data=CouponTemplateInput(
        name=name, **fields)).pk  # type: ignore[arg-type]


def test_the_coupon_centre_lists_claimable_coupons_and_claims_once_per_key(shop: Shop, phone: Phone) -> None:
    phone.login("alice")
    five_off = _template(shop, "新人5元券", per_customer_limit=1, total_stock=10)
    _template(shop, "导购专享券", claimable=False)
    ended = timezone.now() - timedelta(days=1)
    _template(shop, "过期券", validity_kind="fixed", valid_from=ended - timedelta(days=7), valid_until=ended,
              valid_days=None)
    listed = phone.get("/api/storefront/coupon-centre").json()
    assert [(c["name"], c["claimed"], c["left"], c["can_claim"]) for c in listed] == [("新人5元券", 0, 10, True)]

    first = phone.post(f"/api/storefront/coupon-centre/{five_off}/claim", {"idempotency_key": "tap-1"})
    assert first.status_code == 201, first.content
    again = phone.post(f"/api/storefront/coupon-centre/{five_off}/claim", {"idempotency_key": "tap-1"})
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])  # a retry: the same coupon
    second = phone.post(f"/api/storefront/coupon-centre/{five_off}/claim", {"idempotency_key": "tap-2"})
    assert (second.status_code, second.json()["code"]) == (409, "coupon_limit_reached")
    assert [c["id"] for c in phone.get("/api/storefront/coupons").json()] == [first.json()["id"]]
    (row,) = phone.get("/api/storefront/coupon-centre").json()
    assert (row["claimed"], row["left"], row["can_claim"]) == (1, 9, False)


def test_claiming_is_refused_for_a_brand_only_or_sold_out_coupon(shop: Shop, phone: Phone) -> None:
    phone.login("alice")
    brand_only = _template(shop, "导购专享券", claimable=False)
    refused = phone.post(f"/api/storefront/coupon-centre/{brand_only}/claim")
    assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (
        422, "not_claimable", "template_id")
    last_one = _template(shop, "限量券", per_customer_limit=5, total_stock=1)
    assert phone.post(f"/api/storefront/coupon-centre/{last_one}/claim").status_code == 201
    sold_out = phone.post(f"/api/storefront/coupon-centre/{last_one}/claim")
    assert (sold_out.status_code, sold_out.json()["code"]) == (409, "coupon_sold_out")
    assert phone.post("/api/storefront/coupon-centre/999999/claim").status_code == 404


def test_the_mall_lists_what_is_running(shop: Shop, phone: Phone) -> None:
    phone.login("alice")
    promotions.create_flash_sale(scope=shop.hq, data=FlashSaleInput(
        name="午间秒杀", starts_at=later(-10), ends_at=later(60),
        items=[FlashItemInput(sku_id=shop.tissue.pk, flash_price=Money(990), flash_stock=20, per_customer_limit=2)]))
    promotions.create_flash_sale(scope=shop.hq, data=FlashSaleInput(
        name="明天秒杀", starts_at=later(60 * 24), ends_at=later(60 * 25),
        items=[FlashItemInput(sku_id=shop.tissue.pk, flash_price=Money(890), flash_stock=20)]))
    promotions.create_group_buy(scope=shop.hq, data=GroupBuyInput(
        name="两人团", sku_id=shop.pan.pk, group_price=Money(24900), starts_at=later(-10), ends_at=later(600)))
    presale.create_presale(scope=shop.hq, data=presale.PresaleInput(
        name="新款预售", sku_id=shop.pan.pk, price_fen=25900, deposit_fen=5000, deposit_starts_at=later(-10),
        deposit_ends_at=later(60), balance_starts_at=later(60), balance_ends_at=later(120)))
    catalog_services.create_bundle(scope=shop.hq, data=catalog_services.BundleInput(
        name="厨房组合", price=Money(30900), status="on_sale", items=[
            catalog_services.BundleItemInput(sku_id=shop.pan.pk), catalog_services.BundleItemInput(
                sku_id=shop.tissue.pk, quantity=2)]))

    flash = phone.get("/api/storefront/flash-sales").json()
    assert [(f["flash_sale_name"], f["flash_price_fen"], f["list_price_fen"], f["left"]) for f in flash] == [
        ("午间秒杀", 990, 1990, 20)]
    groups = phone.get("/api/storefront/group-buys").json()
    assert [(g["name"], g["group_price_fen"], g["group_size"]) for g in groups] == [("两人团", 24900, 2)]
    presales = phone.get("/api/storefront/presales").json()
    assert [(p["name"], p["price_fen"], p["deposit_fen"]) for p in presales] == [("新款预售", 25900, 5000)]
    bundles = phone.get("/api/storefront/bundles").json()
    # 5 pans and 50 tissues: 5 bundles of one pan and two tissues; list price 299.00 + 2 × 19.90
    assert [(b["name"], b["price_fen"], b["list_price_fen"], b["available"]) for b in bundles] == [
        ("厨房组合", 30900, 33880, 5)]


def test_a_friend_joins_the_team_the_first_order_shows(shop: Shop, phone: Phone) -> None:
    group = promotions.create_group_buy(scope=shop.hq, data=GroupBuyInput(
        name="两人团", sku_id=shop.pan.pk, group_price=Money(24900), starts_at=later(-10), ends_at=later(600)))
    phone.login("alice")
    placed = phone.post("/api/storefront/orders", {
        "lines": [{"sku_id": shop.pan.pk, "quantity": 1, "group_buy_id": group.pk}], "address": ADDRESS}).json()
    assert placed["group_team"] is None  # no team before the order is paid
    states.mark_paid(order_id=placed["id"], paid_at=timezone.now(), payment_ref="pay-alice")
    mine = phone.get(f"/api/storefront/orders/{placed['id']}").json()["group_team"]
    assert (mine["status"], mine["member_count"], mine["seats_left"]) == ("open", 1, 1)

    phone.login("bob")
    teams = phone.get(f"/api/storefront/group-buys/{group.pk}/teams").json()
    assert [(t["team_id"], t["seats_left"]) for t in teams] == [(mine["team_id"], 1)]
    joined = phone.post("/api/storefront/orders", {
        "lines": [{"sku_id": shop.pan.pk, "quantity": 1, "group_buy_id": group.pk}], "address": ADDRESS,
        "group_team_id": mine["team_id"]}).json()
    states.mark_paid(order_id=joined["id"], paid_at=timezone.now(), payment_ref="pay-bob")
    bobs = phone.get(f"/api/storefront/orders/{joined['id']}").json()["group_team"]
    assert (bobs["team_id"], bobs["status"], bobs["member_count"]) == (mine["team_id"], "complete", 2)
    assert phone.get(f"/api/storefront/group-buys/{group.pk}/teams").json() == []  # full: nothing left to join
    assert phone.get("/api/storefront/group-buys/999999/teams").status_code == 404
