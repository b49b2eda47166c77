"""Task fission (任务宝): a participant who brings N new people who add staff within T days of joining unlocks the
reward once; the results count invitations, conversions and the reward cost, and the K-factor per generation on a
tree made by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.referrals import queries
from siyu.referrals.models import Campaign, Participant, Reward
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop
from tests.referrals.helpers import START, bring, campaign, delete, join, points_shop, referral_points, scan

pytestmark = pytest.mark.django_db
DAY1 = START + timedelta(days=1)


@pytest.fixture
def shop(org: Org) -> Shop:
    return points_shop(build_shop(org))


def _task(shop: Shop) -> Campaign:
    return campaign(shop, kind="task", name="任务宝", target_count=3, window_days=7, reward_points=500)


def test_the_reward_unlocks_at_the_target_within_the_window_once(shop: Shop) -> None:
    c = _task(shop)
    first = join(c, shop.customer, DAY1)
    for n in range(2):
        bring(shop, first, f"友{n}", DAY1 + timedelta(hours=n))
    scan(shop, DAY1 + timedelta(days=2))
    assert referral_points(shop.customer) == 0  # 2 of 3
    bring(shop, first, "友2", DAY1 + timedelta(days=6))
    scan(shop, DAY1 + timedelta(days=8))
    bring(shop, first, "友3", DAY1 + timedelta(days=6, hours=1))
    scan(shop, DAY1 + timedelta(days=9))
    assert referral_points(shop.customer) == 500
    assert Reward.objects.get().key == f"fission:{c.pk}:{first.pk}"


def test_people_brought_after_the_window_do_not_count(shop: Shop) -> None:
    c = _task(shop)
    late = join(c, shop.customer, DAY1)
    bring(shop, late, "早", DAY1 + timedelta(days=1))
    bring(shop, late, "也早", DAY1 + timedelta(days=2))
    bring(shop, late, "晚", DAY1 + timedelta(days=8))  # joined + 7 days has passed
    scan(shop, DAY1 + timedelta(days=10))
    assert referral_points(shop.customer) == 0
    assert Participant.objects.get().completed_at is None


def test_results_and_k_factor_on_a_hand_made_tree(shop: Shop) -> None:
    """Generation 0: A and B. A brings a1, a2, a3; B brings b1 and b2, who deletes the staff within the hour.
    a1, a2 and b1 join (generation 1); a1 brings x1 and x2, b1 brings y1; x1 joins (generation 2).
    K0 = 4 counted / 2 participants = 2.0; K1 = 3 / 3 = 1.0; K2 = 0 / 1 = 0."""
    c = _task(shop)
    a = join(c, shop.customer, DAY1)
    b = join(c, bring(shop, a, "B", DAY1 - timedelta(days=5)), DAY1)  # added before the campaign
    a1, a2, _a3 = (bring(shop, a, name, DAY1 + timedelta(hours=1)) for name in ("a1", "a2", "a3"))
    b1 = bring(shop, b, "b1", DAY1 + timedelta(hours=1))
    b2 = bring(shop, b, "b2", DAY1 + timedelta(hours=1))
    delete(b2, shop.org.n1_staff, DAY1 + timedelta(hours=2))
    scan(shop, DAY1 + timedelta(days=2))
    p_a1, _p_a2, p_b1 = (join(c, who, DAY1 + timedelta(days=2)) for who in (a1, a2, b1))
    x1 = bring(shop, p_a1, "x1", DAY1 + timedelta(days=3))
    bring(shop, p_a1, "x2", DAY1 + timedelta(days=3))
    bring(shop, p_b1, "y1", DAY1 + timedelta(days=3))
    scan(shop, DAY1 + timedelta(days=5))
    join(c, x1, DAY1 + timedelta(days=5))
    found = queries.results(shop.hq, c.pk)
    assert [(g.generation, g.participants, g.brought, g.k_factor) for g in found.generations] == [
        (0, 2, 4, 2.0), (1, 3, 3, 1.0), (2, 1, 0, 0.0)]
    assert (found.participants, found.invitations, found.conversions, found.rejected) == (
        6, 8, 7, {"deleted_within_24h": 1})
    assert (found.completed, found.rewards, found.reward_cost_fen) == (1, 1, 500)  # A brought 3
    tree = queries.tree_chart(shop.hq, c.pk)
    assert [child["name"] for child in tree["children"]] == [shop.customer.name, "B"]
    assert [[g["name"] for g in child["children"]] for child in tree["children"]] == [["a1", "a2"], ["b1"]]
