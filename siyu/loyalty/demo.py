"""The demo enterprise's loyalty set-up (a seed step): a points programme that also pays at checkout, daily check-in
with streak bonuses, three free tiers by growth value, and a paid annual plan, so the console's rules page and the
mall's member centre have something to show. Runs after the demo's orders and ledger (finance's step), so the
seeded history earns nothing retroactively; customers earn from the next payment on."""

from __future__ import annotations

from typing import Any

from siyu.loyalty import queries, services
from siyu.org.scope import Scope


def seed_loyalty(enterprise_id: int, rng: Any, progress: Any) -> None:
    scope = Scope.hq(enterprise_id)
    if queries.program(scope).configured:
        return  # set up already (a re-seed keeps what an operator changed)
    services.configure_program(scope=scope, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=7, expiry_days=365, follow_oa_points=10,
        add_staff_points=20, profile_points=50, checkout_points_per_yuan=100, checkout_max_percent=20))
    services.configure_check_in(scope=scope, is_active=True, daily_points=5, bonuses=(
        services.StreakBonus(day=3, points=10), services.StreakBonus(day=7, points=30)))
    services.configure_tiers(scope=scope, data=services.TierPolicyInput(
        basis="growth", window_days=365, grace_days=30, tiers=(
            services.TierInput(code="silver", name="银卡会员", threshold=500, multiplier_percent=100,
                               benefits="生日礼券"),
            services.TierInput(code="gold", name="金卡会员", threshold=2000, multiplier_percent=120,
                               benefits="积分 1.2 倍，生日礼券"),
            services.TierInput(code="diamond", name="钻石会员", threshold=8000, multiplier_percent=150,
                               benefits="积分 1.5 倍，专属客服，生日礼盒"))))
    services.save_plan(scope=scope, data=services.PlanInput(
        code="plus_year", name="PLUS 年卡", price_fen=19_900, period_days=365, points_multiplier_percent=150,
        member_price_percent=95, free_shipping=True))
    note = getattr(progress, "note", None)
    if callable(note):
        note("demo loyalty: points (100 points pay ¥1 at checkout), check-in, three tiers, the PLUS annual plan")


def install() -> None:
    from siyu.core.seed.hooks import register_seed_step

    register_seed_step("loyalty.demo", seed_loyalty)
