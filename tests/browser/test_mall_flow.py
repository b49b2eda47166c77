"""Issue 24's first done-when in Chromium at 375 px: a customer taps the Official Account menu's mall link (carrying
the staff member's attribution), signs in through the OAuth simulator, browses the home page, claims a coupon, adds
two SKUs, checks out with the coupon, pays on the WeChat Pay simulator's sheet (its signed notify reaches the live
server), sees the order paid and asks for an after-sale; the operator sees the same order attributed to the staff.

Figures by hand: two tissues 2 × ¥19.90 + one pan ¥299.00 = ¥338.80, free shipping (over ¥99), coupon ¥20 off over
¥100: ¥318.80 paid."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from simulator.server import SimulatorServer
from simulator.state import Simulator, reset
from siyu.channels import demo_accounts
from siyu.channels.official_account import services as oa_services
from siyu.core.money import Money
from siyu.finance.models import PayMerchant
from siyu.orders.models import AfterSale, Order
from siyu.promotions import services as promotions
from siyu.promotions.services import CouponTemplateInput
from tests.channels.wechatpay.conftest import new_credentials
from tests.conftest import Org
from tests.orders.helpers import build_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO = demo_accounts.OFFICIAL_ACCOUNT


@pytest.fixture
def platforms(settings: Any) -> Iterator[tuple[SimulatorServer, Simulator]]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    state = reset()
    with SimulatorServer(port=0, simulator=state) as server:
        yield server, state


def _merchant(org: Org, pay_base: str, live: str) -> PayMerchant:
    _sim, creds = new_credentials(pay_base)
    row = PayMerchant(enterprise=org.enterprise, name="直营", mch_id=creds.mch_id, app_id=DEMO.app_id,
                      merchant_serial_no=creds.serial_no, platform_key_id=creds.platform_key_id,
                      platform_public_key=creds.platform_key_pem, base_url=creds.base_url,
                      notify_url=f"{live}/finance/wechatpay/callback/{creds.mch_id}/")
    row.private_key, row.apiv3_key = creds.private_key_pem, creds.apiv3_key
    row.save()
    return row


def test_menu_link_oauth_browse_coupon_two_skus_pay_after_sale_and_the_operator_sees_it(
    browser: Any, live_server: Any, org: Org, platforms: tuple[SimulatorServer, Simulator],
) -> None:
    server, state = platforms
    live = live_server.url
    shop = build_shop(org)
    promotions.create_coupon_template(scope=shop.hq, data=CouponTemplateInput(
        name="领券满100减20", kind="threshold", amount_off=Money(2000), threshold=Money(10000), valid_days=7,
        per_customer_limit=1, claimable=True))
    oa_services.connect_account(enterprise_id=org.enterprise.pk, name="品牌服务号", app_id=DEMO.app_id,
                                secret=DEMO.secret, token=DEMO.token, encoding_aes_key=DEMO.encoding_aes_key,
                                base_url=server.base_url + "/oa")
    merchant = _merchant(org, server.base_url + "/pay", live)
    state.wechatpay.merchants[merchant.mch_id].app_id = DEMO.app_id  # the merchant pays for the OA's appid
    code = org.enterprise.code

    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN", is_mobile=True)
    page: Page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The OA menu's link: sign in (silent snsapi_base OAuth through the simulator) and land on the home page.
    page.goto(f"{live}/m/{code}/login/wechat/?staff_id={org.n1_staff.pk}&campaign=oa-menu")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live)}/m/{code}/(#wechat_redirect)?$"))
    expect(page.get_by_text("欢迎回来")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone

    page.get_by_role("button", name="领取").first.click()
    expect(page.get_by_text("领取成功")).to_be_visible()

    page.get_by_role("link", name="抽纸").first.click()
    page.fill("input[name=quantity]", "2")
    page.get_by_role("button", name="加入购物车").click()
    expect(page.get_by_text("已加入购物车")).to_be_visible()
    page.goto(f"{live}/m/{code}/products/?q=不粘锅")
    page.get_by_role("link", name="不粘锅").first.click()
    page.get_by_role("button", name="加入购物车").click()
    expect(page.get_by_text("已加入购物车")).to_be_visible()

    page.get_by_role("link", name="购物车").click()
    page.get_by_role("link", name="去结算").click()
    page.fill("input[name=name]", "张三")
    page.fill("input[name=phone]", "13800138000")
    page.fill("input[name=detail]", "上海市静安区南京西路1号")
    page.select_option("select[name=coupon_id]", label="领券满100减20")
    expect(page.locator("#payable")).to_have_text("¥318.80")
    expect(page.locator("input[name=detail]")).to_have_value("上海市静安区南京西路1号")  # kept across the recompute
    page.get_by_role("button", name="提交订单").click()

    expect(page.locator("[data-status=pending_payment]")).to_be_visible()
    order = Order.objects.get()
    assert (order.amount_fen, order.staff_id, order.campaign) == (31_880, org.n1_staff.pk, "oa-menu")

    page.locator("#pay").click()
    page.locator("#sim-cashier").click()
    expect(page.get_by_text("¥318.80")).to_be_visible()
    page.locator("#sim-pay").click()  # the simulator's sheet: pays, notifies the live server, returns
    expect(page.locator("[data-status=paid]")).to_be_visible(timeout=15_000)
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == ("paid", 31_880)

    page.get_by_role("link", name="申请售后").click()
    page.fill("textarea[name=reason]", "买多了")
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_text("售后：")).to_be_visible()
    assert AfterSale.objects.get().order_id == order.pk
    assert errors == []
    context.close()

    # The operator's console shows the same order, attributed to the staff member whose link it was.
    console = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    desk = console.new_page()
    desk.goto(f"{live}/login/?next=/orders/{order.pk}/")
    desk.fill("input[name=username]", "hq")
    desk.fill("input[name=password]", "pw-for-tests-1")
    desk.click("button[type=submit]")
    desk.wait_for_url(f"{live}/orders/{order.pk}/")
    expect(desk.get_by_text(order.order_no).first).to_be_visible()
    expect(desk.get_by_text(org.n1_staff.name).first).to_be_visible()
    console.close()
