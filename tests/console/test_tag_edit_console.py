"""Renaming and deleting tags and tag groups from the tag library page: HQ only, the outcome as a message, the
confirmation naming how many customers carry the tag, each change audited and labelled in the audit log."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.customers import services
from siyu.customers.models import CustomerTag, Tag, TagGroup
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db


def signed_in(client: Client, staff: object) -> Client:
    client.force_login(staff.user)  # type: ignore[attr-defined]
    return client


def messages_of(html: str) -> list[str]:
    return re.findall(r'<div class="msg (\w+)">([^<]*)</div>', html)


def pairs() -> set[tuple[str, str]]:
    return set(CustomerTag.objects.values_list("customer__name", "tag__name"))


def audit_rows() -> list[tuple[str, str, str, str]]:
    return list(
        AuditEntry.objects.filter(action__in=["tag.rename", "tag.delete", "tag_group.rename", "tag_group.delete"])
        .order_by("id")
        .values_list("action", "target_id", "summary", "actor_label")
    )


@pytest.fixture
def tagged(org: Org, people: People) -> People:
    """On top of the console people (Ada carries VIP): Cai carries VIP too, Bob carries Newbie.
    So VIP: Ada, Cai (2); Newbie: Bob (1); group Value: 3 customer tags."""
    ent = org.enterprise.pk
    services.tag_customers(enterprise_id=ent, customer_ids=[people.cai.pk], tag_ids=[people.vip.pk])
    services.tag_customers(enterprise_id=ent, customer_ids=[people.bob.pk], tag_ids=[people.newbie.pk])
    return people


def test_the_page_offers_rename_and_delete_with_the_carrier_count(
    client: Client, org: Org, tagged: People
) -> None:
    html = signed_in(client, org.hq).get("/tags/").content.decode()
    assert f'data-edit-tag="{tagged.vip.pk}"' in html and f'data-edit-group="{tagged.group.pk}"' in html
    assert 'data-confirm="确定删除标签“VIP”吗？2 位客户带有该标签，删除后将被移除。"' in html
    assert 'data-confirm="确定删除标签“Newbie”吗？1 位客户带有该标签，删除后将被移除。"' in html
    assert 'data-confirm="确定删除标签分组“Value”及其全部标签吗？将从客户身上移除 3 个标签。"' in html
    assert 'onclick="return confirm(this.dataset.confirm)"' in html


def test_a_tag_name_is_escaped_in_the_confirmation(client: Client, org: Org, tagged: People) -> None:
    services.create_tag(group=tagged.group, name="<b>\"x'")
    html = signed_in(client, org.hq).get("/tags/").content.decode()
    assert 'data-confirm="确定删除标签“&lt;b&gt;&quot;x&#x27;”吗？0 位客户带有该标签，删除后将被移除。"' in html
    assert "<b>\"x'" not in html


def test_hq_renames_a_tag(client: Client, org: Org, tagged: People) -> None:
    response = signed_in(client, org.hq).post(
        "/tags/", {"form": "rename_tag", "id": tagged.vip.pk, "name": " VVIP "}, follow=True
    )
    assert response.redirect_chain == [("/tags/", 302)]
    assert messages_of(response.content.decode()) == [("success", "标签“VIP”已重命名为“VVIP”。")]
    assert Tag.objects.get(pk=tagged.vip.pk).name == "VVIP"
    assert pairs() == {("Ada Wang", "VVIP"), ("Cai Zhang", "VVIP"), ("Bob Li", "Newbie")}
    assert audit_rows() == [("tag.rename", str(tagged.vip.pk), "VIP → VVIP", "hq")]


def test_hq_renames_a_group(client: Client, org: Org, tagged: People) -> None:
    response = signed_in(client, org.hq).post(
        "/tags/", {"form": "rename_group", "id": tagged.group.pk, "name": "Worth"}, follow=True
    )
    assert messages_of(response.content.decode()) == [("success", "标签分组“Value”已重命名为“Worth”。")]
    assert TagGroup.objects.get(pk=tagged.group.pk).name == "Worth"
    assert audit_rows() == [("tag_group.rename", str(tagged.group.pk), "Value → Worth", "hq")]


def test_hq_deletes_a_tag_and_its_carriers_lose_it(client: Client, org: Org, tagged: People) -> None:
    response = signed_in(client, org.hq).post("/tags/", {"form": "delete_tag", "id": tagged.vip.pk}, follow=True)
    html = response.content.decode()
    assert messages_of(html) == [("success", "标签“VIP”已删除：2 位客户不再带有该标签。")]
    assert f'data-tag-id="{tagged.vip.pk}"' not in html
    assert not Tag.objects.filter(pk=tagged.vip.pk).exists()
    assert pairs() == {("Bob Li", "Newbie")}
    assert audit_rows() == [("tag.delete", str(tagged.vip.pk), "VIP (2)", "hq")]


def test_hq_deletes_a_group_with_its_tags(client: Client, org: Org, tagged: People) -> None:
    response = signed_in(client, org.hq).post("/tags/", {"form": "delete_group", "id": tagged.group.pk}, follow=True)
    assert messages_of(response.content.decode()) == [
        ("success", "标签分组“Value”及其标签已删除：共从客户身上移除 3 个标签。")
    ]
    assert not TagGroup.objects.filter(pk=tagged.group.pk).exists()
    assert not Tag.objects.filter(pk__in=[tagged.vip.pk, tagged.newbie.pk]).exists()
    assert pairs() == set()
    assert audit_rows() == [("tag_group.delete", str(tagged.group.pk), "Value (2 tags, 3 on customers)", "hq")]


@pytest.mark.parametrize(
    ("form", "name", "expected"),
    [
        ("rename_tag", "Newbie", "该分组下已有同名标签。"),
        ("rename_tag", "", "名称长度须为 1 到 64 个字符。"),
        ("rename_tag", "   ", "名称长度须为 1 到 64 个字符。"),
        ("rename_tag", "x" * 65, "名称长度须为 1 到 64 个字符。"),
        ("rename_group", "y" * 65, "名称长度须为 1 到 64 个字符。"),
    ],
)
def test_a_refused_rename_says_why_and_changes_nothing(
    client: Client, org: Org, tagged: People, form: str, name: str, expected: str
) -> None:
    target = tagged.vip.pk if form == "rename_tag" else tagged.group.pk
    response = signed_in(client, org.hq).post("/tags/", {"form": form, "id": target, "name": name}, follow=True)
    assert messages_of(response.content.decode()) == [("error", expected)]
    assert Tag.objects.get(pk=tagged.vip.pk).name == "VIP"
    assert TagGroup.objects.get(pk=tagged.group.pk).name == "Value"
    assert audit_rows() == []


def test_a_duplicate_group_name_is_refused(client: Client, org: Org, tagged: People) -> None:
    services.create_tag_group(enterprise_id=org.enterprise.pk, name="Lifecycle")
    response = signed_in(client, org.hq).post(
        "/tags/", {"form": "rename_group", "id": tagged.group.pk, "name": "Lifecycle"}, follow=True
    )
    assert messages_of(response.content.decode()) == [("error", "已存在同名标签分组。")]
    assert TagGroup.objects.get(pk=tagged.group.pk).name == "Value"


def test_deleting_what_is_already_gone_says_so(client: Client, org: Org, tagged: People) -> None:
    signed_in(client, org.hq)
    client.post("/tags/", {"form": "delete_tag", "id": tagged.vip.pk}, follow=True)
    again = client.post("/tags/", {"form": "delete_tag", "id": tagged.vip.pk}, follow=True)  # a second click
    assert messages_of(again.content.decode()) == [("error", "该标签已不存在。")]
    gone = client.post("/tags/", {"form": "delete_group", "id": 424242}, follow=True)
    assert messages_of(gone.content.decode()) == [("error", "该标签分组已不存在。")]
    assert [row[0] for row in audit_rows()] == ["tag.delete"]


@pytest.mark.parametrize("who", ["n1_staff", "n1_manager", "north_manager"])
def test_only_hq_renames_or_deletes(client: Client, org: Org, tagged: People, who: str) -> None:
    signed_in(client, getattr(org, who))
    html = client.get("/tags/").content.decode()
    assert "data-edit-tag" not in html and "data-edit-group" not in html
    for data in [
        {"form": "rename_tag", "id": tagged.vip.pk, "name": "Mine"},
        {"form": "delete_tag", "id": tagged.vip.pk},
        {"form": "rename_group", "id": tagged.group.pk, "name": "Mine"},
        {"form": "delete_group", "id": tagged.group.pk},
    ]:
        assert client.post("/tags/", data).status_code == 403, data
    assert set(Tag.objects.values_list("name", flat=True)) == {"VIP", "Newbie"}
    assert len(pairs()) == 3
    assert audit_rows() == []


def test_the_audit_log_labels_the_changes(client: Client, org: Org, tagged: People) -> None:
    signed_in(client, org.hq)
    client.post("/tags/", {"form": "rename_tag", "id": tagged.newbie.pk, "name": "New"})
    client.post("/tags/", {"form": "delete_tag", "id": tagged.vip.pk})
    client.post("/tags/", {"form": "rename_group", "id": tagged.group.pk, "name": "Worth"})
    client.post("/tags/", {"form": "delete_group", "id": tagged.group.pk})
    html = client.get("/audit/", {"action": "tag"}).content.decode()
    for label, action in [
        ("重命名标签", "tag.rename"),
        ("删除标签", "tag.delete"),
        ("重命名标签分组", "tag_group.rename"),
        ("删除标签分组", "tag_group.delete"),
    ]:
        assert f'{label}<div class="faint small"><code>{action}</code></div>' in html
