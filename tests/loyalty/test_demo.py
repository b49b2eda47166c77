"""The demo's loyalty seed step: points that pay at checkout, check-in, three tiers and the PLUS plan, set once;
a second seed keeps what an operator changed."""

from __future__ import annotations

import pytest

from siyu.core.seed import hooks
from siyu.loyalty import demo, queries, services
from siyu.loyalty.models import CheckInRule, MembershipPlan, Tier
from siyu.org.scope import Scope
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def test_the_demo_step_is_registered_after_finance_and_sets_up_loyalty_once(org: Org) -> None:
    names = [name for name, _step in hooks.seed_steps()]
    assert "loyalty.demo" in names and names.index("loyalty.demo") > names.index("finance.demo")
    enterprise_id = org.enterprise.pk
    demo.seed_loyalty(enterprise_id, None, None)
    scope = Scope.hq(enterprise_id)
    program = queries.program(scope)
    assert (program.configured, program.checkout_points_per_yuan, program.checkout_max_percent) == (True, 100, 20)
    assert list(Tier.objects.filter(enterprise_id=enterprise_id).order_by("rank").values_list("name", "threshold")) \
        == [("银卡会员", 500), ("金卡会员", 2000), ("钻石会员", 8000)]
    plan = MembershipPlan.objects.get(enterprise_id=enterprise_id)
    assert (plan.name, plan.price_fen, plan.period_days, plan.member_price_percent) == ("PLUS 年卡", 19_900, 365, 95)

    services.configure_check_in(scope=scope, is_active=True, daily_points=7, bonuses=())  # an operator's change
    demo.seed_loyalty(enterprise_id, None, None)
    assert CheckInRule.objects.get(enterprise_id=enterprise_id).daily_points == 7
    assert MembershipPlan.objects.filter(enterprise_id=enterprise_id).count() == 1
