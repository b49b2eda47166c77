"""Issue 26 in Chromium at 375 px, in Chinese. Shoppers use the storefront API over HTTP (the mini-program stand-in);
the operator uses the console on a phone:

- a group buy of two: the first shopper's paid order shows its team; the operator sees "ship" disabled with the
  team's state (拼团中 1/2); a second shopper finds the open team and joins it; the team forms and the operator ships;
- a coupon claimed from the storefront's coupon centre shows on the customer's profile as claimed (已领取).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from simulator.server import SimulatorServer
from siyu.catalog.models import Sku
from siyu.channels.models import ChannelAccount
from siyu.core.money import Money
from siyu.orders.models import Order
from siyu.orders.services import states
from siyu.org.scope import scope_for_staff
from siyu.promotions import services as promotions
from tests.browser.test_storefront_flow import _mall_login, mall, mp_platform  # noqa: F401  (fixtures)
from tests.catalog.helpers import product, sku
from tests.conftest import Org
from tests.orders.helpers import ADDRESS, later

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _phone_console(browser: Any, base: str, then: str) -> tuple[Any, Page]:
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login/?next={then}")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")
    return context, page


def _group_order(api: httpx.Client, sku_id: int, group_buy_id: int, team_id: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"lines": [{"sku_id": sku_id, "quantity": 1, "group_buy_id": group_buy_id}],
                            "address": ADDRESS}
    if team_id is not None:
        body["group_team_id"] = team_id
    placed = api.post("/api/storefront/orders", json=body, headers={"Idempotency-Key": f"gb-{team_id}"})
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    states.mark_paid(order_id=order["id"], paid_at=timezone.now(), payment_ref=f"wx-{order['id']}")  # Pay's part
    mine: dict[str, Any] = api.get(f"/api/storefront/orders/{order['id']}").json()
    return mine


def test_a_group_buy_ships_only_after_a_second_shopper_joins(
    browser: Any, live_server: Any, org: Org, mall: ChannelAccount, mp_platform: SimulatorServer,  # noqa: F811
) -> None:
    hq = scope_for_staff(org.hq)
    pan = Sku.objects.get(product=product(hq, "不粘锅", sku("PAN-28", 29900, stock=10)))
    group = promotions.create_group_buy(scope=hq, data=promotions.GroupBuyInput(
        name="两人团", sku_id=pan.pk, group_price=Money(24900), starts_at=later(-10), ends_at=later(600)))
    base = live_server.url
    with httpx.Client(base_url=base, timeout=15) as alice, httpx.Client(base_url=base, timeout=15) as bob:
        _mall_login(alice, mp_platform, "alice-gb")
        first = _group_order(alice, pan.pk, group.pk)
        team = first["group_team"]
        assert (team["status"], team["member_count"], team["seats_left"]) == ("open", 1, 1)

        context, page = _phone_console(browser, base, f"/orders/{first['id']}/")
        blocked = page.locator('#order-actions [data-blocked="ship"]')
        expect(blocked.locator("button")).to_be_disabled()
        expect(blocked).to_contain_text("拼团中（1/2 人）")
        expect(page.locator('#order-actions button[data-action="ship"]')).to_have_count(0)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

        _mall_login(bob, mp_platform, "bob-gb")
        teams = bob.get(f"/api/storefront/group-buys/{group.pk}/teams").json()
        assert [t["team_id"] for t in teams] == [team["team_id"]]
        second = _group_order(bob, pan.pk, group.pk, team_id=team["team_id"])
        assert (second["group_team"]["team_id"], second["group_team"]["status"]) == (team["team_id"], "complete")

    page.reload()
    expect(page.locator('#order-actions [data-blocked="ship"]')).to_have_count(0)
    page.fill("#order-actions input[name=carrier]", "顺丰")
    page.fill("#order-actions input[name=tracking_no]", "SF100200")
    page.click('#order-actions button[data-action="ship"]')
    expect(page.locator("#order-status")).to_have_text("已发货")
    assert Order.objects.values_list("status", "tracking_no").get(pk=first["id"]) == ("shipped", "SF100200")
    context.close()


def test_a_coupon_claimed_in_the_mall_shows_on_the_profile(
    browser: Any, live_server: Any, org: Org, mall: ChannelAccount, mp_platform: SimulatorServer,  # noqa: F811
) -> None:
    template = promotions.create_coupon_template(scope=scope_for_staff(org.hq), data=promotions.CouponTemplateInput(
        name="新人5元券", kind="fixed", amount_off=Money(500), valid_days=7, claimable=True, total_stock=100))
    base = live_server.url
    with httpx.Client(base_url=base, timeout=15) as api:
        customer_id = _mall_login(api, mp_platform, "claimer")
        centre = api.get("/api/storefront/coupon-centre").json()
        assert [(c["template_id"], c["can_claim"]) for c in centre] == [(template.pk, True)]
        claimed = api.post(f"/api/storefront/coupon-centre/{template.pk}/claim", json={},
                           headers={"Idempotency-Key": "claim-tap-1"})
        assert claimed.status_code == 201, claimed.text

    context, page = _phone_console(browser, base, f"/customers/{customer_id}/")
    row = page.locator(f'#profile-coupons tr[data-coupon-id="{claimed.json()["id"]}"]')
    expect(row).to_contain_text("新人5元券")
    expect(row).to_contain_text("已领取")
    expect(row).to_contain_text("可使用")
    expect(page.locator('#timeline li[data-event="coupon_issued"]')).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # The audit log on the same phone: filter by object type (named in Chinese) and id, and the claim is there.
    page.goto(f"{base}/audit/")
    page.select_option("select[name=target_type]", label="优惠券")
    page.fill("input[name=target_id]", str(claimed.json()["id"]))
    page.click("form.card button[type=submit]")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    expect(page.locator("#audit-table tbody tr")).to_contain_text("coupon.claim")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    context.close()
