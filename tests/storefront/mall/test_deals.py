"""Presale (预售) and group-buy (拼团) pages in the mall: a list and a detail page each; a deposit put down and a team
opened / joined through the orders app's services (once per form), and the order's page showing the stage: the
deposit and the balance, or the team and how many have joined."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from siyu.core.money import Money
from siyu.customers.models import Customer
from siyu.orders.models import Order
from siyu.orders.services import presale, states
from siyu.promotions import services as promotions
from tests.conftest import Org
from tests.orders.helpers import Shop
from tests.storefront.mall.conftest import Platforms, base, sms_sign_in

pytestmark = pytest.mark.django_db
ADDRESS = {"name": "王五", "phone": "13800001111", "region": "上海市 徐汇区", "detail": "漕溪北路 88 号"}


def _signed_in(org: Org, platforms: Platforms, phone: str) -> tuple[Client, Customer]:
    client = Client()
    assert sms_sign_in(client, org, platforms, phone).status_code == 302
    return client, Customer.objects.get(enterprise=org.enterprise, phone=phone)


def _form_key(html: str) -> str:
    found = re.search(r'name="form_key" value="([0-9a-f]{32})"', html)
    assert found is not None
    return found.group(1)


def _presale(shop: Shop) -> Any:
    now = timezone.now()
    return presale.create_presale(scope=shop.hq, data=presale.PresaleInput(
        name="新款锅预售", sku_id=shop.pan.pk, price_fen=25900, deposit_fen=5000,
        deposit_starts_at=now - timedelta(hours=1),
        deposit_ends_at=now + timedelta(days=2), balance_starts_at=now + timedelta(days=2),
        balance_ends_at=now + timedelta(days=4), per_customer_limit=2))


def test_a_deposit_is_put_down_once_per_form_and_the_order_shows_the_stages(
        org: Org, mall_shop: Shop, platforms: Platforms) -> None:
    sale = _presale(mall_shop)
    listed = Client().get(f"{base(org)}/presales/").content.decode()
    assert "新款锅预售" in listed and "¥259.00" in listed and "定金 ¥50.00" in listed
    client, me = _signed_in(org, platforms, "13700003333")
    url = f"{base(org)}/presales/{sale.pk}/"
    page = client.get(url).content.decode()
    assert "¥209.00" in page  # the balance: 259 - 50
    form = {"form_key": _form_key(page), "quantity": "2", **ADDRESS}
    first, again = client.post(url, form), client.post(url, form)
    assert first.status_code == 302 and again["Location"] == first["Location"]
    order = Order.objects.get(customer=me)
    assert (order.kind, order.deposit_fen, order.amount_fen) == ("presale", 10000, 51800)
    shown = client.get(first["Location"]).content.decode()
    assert "支付定金 ¥100.00" in shown and "尾款 ¥418.00" in shown

    states.mark_paid(order_id=order.pk, paid_at=timezone.now(), payment_ref="dep-1")
    shown = client.get(first["Location"]).content.decode()
    assert 'id="pay-balance"' in shown and "支付尾款 ¥418.00" in shown and "定金 ¥100.00（已付）" in shown


def test_a_deposit_over_the_limit_or_without_address_is_refused_with_its_field(
        org: Org, mall_shop: Shop, platforms: Platforms) -> None:
    sale = _presale(mall_shop)
    client, me = _signed_in(org, platforms, "13700004444")
    url = f"{base(org)}/presales/{sale.pk}/"
    key = _form_key(client.get(url).content.decode())
    over = client.post(url, {"form_key": key, "quantity": "3", **ADDRESS})
    assert over.status_code in (409, 422) and 'role="alert"' in over.content.decode()
    bare = client.post(url, {"form_key": key, "quantity": "1"})
    assert bare.status_code == 422 and 'data-code="address_required"' in bare.content.decode()
    assert not Order.objects.filter(customer=me).exists()
    assert Client().get(f"{base(org)}/presales/987654/").status_code == 404


def test_a_team_is_opened_and_joined_and_the_orders_show_it(org: Org, mall_shop: Shop, platforms: Platforms) -> None:
    now = timezone.now()
    group = promotions.create_group_buy(scope=mall_shop.hq, data=promotions.GroupBuyInput(
        name="三人团抽纸", sku_id=mall_shop.tissue.pk, group_price=Money(1290), starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1), group_size=3))
    assert "三人团抽纸" in Client().get(f"{base(org)}/group-buys/").content.decode()
    url = f"{base(org)}/group-buys/{group.pk}/"
    leader_client, leader = _signed_in(org, platforms, "13700005555")
    opened = leader_client.post(url, {"form_key": _form_key(leader_client.get(url).content.decode()), **ADDRESS})
    assert opened.status_code == 302, opened.content.decode()[:2000]
    lead_order = Order.objects.get(customer=leader)
    line = lead_order.lines.get()
    # ¥12.90 at the group price, plus ¥10 shipping under the ¥99 free-shipping line
    assert (line.group_buy_id, line.unit_price_fen, lead_order.amount_fen) == (group.pk, 1290, 2290)
    states.mark_paid(order_id=lead_order.pk, paid_at=timezone.now(), payment_ref="g-1")
    shown = leader_client.get(opened["Location"]).content.decode()
    assert 'data-team-status="open"' in shown and "1/3 人" in shown

    friend_client, friend = _signed_in(org, platforms, "13700006666")
    page = friend_client.get(url).content.decode()
    team = re.search(r'name="team_id" value="(\d+)"', page)
    assert team is not None and "已有 1/3 人" in page
    closed = friend_client.post(url, {"form_key": _form_key(page), "team_id": "987654", **ADDRESS})
    assert closed.status_code == 422 and 'data-code="team_closed"' in closed.content.decode()
    joined = friend_client.post(url, {"form_key": _form_key(page), "team_id": team.group(1), **ADDRESS})
    assert joined.status_code == 302
    friend_order = Order.objects.get(customer=friend)
    states.mark_paid(order_id=friend_order.pk, paid_at=timezone.now(), payment_ref="g-2")
    assert "2/3 人" in leader_client.get(opened["Location"]).content.decode()
    assert friend_client.get(f"{base(org)}/orders/{lead_order.pk}/").status_code == 404  # not theirs
