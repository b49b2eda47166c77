from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.catalog.models import Sku
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.money import Money
from siyu.customers.models import Customer, Event
from siyu.customers.services import merge_customers
from siyu.org.scope import Scope, scope_for_staff
from siyu.promotions import services
from siyu.promotions.models import FlashPurchase, FlashSale, FlashSaleItem, GroupBuy, GroupBuyTeam
from siyu.promotions.services import FlashItemInput, FlashReservation, FlashSaleInput, GroupBuyInput
from tests.catalog.helpers import product, sku
from tests.conftest import Org
from tests.factories import CustomerFactory

NOW = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def hq(org: Org) -> Scope:
    return scope_for_staff(org.hq)


@pytest.fixture
def phone(hq: Scope) -> Sku:
    return Sku.objects.get(product=product(hq, "电动牙刷", sku("TB-1", 29900, 26900, stock=500)))


def _sale(hq: Scope, target: Sku, *, stock: int = 10, limit: int = 2, start: datetime = NOW - timedelta(hours=1),
          hours: int = 2) -> FlashSaleItem:
    sale = services.create_flash_sale(scope=hq, data=FlashSaleInput(
        name="618 秒杀", starts_at=start, ends_at=start + timedelta(hours=hours),
        items=[FlashItemInput(sku_id=target.pk, flash_price=Money(9900), flash_stock=stock, per_customer_limit=limit)],
    ))
    return FlashSaleItem.objects.get(flash_sale=sale)


def _customers(org: Org, n: int) -> list[Customer]:
    return [CustomerFactory.create(enterprise=org.enterprise) for _ in range(n)]


# ---------------------------------------------------------------------------------------------------------------
# Flash sales


