"""Free tiers: HQ's rules, an upgrade the moment a customer qualifies, a downgrade only at the periodic evaluation after
the grace period, the tier's earn multiplier, and the Shanghai day that bounds the rolling window. Every number is
worked by hand from the shop in tests/orders/helpers.py: tissue ¥19.90 a unit (five: ¥99.50, growth 99), the pan
¥299.00 (growth 299); the points program earns 1 point per yuan."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers.models import Event
from siyu.loyalty import queries, services
from siyu.loyalty.models import CustomerTier, PointsLot, TierChange, TierRun, TierScore
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.loyalty.helpers import pay, refund, setup_program
from tests.orders.helpers import Shop, build_shop, line

pytestmark = pytest.mark.django_db

SILVER = services.TierInput(code="silver", name="银卡", threshold=100, benefits="会员价")
GOLD = services.TierInput(code="gold", name="金卡", threshold=500, multiplier_percent=150, benefits="1.5 倍积分")


def setup_tiers(shop: Shop, *, basis: str = "growth", window: int = 30, grace: int = 10,
                tiers: tuple[services.TierInput, ...] = (SILVER, GOLD)) -> None:
    services.configure_tiers(scope=shop.hq, data=services.TierPolicyInput(
        basis=basis, window_days=window, grace_days=grace, tiers=tiers))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def tier_code(shop: Shop) -> str | None:
    held = CustomerTier.objects.filter(customer=shop.customer).select_related("tier").first()
    return held.tier.code if held and held.tier else None


def test_upgrade_on_payment_and_the_multiplier_applies_to_later_earns(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    setup_tiers(shop)
    pay(shop.order(line(shop.tissue, 5)), ref="p1")  # growth 99: below silver (100)
    assert tier_code(shop) is None
    pay(shop.order(line(shop.pan, 1)), ref="p2")  # 99 + 299 = 398: silver at once
    assert tier_code(shop) == "silver"
    pay(shop.order(line(shop.pan, 1)), ref="p3")  # 697: gold; this order earned at silver's ×1 (299)
    assert tier_code(shop) == "gold"
    pay(shop.order(line(shop.tissue, 5)), ref="p4")  # at gold ×1.5: floor(9950 × 1 × 150 / 10000) = 149
    assert list(PointsLot.objects.order_by("id").values_list("points", flat=True)) == [99, 299, 299, 149]
    history = list(TierChange.objects.order_by("id").values_list("direction", "from_tier__code", "to_tier__code",
                                                                "value"))
    assert history == [("up", None, "silver", 398), ("up", "silver", "gold", 697)]
    assert Event.objects.filter(name="tier_changed", customer=shop.customer).count() == 2
    status = queries.tier_status(shop.hq, shop.customer.pk)
    assert (status.tier and status.tier.code, status.value, status.next_tier, status.to_next) == ("gold", 796,
                                                                                                   None, 0)


def test_grace_then_downgrade_with_the_window_bounded_by_the_shanghai_day(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop, window=0)
    setup_tiers(shop, window=30, grace=10)
    # paid 2026-03-02 00:30 in Shanghai (2026-03-01 16:30 UTC): growth 299, silver
    pay(shop.order(line(shop.pan, 1)), at=utc(2026, 3, 1, 16, 30))
    assert tier_code(shop) == "silver"
    # 2026-03-31 18:00 Shanghai: the 30-day window starts 2026-03-02 00:00 Shanghai, so the order still counts
    # (a UTC day would start the window at 2026-03-02 00:00 UTC and miss it)
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 3, 31, 10))
    assert run is not None and (run.customers, run.upgraded, run.downgraded, run.grace_started) == (1, 0, 0, 0)
    assert CustomerTier.objects.get(customer=shop.customer).below_since is None
    # the same Shanghai day again: nothing (one run per day)
    assert services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 3, 31, 15, 59)) is None
    # 2026-04-01 00:00 Shanghai: the order left the window; the grace starts, the tier stays
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 3, 31, 16))
    assert run is not None and (run.grace_started, run.downgraded) == (1, 0)
    held = CustomerTier.objects.get(customer=shop.customer)
    assert (held.tier and held.tier.code, held.below_since) == ("silver", date(2026, 4, 1))
    status = queries.tier_status(shop.hq, shop.customer.pk, now=utc(2026, 4, 1, 1))
    assert (status.value, status.downgrade_on) == (0, date(2026, 4, 11))
    # 2026-04-10 Shanghai: 9 days of grace, still silver
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 4, 10, 1))
    assert run is not None and run.downgraded == 0 and tier_code(shop) == "silver"
    # 2026-04-11 Shanghai: 10 days below: down to no tier
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 4, 11, 1))
    assert run is not None and run.downgraded == 1 and tier_code(shop) is None
    assert CustomerTier.objects.get(customer=shop.customer).below_since is None
    down = TierChange.objects.get(direction="down")
    assert (down.from_tier and down.from_tier.code, down.to_tier, down.value, down.run_id) == ("silver", None, 0,
                                                                                              run.pk)
    assert not TierScore.objects.exists()  # the scratch rows are gone
    # a later day finds nothing to do (no tier, no lots in the window)
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 4, 12, 1))
    assert run is not None and (run.customers, run.upgraded, run.downgraded) == (0, 0, 0)
    assert TierChange.objects.count() == 2


def test_qualifying_again_during_the_grace_keeps_the_tier(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop, window=0)
    setup_tiers(shop, window=30, grace=10)
    pay(shop.order(line(shop.pan, 1)), at=utc(2026, 3, 1, 16, 30), ref="p1")
    services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 3, 31, 16))  # grace from 04-01
    pay(shop.order(line(shop.tissue, 5)), at=utc(2026, 4, 5, 2), ref="p2")  # growth 99: not enough
    services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 4, 6, 2))
    assert CustomerTier.objects.get(customer=shop.customer).below_since == date(2026, 4, 1)
    pay(shop.order(line(shop.tissue, 1)), at=utc(2026, 4, 7, 2), ref="p3")  # 99 + 19 = 118 ≥ 100
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 4, 8, 2))
    assert run is not None and run.downgraded == 0
    held = CustomerTier.objects.get(customer=shop.customer)
    assert (held.tier and held.tier.code, held.below_since) == ("silver", None)
    services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 4, 20, 2))
    assert tier_code(shop) == "silver"


def test_gold_falls_to_the_tier_it_still_qualifies_for_and_a_refund_lowers_the_value(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop, window=0)
    setup_tiers(shop, window=30, grace=0)
    pay(shop.order(line(shop.pan, 1)), at=utc(2026, 3, 1, 2), ref="p1")
    second = pay(shop.order(line(shop.pan, 1)), at=utc(2026, 3, 1, 3), ref="p2")
    assert tier_code(shop) == "gold"  # 598
    refund(shop, second, {second.lines.get().pk: 1}, "r1", at=utc(2026, 3, 2, 2))
    assert PointsLot.objects.get(order_id=second.pk).growth_reversed == 299
    assert tier_code(shop) == "gold"  # never down on the event
    # grace 0: the first evaluation below moves them down, to silver (299 ≥ 100)
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id, now=utc(2026, 3, 3, 2))
    assert run is not None and (run.grace_started, run.downgraded) == (1, 1)
    assert tier_code(shop) == "silver"
    assert list(TierChange.objects.order_by("id").values_list("direction", "to_tier__code", "value")) == [
        ("up", "silver", 299), ("up", "gold", 598), ("down", "silver", 299)]


def test_points_basis_counts_earned_points_not_adjustments(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    setup_tiers(shop, basis="points")
    services.adjust(scope=shop.hq, customer_id=shop.customer.pk, points=1000, reason="migration", key="a1")
    assert tier_code(shop) is None  # adjustments are not earned
    pay(shop.order(line(shop.tissue, 5)))  # 99 points
    assert tier_code(shop) is None
    pay(shop.order(line(shop.tissue, 1)), ref="p2")  # 19 more: 118
    assert tier_code(shop) == "silver"


def test_an_evaluation_upgrades_who_qualifies_after_a_threshold_change(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    setup_tiers(shop)
    pay(shop.order(line(shop.tissue, 5)))  # 99
    assert tier_code(shop) is None
    setup_tiers(shop, tiers=(services.TierInput(code="silver", name="银卡", threshold=50), GOLD))
    run = services.evaluate_tiers(enterprise_id=shop.enterprise_id)
    assert run is not None and run.upgraded == 1 and tier_code(shop) == "silver"
    assert Event.objects.filter(name="tier_changed").count() == 1


def test_rules_are_hq_only_validated_and_audited(org: Org) -> None:
    shop = build_shop(org)
    with pytest.raises(PermissionDenied):
        services.configure_tiers(scope=scope_for_staff(org.n1_staff), data=services.TierPolicyInput(
            basis="growth", window_days=30, grace_days=0))
    bad = [
        (services.TierPolicyInput(basis="spend", window_days=30, grace_days=0), "basis"),
        (services.TierPolicyInput(basis="growth", window_days=0, grace_days=0), "window_days"),
        (services.TierPolicyInput(basis="growth", window_days=30, grace_days=400), "grace_days"),
        (services.TierPolicyInput(basis="growth", window_days=30, grace_days=0, tiers=(GOLD, SILVER)),
         "tiers[1].threshold"),
        (services.TierPolicyInput(basis="growth", window_days=30, grace_days=0, tiers=(SILVER, SILVER)),
         "tiers[1].code"),
        (services.TierPolicyInput(basis="growth", window_days=30, grace_days=0, tiers=(
            services.TierInput(code="Gold!", name="金", threshold=5),)), "tiers[0].code"),
        (services.TierPolicyInput(basis="growth", window_days=30, grace_days=0, tiers=(
            services.TierInput(code="gold", name="金", threshold=5, multiplier_percent=50),)),
         "tiers[0].multiplier_percent"),
    ]
    for data, field in bad:
        with pytest.raises(ValidationFailed) as caught:
            services.configure_tiers(scope=shop.hq, data=data)
        assert caught.value.field == field
    assert not TierRun.objects.exists() and not AuditEntry.objects.filter(action="tiers.configure").exists()
    setup_program(shop)
    setup_tiers(shop)
    pay(shop.order(line(shop.pan, 1)))
    with pytest.raises(Conflict) as refused:  # silver is held: it cannot be removed yet
        setup_tiers(shop, tiers=(GOLD,))
    assert refused.value.code == "tier_in_use"
    setup_tiers(shop, tiers=(SILVER,))  # gold is held by nobody: removed (kept inactive)
    assert [t.code for t in queries.tier_settings(shop.hq).tiers] == ["silver"]
    assert AuditEntry.objects.filter(action="tiers.configure").count() == 2
