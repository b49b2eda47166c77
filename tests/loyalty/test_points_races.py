"""Redemptions raced on PostgreSQL by threads with their own connections (SQLite serialises writers: skipped there).
Whatever the interleaving, a customer never spends more points than they hold, a refused redemption writes nothing,
the same key redeems once, and the ledger's points liability still equals what the lots hold."""

from __future__ import annotations

import pytest
from django.db import connection

from siyu.core.models import AuditEntry
from siyu.finance.models import JournalEntry
from siyu.loyalty import queries, services
from siyu.loyalty.models import PointsAllocation, PointsOperation
from tests.conftest import Org
from tests.loyalty.helpers import ledger_matches_lots, lots_consistent, setup_program
from tests.orders.helpers import build_shop
from tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")


def test_racing_redemptions_never_spend_more_than_held(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    for i, points in enumerate((40, 35, 25)):  # three lots, 100 points
        services.adjust(scope=shop.hq, customer_id=c, points=points, reason="seed", key=f"seed{i}")
    entries = JournalEntry.objects.count()
    seen = race(6, lambda i: services.redeem(scope=shop.hq, customer_id=c, points=30, reason="gift", key=f"r{i}"))
    assert seen == {"ok": 3, "insufficient_points": 3}  # 3 × 30 fit in 100, a fourth would not
    assert queries.balance(shop.enterprise_id, c) == 10
    assert PointsOperation.objects.filter(kind="redeem").count() == 3  # the refused wrote no operation
    assert JournalEntry.objects.count() == entries + 3
    assert AuditEntry.objects.filter(action="points.redeem").count() == 3
    lots_consistent(c)
    ledger_matches_lots(shop)


def test_the_same_key_raced_redeems_once(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    services.adjust(scope=shop.hq, customer_id=c, points=100, reason="seed", key="seed")
    seen = race(5, lambda i: services.redeem(scope=shop.hq, customer_id=c, points=30, reason="gift", key="same"))
    assert seen == {"ok": 5}
    assert PointsOperation.objects.filter(kind="redeem").count() == 1
    assert sum(PointsAllocation.objects.values_list("points", flat=True)) == 30
    assert queries.balance(shop.enterprise_id, c) == 70
    ledger_matches_lots(shop)


def test_two_workers_evaluating_tiers_at_once_change_each_customer_once(org: Org) -> None:
    from datetime import UTC, datetime

    from siyu.loyalty.models import CustomerTier, TierChange, TierRun
    from tests.orders.helpers import line

    shop = build_shop(org)
    setup_program(shop, window=0)
    services.configure_tiers(scope=shop.hq, data=services.TierPolicyInput(
        basis="growth", window_days=30, grace_days=0,
        tiers=(services.TierInput(code="silver", name="银卡", threshold=100),)))
    from tests.loyalty.helpers import pay
    pay(shop.order(line(shop.pan, 1)), at=datetime(2026, 3, 1, 2, tzinfo=UTC))  # 299: silver
    assert CustomerTier.objects.get().tier is not None
    when = datetime(2026, 4, 5, 2, tzinfo=UTC)  # the order has left the window: grace 0, down at once
    seen = race(4, lambda i: services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=when))
    assert seen == {"ok": 4}
    assert TierRun.objects.filter(day="2026-04-05").count() == 1
    assert TierChange.objects.filter(direction="down").count() == 1
    assert CustomerTier.objects.get().tier is None


def test_simultaneous_check_ins_grant_once(org: Org) -> None:
    from siyu.loyalty.models import CheckIn, PointsLot

    shop = build_shop(org)
    setup_program(shop)
    services.configure_check_in(scope=shop.hq, is_active=True, daily_points=5, bonuses=())
    c = shop.customer.pk
    entries = JournalEntry.objects.count()
    firsts: list[bool] = []
    seen = race(6, lambda i: firsts.append(services.check_in(enterprise_id=shop.enterprise_id, customer_id=c)[1]))
    assert seen == {"ok": 6}
    assert sorted(firsts) == [False] * 5 + [True]
    assert CheckIn.objects.count() == 1 and PointsLot.objects.count() == 1
    assert JournalEntry.objects.count() == entries + 1
    assert queries.balance(shop.enterprise_id, c) == 5
    ledger_matches_lots(shop)


def test_two_workers_granting_interactions_at_once_grant_once(org: Org) -> None:
    from siyu.customers import services as customer_services
    from siyu.loyalty.models import PointsLot

    shop = build_shop(org)
    services.configure_program(scope=shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=7, expiry_days=30, follow_oa_points=10))
    customer_services.append_event(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                   name="oa_followed", idempotency_key="f1")
    entries = JournalEntry.objects.count()
    seen = race(4, lambda i: services.grant_interactions(enterprise_id=shop.enterprise_id))
    assert seen == {"ok": 4}
    assert PointsLot.objects.filter(key__startswith="interaction:").count() == 1
    assert JournalEntry.objects.count() == entries + 1
    assert queries.balance(shop.enterprise_id, shop.customer.pk) == 10
    ledger_matches_lots(shop)


def test_racing_checkouts_with_points_never_spend_more_than_held(org: Org) -> None:
    """Four orders placed at once, each paying ¥30 with 3,000 of the customer's 5,000 points: every preview saw
    enough, but the lots are locked when the order is written, so one order wins and the others are refused with
    nothing written (no order, no stock taken, no operation, no entry)."""
    from siyu.orders.models import Order
    from tests.orders.helpers import line

    shop = build_shop(org)
    services.configure_program(scope=shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=0, expiry_days=30, checkout_points_per_yuan=100,
        checkout_max_percent=50))
    c = shop.customer.pk
    services.adjust(scope=shop.hq, customer_id=c, points=5000, reason="seed", key="seed")
    stock, entries = shop.stock(shop.pan), JournalEntry.objects.count()
    seen = race(4, lambda i: shop.order(line(shop.pan, 1), points=3000))
    assert seen == {"ok": 1, "insufficient_points": 3}
    assert Order.objects.count() == 1 and shop.stock(shop.pan) == stock - 1
    assert PointsOperation.objects.filter(kind="checkout").count() == 1
    assert JournalEntry.objects.count() == entries + 1
    assert queries.balance(shop.enterprise_id, c) == 2000
    lots_consistent(c)
    ledger_matches_lots(shop)


def test_racing_gift_redemptions_never_spend_more_points_or_stock_than_there_is(org: Org) -> None:
    """Four redemptions of a 20,000-point gift at once with 50,000 points: two fit, the others are refused with
    nothing written (the gift order rolled back, its stock given back)."""
    from siyu.loyalty.models import Redemption
    from siyu.orders.models import Order
    from siyu.storefront.services.checkout import CheckoutInput
    from tests.orders.helpers import ADDRESS

    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    services.adjust(scope=shop.hq, customer_id=c, points=50000, reason="seed", key="seed")
    reward = services.save_reward(scope=shop.hq, data=services.RewardInput(
        kind="gift", name="不粘锅", points=20000, sku_id=shop.pan.pk))
    seen = race(4, lambda i: services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=c,
                                                    reward_id=reward.pk, key=f"g{i}",
                                                    delivery=CheckoutInput(address=ADDRESS)))
    assert seen == {"ok": 2, "insufficient_points": 2}
    assert Redemption.objects.count() == 2 and Order.objects.count() == 2 and shop.stock(shop.pan) == 3
    assert queries.balance(shop.enterprise_id, c) == 10000
    lots_consistent(c)
    ledger_matches_lots(shop)
