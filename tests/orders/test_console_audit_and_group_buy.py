"""The operator's side of manual payments and group buys: a payment recorded by hand is in the audit log with its
reason, found by the order it was done to; a group-buy order's ship action is shown disabled with the team's state
until the team forms."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.utils import timezone

from siyu.core.money import Money
from siyu.orders.services import states
from siyu.promotions import services as promotions
from siyu.promotions.models import GroupBuyTeam
from siyu.promotions.services import GroupBuyInput
from tests.factories import CustomerFactory
from tests.orders.helpers import Shop, later, line, paid


def _client(user: Any, language: str = "en") -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = language
    return client


def test_a_manual_payment_is_audited_with_its_reason_and_found_by_its_order(shop: Shop) -> None:
    hq = _client(shop.org.hq.user)
    cash, other = shop.order(line(shop.tissue, 1)), shop.order(line(shop.tissue, 2))
    refused = hq.post(f"/orders/{cash.pk}/mark_paid/", {"reason": "  "}, follow=True)
    assert refused.status_code == 200 and states.Order.objects.get(pk=cash.pk).status == "pending_payment"
    hq.post(f"/orders/{cash.pk}/mark_paid/", {"reason": "门店现金收款"})
    hq.post(f"/orders/{other.pk}/mark_paid/", {"reason": "对公转账"})

    page = hq.get("/audit/", {"target_type": "order", "target_id": str(cash.pk)}).content.decode()
    table = page[page.index('id="audit-table"'):]
    assert "门店现金收款" in table and "对公转账" not in table
    assert "Offline payment recorded" in table  # the action by name, the raw action only beneath it
    assert table.count("<tr>") == 2  # the header and the one payment
    both = hq.get("/audit/", {"action": "order.offline_payment"}).content.decode()
    assert "门店现金收款" in both and "对公转账" in both
    options = page[page.index('name="target_type"'):page.index("</select>", page.index('name="target_type"'))]
    assert '<option value="order" selected>Order</option>' in options  # types by name, not raw values
    assert _client(shop.org.n1_manager.user).get("/audit/").status_code == 403


def test_the_ship_action_waits_for_the_team_in_chinese(shop: Shop) -> None:
    group = promotions.create_group_buy(scope=shop.hq, data=GroupBuyInput(
        name="两人团", sku_id=shop.pan.pk, group_price=Money(24900), starts_at=later(-10), ends_at=later(600)))
    order = paid(shop, shop.order(line(shop.pan, 1, group_buy_id=group.pk)), "lead")
    hq = _client(shop.org.hq.user, "zh-hans")
    page = hq.get(f"/orders/{order.pk}/").content.decode()
    blocked = page[page.index('data-blocked="ship"'):]
    assert "disabled" in blocked[:200] and "拼团中" in blocked and 'data-action="ship"' not in page
    refused = hq.post(f"/orders/{order.pk}/ship/", {"carrier": "SF", "tracking_no": "SF1"}, follow=True)
    assert refused.status_code == 200 and states.Order.objects.get(pk=order.pk).status == "paid"

    friend = CustomerFactory.create(enterprise=shop.org.enterprise, created_at=timezone.now())
    team = GroupBuyTeam.objects.get()
    paid(shop, shop.order(line(shop.pan, 1, group_buy_id=group.pk), customer=friend, group_team_id=team.pk), "f")
    page = hq.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-blocked="ship"' not in page and 'data-action="ship"' in page
