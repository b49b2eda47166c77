from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from siyu.customers import services
from siyu.customers.services import IdentityInput
from tests.conftest import Org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Page, base: str, then: str) -> None:
    page.goto(f"{base}/login/?next={then}")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")


def test_filter_by_tag_open_profile_and_phone_width(
    browser: Any, live_server: Any, org: Org, tmp_path: Path
) -> None:
    ent = org.enterprise.pk
    now = timezone.now()
    ada = services.create_customer(
        enterprise_id=ent, name="艾达", created_source="wecom", created_at=now,
        identities=[IdentityInput(kind="wecom_external_userid", value="wmBrowserAda01")],
    )
    bob = services.create_customer(enterprise_id=ent, name="鲍勃", created_source="official_account", created_at=now)
    cai = services.create_customer(enterprise_id=ent, name="蔡琳", created_source="store", created_at=now)
    services.add_relationship(customer=ada, staff=org.n1_staff, added_at=now, state="poster_browser")
    group = services.create_tag_group(enterprise_id=ent, name="价值")
    vip = services.create_tag(group=group, name="高价值")
    services.create_tag(group=group, name="新客")
    services.tag_customers(enterprise_id=ent, customer_ids=[ada.pk, cai.pk], tag_ids=[vip.pk])

    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, base, "/customers/")
    rows = page.locator("#customer-table tbody tr")
    expect(rows).to_have_count(3)
    page.select_option("#id_tag", str(vip.pk))  # htmx swaps the results in place
    expect(rows).to_have_count(2)
    shown = {int(rows.nth(i).get_attribute("data-customer-id") or 0) for i in range(2)}
    assert shown == {ada.pk, cai.pk}
    assert f"tag={vip.pk}" in page.url  # the filter is in the address bar (hx-push-url)
    assert "鲍勃" not in page.locator("#results").inner_text()
    assert bob.pk not in shown

    page.click(f'tr[data-customer-id="{ada.pk}"] a.cust')
    page.wait_for_url(f"{base}/customers/{ada.pk}/")
    expect(page.locator("#identities")).to_contain_text("wmBrowserAda01")
    expect(page.locator("#relationships")).to_contain_text("poster_browser")
    expect(page.locator('#timeline li[data-event="customer_created"]')).to_contain_text("成为客户")
    expect(page.locator('#timeline li[data-event="tag_added"]')).to_contain_text("高价值")

    page.select_option("#add-tag select[name=tag]", label="新客")
    page.click("#add-tag button[type=submit]")
    expect(page.locator("#tags .tag-chip")).to_have_count(2)
    expect(page.locator(".messages")).to_contain_text("已添加标签“新客”")
    state = context.storage_state()
    context.close()

    phone = browser.new_context(viewport={"width": 375, "height": 812}, storage_state=state)
    mobile = phone.new_page()
    mobile.goto(f"{base}/customers/")
    expect(mobile.locator("#customer-table tbody tr")).to_have_count(3)
    shot = tmp_path / "customers-375.png"
    mobile.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 375
    phone.close()
