"""Flash-sale and group-buy lines through the order life cycle: flash units are taken and given back with the
order; a paid group-buy order takes a team seat, and a team that fails gets its members' orders refunded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.errors import Conflict
from siyu.core.money import Money
from siyu.orders import queries as order_queries
from siyu.orders.models import AfterSale
from siyu.orders.services import after_sale, states
from siyu.promotions import services as promotions
from siyu.promotions.models import FlashPurchase, FlashSaleItem, GroupBuyTeam
from siyu.promotions.services import FlashItemInput, FlashSaleInput, GroupBuyInput
from tests.factories import CustomerFactory
from tests.orders.helpers import Shop, later, line, paid


def test_flash_units_are_taken_and_returned_with_the_order(shop: Shop) -> None:
    sale = promotions.create_flash_sale(scope=shop.hq, data=FlashSaleInput(
        name="秒杀", starts_at=later(-10), ends_at=later(60),
        items=[FlashItemInput(sku_id=shop.pan.pk, flash_price=Money(19900), flash_stock=3, per_customer_limit=2)]))
    item = FlashSaleItem.objects.get(flash_sale=sale)
    order = shop.order(line(shop.pan, 2, flash_item_id=item.pk))
    assert (order.amount_fen, order.breakdown["lines"][0]["price_source"]) == (39800, "flash_sale")
    item.refresh_from_db()
    assert (item.sold, shop.stock(shop.pan)) == (2, 3)
    states.cancel_by_customer(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, order_id=order.pk)
    item.refresh_from_db()
    assert (item.sold, shop.stock(shop.pan)) == (0, 5)
    assert FlashPurchase.objects.get(item=item, customer=shop.customer).quantity == 0


def test_group_buy_seats_and_refunds_when_the_team_fails(shop: Shop) -> None:
    group = promotions.create_group_buy(scope=shop.hq, data=GroupBuyInput(
        name="两人团", sku_id=shop.pan.pk, group_price=Money(24900), starts_at=later(-10), ends_at=later(600),
        group_size=3, hours=2))
    leader_order = shop.order(line(shop.pan, 1, group_buy_id=group.pk))
    assert leader_order.amount_fen == 24900
    paid(shop, leader_order, "lead")
    team = GroupBuyTeam.objects.get(group_buy=group)
    assert (team.member_count, team.leader_id) == (1, shop.customer.pk)
    friend = CustomerFactory.create(enterprise=shop.org.enterprise, created_at=timezone.now())
    friend_order = shop.order(line(shop.pan, 1, group_buy_id=group.pk), customer=friend, group_team_id=team.pk)
    states.mark_paid(order_id=friend_order.pk, paid_at=timezone.now(), payment_ref="friend")
    team.refresh_from_db()
    assert team.member_count == 2  # one seat short of 3
    assert after_sale.refund_failed_group_buys(now=timezone.now() + timedelta(hours=3)) == 2
    refunds = AfterSale.objects.filter(order__in=[leader_order, friend_order])
    assert sorted(refunds.values_list("status", "amount_fen", "requested_by")) == [
        ("approved", 24900, "system"), ("approved", 24900, "system")]
    assert after_sale.refund_failed_group_buys(now=timezone.now() + timedelta(hours=4)) == 0


def test_a_group_buy_order_ships_only_once_its_team_has_formed(shop: Shop) -> None:
    group = promotions.create_group_buy(scope=shop.hq, data=GroupBuyInput(
        name="两人团", sku_id=shop.pan.pk, group_price=Money(24900), starts_at=later(-10), ends_at=later(600),
        group_size=2, hours=2))
    leader_order = paid(shop, shop.order(line(shop.pan, 1, group_buy_id=group.pk)), "lead")
    with pytest.raises(Conflict) as refused:
        states.ship_order(scope=shop.hq, order_id=leader_order.pk, carrier="顺丰", tracking_no="SF1")
    assert refused.value.code == "group_buy_not_formed"
    leader_order.refresh_from_db()
    assert (leader_order.status, leader_order.shipped_at) == ("paid", None)  # nothing written
    (ship,) = order_queries.order_actions(shop.hq, order_queries.get_order(shop.hq, leader_order.pk))
    assert ship.name == "ship" and "1" in ship.blocked and "2" in ship.blocked  # 1 of 2 in the reason

    team = GroupBuyTeam.objects.get(group_buy=group)
    friend = CustomerFactory.create(enterprise=shop.org.enterprise, created_at=timezone.now())
    friend_order = shop.order(line(shop.pan, 1, group_buy_id=group.pk), customer=friend, group_team_id=team.pk)
    paid(shop, friend_order, "friend")
    team.refresh_from_db()
    assert (team.status, team.member_count) == ("complete", 2)
    (ship,) = order_queries.order_actions(shop.hq, order_queries.get_order(shop.hq, leader_order.pk))
    assert ship.blocked == ""
    shipped = states.ship_order(scope=shop.hq, order_id=leader_order.pk, carrier="顺丰", tracking_no="SF1")
    assert shipped.status == "shipped"


def test_an_ordinary_order_is_not_held_back(shop: Shop) -> None:
    order = paid(shop, shop.order(line(shop.tissue, 1)))
    (ship,) = order_queries.order_actions(shop.hq, order_queries.get_order(shop.hq, order.pk))
    assert ship.blocked == ""
    assert states.ship_order(scope=shop.hq, order_id=order.pk).status == "shipped"
