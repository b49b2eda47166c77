"""Invite rewards (邀请有礼): an inviter earns once per invitee who adds staff through their code, 24 hours after
the add; refused for a self-invite, an invitee known before, an invitee who deleted the staff within 24 hours; the
per-inviter cap holds; a first-order campaign's reward is taken back when the qualifying order is refunded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.core.errors import Conflict
from siyu.customers import services as customer_services
from siyu.customers.models import Event
from siyu.orders.models import Order
from siyu.promotions.models import Coupon
from siyu.referrals import services
from siyu.referrals.models import Invitation, Reward
from tests.conftest import Org
from tests.loyalty.helpers import pay, refund
from tests.orders.helpers import Shop, build_shop, line
from tests.referrals.helpers import (
    START,
    add,
    balance,
    bring,
    campaign,
    delete,
    join,
    new_customer,
    points_shop,
    referral_points,
    scan,
)

pytestmark = pytest.mark.django_db
DAY1 = START + timedelta(days=1)


@pytest.fixture
def shop(org: Org) -> Shop:
    return points_shop(build_shop(org))


def test_an_invitee_counts_24_hours_after_the_add_and_the_inviter_earns_once(shop: Shop) -> None:
    c = campaign(shop)
    inviter = join(c, shop.customer)
    invitee = bring(shop, inviter, "乙", DAY1)
    scan(shop, DAY1 + timedelta(hours=1))
    assert Invitation.objects.get(invitee=invitee).status == "pending"
    assert referral_points(shop.customer) == 0
    scan(shop, DAY1 + timedelta(hours=25))
    scan(shop, DAY1 + timedelta(hours=26))  # again: nothing more
    add(invitee, shop.org.n2_staff, inviter.token, DAY1 + timedelta(hours=27))  # a second staff member: same invitee
    scan(shop, DAY1 + timedelta(hours=60))
    assert Invitation.objects.get(invitee=invitee).status == "counted"
    assert referral_points(shop.customer) == 100
    assert list(Reward.objects.values_list("key", "points", "cost_fen")) == [
        (f"referral:{c.pk}:{invitee.pk}", 100, 100)]


def test_a_self_invite_is_refused(shop: Shop) -> None:
    c = campaign(shop)
    inviter = join(c, shop.customer)
    add(shop.customer, shop.org.n1_staff, inviter.token, DAY1)
    scan(shop, DAY1 + timedelta(days=2))
    assert list(Invitation.objects.values_list("status", "reason")) == [("rejected", "self_invite")]
    assert referral_points(shop.customer) == 0


def test_a_second_account_merged_into_the_inviter_is_a_self_invite(shop: Shop) -> None:
    c = campaign(shop)
    inviter = join(c, shop.customer)
    second = bring(shop, inviter, "甲的小号", DAY1)
    scan(shop, DAY1 + timedelta(hours=1))
    customer_services.merge_customers(survivor=shop.customer, absorbed=second, reason="same phone")
    scan(shop, DAY1 + timedelta(days=2))
    assert list(Invitation.objects.values_list("status", "reason")) == [("rejected", "self_invite")]
    assert referral_points(shop.customer) == 0


def test_an_old_customer_re_added_through_the_code_is_not_new(shop: Shop) -> None:
    c = campaign(shop)
    inviter = join(c, shop.customer)
    old = new_customer(shop, "老客", START - timedelta(days=100))
    add(old, shop.org.n1_staff, "", START - timedelta(days=100))
    delete(old, shop.org.n1_staff, START - timedelta(days=50))
    add(old, shop.org.n1_staff, inviter.token, DAY1)
    scan(shop, DAY1 + timedelta(days=2))
    assert list(Invitation.objects.values_list("status", "reason")) == [("rejected", "invitee_not_new")]
    assert referral_points(shop.customer) == 0


def test_an_invitee_who_deletes_the_staff_within_24_hours_does_not_count(shop: Shop) -> None:
    c = campaign(shop)
    inviter = join(c, shop.customer)
    quick = bring(shop, inviter, "删了", DAY1)
    delete(quick, shop.org.n1_staff, DAY1 + timedelta(hours=3))
    stays = bring(shop, inviter, "留下", DAY1)
    late = bring(shop, inviter, "晚删", DAY1)
    delete(late, shop.org.n1_staff, DAY1 + timedelta(hours=30))  # after the 24 hours: counted
    scan(shop, DAY1 + timedelta(hours=31))
    got = dict(Invitation.objects.values_list("invitee_id", "reason"))
    assert got == {quick.pk: "deleted_within_24h", stays.pk: "", late.pk: ""}
    assert referral_points(shop.customer) == 200


def test_the_per_inviter_cap_is_honoured(shop: Shop) -> None:
    c = campaign(shop, per_inviter_cap=2)
    inviter = join(c, shop.customer)
    for n in range(3):
        bring(shop, inviter, f"友{n}", DAY1 + timedelta(minutes=n))
    scan(shop, DAY1 + timedelta(days=2))
    assert Invitation.objects.filter(status="counted").count() == 3
    assert referral_points(shop.customer) == 200
    assert Reward.objects.count() == 2


def test_a_first_order_reward_is_reversed_when_the_order_is_refunded(shop: Shop) -> None:
    c = campaign(shop, conversion="first_order")
    inviter = join(c, shop.customer)
    invitee = new_customer(shop, "新客", DAY1)
    services.claim(enterprise_id=shop.enterprise_id, customer_id=invitee.pk, token=inviter.token, now=DAY1)
    order = shop.order(line(shop.tissue, 3), customer=invitee, now=DAY1)
    pay(order)
    scan(shop, DAY1 + timedelta(days=1))
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.order_id) == ("counted", order.pk)
    assert referral_points(shop.customer) == 100
    held = balance(shop.customer)
    refund(shop, order, {next(iter(order.lines.all())).pk: 1}, "rf-1")
    invitation.refresh_from_db()
    assert (invitation.status, invitation.reason) == ("reversed", "refunded")
    assert Reward.objects.get().status == "reversed"
    assert balance(shop.customer) == held - 100


def test_a_claim_of_ones_own_link_or_by_a_known_customer_is_refused(shop: Shop) -> None:
    c = campaign(shop, conversion="first_order")
    inviter = join(c, shop.customer)
    with pytest.raises(Conflict) as own:
        services.claim(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, token=inviter.token, now=DAY1)
    old = new_customer(shop, "老客", START - timedelta(days=30))
    with pytest.raises(Conflict) as known:
        services.claim(enterprise_id=shop.enterprise_id, customer_id=old.pk, token=inviter.token, now=DAY1)
    assert (own.value.code, known.value.code) == ("self_invite", "invitee_not_new")
    assert not Invitation.objects.exists()


def _coupon_of(reward: Reward) -> int:
    assert reward.coupon_id is not None
    return reward.coupon_id


def _coupon_reward(shop: Shop) -> tuple[Reward, Order]:
    c = campaign(shop, conversion="first_order", reward_kind="coupon", coupon_template_id=shop.template.pk,
                 reward_points=0)
    inviter = join(c, shop.customer)
    invitee = new_customer(shop, "新客", DAY1)
    services.claim(enterprise_id=shop.enterprise_id, customer_id=invitee.pk, token=inviter.token, now=DAY1)
    order = shop.order(line(shop.tissue, 3), customer=invitee, now=DAY1)
    pay(order)
    scan(shop, DAY1 + timedelta(days=1))
    return Reward.objects.get(), order


def test_an_unused_coupon_reward_is_voided_when_the_order_is_refunded(shop: Shop) -> None:
    reward, order = _coupon_reward(shop)
    assert reward.status == "granted" and reward.cost_fen == 1000  # the template's 10 yuan off
    refund(shop, order, {next(iter(order.lines.all())).pk: 1}, "rf-c1")
    reward.refresh_from_db()
    assert reward.status == "reversed"
    assert Coupon.objects.get(pk=_coupon_of(reward)).status == "voided"
    assert Event.objects.filter(name="coupon_voided", customer=shop.customer).count() == 1


def test_a_used_coupon_reward_is_recorded_as_not_recoverable(shop: Shop) -> None:
    reward, order = _coupon_reward(shop)
    Coupon.objects.filter(pk=_coupon_of(reward)).update(status="used")  # the inviter spent it meanwhile
    refund(shop, order, {next(iter(order.lines.all())).pk: 1}, "rf-c2")
    reward.refresh_from_db()
    assert (reward.status, Coupon.objects.get(pk=_coupon_of(reward)).status) == ("unrecoverable", "used")
    assert not Event.objects.filter(name="coupon_voided").exists()