@pytest.mark.parametrize(
    ("price", "stock", "code", "field"),
    [
        (29900, 10, "flash_price_not_lower", "items[0].flash_price"),
        (-1, 10, "negative_price", "items[0].flash_price"),
        (9900, 0, "invalid_stock", "items[0].flash_stock"),
    ],
)
def test_bad_flash_sales(hq: Scope, phone: Sku, price: int, stock: int, code: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        services.create_flash_sale(scope=hq, data=FlashSaleInput(
            name="x", starts_at=NOW, ends_at=NOW + timedelta(hours=1),
            items=[FlashItemInput(sku_id=phone.pk, flash_price=Money(price), flash_stock=stock)]))
    assert (info.value.code, info.value.field) == (code, field)
    assert FlashSale.objects.count() == 0


def test_a_flash_sale_promises_no_more_than_the_stock_unless_told_to_oversell(hq: Scope, phone: Sku) -> None:
    def sale(flash_stock: int, **kwargs: bool) -> FlashSaleInput:
        return FlashSaleInput(name="清仓秒杀", starts_at=NOW, ends_at=NOW + timedelta(hours=1), **kwargs,
                              items=[FlashItemInput(sku_id=phone.pk, flash_price=Money(9900), flash_stock=flash_stock)])

    with pytest.raises(ValidationFailed) as info:
        services.create_flash_sale(scope=hq, data=sale(501))  # the SKU has 500
    assert (info.value.code, info.value.field) == ("flash_stock_too_high", "items[0].flash_stock")
    assert FlashSale.objects.count() == 0
    at_stock = services.create_flash_sale(scope=hq, data=sale(500))
    with pytest.raises(ValidationFailed):
        services.update_flash_sale(scope=hq, flash_sale_id=at_stock.pk, data=sale(600))
    oversold = services.update_flash_sale(scope=hq, flash_sale_id=at_stock.pk, data=sale(600, allow_oversell=True))
    assert oversold.allow_oversell
    assert FlashSaleItem.objects.get(flash_sale=at_stock).flash_stock == 600


def test_a_sku_is_in_one_flash_sale_at_a_time(hq: Scope, phone: Sku) -> None:
    _sale(hq, phone)
    with pytest.raises(Conflict) as info:
        _sale(hq, phone, start=NOW)  # overlaps the first one's last hour
    assert (info.value.code, info.value.field) == ("flash_overlap", "items[0].sku_id")
    _sale(hq, phone, start=NOW + timedelta(hours=1))  # starts when the first ends


def test_reserve_flash_counts_stock_and_the_customer(org: Org, hq: Scope, phone: Sku) -> None:
    item = _sale(hq, phone, stock=3, limit=2)
    alice, bob = _customers(org, 2)
    ent = hq.enterprise_id
    services.reserve_flash(enterprise_id=ent, customer_id=alice.pk, items=[FlashReservation(item.pk, 2)], now=NOW)
    with pytest.raises(Conflict) as info:
        services.reserve_flash(enterprise_id=ent, customer_id=alice.pk, items=[FlashReservation(item.pk, 1)], now=NOW)
    assert info.value.code == "flash_limit_exceeded"
    with pytest.raises(Conflict) as info2:
        services.reserve_flash(enterprise_id=ent, customer_id=bob.pk, items=[FlashReservation(item.pk, 2, line=3)],
                               now=NOW)
    assert (info2.value.code, info2.value.index) == ("out_of_stock", 3)
    item.refresh_from_db()
    assert item.sold == 2  # the refused attempts left nothing behind
    services.release_flash(enterprise_id=ent, customer_id=alice.pk, items=[FlashReservation(item.pk, 1)])
    item.refresh_from_db()
    assert (item.sold, FlashPurchase.objects.get(item=item, customer=alice).quantity) == (1, 1)


def test_reserve_flash_outside_the_window(org: Org, hq: Scope, phone: Sku) -> None:
    item = _sale(hq, phone)
    (alice,) = _customers(org, 1)
    with pytest.raises(ValidationFailed) as info:
        services.reserve_flash(enterprise_id=hq.enterprise_id, customer_id=alice.pk,
                               items=[FlashReservation(item.pk, 1)], now=NOW + timedelta(hours=1))
    assert info.value.code == "flash_not_active"
    with pytest.raises(NotFound):
        services.reserve_flash(enterprise_id=hq.enterprise_id + 1, customer_id=alice.pk,
                               items=[FlashReservation(item.pk, 1)], now=NOW)


def test_editing_a_flash_sale_keeps_what_sold(org: Org, hq: Scope, phone: Sku) -> None:
    item = _sale(hq, phone, stock=10)
    (alice,) = _customers(org, 1)
    services.reserve_flash(enterprise_id=hq.enterprise_id, customer_id=alice.pk, items=[FlashReservation(item.pk, 2)],
                           now=NOW)
    data = FlashSaleInput(name="618", starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=3),
                          items=[FlashItemInput(sku_id=phone.pk, flash_price=Money(8900), flash_stock=1)])
    with pytest.raises(ValidationFailed) as info:
        services.update_flash_sale(scope=hq, flash_sale_id=item.flash_sale_id, data=data)
    assert info.value.code == "below_sold"
    services.update_flash_sale(scope=hq, flash_sale_id=item.flash_sale_id,
                               data=FlashSaleInput(name="618", starts_at=data.starts_at, ends_at=data.ends_at,
                                                   items=[FlashItemInput(sku_id=phone.pk, flash_price=Money(8900),
                                                                         flash_stock=5)]))
    item.refresh_from_db()
    assert (item.flash_price_fen, item.flash_stock, item.sold) == (8900, 5, 2)


def test_flash_counters_follow_a_merged_customer(org: Org, hq: Scope, phone: Sku) -> None:
    item = _sale(hq, phone, stock=10, limit=3)
    alice, bob = _customers(org, 2)
    for who in (alice, bob):
        services.reserve_flash(enterprise_id=hq.enterprise_id, customer_id=who.pk,
                               items=[FlashReservation(item.pk, 1)], now=NOW)
    merge_customers(survivor=alice, absorbed=bob, reason="test")
    assert list(FlashPurchase.objects.values_list("customer_id", "quantity")) == [(alice.pk, 2)]


# ---------------------------------------------------------------------------------------------------------------
# Group buys


@pytest.fixture
def group_buy(hq: Scope, phone: Sku) -> GroupBuy:
    return services.create_group_buy(scope=hq, data=GroupBuyInput(
        name="三人团", sku_id=phone.pk, group_price=Money(19900), group_size=3, hours=24,
        starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=7)))


