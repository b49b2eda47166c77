"""Conversions scanned by several workers at once (PostgreSQL; SQLite serialises writers: skipped there): each
invitee is one invitation and the inviter is rewarded once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from siyu.referrals import services
from siyu.referrals.models import Invitation, Reward
from tests.conftest import Org
from tests.orders.helpers import build_shop
from tests.races import race
from tests.referrals.helpers import START, bring, campaign, join, points_shop, referral_points

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
