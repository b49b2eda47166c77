"""Issue 24's second done-when in Chromium: HQ designs the mall's home page at 375 px (a banner, a product grid
picked with the product picker, a coupon strip picked with the coupon picker), previews it, publishes it, and a
customer sees it; HQ publishes a second version, rolls back to the first, and the customer sees the first again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from siyu.core.money import Money
from siyu.promotions import services as promotions
from siyu.promotions.services import CouponTemplateInput
from tests.conftest import Org
from tests.orders.helpers import build_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hq_designs_previews_publishes_and_rolls_back_the_home_page(browser: Any, live_server: Any,
                                                                    org: Org) -> None:
    live = live_server.url
    shop = build_shop(org)
    coupon = promotions.create_coupon_template(scope=shop.hq, data=CouponTemplateInput(
        name="装修券满100减20", kind="threshold", amount_off=Money(2000), threshold=Money(10000), valid_days=7,
        per_customer_limit=1, claimable=True))
    code = org.enterprise.code

    desk_context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN", is_mobile=True)
    desk: Page = desk_context.new_page()
    errors: list[str] = []
    desk.on("pageerror", lambda exc: errors.append(str(exc)))
    desk.goto(f"{live}/login/?next=/store-design/")
    desk.fill("input[name=username]", "hq")
    desk.fill("input[name=password]", "pw-for-tests-1")
    desk.click("button[type=submit]")
    desk.wait_for_url(f"{live}/store-design/")
    desk.click("#open-hq")
    desk.wait_for_url(re.compile(r".*/store-design/pages/\d+/$"))
    editor = desk.url

    desk.click("button[data-add=banner]")
    desk.fill("input[name=c0-slide0-image_url]", "/static/storefront/spring.jpg")
    desk.fill("input[name=c0-slide0-alt]", "春季横幅")
    desk.click("button[data-add=product_grid]")
    desk.fill("input[name=c1-title]", "主推好物")
    desk.fill("#picker-c1-product_ids input.picker-q", "不粘锅")
    desk.click(f'#picker-c1-product_ids [data-pick="{shop.pan.product_id}"]')
    expect(desk.locator("#picker-c1-product_ids [data-chip]")).to_have_count(1)
    desk.click("button[data-add=coupon_strip]")
    expect(desk.locator("#picker-c1-product_ids [data-chip]")).to_have_count(1)  # kept across the re-render
    desk.fill("#picker-c2-template_ids input.picker-q", "装修券")
    desk.click(f'#picker-c2-template_ids [data-pick="{coupon.pk}"]')
    desk.fill("#page-title", "春季上新")
    assert desk.evaluate("document.documentElement.scrollWidth") <= 375

    # Preview: the draft as a customer would see it, for HQ only; customers still get the plain home page.
    desk.click("#preview")
    desk.wait_for_url(re.compile(rf".*/m/{code}/preview/.+/$"))
    expect(desk.locator("[data-preview]")).to_be_visible()
    expect(desk.get_by_role("heading", name="春季上新")).to_be_visible()
    expect(desk.locator('[data-component="product_grid"]')).to_contain_text("不粘锅")
    expect(desk.locator('[data-component="coupon_strip"]')).to_contain_text("装修券满100减20")

    shopper_context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN", is_mobile=True)
    shopper: Page = shopper_context.new_page()
    shopper.on("pageerror", lambda exc: errors.append(str(exc)))
    shopper.goto(f"{live}/m/{code}/")
    expect(shopper.get_by_text("热卖商品")).to_be_visible()
    expect(shopper.get_by_text("春季上新")).to_have_count(0)

    # Publish: the customer sees the designed page.
    desk.goto(editor)
    desk.click("#publish")
    expect(desk.locator("#versions [data-version]")).to_have_count(1)
    shopper.reload()
    expect(shopper.locator(".designed")).to_have_attribute("data-version", "1")
    expect(shopper.get_by_role("heading", name="春季上新")).to_be_visible()
    expect(shopper.locator('[data-component="banner"] img')).to_have_attribute("alt", "春季横幅")
    expect(shopper.locator('[data-component="product_grid"]')).to_contain_text("不粘锅")
    expect(shopper.locator('[data-component="product_grid"]')).not_to_contain_text("抽纸")
    expect(shopper.locator('[data-component="coupon_strip"]')).to_contain_text("装修券满100减20")
    assert shopper.evaluate("document.documentElement.scrollWidth") <= 375

    # A second version, then a rollback to the first.
    desk.fill("#page-title", "夏日清凉")
    desk.click("#publish")
    expect(desk.locator("#versions [data-version]")).to_have_count(2)
    shopper.reload()
    expect(shopper.get_by_role("heading", name="夏日清凉")).to_be_visible()
    desk.click('[data-rollback="1"]')
    expect(desk.locator("#versions [data-version]")).to_have_count(3)
    shopper.reload()
    expect(shopper.get_by_role("heading", name="春季上新")).to_be_visible()
    expect(shopper.locator(".designed")).to_have_attribute("data-version", "3")
    assert errors == []
    desk_context.close()
    shopper_context.close()
