from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from siyu.catalog.models import Sku
from siyu.core.errors import ValidationFailed
from siyu.core.money import Money
from siyu.customers import queries as customer_queries
from siyu.org.models import Role
from siyu.org.scope import Scope, scope_for_staff
from siyu.promotions import services
from siyu.promotions.models import Coupon, CouponTemplate, FlashSaleItem, FullReduction, GroupBuy, ShippingPolicy
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import CustomerFactory, EnterpriseFactory, RelationshipFactory, StaffFactory


@pytest.fixture
def hq(org: Org) -> Scope:
    return scope_for_staff(org.hq)


@pytest.fixture
def hq_client(org: Org, client: Client) -> Client:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # assertions read the English source strings
    return client


def _management(prefix: str, total: int, initial: int = 0) -> dict[str, Any]:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def _coupon_post(**over: str) -> dict[str, Any]:
    data = {"name": "满99减20", "kind": "threshold", "amount_off": "20", "threshold": "99.00",
            "validity_kind": "relative", "valid_days": "30", "per_customer_limit": "1", "scope": "all",
            "is_active": "on"}
    data.update(over)
    return data


def test_the_pages_render(hq_client: Client) -> None:
    for url in ["/promotions/", "/promotions/coupons/", "/promotions/coupons/new/", "/promotions/full-reductions/",
                "/promotions/full-reductions/new/", "/promotions/flash-sales/", "/promotions/flash-sales/new/",
                "/promotions/group-buys/", "/promotions/group-buys/new/"]:
        assert hq_client.get(url).status_code == 200, url


def test_create_a_coupon_template_and_issue_it(hq_client: Client, org: Org) -> None:
    assert hq_client.post("/promotions/coupons/new/", _coupon_post()).status_code == 302
    template = CouponTemplate.objects.get()
    assert (template.kind, template.amount_off_fen, template.threshold_fen, template.valid_days) == (
        "threshold", 2000, 9900, 30)
    alice = CustomerFactory.create(enterprise=org.enterprise, name="Alice")
    page = hq_client.get(f"/promotions/coupons/{template.pk}/issue/?customer={alice.pk}").content.decode()
    assert 'name="idempotency_key"' in page
    post = {"customer_id": str(alice.pk), "idempotency_key": "console:abc"}
    assert hq_client.post(f"/promotions/coupons/{template.pk}/issue/", post).status_code == 302
    assert hq_client.post(f"/promotions/coupons/{template.pk}/issue/", post).status_code == 302  # a double submit
    assert Coupon.objects.filter(customer=alice).count() == 1
    detail = hq_client.get(f"/promotions/coupons/{template.pk}/").content.decode()
    assert Coupon.objects.get().code in detail


def test_an_ended_coupon_template_shows_as_expired_and_issues_nobody(hq_client: Client, org: Org, hq: Scope) -> None:
    ended = timezone.now() - timedelta(days=1)
    old = services.create_coupon_template(scope=hq, data=services.CouponTemplateInput(
        name="国庆券", kind="fixed", amount_off=Money(500), validity_kind="fixed", valid_from=ended - timedelta(days=7),
        valid_until=ended))
    current = services.create_coupon_template(scope=hq, data=services.CouponTemplateInput(
        name="日常券", kind="fixed", amount_off=Money(500), valid_days=7))
    page = hq_client.get("/promotions/coupons/").content.decode()
    rows = {name: page[page.index(name):][:page[page.index(name):].index("</tr>")] for name in ("国庆券", "日常券")}
    assert 'data-state="expired"' in rows["国庆券"] and 'data-state="expired"' not in rows["日常券"]
    assert f"/promotions/coupons/{old.pk}/issue/" not in page
    assert f"/promotions/coupons/{current.pk}/issue/" in page
    alice = CustomerFactory.create(enterprise=org.enterprise, name="Alice")
    refused = hq_client.post(f"/promotions/coupons/{old.pk}/issue/", {"customer_id": str(alice.pk),
                                                                       "idempotency_key": "console:old"})
    assert refused.status_code == 200 and "has expired" in refused.content.decode()
    with pytest.raises(ValidationFailed) as info:
        services.start_coupon_batch(scope=hq, template_id=old.pk, batch_key="b1", targets=services.BatchTargets(
            source="tags", label="", params={}, customers=customer_queries.customers(hq)))
    assert info.value.code == "coupon_expired"
    assert Coupon.objects.count() == 0


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"amount_off": "99.00"}, "below the threshold"),
        ({"amount_off": "2O"}, "Enter an amount in yuan"),
        ({"name": ""}, "This field is required"),
        ({"scope": "products"}, "choose at least one product"),
    ],
)
def test_bad_coupon_templates(hq_client: Client, over: dict[str, str], message: str) -> None:
    response = hq_client.post("/promotions/coupons/new/", _coupon_post(**over))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert CouponTemplate.objects.count() == 0


