"""Groups and membership history, the full customer sync, unionid merging, token expiry, 免验证 adds."""

from __future__ import annotations

import pytest

from simulator.wecom import ContactWayState
from siyu.channels.wecom import sync
from siyu.channels.wecom.models import (
    ChannelCode,
    CustomerGroup,
    GroupMembership,
    GroupStatus,
    SyncRun,
    SyncStatus,
)
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, Identity, Relationship
from siyu.customers.services import IdentityInput
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


def _way(w: Wecom, welcome: str = "") -> None:
    ChannelCode.objects.create(
        enterprise=w.org.enterprise, account=w.account, name="x", state="s1", welcome_text=welcome
    )
    w.platform.corps[CORP_ID].contact_ways["cfg1"] = ContactWayState("cfg1", 2, 2, ["n1_staff"], "s1")


def test_group_creation_joins_and_quits_are_kept_as_membership_stints(wecom: Wecom) -> None:
    _way(wecom)
    a = wecom.platform.scan(CORP_ID, "cfg1").external_userid
    b = wecom.platform.scan(CORP_ID, "cfg1").external_userid
    wecom.deliver()
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="北京老客群", members=[a])
    wecom.deliver()
    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    assert (group.name, group.owner_id, group.member_count) == ("北京老客群", wecom.org.n1_staff.pk, 2)

    wecom.platform.advance(1)
    wecom.platform.join_chat(CORP_ID, chat.chat_id, [b], scene=3)
    wecom.deliver()
    joined = GroupMembership.objects.get(group=group, member_id=b)
    assert (joined.join_scene, joined.left_at) == (3, None)
    assert joined.customer == Customer.objects.get(identities__value=b)
    assert joined.customer.events.filter(name="group_joined", properties__chat_id=chat.chat_id).count() == 1

    wecom.platform.advance(1)
    wecom.platform.leave_chat(CORP_ID, chat.chat_id, [a], scene=1)
    wecom.deliver()
    left = GroupMembership.objects.get(group=group, member_id=a)
    assert left.left_at is not None and left.quit_scene == 1
    group.refresh_from_db()
    assert group.member_count == 2  # owner and b

    wecom.platform.dismiss_chat(CORP_ID, chat.chat_id)
    wecom.deliver()
    group.refresh_from_db()
    assert group.status == GroupStatus.DISMISSED
    assert not GroupMembership.objects.filter(group=group, left_at__isnull=True).exists()


def test_full_sync_imports_existing_contacts_with_cursor_paging(wecom: Wecom) -> None:
    corp = wecom.platform.corps[CORP_ID]
    corp.callback_url = ""  # contacts that existed before Siyu was connected: no callbacks
    _way(wecom)
    externals = [wecom.platform.scan(CORP_ID, "cfg1").external_userid for _ in range(7)]
    wecom.platform.limits.batch_limit_max = 3  # pages of 3: 3 + 3 + 1
    run = sync.start_sync(scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk)
    run.refresh_from_db()
    assert (run.status, run.contacts_seen, run.customers_created, run.relationships_added) == (SyncStatus.DONE, 7, 7, 7)
    assert set(Identity.objects.filter(kind="wecom_external_userid").values_list("value", flat=True)) == set(externals)
    assert Relationship.objects.filter(staff=wecom.org.n1_staff, state="s1").count() == 7
    calls = [c for c in wecom.platform.api_calls if c.endswith("batch/get_by_user")]
    assert len(calls) == 3
    # a second run finds everything known
    again = sync.start_sync(scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk)
    again.refresh_from_db()
    assert (again.contacts_seen, again.customers_created, again.relationships_added) == (7, 0, 0)
    assert SyncRun.objects.count() == 2


def test_a_customer_known_by_unionid_is_merged_not_duplicated(wecom: Wecom) -> None:
    known = customer_services.resolve_customer(
        enterprise_id=wecom.org.enterprise.pk,
        identities=[IdentityInput(kind="oa_openid", value="oOA123"), IdentityInput(kind="unionid", value="oUNION1")],
        defaults={"name": "公众号粉丝"},
    )
    _way(wecom)
    person = wecom.platform.new_person(CORP_ID, name="韩梅梅", unionid="oUNION1")
    wecom.platform.scan(CORP_ID, "cfg1", contact=person)
    wecom.deliver()
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1
    assert set(known.identities.values_list("kind", flat=True)) == {"oa_openid", "unionid", "wecom_external_userid"}


def test_an_expired_token_is_refreshed_and_the_call_retried(wecom: Wecom) -> None:
    _way(wecom)
    wecom.platform.scan(CORP_ID, "cfg1")
    wecom.deliver()
    tokens_before = set(wecom.platform.tokens)
    wecom.platform.expire_tokens()
    wecom.platform.advance(1)
    wecom.platform.scan(CORP_ID, "cfg1")
    wecom.deliver()
    assert Customer.objects.count() == 2
    assert wecom.platform.api_calls.count("/cgi-bin/gettoken") == 2
    assert set(wecom.platform.tokens) - tokens_before  # a new token was issued


def test_an_invalidated_token_is_refreshed_too(wecom: Wecom) -> None:
    _way(wecom)
    wecom.platform.scan(CORP_ID, "cfg1")
    wecom.deliver()
    wecom.platform.invalidate_tokens()
    wecom.platform.advance(1)
    wecom.platform.scan(CORP_ID, "cfg1")
    wecom.deliver()
    assert Customer.objects.count() == 2


def test_a_half_add_sends_the_welcome_and_the_confirmed_add_makes_the_customer(wecom: Wecom) -> None:
    _way(wecom, welcome="你好{name}")
    follow = wecom.platform.scan(CORP_ID, "cfg1", half=True)
    wecom.deliver()
    assert Customer.objects.count() == 0
    assert [w.text for w in wecom.platform.welcomes(CORP_ID)] == ["你好"]
    wecom.platform.advance(1)
    wecom.platform.confirm_half(CORP_ID, "n1_staff", follow.external_userid)
    wecom.deliver()
    assert Relationship.objects.get().state == "s1"
    assert len(wecom.platform.welcomes(CORP_ID)) == 1
