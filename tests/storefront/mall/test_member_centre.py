"""The mall's member centre (/m/<brand>/me/), through the test client as a phone's browser.

Hand-made figures: a points programme whose lots last 365 days; HQ adjusts 200 points in 360 days ago (they expire in
5 days, inside the 30-day warning) and 100 today. Check-in gives 5 a day and 10 more on the second day running.
Tiers count points earned from orders and rewards (not adjustments) over 365 days: 银卡 from 5, 金卡 from 100.
Checked in yesterday (5) and today (5 + 10): balance 200 + 100 + 5 + 15 = 320, tier value 20, so 银卡, 80 to 金卡 (20%).
The plan: PLUS 年卡 ¥299 for 365 days, points ×1.5, 95 % of list and free shipping: a member's tissue (¥19.90, no
member price of its own) costs 1,990 × 95 % = 1,890.5 → ¥18.90 and ships free (¥10.00 otherwise), so one order
saves ¥1.00 + ¥10.00 = ¥11.00."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.core.timeutil import local_day
from siyu.customers.models import Customer
from siyu.loyalty import queries, services
from siyu.loyalty.models import CheckIn, MembershipPlan, MembershipPurchase
from siyu.orders.models import Order
from siyu.orders.services import states
from tests.conftest import Org
from tests.orders.helpers import Shop
from tests.storefront.mall.conftest import Platforms, base, sms_sign_in

pytestmark = pytest.mark.django_db
PHONE = "13700002222"


def _loyalty(shop: Shop) -> None:
    services.configure_program(scope=shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=7, expiry_days=365))
    services.configure_check_in(scope=shop.hq, is_active=True, daily_points=5,
                                bonuses=(services.StreakBonus(day=2, points=10),))
    services.configure_tiers(scope=shop.hq, data=services.TierPolicyInput(
        basis="points", window_days=365, grace_days=30,
        tiers=(services.TierInput(code="silver", name="银卡", threshold=5),
               services.TierInput(code="gold", name="金卡", threshold=100))))
    services.save_plan(scope=shop.hq, data=services.PlanInput(
        code="plus", name="PLUS 年卡", price_fen=29_900, period_days=365, points_multiplier_percent=150,
        member_price_percent=95, free_shipping=True))


def _first(pattern: str, html: str) -> str:
    found = re.search(pattern, html)
    assert found, f"{pattern} not on the page"
    return found.group(1)


def _signed_in(client: Client, org: Org, platforms: Platforms) -> Customer:
    assert sms_sign_in(client, org, platforms, PHONE).status_code == 302
    return Customer.objects.get(enterprise=org.enterprise, phone=PHONE)


def test_the_centre_shows_points_lots_tier_and_check_in_and_a_day_checks_in_once(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms,
) -> None:
    _loyalty(mall_shop)
    me = _signed_in(client, org, platforms)
    now = timezone.now()
    services.adjust(scope=mall_shop.hq, customer_id=me.pk, points=200, reason="迁移旧积分", key="old",
                    now=now - timedelta(days=360))
    services.adjust(scope=mall_shop.hq, customer_id=me.pk, points=100, reason="开卡礼", key="new", now=now)
    services.check_in(enterprise_id=org.enterprise.pk, customer_id=me.pk, now=now - timedelta(days=1))

    page = client.get(f"{base(org)}/me/")
    html = page.content.decode()
    assert page.status_code == 200
    assert re.search(r'id="points-balance">305<', html)  # 200 + 100 + 5
    assert re.search(r'id="points-expiring">200 积分将在 30 天内到期', html)
    lots = re.findall(r"<tr><td>(\d+)</td><td>([\d-]+)</td></tr>", html)
    # a lot counts through the Shanghai day `expiry_days` after it became available, soonest first
    day = local_day(now)
    assert lots == [("200", (day - timedelta(days=360) + timedelta(days=365)).isoformat()),
                    ("5", (day - timedelta(days=1) + timedelta(days=365)).isoformat()),
                    ("100", (day + timedelta(days=365)).isoformat())]
    assert "签到 +15 积分" in html  # day two of the streak: 5 + 10

    first = client.post(f"{base(org)}/me/check-in/")
    again = client.post(f"{base(org)}/me/check-in/")
    assert (first.status_code, again.status_code) == (302, 302)
    assert first["Location"].endswith("?checked=new") and again["Location"].endswith("?checked=again")
    assert CheckIn.objects.filter(customer=me).count() == 2  # yesterday and today, today once

    after = client.get(f"{base(org)}/me/?checked=new").content.decode()
    assert "签到成功" in after
    assert re.search(r'id="points-balance">320<', after)
    assert re.search(r'id="streak">2<', after)
    assert re.search(r'<h2 id="tier-h">银卡</h2>', after) and re.search(r'id="tier-value">20<', after)
    assert "再获得 80 积分升级为 金卡" in after and 'aria-valuenow="20"' in after
    today, yesterday = local_day(now), local_day(now - timedelta(days=1))
    expected_on = len({d for d in (today, yesterday) if d.month == today.month})
    assert after.count('class="on"') == expected_on
    assert "今日已签到，明天签到可得 5 积分" in after  # tomorrow is day three: no bonus for it


def test_a_plan_is_bought_once_per_form_paid_like_an_order_and_then_shown(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms,
) -> None:
    _loyalty(mall_shop)
    me = _signed_in(client, org, platforms)
    page = client.get(f"{base(org)}/me/")
    html = page.content.decode()
    assert "还不是付费会员" in html
    assert "会员价 · 全场 9.5 折起 · 下单包邮 · 积分 1.5 倍" in html and "开通 ¥299.00" in html
    plan_id = int(_first(r"/me/plans/(\d+)/buy/", html))
    key = _first(r'name="form_key" value="([0-9a-f]{32})"', html)

    answers = [client.post(f"{base(org)}/me/plans/{plan_id}/buy/", {"form_key": key}) for _ in range(2)]
    order = Order.objects.get(customer=me)
    assert [a.status_code for a in answers] == [302, 302]
    assert {a["Location"] for a in answers} == {f"{base(org)}/orders/{order.pk}/"}
    assert MembershipPurchase.objects.filter(customer=me).count() == 1
    assert (order.status, order.amount_fen, order.shipping_fen) == ("pending_payment", 29_900, 0)
    assert "微信支付 ¥299.00" in client.get(f"{base(org)}/orders/{order.pk}/").content.decode()

    paid_at = timezone.now()
    states.mark_paid(order_id=order.pk, paid_at=paid_at, payment_ref="wx-plus-1")
    shown = client.get(f"{base(org)}/me/").content.decode()
    ends = local_day(paid_at + timedelta(days=365)).isoformat()
    assert re.search(rf"PLUS 年卡</strong> · 有效期至 {ends}（剩余 365 天）", shown)
    assert "续费 ¥299.00" in shown
    paid_page = client.get(f"{base(org)}/orders/{order.pk}/").content.decode()
    assert "查看会员权益" in paid_page and "申请售后" not in paid_page
    assert 'id="plus-savings"' not in shown  # nothing bought as a member yet

    # the benefits are the checkout's: 95 % of the tissue's list price, no shipping fee
    client.post(f"{base(org)}/products/{mall_shop.tissue.product_id}/", {"sku_id": mall_shop.tissue.pk,
                                                                         "quantity": 1, "then": "cart"})
    checkout = client.get(f"{base(org)}/checkout/").content.decode()
    assert re.search(r'id="payable">¥18.90<', checkout) and "再买" not in checkout
    key = _first(r'name="form_key" value="([0-9a-f]{32})"', checkout)
    address = {"name": "张三", "phone": "13800138000", "region": "上海市 静安区", "detail": "南京西路1号"}
    assert client.post(f"{base(org)}/checkout/", {"form_key": key, **address}).status_code == 302
    goods = Order.objects.filter(customer=me).exclude(pk=order.pk).get()
    assert (goods.amount_fen, goods.shipping_fen) == (1_890, 0)
    states.mark_paid(order_id=goods.pk, paid_at=timezone.now(), payment_ref="wx-goods-1")
    saved = client.get(f"{base(org)}/me/").content.decode()
    assert "开通以来已省 <strong>¥11.00</strong>（会员价省 ¥1.00，免运费 ¥10.00，1 单）" in saved


def test_bad_input_and_strangers_write_nothing(client: Client, org: Org, mall_shop: Shop,
                                               platforms: Platforms) -> None:
    _loyalty(mall_shop)
    away = client.get(f"{base(org)}/me/")
    assert away.status_code == 302 and "/login/" in away["Location"]
    assert client.post(f"{base(org)}/me/check-in/").status_code == 302  # to the sign-in page
    assert not CheckIn.objects.exists()
    me = _signed_in(client, org, platforms)
    plan_id = MembershipPlan.objects.get(enterprise=org.enterprise).pk
    forged = client.post(f"{base(org)}/me/plans/{plan_id}/buy/", {"form_key": "not-a-key"})
    missing = client.post(f"{base(org)}/me/plans/{plan_id + 999}/buy/", {"form_key": "a" * 32})
    assert (forged.status_code, missing.status_code) == (422, 404)
    assert client.get(f"{base(org)}/me/check-in/").status_code == 405
    assert not MembershipPurchase.objects.exists() and not Order.objects.filter(customer=me).exists()


def test_check_in_closed_is_said_not_offered(client: Client, org: Org, mall_shop: Shop, platforms: Platforms) -> None:
    _signed_in(client, org, platforms)  # no programme, no rules, no tiers, no plans
    html = client.get(f"{base(org)}/me/").content.decode()
    assert "签到暂未开放" in html and "会员等级暂未开放" in html and 'id="check-in"' not in html
    closed = client.post(f"{base(org)}/me/check-in/")
    assert closed.status_code == 409 and not CheckIn.objects.exists()


def test_points_pay_part_of_a_checkout_by_a_tick_never_by_a_figure_from_the_form(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms,
) -> None:
    """500 points held, 100 points a yuan, at most 50 % of the goods. One tissue ¥19.90 (shipping ¥10 under ¥99):
    the cap is 995 fen, 500 points pay 500 fen, so 500 are used and ¥19.90 − ¥5.00 + ¥10.00 = ¥24.90 is paid."""
    services.configure_program(scope=mall_shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=7, expiry_days=365, checkout_points_per_yuan=100,
        checkout_max_percent=50))
    me = _signed_in(client, org, platforms)
    services.adjust(scope=mall_shop.hq, customer_id=me.pk, points=500, reason="开卡礼", key="gift")
    client.post(f"{base(org)}/products/{mall_shop.tissue.product_id}/", {"sku_id": mall_shop.tissue.pk,
                                                                         "quantity": 1, "then": "cart"})
    plain = client.get(f"{base(org)}/checkout/").content.decode()
    assert re.search(r'id="points-held">500<', plain) and 'id="points-off"' not in plain
    assert re.search(r'id="payable">¥29.90<', plain)
    assert "再买 ¥79.10 包邮" in plain and "threshold_not_met" not in plain  # free over ¥99: 9,900 − 1,990
    ticked = client.get(f"{base(org)}/checkout/", {"use_points": "1"}).content.decode()
    assert re.search(r"积分抵扣（500 积分）</dt><dd id=\"points-off\">−¥5.00<", ticked)
    assert re.search(r'id="payable">¥24.90<', ticked)

    key = _first(r'name="form_key" value="([0-9a-f]{32})"', ticked)
    address = {"name": "张三", "phone": "13800138000", "region": "上海市 静安区", "detail": "南京西路1号"}
    placed = client.post(f"{base(org)}/checkout/", {"form_key": key, "use_points": "1", "points": "99999",
                                                    **address})
    assert placed.status_code == 302
    order = Order.objects.get(customer=me)
    assert (order.amount_fen, order.breakdown["points_used"]) == (2_490, 500)
    assert queries.balance(org.enterprise.pk, me.pk) == 0  # all 500 used; the form's points=99999 never read
    assert "积分抵扣（500 积分）" in client.get(f"{base(org)}/orders/{order.pk}/").content.decode()