def test_staff_issue_only_to_their_own_customers(org: Org, client: Client, hq: Scope) -> None:
    assert org.hq.user is not None and org.n1_staff.user is not None
    client.force_login(org.hq.user)
    template_response = client.post("/promotions/coupons/new/", _coupon_post())
    assert template_response.status_code == 302
    template = CouponTemplate.objects.get()
    mine = CustomerFactory.create(enterprise=org.enterprise)
    RelationshipFactory.create(customer=mine, staff=org.n1_staff)
    other = CustomerFactory.create(enterprise=org.enterprise)
    client.force_login(org.n1_staff.user)
    ok = client.post(f"/promotions/coupons/{template.pk}/issue/", {"customer_id": mine.pk, "idempotency_key": "a"})
    denied = client.post(f"/promotions/coupons/{template.pk}/issue/", {"customer_id": other.pk,
                                                                        "idempotency_key": "b"})
    assert (ok.status_code, denied.status_code) == (302, 200)
    assert f"未找到客户 {other.pk}" in denied.content.decode()  # shown on the form, as if unknown
    assert list(Coupon.objects.values_list("customer_id", flat=True)) == [mine.pk]


def test_full_reduction_editor(hq_client: Client) -> None:
    data = {"name": "满199减20", "threshold_kind": "amount", "benefit_kind": "amount", "scope": "all",
            "starts_at": "2026-06-01T00:00", "ends_at": "2026-06-30T23:59", "is_active": "on",
            **_management("tier", 3), "tier-0-threshold": "199", "tier-0-value": "20",
            "tier-1-threshold": "299.00", "tier-1-value": "40", "tier-2-threshold": "", "tier-2-value": ""}
    assert hq_client.post("/promotions/full-reductions/new/", data).status_code == 302
    rule = FullReduction.objects.get()
    # Times typed in Beijing time: 2026-06-01 00:00 +08:00 is 2026-05-31 16:00 UTC.
    assert rule.tiers == [[19900, 2000], [29900, 4000]]
    assert rule.starts_at.isoformat() == "2026-05-31T16:00:00+00:00"
    bad = {**data, "tier-1-value": "10"}
    response = hq_client.post("/promotions/full-reductions/new/", bad)
    assert "bigger discount" in response.content.decode()
    pieces = {**data, "name": "满2件9折", "threshold_kind": "quantity", "benefit_kind": "percent",
              "tier-0-threshold": "2", "tier-0-value": "10", "tier-1-threshold": "3", "tier-1-value": "15"}
    assert hq_client.post("/promotions/full-reductions/new/", pieces).status_code == 302
    assert FullReduction.objects.get(name="满2件9折").tiers == [[2, 10], [3, 15]]


def test_flash_sale_editor(hq_client: Client, hq: Scope) -> None:
    target = Sku.objects.get(product=product(hq, "电动牙刷", sku("TB-1", 29900), category=leaf(hq)))
    data = {"name": "618秒杀", "starts_at": "2026-06-18T10:00", "ends_at": "2026-06-18T12:00", "is_active": "on",
            **_management("item", 2), "item-0-sku": str(target.pk), "item-0-flash_price": "99",
            "item-0-flash_stock": "10", "item-0-per_customer_limit": "1", "item-1-sku": "",
            "item-1-per_customer_limit": "1"}
    assert hq_client.post("/promotions/flash-sales/new/", data).status_code == 302
    item = FlashSaleItem.objects.get()
    assert (item.flash_price_fen, item.flash_stock) == (9900, 10)
    dear = {**data, "name": "不划算", "starts_at": "2026-07-01T10:00", "ends_at": "2026-07-01T12:00",
            "item-0-flash_price": "299.00"}
    response = hq_client.post("/promotions/flash-sales/new/", dear)
    assert "below the price" in response.content.decode()
    assert hq_client.get("/promotions/flash-sales/").status_code == 200


