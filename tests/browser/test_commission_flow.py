"""On a phone (375 px): HQ adds a commission rule in the console; an order carried by a store staff member's shared
link is paid; the staff member signs in and finds the sale and the commission on their own monthly statement (and
nobody else's), and HQ settles nothing before the month is over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from siyu.finance import services
from siyu.orders.services.placement import Attribution
from siyu.storefront.services import checkout
from tests.conftest import Org
from tests.orders.helpers import build_shop, line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Page, base: str, username: str, then: str) -> None:
    page.goto(f"{base}/login/?next={then}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")


def test_a_rule_added_on_a_phone_shows_on_the_staff_members_statement(browser: Any, live_server: Any, org: Org,
                                                                      tmp_path: Path) -> None:
    shop = build_shop(org)
    base = live_server.url
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, "hq", "/finance/commissions/rules/")
    page.fill("#rule-form input[name=name]", "纸品 10%")
    page.select_option("#rule-form select[name=target]", "category")
    page.fill("#rule-form input[name=category_id]", str(shop.tissue.product.category_id))
    page.select_option("#rule-form select[name=basis]", "percent")
    page.fill("#rule-form input[name=amount]", "10")
    page.fill("#rule-form input[name=valid_from]", "2020-01-01")
    page.click("#rule-form button.btn-primary")
    expect(page.locator("#commission-rules tbody tr")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380, f"the rules page overflows a phone screen ({width}px)"

    data = shop.checkout(line(shop.tissue, 2), line(shop.pan, 1),
                         attribution=Attribution(staff_id=org.n1_staff.pk))
    order = checkout.place_order(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, data=data)
    services.record_offline_payment(scope=shop.hq, order_id=order.pk, reason="现金", now=timezone.now())

    staff_page = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN").new_page()
    assert org.n1_staff.user is not None
    sign_in(staff_page, base, org.n1_staff.user.get_username(), "/finance/commissions/statements/")
    row = staff_page.locator(f'#staff-statements tr[data-staff-id="{org.n1_staff.pk}"]')
    # tissue 2 x ¥19.90 = ¥39.80 at 10% = ¥3.98; the pan has no rule; net sales ¥338.80
    expect(row.locator('[data-figure="net_commission"]')).to_have_text("¥3.98")
    expect(row.locator('[data-figure="net_sales"]')).to_have_text("¥338.80")
    expect(staff_page.locator("#staff-statements tbody tr")).to_have_count(1)
    expect(staff_page.locator("#store-statements")).to_have_count(0)  # store statements are for managers
    staff_page.screenshot(path=str(tmp_path / "statement-375.png"), full_page=True)
    width = staff_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380, f"the statement overflows a phone screen ({width}px)"

    page.goto(f"{base}/finance/commissions/statements/")
    store = page.locator(f'#store-statements tr[data-store-id="{org.store_n1.pk}"]')
    expect(store.locator('[data-figure="receivable"]')).to_have_text("¥338.80")
    expect(store.locator('[data-figure="settled"] button')).to_have_count(0)  # this month is not over yet
    context.close()
