"""Conversions scanned by several workers at once (PostgreSQL; SQLite serialises writers: skipped there): each
invitee is one invitation and the inviter is rewarded once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from siyu.referrals import services
from siyu.referrals.models import Help, Invitation, Reward
from tests.conftest import Org
from tests.orders.helpers import build_shop
from tests.races import race
from tests.referrals.helpers import START, bring, campaign, join, new_customer, points_shop, referral_points

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")


def test_concurrent_scans_of_one_conversion_grant_once(org: Org) -> None:
    shop = points_shop(build_shop(org))
    c = campaign(shop)
    inviter = join(c, shop.customer)
    day1 = START + timedelta(days=1)
    bring(shop, inviter, "乙", day1)
    seen = race(4, lambda i: services.scan(enterprise_id=shop.enterprise_id, now=day1 + timedelta(days=2)))
    assert seen == {"ok": 4}
    assert Invitation.objects.filter(status="counted").count() == 1
    assert Reward.objects.count() == 1
    assert referral_points(shop.customer) == 100


def test_a_reward_granted_by_racing_calls_is_recorded_and_given_once(org: Org) -> None:
    shop = points_shop(build_shop(org))
    c = campaign(shop)
    inviter = join(c, shop.customer)
    now = START + timedelta(days=2)
    seen = race(4, lambda i: services._grant(c, inviter, key=f"referral:{c.pk}:race", invitation=None, now=now))
    assert seen == {"ok": 4}
    assert Reward.objects.count() == 1
    assert referral_points(shop.customer) == 100


def test_two_friends_helping_at_once_at_n_minus_one_give_one_reward(org: Org) -> None:
    shop = points_shop(build_shop(org))
    c = campaign(shop, kind="assist", conversion="help", name="助力", target_count=2, window_hours=48)
    t0 = START + timedelta(days=1)
    me = join(c, shop.customer, t0)
    first = new_customer(shop, "友一", t0)
    services.help_assistance(enterprise_id=shop.enterprise_id, customer_id=first.pk, token=me.token,
                             now=t0 + timedelta(hours=1))
    friends = [new_customer(shop, f"友{n}", t0) for n in range(2, 6)]
    seen = race(4, lambda i: services.help_assistance(enterprise_id=shop.enterprise_id,
                                                      customer_id=friends[i].pk, token=me.token,
                                                      now=t0 + timedelta(hours=2)).completed)
    assert seen == {"ok": 1, "assistance_complete": 3}  # the row lock lets one reach N; the rest see it complete
    assert Help.objects.filter(participant=me).count() == 2  # N helps, not more
    assert Reward.objects.filter(key=f"assist:{c.pk}:{me.pk}").count() == 1
    assert referral_points(shop.customer) == 100
