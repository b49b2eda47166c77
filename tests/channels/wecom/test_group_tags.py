"""Group tags: the operators' own labels for groups (not customer tags), set by managers and HQ on the groups they may
see, filtering the group list and a group code's candidate groups, audited; refusals with codes."""

from __future__ import annotations

import json

import pytest

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom import group_tags, queries
from siyu.channels.wecom.models import CustomerGroup, GroupCode, GroupCodeSlot, GroupTag, GroupTagging
from siyu.core.audit import AuditEntry
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.org.scope import Scope, scope_for_staff
from tests.channels.wecom.test_api import Api
from tests.conftest import Org
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups(org: Org) -> dict[str, CustomerGroup]:
    account = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="WeCom", app_id="wwtags", agent_id="1",
        secret="s", token="t", encoding_aes_key="a" * 43, base_url="http://127.0.0.1:9")
    return {key: CustomerGroup.objects.create(account=account, chat_id=f"wr{key}", name=name, owner=owner)
            for key, name, owner in [("a", "一店快闪群", org.n1_staff), ("b", "一店会员群", org.n1_staff),
                                     ("c", "广州快闪群", org.s1_staff)]}


def test_tags_filter_the_group_list_and_the_code_candidates(org: Org, groups: dict[str, CustomerGroup]) -> None:
    manager = scope_for_staff(org.n1_manager)
    flash = group_tags.create_group_tag(scope=manager, name=" 快闪 群 ", actor=org.n1_manager.user)
    member = group_tags.create_group_tag(scope=manager, name="会员群")
    assert flash.name == "快闪 群"
    assert group_tags.set_group_tags(scope=manager, group_id=groups["a"].pk, tag_ids=[flash.pk, member.pk,
                                                                                      flash.pk]) == sorted(
        [flash.pk, member.pk])
    group_tags.set_group_tags(scope=manager, group_id=groups["b"].pk, tag_ids=[member.pk])
    hq = Scope.hq(org.enterprise.pk)
    group_tags.set_group_tags(scope=hq, group_id=groups["c"].pk, tag_ids=[flash.pk])
    assert {g.name for g in queries.group_list(hq, tag_id=flash.pk).items} == {"一店快闪群", "广州快闪群"}
    assert {g.name for g in queries.group_list(manager, tag_id=flash.pk).items} == {"一店快闪群"}  # scope kept
    code = GroupCode.objects.create(enterprise=org.enterprise, account=groups["a"].account, name="c", state="s", cap=9)
    GroupCodeSlot.objects.create(code=code, group=groups["c"])
    assert [pk for pk, _label in queries.group_code_choices(hq, tag_id=flash.pk)] == [groups["a"].pk]  # c is taken
    group_tags.set_group_tags(scope=manager, group_id=groups["a"].pk, tag_ids=[member.pk])
    assert [t.name for t in queries.tags_of_group(manager, groups["a"].pk)] == ["会员群"]
    sets = AuditEntry.objects.filter(action="wecom.group_tags.set", target_id=str(groups["a"].pk))
    assert [e.changes for e in sets.order_by("id")] == [
        {"added": sorted([flash.pk, member.pk]), "removed": []}, {"added": [], "removed": [flash.pk]}]
    group_tags.set_group_tags(scope=manager, group_id=groups["a"].pk, tag_ids=[member.pk])  # no change, no row
    assert sets.count() == 2
    counts = {t.name: t.group_count for t in queries.group_tags(manager)}  # type: ignore[attr-defined]
    assert counts == {"会员群": 2, "快闪 群": 0}


def test_refusals(org: Org, groups: dict[str, CustomerGroup]) -> None:
    manager = scope_for_staff(org.n1_manager)
    tag = group_tags.create_group_tag(scope=manager, name="快闪")
    with pytest.raises(Conflict) as dup:
        group_tags.create_group_tag(scope=manager, name="快闪")
    assert (dup.value.code, dup.value.field) == ("duplicate", "name")
    with pytest.raises(ValidationFailed):
        group_tags.create_group_tag(scope=manager, name="标" * 33)
    with pytest.raises(PermissionDenied):
        group_tags.create_group_tag(scope=scope_for_staff(org.n1_staff), name="我的")
    with pytest.raises(PermissionDenied):
        group_tags.set_group_tags(scope=scope_for_staff(org.n1_staff), group_id=groups["a"].pk, tag_ids=[tag.pk])
    with pytest.raises(NotFound):  # another store's group
        group_tags.set_group_tags(scope=manager, group_id=groups["c"].pk, tag_ids=[tag.pk])
    other = EnterpriseFactory.create(code="other-tags")
    foreign = GroupTag.objects.create(enterprise=other, name="别家")
    with pytest.raises(NotFound) as caught:
        group_tags.set_group_tags(scope=manager, group_id=groups["a"].pk, tag_ids=[tag.pk, foreign.pk])
    assert (caught.value.field, caught.value.index) == ("tag_ids", 1)
    assert not GroupTagging.objects.exists()
    with pytest.raises(PermissionDenied):
        group_tags.delete_group_tag(scope=manager, tag_id=tag.pk)
    group_tags.delete_group_tag(scope=Scope.hq(org.enterprise.pk), tag_id=tag.pk)
    assert not GroupTag.objects.filter(pk=tag.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_api(org: Org, groups: dict[str, CustomerGroup]) -> None:
    manager = Api(org.n1_manager)
    made = manager.post("/api/channels/wecom/group-tags", {"name": "快闪"})
    assert made.status_code == 201, made.content
    assert manager.post("/api/channels/wecom/group-tags", {"name": "快闪"}).json()["code"] == "duplicate"
    tag_id = made.json()["id"]
    path = f"/api/channels/wecom/groups/{groups['a'].pk}/tags"
    put = manager.client.put(path, json.dumps({"tag_ids": [tag_id]}), content_type="application/json",
                             headers=manager.headers)
    assert put.status_code == 200 and [t["name"] for t in put.json()] == ["快闪"]
    listed = Api(org.n1_staff).get("/api/channels/wecom/groups", tag_id=tag_id).json()
    assert [g["id"] for g in listed["items"]] == [groups["a"].pk]
    assert Api(org.n1_staff).client.put(path, json.dumps({"tag_ids": []}), content_type="application/json",
                                        headers=Api(org.n1_staff).headers).status_code == 403
    assert Api(org.s1_staff).get(path).status_code == 404