def test_the_flash_sale_editor_refuses_more_than_the_stock_beside_the_field(hq_client: Client, hq: Scope) -> None:
    target = Sku.objects.get(product=product(hq, "电动牙刷", sku("TB-1", 29900, stock=8), category=leaf(hq)))
    data = {"name": "清仓", "starts_at": "2026-06-18T10:00", "ends_at": "2026-06-18T12:00", "is_active": "on",
            **_management("item", 1), "item-0-sku": str(target.pk), "item-0-flash_price": "99",
            "item-0-flash_stock": "9", "item-0-per_customer_limit": "1"}
    page = hq_client.post("/promotions/flash-sales/new/", data).content.decode()
    row = page[page.index('name="item-0-flash_stock"'):]
    assert "above the 8 in stock" in row[:row.index("</td>")]  # the reason sits in the flash-stock cell
    assert FlashSaleItem.objects.count() == 0
    assert hq_client.post("/promotions/flash-sales/new/", {**data, "allow_oversell": "on"}).status_code == 302
    assert FlashSaleItem.objects.get().flash_stock == 9
    listed = hq_client.get("/promotions/flash-sales/").content.decode()
    assert "data-oversell" in listed and "8 in stock" in listed  # the promise above the stock stays visible


def test_group_buy_editor_and_shipping(hq_client: Client, hq: Scope) -> None:
    target = Sku.objects.get(product=product(hq, "保温杯", sku("CUP-1", 12900), category=leaf(hq)))
    data = {"name": "两人团", "sku": str(target.pk), "group_price": "99", "group_size": "2", "hours": "24",
            "starts_at": "2026-06-01T00:00", "ends_at": "2026-06-30T00:00", "is_active": "on"}
    assert hq_client.post("/promotions/group-buys/new/", data).status_code == 302
    assert GroupBuy.objects.get().group_price_fen == 9900
    assert hq_client.post("/promotions/shipping/", {"free_over": "88", "fee": "6.00"}).status_code == 302
    policy = ShippingPolicy.objects.get()
    assert (policy.free_over_fen, policy.fee_fen) == (8800, 600)


def test_product_editors_pick_products_and_skus_from_a_search_not_a_list(hq_client: Client, hq: Scope) -> None:
    """A chain's catalog runs to thousands: the editors render searchable pickers (no option per SKU), and a picked
    id from another enterprise is refused beside its field like a bad choice, nothing written."""
    mine = Sku.objects.get(product=product(hq, "保温杯", sku("CUP-1", 12900), category=leaf(hq)))
    for n in range(30):
        product(hq, f"纸巾{n:02d}", sku(f"TIS-{n:02d}", 990))
    other = EnterpriseFactory.create(code="other-brand", name="Other Brand", wecom_corp_id="wwother")
    other_org = scope_for_staff(StaffFactory.create(enterprise=other, role=Role.HQ_ADMIN))
    theirs = Sku.objects.get(product=product(other_org, "别家的杯子", sku("CUP-X", 100), category=leaf(other_org)))

    for page in ("/promotions/group-buys/new/", "/promotions/flash-sales/new/", "/promotions/coupons/new/",
                 "/orders/presales/new/"):
        html = hq_client.get(page).content.decode()
        assert "data-picker" in html and "TIS-07" not in html and "纸巾07" not in html, page

    data = {"name": "两人团", "group_price": "99", "group_size": "2", "hours": "24",
            "starts_at": "2026-06-01T00:00", "ends_at": "2026-06-30T00:00", "is_active": "on"}
    refused = hq_client.post("/promotions/group-buys/new/", {**data, "sku": str(theirs.pk)})
    assert refused.status_code == 200
    assert f"not available to you: {theirs.pk}" in refused.content.decode()
    assert GroupBuy.objects.count() == 0
    assert hq_client.post("/promotions/group-buys/new/", {**data, "sku": str(mine.pk)}).status_code == 302
    assert GroupBuy.objects.get().sku_id == mine.pk

    found = hq_client.get("/pick/products/", {"format": "json", "q": "纸巾0"}).json()
    assert found["total"] == 10 and all(item["label"].startswith("纸巾0") for item in found["items"])
    foreign = hq_client.get("/pick/products/", {"format": "json", "q": "别家"}).json()
    assert other_org.enterprise_id != hq.enterprise_id and foreign["total"] == 0
