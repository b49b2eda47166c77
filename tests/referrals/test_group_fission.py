"""Group fission (群裂变) against the WeCom simulator: each participant gets their own join way over the campaign's
group code (state = their token); people who join a group through it are counted after 24 hours unless they left
within them; the target within T days unlocks the reward once. Self-invites and people known before do not count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from simulator.wecom import Contact
from siyu.channels.wecom import group_codes
from siyu.channels.wecom.models import CustomerGroup, GroupCode
from siyu.core.errors import NotFound, ValidationFailed
from siyu.customers.models import Customer, Event, IdentityKind
from siyu.customers.services import IdentityInput, resolve_customer
from siyu.org.scope import Scope
from siyu.referrals import services
from siyu.referrals.models import Invitation, Participant, Reward
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.loyalty.helpers import setup_program
from tests.orders.helpers import Shop, build_shop
from tests.referrals.helpers import referral_points

pytestmark = pytest.mark.django_db(transaction=True)


def _code(w: Wecom) -> GroupCode:
    chats = [w.platform.create_chat(CORP_ID, "n1_staff", name=f"裂变群{i}") for i in range(2)]
    assert set(w.deliver()) == {200}
    groups = [CustomerGroup.objects.get(chat_id=c.chat_id) for c in chats]
    return group_codes.create_group_code(scope=Scope.hq(w.org.enterprise.pk), account_id=w.account.pk,
                                         name="裂变群码", group_ids=[g.pk for g in groups], cap=150, state="gf")


def _campaign(shop: Shop, code: GroupCode, target: int = 2) -> services.Campaign:
    now = timezone.now()
    return services.save_campaign(scope=shop.hq, data=services.CampaignInput(
        kind="group", conversion="join_group", name="群裂变", starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30), reward_points=300, target_count=target, window_days=7,
        group_code_id=code.pk))


def _join_through(w: Wecom, participant: Participant) -> str:
    participant.refresh_from_db()
    _chat, external_userid = w.platform.join_by_way(CORP_ID, participant.join_config_id)
    assert w.deliver() == [200]
    return external_userid


def test_joins_through_a_participants_own_join_way_count_and_unlock_the_reward_once(wecom: Wecom) -> None:
    shop = build_shop(wecom.org)
    setup_program(shop, window=0)
    c = _campaign(shop, _code(wecom), target=2)
    me = services.join_campaign(enterprise_id=shop.enterprise_id, campaign_id=c.pk, customer_id=shop.customer.pk)
    me.refresh_from_db()
    way = wecom.platform.corps[CORP_ID].join_ways[me.join_config_id]
    assert way.state == me.token and me.join_qr == way.qr_code  # their own way, its QR kept for the poster
    first = _join_through(wecom, me)
    event = Event.objects.get(name="group_joined", customer__identities__value=first)
    assert event.campaign == me.token  # the member's state from groupchat/get lands in the event log
    services.scan(enterprise_id=shop.enterprise_id, now=timezone.now())
    assert list(Invitation.objects.values_list("status", flat=True)) == ["pending"]
    leaver = _join_through(wecom, me)
    chat_id = next(ch for ch, chat in wecom.platform.corps[CORP_ID].chats.items() if leaver in chat.members)
    wecom.platform.leave_chat(CORP_ID, chat_id, [leaver])  # quits within the hour: not counted
    assert wecom.deliver() == [200]
    later = timezone.now() + timedelta(hours=25)
    services.scan(enterprise_id=shop.enterprise_id, now=later)
    assert sorted(Invitation.objects.values_list("status", "reason")) == [
        ("counted", ""), ("rejected", "left_group_within_24h")]
    assert referral_points(shop.customer) == 0  # 1 of 2
    _join_through(wecom, me)
    services.scan(enterprise_id=shop.enterprise_id, now=later + timedelta(hours=25))
    services.scan(enterprise_id=shop.enterprise_id, now=later + timedelta(hours=26))
    assert referral_points(shop.customer) == 300
    assert list(Reward.objects.values_list("key", flat=True)) == [f"fission:{c.pk}:{me.pk}"]


def _known(w: Wecom, shop: Shop, name: str, *, days_ago: int = 0) -> tuple[Contact, int]:
    """A WeCom person the brand already has as a customer (created `days_ago` days ago)."""
    contact = w.platform.new_person(CORP_ID)
    customer = resolve_customer(enterprise_id=shop.enterprise_id, identities=[IdentityInput(
        kind=IdentityKind.WECOM_EXTERNAL_USERID, value=contact.external_userid, account=w.account.app_id)],
        defaults={"name": name})
    Customer.objects.filter(pk=customer.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return contact, customer.pk


def test_a_participant_joining_through_their_own_way_and_an_old_customer_do_not_count(wecom: Wecom) -> None:
    shop = build_shop(wecom.org)
    setup_program(shop, window=0)
    c = _campaign(shop, _code(wecom))
    me_contact, me_id = _known(wecom, shop, "自己")
    me = services.join_campaign(enterprise_id=shop.enterprise_id, campaign_id=c.pk, customer_id=me_id)
    me.refresh_from_db()
    old_contact, old_id = _known(wecom, shop, "老客", days_ago=30)
    for contact in (me_contact, old_contact):
        wecom.platform.join_by_way(CORP_ID, me.join_config_id, contact=contact)
        assert wecom.deliver() == [200]
    services.scan(enterprise_id=shop.enterprise_id, now=timezone.now() + timedelta(hours=25))
    assert dict(Invitation.objects.values_list("invitee_id", "reason")) == {
        me_id: "self_invite", old_id: "invitee_not_new"}
    assert not Reward.objects.exists()


def test_a_group_fission_needs_a_group_code_of_the_brand(wecom: Wecom) -> None:
    shop = build_shop(wecom.org)
    now = timezone.now()
    data = {"kind": "group", "conversion": "join_group", "name": "群裂变", "starts_at": now,
            "ends_at": now + timedelta(days=3), "reward_points": 10, "target_count": 2, "window_days": 3}
    with pytest.raises(ValidationFailed) as missing:
        services.save_campaign(scope=shop.hq, data=services.CampaignInput(**data))  # type: ignore[arg-type]
    assert (missing.value.field, missing.value.code) == ("group_code_id", "group_code_required")
    with pytest.raises(NotFound) as other:
        services.save_campaign(scope=shop.hq, data=services.CampaignInput(
            **data, group_code_id=987654))  # type: ignore[arg-type]
    assert other.value.field == "group_code_id"
    with pytest.raises(ValidationFailed) as wrong:
        services.save_campaign(scope=shop.hq, data=services.CampaignInput(
            **{**data, "conversion": "add_staff"}, group_code_id=_code(wecom).pk))  # type: ignore[arg-type]
    assert wrong.value.code == "group_needs_join_group"
