"""Issue 4 in Chromium and over HTTP: the operator creates a product (one SKU, price typed in yuan) and a coupon in
the console and issues the coupon to a customer who signed in to the mall (the mini-program stand-in); the customer
adds the SKU to the cart, previews (payable worked by hand) and orders over the storefront API on the live server;
the payment is recorded by the service, the operator ships and completes the order with the console's buttons and
finally sees the order and its events on the customer's profile."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from simulator import miniprogram as mp_sim
from simulator.server import SimulatorServer
from simulator.state import current
from siyu.catalog.models import Sku
from siyu.channels.models import ChannelAccount
from siyu.core.money import Money
from siyu.orders.models import Order
from siyu.orders.services import states
from siyu.org.scope import scope_for_staff
from siyu.promotions import services as promotions
from siyu.promotions.models import CouponTemplate
from tests.conftest import Org
from tests.orders.helpers import ADDRESS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

APP_ID = "wxbrowsermall0001"
SECRET = "browser-mall-secret-0001"  # noqa: S105 - only ever talks to the in-process simulator


@pytest.fixture
def mp_platform() -> Iterator[SimulatorServer]:
    current().miniprogram.register_app(APP_ID, SECRET)
    with SimulatorServer(port=0, mounts={"/mp": mp_sim.make_app(current().miniprogram)}) as server:
        yield server


@pytest.fixture
def mall(org: Org, mp_platform: SimulatorServer) -> ChannelAccount:
    account = ChannelAccount(enterprise=org.enterprise, kind="miniprogram", name="商城", app_id=APP_ID,
                             callback_token="t", base_url=f"{mp_platform.base_url}/mp")
    account.secret = SECRET
    account.save()
    # Free shipping from ¥99.00, else ¥10.00: the order below is over the line, so it ships free.
    promotions.set_shipping_policy(scope=scope_for_staff(org.hq), free_over=Money(9900), fee=Money(1000))
    return account


def _sign_in(page: Page, base: str, then: str) -> None:
    page.goto(f"{base}/login/?next={then}")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")


def _create_product_and_coupon(page: Page, base: str) -> tuple[Sku, CouponTemplate]:
    page.goto(f"{base}/catalog/categories/")
    page.fill("#category-form input[name=name]", "茶饮")
    page.click("#category-form button[type=submit]")
    expect(page.locator("#category-tree")).to_contain_text("茶饮")

    page.goto(f"{base}/catalog/products/new/")
    page.fill("input[name=name]", "龙井礼盒")
    page.select_option("select[name=category]", label="茶饮")
    page.select_option("select[name=status]", "on_sale")
    page.fill("input[name=sku-0-code]", "LJ-250")
    page.fill("input[name=sku-0-specs]", "规格:250g")
    page.fill("input[name=sku-0-price]", "159.9")
    page.fill("input[name=sku-0-stock]", "20")
    page.click("#save-product")
    page.wait_for_url(re.compile(r".*/catalog/products/\d+/$"))
    sku = Sku.objects.get(code="LJ-250")
    assert (sku.product.name, sku.price_fen, sku.stock) == ("龙井礼盒", 15990, 20)

    page.goto(f"{base}/promotions/coupons/new/")
    page.fill("input[name=name]", "茶饮满300减30")
    page.select_option("select[name=kind]", "threshold")
    page.fill("input[name=amount_off]", "30")
    page.fill("input[name=threshold]", "300")
    page.fill("input[name=valid_days]", "7")
    page.click("#save-coupon")
    page.wait_for_url(re.compile(r".*/promotions/coupons/\d+/$"))
    template = CouponTemplate.objects.get(name="茶饮满300减30")
    assert (template.amount_off_fen, template.threshold_fen) == (3000, 30000)
    return sku, template


def _mall_login(api: httpx.Client, platform: SimulatorServer, user: str) -> int:
    wx = httpx.post(f"{platform.base_url}/mp/sim/code", json={"appid": APP_ID, "user": user}, timeout=10)
    wx.raise_for_status()
    login = api.post("/api/storefront/login", json={"appid": APP_ID, "code": wx.json()["code"]})
    assert login.status_code == 200, login.text
    api.headers["Authorization"] = f"Bearer {login.json()['token']}"
    customer_id: int = login.json()["customer_id"]
    return customer_id


def test_console_product_and_coupon_then_a_mall_order_shows_on_the_profile(
    browser: Any, live_server: Any, org: Org, mall: ChannelAccount, mp_platform: SimulatorServer,
) -> None:
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, base, "/catalog/categories/")
    sku, template = _create_product_and_coupon(page, base)

    with httpx.Client(base_url=base, timeout=15) as api:
        customer_id = _mall_login(api, mp_platform, "browser-buyer")

        # The operator issues the coupon to the customer who just signed in.
        page.goto(f"{base}/promotions/coupons/{template.pk}/issue/?customer={customer_id}")
        page.click("#issue-form button[type=submit]")
        page.wait_for_url(f"{base}/promotions/coupons/{template.pk}/")
        coupons = api.get("/api/storefront/coupons").json()
        assert [c["name"] for c in coupons] == ["茶饮满300减30"]
        coupon_id = coupons[0]["id"]

        added = api.post("/api/storefront/cart/items", json={"sku_id": sku.pk, "quantity": 2})
        assert added.status_code == 201, added.text
        assert [(i["sku_id"], i["quantity"]) for i in added.json()["items"]] == [(sku.pk, 2)]
        # 2 × ¥159.90 = ¥319.80 reaches the ¥300 threshold: ¥30 off; over ¥99 ships free → ¥289.80.
        preview = api.post("/api/storefront/checkout/preview", json={"coupon_id": coupon_id, "address": ADDRESS})
        assert preview.status_code == 200, preview.text
        breakdown = preview.json()
        assert (breakdown["list_total_fen"], breakdown["coupon_discount_fen"], breakdown["shipping_fen"],
                breakdown["payable_fen"]) == (31980, 3000, 0, 28980)
        placed = api.post("/api/storefront/orders",
                          json={"coupon_id": coupon_id, "address": ADDRESS, "idempotency_key": "browser-order-1"})
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert (order["status"], order["amount_fen"]) == ("pending_payment", 28980)
        assert api.get("/api/storefront/cart").json()["items"] == []

    states.mark_paid(order_id=order["id"], paid_at=timezone.now(), payment_ref="wx-pay-browser-1")

    page.goto(f"{base}/orders/{order['id']}/")
    expect(page.locator("h1")).to_contain_text(order["order_no"])
    expect(page.locator('#order-totals [data-amount="payable"]')).to_have_text("¥289.80")
    page.fill("#order-actions input[name=carrier]", "SF")
    page.fill("#order-actions input[name=tracking_no]", "SF1234567890")
    page.click('#order-actions button[data-action="ship"]')
    complete = page.locator('#order-actions button[data-action="complete"]')
    expect(complete).to_have_count(1)
    assert Order.objects.values_list("status", "carrier", "tracking_no").get(pk=order["id"]) == (
        "shipped", "SF", "SF1234567890")
    complete.click()
    expect(page.locator("#order-actions button")).to_have_count(0)
    assert Order.objects.values_list("status", flat=True).get(pk=order["id"]) == "completed"

    page.goto(f"{base}/customers/{customer_id}/")
    row = page.locator(f'#profile-orders tr[data-order-id="{order["id"]}"]')
    expect(row).to_contain_text(order["order_no"])
    expect(row).to_contain_text("¥289.80")
    expect(row).to_contain_text("龙井礼盒")
    expect(page.locator("#profile-orders tbody tr")).to_have_count(1)
    for event in ("order_created", "order_paid", "order_shipped", "order_completed"):
        expect(page.locator(f'#timeline li[data-event="{event}"]')).to_have_count(1)
    context.close()
