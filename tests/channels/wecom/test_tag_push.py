"""Tag renames and deletions made in Siyu reach the linked WeCom corp tags (edit_corp_tag / del_corp_tag through the
outbox); unlinked tags make no call; WeCom's own changes, and WeCom echoing Siyu's, do not bounce back."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.wecom import ContactWayState
from siyu.channels.wecom import tags as wecom_tags
from siyu.channels.wecom.models import ChannelCode, ContactTag, OutboundCall, TagGroupLink, TagLink
from siyu.channels.wecom.outbox import execute_call
from siyu.core.errors import ValidationFailed
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, Tag, TagGroup
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _hq(w: Wecom) -> Scope:
    return Scope.hq(w.org.enterprise.pk)


def _pushed(w: Wecom) -> dict[str, Tag]:
    """Group 兴趣 (喝茶, 咖啡) and group 会员 (金卡) made in Siyu and pushed to WeCom: every tag and group linked."""
    interests = TagGroupFactory.create(enterprise=w.org.enterprise, name="兴趣")
    members = TagGroupFactory.create(enterprise=w.org.enterprise, name="会员")
    tags = {
        "喝茶": TagFactory.create(group=interests, name="喝茶"),
        "咖啡": TagFactory.create(group=interests, name="咖啡"),
        "金卡": TagFactory.create(group=members, name="金卡"),
    }
    wecom_tags.sync_tags(scope=_hq(w), account_id=w.account.pk)
    assert TagLink.objects.filter(account=w.account).count() == 3
    assert TagGroupLink.objects.filter(account=w.account).count() == 2
    return tags


def _corp_names(w: Wecom) -> dict[str, set[str]]:
    """WeCom's corp tags by group name, as the simulator holds them."""
    corp = w.platform.corps[CORP_ID]
    out: dict[str, set[str]] = {g.name: set() for g in corp.tag_groups.values()}
    for tag in corp.tags.values():
        out[corp.tag_groups[tag.group_id].name].add(tag.name)
    return out


def _wecom_id(w: Wecom, tag: Tag) -> str:
    return TagLink.objects.get(account=w.account, tag=tag).wecom_tag_id


def _calls(w: Wecom, *methods: str) -> list[tuple[str, str]]:
    rows = OutboundCall.objects.filter(account=w.account, method__in=methods).order_by("id")
    return list(rows.values_list("method", "status"))


def _echo(w: Wecom, wecom_id: str, change: str, tag_type: str = "tag") -> None:
    """WeCom calling back about a change (the platform does not do this for API calls, but Siyu must survive it)."""
    corp = w.platform.corps[CORP_ID]
    w.platform.emit(corp, [("Event", "change_external_tag"), ("Id", wecom_id), ("TagType", tag_type),
                           ("ChangeType", change)])


def _tagged_customer(w: Wecom, tag: Tag) -> tuple[Customer, str]:
    ChannelCode.objects.create(enterprise=w.org.enterprise, account=w.account, name="x", state="s1")
    w.platform.corps[CORP_ID].contact_ways["cfg1"] = ContactWayState("cfg1", 2, 2, ["n1_staff"], "s1")
    follow = w.platform.scan(CORP_ID, "cfg1")
    w.deliver()
    customer = Customer.objects.get(identities__value=follow.external_userid)
    customer_services.tag_customers(enterprise_id=w.org.enterprise.pk, customer_ids=[customer.pk], tag_ids=[tag.pk])
    wecom_tags.push_customer_tags(scope=_hq(w), account_id=w.account.pk)
    return customer, follow.external_userid


def test_deleting_a_linked_tag_in_siyu_deletes_the_corp_tag(wecom: Wecom) -> None:
    tags = _pushed(wecom)
    tea_id = _wecom_id(wecom, tags["喝茶"])
    _customer, ext = _tagged_customer(wecom, tags["喝茶"])
    assert wecom.platform.corps[CORP_ID].follows[("n1_staff", ext)].tags == {tea_id}
    assert ContactTag.objects.filter(wecom_tag_id=tea_id).count() == 1

    customer_services.delete_tag(tag=tags["喝茶"])

    assert _corp_names(wecom) == {"兴趣": {"咖啡"}, "会员": {"金卡"}}
    assert tea_id not in wecom.platform.corps[CORP_ID].tags
    assert wecom.platform.corps[CORP_ID].follows[("n1_staff", ext)].tags == set()
    assert _calls(wecom, "del_corp_tag") == [("del_corp_tag", "done")]
    assert OutboundCall.objects.get(method="del_corp_tag").payload == {"tag_ids": [tea_id], "group_ids": []}
    assert not ContactTag.objects.filter(wecom_tag_id=tea_id).exists()


def test_renaming_a_linked_tag_in_siyu_renames_the_corp_tag(wecom: Wecom) -> None:
    tags = _pushed(wecom)
    customer_services.rename_tag(tag=tags["喝茶"], name="品茶")
    assert _corp_names(wecom) == {"兴趣": {"品茶", "咖啡"}, "会员": {"金卡"}}
    customer_services.rename_tag(tag=Tag.objects.get(pk=tags["喝茶"].pk), name="喝茶")  # and back again
    assert _corp_names(wecom) == {"兴趣": {"喝茶", "咖啡"}, "会员": {"金卡"}}
    assert _calls(wecom, "edit_corp_tag") == [("edit_corp_tag", "done"), ("edit_corp_tag", "done")]


