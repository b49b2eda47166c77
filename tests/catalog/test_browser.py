"""The catalog and promotions console in Chromium: create a product (SKU rows, yuan prices) and a coupon template,
then check the editors fit a 375 px phone screen."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from siyu.catalog.models import Product, Sku
from siyu.promotions.models import CouponTemplate
from tests.conftest import Org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chromium(browser: Any) -> Any:
    return browser


def test_create_a_product_and_a_coupon_in_the_console(chromium: Any, live_server: Any, org: Org,
                                                      tmp_path: Path) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/?next=/catalog/categories/")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/catalog/categories/")

    page.fill("#category-form input[name=name]", "个护美妆")
    page.click("#category-form button[type=submit]")
    page.wait_for_url(f"{base}/catalog/categories/")
    page.fill("#category-form input[name=name]", "护肤")
    page.select_option("#category-form select[name=parent]", label="个护美妆")
    page.click("#category-form button[type=submit]")
    expect(page.locator("#category-tree")).to_contain_text("护肤")

    page.goto(f"{base}/catalog/products/new/")
    page.fill("input[name=name]", "玻尿酸精华")
    page.select_option("select[name=category]", label="个护美妆 / 护肤")
    page.select_option("select[name=status]", "on_sale")
    page.fill("input[name=sku-0-code]", "HA-30")
    page.fill("input[name=sku-0-specs]", "容量:30ml")
    page.fill("input[name=sku-0-price]", "299")
    page.fill("input[name=sku-0-member_price]", "269.00")
    page.fill("input[name=sku-0-stock]", "40")
    page.fill("input[name=sku-1-code]", "HA-50")
    page.fill("input[name=sku-1-specs]", "容量:50ml")
    page.fill("input[name=sku-1-price]", "459.9")
    page.fill("input[name=sku-1-stock]", "12")
    page.click("#save-product")
    page.wait_for_url(f"{base}/catalog/products/*/")
    product = Product.objects.get(name="玻尿酸精华")
    assert sorted(Sku.objects.filter(product=product).values_list("code", "price_fen", "member_price_fen")) == [
        ("HA-30", 29900, 26900), ("HA-50", 45990, None)]
    page.goto(f"{base}/catalog/?q=玻尿酸")
    expect(page.locator("#product-table tbody tr")).to_have_count(1)
    expect(page.locator("#product-table")).to_contain_text("¥299.00")

    page.goto(f"{base}/promotions/coupons/new/")
    page.fill("input[name=name]", "护肤满300减30")
    page.select_option("select[name=kind]", "threshold")
    page.fill("input[name=amount_off]", "30")
    page.fill("input[name=threshold]", "300")
    page.fill("input[name=valid_days]", "14")
    page.click("#save-coupon")
    page.wait_for_url(f"{base}/promotions/coupons/*/")
    template = CouponTemplate.objects.get(name="护肤满300减30")
    assert (template.amount_off_fen, template.threshold_fen, template.valid_days) == (3000, 30000, 14)
    state = context.storage_state()
    context.close()

    phone = chromium.new_context(viewport={"width": 375, "height": 812}, storage_state=state)
    mobile = phone.new_page()
    for path in (f"/catalog/products/{product.pk}/", "/catalog/", f"/promotions/coupons/{template.pk}/",
                 "/promotions/"):
        mobile.goto(f"{base}{path}")
        assert mobile.evaluate("document.documentElement.scrollWidth") <= 375, path
    shot = Path(os.environ.get("SIYU_SHOT_DIR", str(tmp_path))) / "product-375.png"
    mobile.goto(f"{base}/catalog/products/{product.pk}/")
    mobile.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    phone.close()