def test_a_team_completes_when_full(org: Org, hq: Scope, group_buy: GroupBuy) -> None:
    a, b, c, d = _customers(org, 4)
    ent = hq.enterprise_id
    team = services.open_team(enterprise_id=ent, group_buy_id=group_buy.pk, customer_id=a.pk, order_id=1, now=NOW)
    assert (team.status, team.member_count, team.expires_at) == ("open", 1, NOW + timedelta(hours=24))
    with pytest.raises(Conflict) as info:
        services.join_team(enterprise_id=ent, team_id=team.pk, customer_id=a.pk, order_id=9, now=NOW)
    assert info.value.code == "already_joined"
    services.join_team(enterprise_id=ent, team_id=team.pk, customer_id=b.pk, order_id=2, now=NOW)
    team = services.join_team(enterprise_id=ent, team_id=team.pk, customer_id=c.pk, order_id=3, now=NOW)
    assert (team.status, team.member_count) == ("complete", 3)
    with pytest.raises(Conflict) as info2:
        services.join_team(enterprise_id=ent, team_id=team.pk, customer_id=d.pk, order_id=4, now=NOW)
    assert info2.value.code == "team_closed"
    completed = set(Event.objects.filter(name="group_buy_completed").values_list("customer_id", flat=True))
    assert completed == {a.pk, b.pk, c.pk}


def test_expired_teams_fail_and_return_their_orders(org: Org, hq: Scope, group_buy: GroupBuy) -> None:
    a, b, c = _customers(org, 3)
    ent = hq.enterprise_id
    late = services.open_team(enterprise_id=ent, group_buy_id=group_buy.pk, customer_id=a.pk, order_id=11, now=NOW)
    services.join_team(enterprise_id=ent, team_id=late.pk, customer_id=b.pk, order_id=12, now=NOW)
    fresh = services.open_team(enterprise_id=ent, group_buy_id=group_buy.pk, customer_id=c.pk, order_id=13,
                               now=NOW + timedelta(hours=20))
    refunds = services.expire_group_buys(now=NOW + timedelta(hours=24))
    assert [(r.team_id, r.customer_id, r.order_id) for r in refunds] == [(late.pk, a.pk, 11), (late.pk, b.pk, 12)]
    assert services.expire_group_buys(now=NOW + timedelta(hours=24)) == []
    statuses = dict(GroupBuyTeam.objects.values_list("pk", "status"))
    assert statuses == {late.pk: "failed", fresh.pk: "open"}
    assert Event.objects.filter(name="group_buy_failed").count() == 2
    with pytest.raises(Conflict) as info:
        services.join_team(enterprise_id=ent, team_id=late.pk, customer_id=c.pk, order_id=14,
                           now=NOW + timedelta(hours=25))
    assert info.value.code == "team_closed"


def test_leaving_an_open_team(org: Org, hq: Scope, group_buy: GroupBuy) -> None:
    a, b = _customers(org, 2)
    ent = hq.enterprise_id
    team = services.open_team(enterprise_id=ent, group_buy_id=group_buy.pk, customer_id=a.pk, order_id=21, now=NOW)
    services.join_team(enterprise_id=ent, team_id=team.pk, customer_id=b.pk, order_id=22, now=NOW)
    assert services.leave_team(enterprise_id=ent, order_id=22, now=NOW) is True
    assert services.leave_team(enterprise_id=ent, order_id=22, now=NOW) is False
    team.refresh_from_db()
    assert (team.status, team.member_count) == ("open", 1)
    services.leave_team(enterprise_id=ent, order_id=21, now=NOW)
    team.refresh_from_db()
    assert team.status == "failed"


def test_group_buy_not_running(org: Org, hq: Scope, group_buy: GroupBuy) -> None:
    (a,) = _customers(org, 1)
    with pytest.raises(ValidationFailed) as info:
        services.open_team(enterprise_id=hq.enterprise_id, group_buy_id=group_buy.pk, customer_id=a.pk, order_id=1,
                           now=NOW + timedelta(days=8))
    assert info.value.code == "group_buy_not_active"
    assert GroupBuyTeam.objects.count() == 0
