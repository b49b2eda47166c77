"""Assistance (助力): a participant starts one and shares its link; friends signed in to the mall tap help once each;
the N-th help within T hours completes it and grants the reward once. Refused with nothing written: self-help, a
helper the brand knew before (when the campaign asks for new helpers), an expired or completed assistance."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.core.errors import Conflict, NotFound
from siyu.customers import consent
from siyu.referrals import services
from siyu.referrals.models import Campaign, Help, Participant, ProgressNotice, Reward
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop
from tests.referrals.helpers import START, campaign, join, new_customer, points_shop, referral_points

pytestmark = pytest.mark.django_db
T0 = START + timedelta(days=1)


@pytest.fixture
def shop(org: Org) -> Shop:
    return points_shop(build_shop(org))


def _assist(shop: Shop, **overrides: object) -> Campaign:
    fields: dict[str, object] = {"kind": "assist", "conversion": "help", "name": "好友助力", "target_count": 3,
                                 "window_hours": 24, "reward_points": 200}
    fields.update(overrides)
    return campaign(shop, **fields)


def _help(shop: Shop, p: Participant, name: str, at: object) -> services.HelpResult:
    friend = new_customer(shop, name, T0)
    return services.help_assistance(enterprise_id=shop.enterprise_id, customer_id=friend.pk, token=p.token,
                                    now=at)  # type: ignore[arg-type]


def test_the_nth_help_within_t_hours_grants_the_reward_once(shop: Shop) -> None:
    c = _assist(shop)
    me = join(c, shop.customer, T0)
    assert me.deadline_at == T0 + timedelta(hours=24)
    first = _help(shop, me, "友一", T0 + timedelta(hours=1))
    assert (first.helped, first.target, first.completed) == (1, 3, False)
    _help(shop, me, "友二", T0 + timedelta(hours=2))
    assert referral_points(shop.customer) == 0
    third = _help(shop, me, "友三", T0 + timedelta(hours=23))
    assert (third.helped, third.completed) == (3, True)
    assert referral_points(shop.customer) == 200
    assert list(Reward.objects.values_list("key", flat=True)) == [f"assist:{c.pk}:{me.pk}"]
    again = services.help_assistance(enterprise_id=shop.enterprise_id, customer_id=third.help.helper_id,
                                     token=me.token, now=T0 + timedelta(hours=23))
    assert again.help.pk == third.help.pk and Help.objects.count() == 3  # a second tap answers the first


def test_an_expired_or_completed_assistance_refuses_help(shop: Shop) -> None:
    c = _assist(shop, target_count=1)
    slow = join(c, shop.customer, T0)
    with pytest.raises(Conflict) as late:
        _help(shop, slow, "迟到", T0 + timedelta(hours=24))
    assert (late.value.field, late.value.code) == ("token", "assistance_expired")
    other = join(c, new_customer(shop, "乙", T0), T0)
    _help(shop, other, "友", T0 + timedelta(hours=1))
    with pytest.raises(Conflict) as done:
        _help(shop, other, "再来", T0 + timedelta(hours=2))
    assert done.value.code == "assistance_complete"
    assert Help.objects.count() == 1 and referral_points(shop.customer) == 0


def test_self_help_and_an_old_customer_are_refused_with_nothing_written(shop: Shop) -> None:
    c = _assist(shop)
    me = join(c, shop.customer, T0)
    with pytest.raises(Conflict) as own:
        services.help_assistance(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, token=me.token,
                                 now=T0 + timedelta(hours=1))
    assert own.value.code == "self_help"
    old = new_customer(shop, "老客", T0 - timedelta(days=40))
    with pytest.raises(Conflict) as known:
        services.help_assistance(enterprise_id=shop.enterprise_id, customer_id=old.pk, token=me.token,
                                 now=T0 + timedelta(hours=1))
    assert known.value.code == "helper_not_new"
    assert not Help.objects.exists()
    lenient = _assist(shop, name="老客也可", helpers_must_be_new=False)
    mine = join(lenient, shop.customer, T0)
    assert services.help_assistance(enterprise_id=shop.enterprise_id, customer_id=old.pk, token=mine.token,
                                    now=T0 + timedelta(hours=1)).helped == 1


def test_an_unknown_link_or_another_brands_is_not_found(shop: Shop) -> None:
    with pytest.raises(NotFound) as missing:
        services.help_assistance(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, token="rfnope")
    assert missing.value.field == "token"


def test_each_help_records_a_progress_notice_for_a_participant_with_a_phone_and_consent(shop: Shop) -> None:
    c = _assist(shop, target_count=2)
    shop.customer.phone = "13800000001"
    shop.customer.save(update_fields=["phone"])
    consent.record(scope=shop.hq, customer_id=shop.customer.pk, channel="sms", granted=True, method="storefront",
                   text="我同意接收品牌短信")
    me = join(c, shop.customer, T0)
    quiet = join(c, new_customer(shop, "未同意", T0), T0)  # no SMS consent: no notice
    _help(shop, me, "友一", T0 + timedelta(hours=1))
    _help(shop, me, "友二", T0 + timedelta(hours=2))
    _help(shop, quiet, "友三", T0 + timedelta(hours=2))
    assert sorted(ProgressNotice.objects.values_list("key", "count", "target")) == [
        (f"referral-progress:{c.pk}:{me.pk}:1", 1, 2), (f"referral-progress:{c.pk}:{me.pk}:2", 2, 2)]
