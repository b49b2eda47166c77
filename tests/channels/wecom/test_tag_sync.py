"""Two-way tag sync: WeCom corp tags and staff tagging reach Siyu; Siyu tags and tagging reach WeCom."""

from __future__ import annotations

import pytest

from simulator.wecom import ContactWayState
from siyu.channels.wecom import channel_codes, tags
from siyu.channels.wecom.models import ChannelCode
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, Tag
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _customer(w: Wecom) -> tuple[Customer, str]:
    ChannelCode.objects.create(enterprise=w.org.enterprise, account=w.account, name="x", state="s1")
    w.platform.corps[CORP_ID].contact_ways["cfg1"] = ContactWayState("cfg1", 2, 2, ["n1_staff"], "s1")
    follow = w.platform.scan(CORP_ID, "cfg1")
    w.deliver()
    return Customer.objects.get(identities__value=follow.external_userid), follow.external_userid


def _tags(customer: Customer) -> set[str]:
    return set(customer.customer_tags.values_list("tag__name", flat=True))


def test_a_corp_tag_created_in_the_wecom_console_appears_in_siyu(wecom: Wecom) -> None:
    wecom.platform.console_add_tag(CORP_ID, group_name="会员等级", tag_name="金卡")
    assert wecom.deliver() == [200]
    tag = Tag.objects.get(name="金卡")
    assert tag.group.name == "会员等级"


def test_staff_tagging_in_wecom_tags_the_customer_in_siyu_and_untagging_removes_it(wecom: Wecom) -> None:
    customer, ext = _customer(wecom)
    gold = wecom.platform.console_add_tag(CORP_ID, group_name="会员等级", tag_name="金卡")
    wecom.deliver()
    wecom.platform.staff_edits(CORP_ID, "n1_staff", ext, add=[gold.id])
    wecom.deliver()
    assert _tags(customer) == {"金卡"}
    wecom.platform.advance(1)  # two identical edit events in one second are one event to the platform's dedupe
    wecom.platform.staff_edits(CORP_ID, "n1_staff", ext, remove=[gold.id])
    wecom.deliver()
    assert _tags(customer) == set()


def test_renaming_and_deleting_a_corp_tag_in_wecom_follow_in_siyu(wecom: Wecom) -> None:
    gold = wecom.platform.console_add_tag(CORP_ID, group_name="会员等级", tag_name="金卡")
    wecom.deliver()
    wecom.platform.console_rename_tag(CORP_ID, gold.id, "黑金卡")
    wecom.deliver()
    assert list(Tag.objects.filter(group__name="会员等级").values_list("name", flat=True)) == ["黑金卡"]
    wecom.platform.console_delete_tag(CORP_ID, gold.id)
    wecom.deliver()
    assert not Tag.objects.filter(group__name="会员等级").exists()


def test_siyu_tags_are_pushed_to_wecom_and_customer_tags_marked_there(wecom: Wecom) -> None:
    customer, ext = _customer(wecom)
    group = TagGroupFactory.create(enterprise=wecom.org.enterprise, name="兴趣")
    tea = TagFactory.create(group=group, name="喝茶")
    customer_services.tag_customers(enterprise_id=wecom.org.enterprise.pk, customer_ids=[customer.pk], tag_ids=[tea.pk])
    figures = tags.sync_tags(scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk)
    corp = wecom.platform.corps[CORP_ID]
    [wecom_tea] = [t for t in corp.tags.values() if t.name == "喝茶"]
    assert corp.tag_groups[wecom_tea.group_id].name == "兴趣"
    assert figures["pushed_groups"] == 1
    # the second half (marking) runs on the next reconcile, once the tag is linked
    tags.push_customer_tags(scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk)
    assert corp.follows[("n1_staff", ext)].tags == {wecom_tea.id}
    customer_services.untag_customers(
        enterprise_id=wecom.org.enterprise.pk, customer_ids=[customer.pk], tag_ids=[tea.pk]
    )
    tags.push_customer_tags(scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk)
    assert corp.follows[("n1_staff", ext)].tags == set()


def test_a_code_auto_tag_linked_to_wecom_is_marked_on_wecom_at_the_add(wecom: Wecom) -> None:
    gold = wecom.platform.console_add_tag(CORP_ID, group_name="来源", tag_name="海报")
    wecom.deliver()
    siyu_tag = Tag.objects.get(name="海报")
    code = channel_codes.create_channel_code(
        scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk, name="poster",
        staff_ids=[wecom.org.n1_staff.pk], tag_ids=[siyu_tag.pk], state="poster",
    )
    code.refresh_from_db()
    follow = wecom.platform.scan(CORP_ID, code.config_id)
    wecom.deliver()
    assert wecom.platform.corps[CORP_ID].follows[("n1_staff", follow.external_userid)].tags == {gold.id}
    customer = Customer.objects.get(identities__value=follow.external_userid)
    assert _tags(customer) == {"海报"}