def test_renaming_and_deleting_a_linked_group_in_siyu_follow_on_wecom(wecom: Wecom) -> None:
    tags = _pushed(wecom)
    interests = TagGroup.objects.get(name="兴趣")
    customer_services.rename_tag_group(group=interests, name="爱好")
    assert _corp_names(wecom) == {"爱好": {"喝茶", "咖啡"}, "会员": {"金卡"}}

    carried = customer_services.delete_tag_group(group=TagGroup.objects.get(pk=interests.pk))

    assert carried == 0
    assert _corp_names(wecom) == {"会员": {"金卡"}}
    assert not Tag.objects.filter(pk__in=[tags["喝茶"].pk, tags["咖啡"].pk]).exists()
    group_call = OutboundCall.objects.get(method="del_corp_tag")
    assert (group_call.status, group_call.payload["tag_ids"], len(group_call.payload["group_ids"])) == ("done", [], 1)
    assert TagLink.objects.filter(account=wecom.account).count() == 1


def test_deleting_the_last_linked_tag_of_a_group_forgets_the_group_wecom_dropped(wecom: Wecom) -> None:
    tags = _pushed(wecom)
    customer_services.delete_tag(tag=tags["金卡"])
    assert _corp_names(wecom) == {"兴趣": {"喝茶", "咖啡"}}  # WeCom deleted the emptied group
    members = TagGroup.objects.get(name="会员")
    assert not TagGroupLink.objects.filter(group=members).exists()
    TagFactory.create(group=members, name="银卡")  # a new tag in the Siyu group is pushed into a new WeCom group
    wecom_tags.sync_tags(scope=_hq(wecom), account_id=wecom.account.pk)
    assert _corp_names(wecom) == {"兴趣": {"喝茶", "咖啡"}, "会员": {"银卡"}}


def test_unlinked_tags_and_groups_make_no_call(wecom: Wecom) -> None:
    _pushed(wecom)
    local = TagGroupFactory.create(enterprise=wecom.org.enterprise, name="仅本地")
    only_here = TagFactory.create(group=local, name="线下活动")
    calls_before = len(wecom.platform.api_calls)
    customer_services.rename_tag(tag=only_here, name="一个在企业微信里放不下的特别特别特别特别特别特别长的标签名")
    customer_services.delete_tag(tag=Tag.objects.get(pk=only_here.pk))
    customer_services.rename_tag_group(group=local, name="本地")
    customer_services.delete_tag_group(group=TagGroup.objects.get(pk=local.pk))
    assert _calls(wecom, "edit_corp_tag", "del_corp_tag") == []
    assert wecom.platform.api_calls[calls_before:] == []
    assert _corp_names(wecom) == {"兴趣": {"喝茶", "咖啡"}, "会员": {"金卡"}}


def test_a_linked_tag_cannot_take_a_name_wecom_refuses(wecom: Wecom) -> None:
    tags = _pushed(wecom)
    with pytest.raises(ValidationFailed) as refused:
        customer_services.rename_tag(tag=tags["咖啡"], name="咖" * 31)
    assert refused.value.field == "name"
    assert Tag.objects.get(pk=tags["咖啡"].pk).name == "咖啡"
    assert _calls(wecom, "edit_corp_tag") == []


def test_wecom_echoing_siyu_changes_is_harmless(wecom: Wecom) -> None:
    tags = _pushed(wecom)
    tea_id, coffee_id = _wecom_id(wecom, tags["喝茶"]), _wecom_id(wecom, tags["咖啡"])
    members_group = TagGroupLink.objects.get(group__name="会员").wecom_group_id
    customer_services.rename_tag(tag=tags["咖啡"], name="手冲咖啡")
    customer_services.delete_tag(tag=tags["喝茶"])
    customer_services.delete_tag_group(group=TagGroup.objects.get(name="会员"))
    calls = OutboundCall.objects.count()

    _echo(wecom, coffee_id, "update")
    _echo(wecom, tea_id, "delete")
    _echo(wecom, members_group, "delete", tag_type="tag_group")
    assert wecom.deliver() == [200, 200, 200]

    assert OutboundCall.objects.count() == calls  # nothing sent back
    assert list(Tag.objects.filter(group__enterprise=wecom.org.enterprise).values_list("name", flat=True)) == [
        "手冲咖啡"
    ]
    assert _corp_names(wecom) == {"兴趣": {"手冲咖啡"}}


def test_changes_made_in_wecom_are_not_sent_back(wecom: Wecom) -> None:
    tags = _pushed(wecom)
    gold_id = _wecom_id(wecom, tags["金卡"])
    tea_id = _wecom_id(wecom, tags["喝茶"])
    wecom.platform.console_rename_tag(CORP_ID, gold_id, "黑金卡")
    wecom.platform.console_delete_tag(CORP_ID, tea_id)
    wecom.deliver()
    assert Tag.objects.get(pk=tags["金卡"].pk).name == "黑金卡"
    assert not Tag.objects.filter(pk=tags["喝茶"].pk).exists()
    assert _calls(wecom, "edit_corp_tag", "del_corp_tag") == []


def test_a_pull_while_a_deletion_is_queued_does_not_bring_the_tag_back(wecom: Wecom, settings: Any) -> None:
    tags = _pushed(wecom)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}  # the worker is away
    customer_services.delete_tag(tag=tags["喝茶"])
    customer_services.rename_tag(tag=tags["咖啡"], name="美式")
    assert _calls(wecom, "del_corp_tag", "edit_corp_tag") == [("del_corp_tag", "pending"), ("edit_corp_tag", "pending")]

    wecom_tags.sync_tags(scope=_hq(wecom), account_id=wecom.account.pk)  # WeCom still has 喝茶 and 咖啡

    names = set(Tag.objects.filter(group__name="兴趣").values_list("name", flat=True))
    assert names == {"美式"}
    for call in OutboundCall.objects.filter(method__in=["del_corp_tag", "edit_corp_tag"]).order_by("id"):
        assert execute_call(call_id=call.pk) == "done"
    assert _corp_names(wecom) == {"兴趣": {"美式"}, "会员": {"金卡"}}
