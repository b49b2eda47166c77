"""Auto-pull routes and keyword groups managed in the console and over the API: list, create, edit, delete; a clash
with an OA keyword reply, a reply without {link} and a half-filled route row are refused on their field with their
code and write nothing; the routes keep the order they were given; every change is in the audit log; a keyword
freed by deleting its group can be used by an OA keyword reply again; store staff may not change any of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.state import current
from siyu.channels.models import ChannelAccount
from siyu.channels.official_account import services as oa_services
from siyu.channels.wecom import channel_codes, keyword_groups
from siyu.channels.wecom.auto_pull import RouteIn
from siyu.channels.wecom.models import GroupRoute, KeywordGroup
from siyu.core.models import AuditEntry
from siyu.customers.models import Tag
from siyu.org.scope import Scope
from tests.channels.oa.conftest import DEMO
from tests.channels.wecom.conftest import Wecom
from tests.channels.wecom.test_api import Api
from tests.channels.wecom.test_auto_pull_and_keywords import _group_code, _say, oa_account  # noqa: F401
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _rows(*rows: tuple[Any, Any, Any], extra: int = 1) -> dict[str, Any]:
    """A route formset's POST: (group code, tag, store) per row, then `extra` blank rows."""
    data: dict[str, Any] = {"routes-TOTAL_FORMS": len(rows) + extra, "routes-INITIAL_FORMS": 0,
                            "routes-MIN_NUM_FORMS": 0, "routes-MAX_NUM_FORMS": 1000}
    for i, (code, tag, store) in enumerate(rows):
        data.update({f"routes-{i}-group_code": code or "", f"routes-{i}-tag": tag or "",
                     f"routes-{i}-store": store or ""})
    return data


def _routes(**owner: Any) -> list[tuple[int, int | None, int | None]]:
    return [(r.group_code_id, r.tag_id, r.store_id) for r in GroupRoute.objects.filter(**owner).order_by("sort")]


def _tag(w: Wecom, name: str) -> Tag:
    return TagFactory.create(group=TagGroupFactory.create(enterprise=w.org.enterprise, name=f"组{name}"), name=name)


def test_a_manager_edits_a_channel_codes_routes_in_order_and_a_half_row_is_refused(wecom: Wecom) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    vip, general = _group_code(wecom, "VIP群", "vip"), _group_code(wecom, "福利群", "all")
    tag = _tag(wecom, "VIP")
    code = channel_codes.create_channel_code(scope=hq, account_id=wecom.account.pk, name="海报",
                                             staff_ids=[wecom.org.n1_staff.pk], state="poster")
    path = f"/channels/wecom/codes/{code.pk}/group-routes/"
    assert wecom.org.n1_staff.user is not None and wecom.org.n1_manager.user is not None
    wecom.client.force_login(wecom.org.n1_staff.user)
    assert wecom.client.get(path).status_code == 403
    assert wecom.client.post(path, _rows((general.pk, None, None))).status_code == 403

    wecom.client.force_login(wecom.org.n1_manager.user)
    half = wecom.client.post(path, _rows((vip.pk, tag.pk, None), (None, tag.pk, None)))
    assert half.status_code == 200
    second_row = half.content.decode().split('id="route-1"')[1].split("</fieldset>")[0]
    assert "请选择这条规则指向的群活码" in second_row  # the refusal sits on the half-filled row
    assert _routes(channel_code=code) == []

    saved = wecom.client.post(path, _rows((vip.pk, tag.pk, None), (None, None, None),
                                          (general.pk, None, wecom.org.n1_staff.store_id)))
    assert saved.status_code == 302
    assert _routes(channel_code=code) == [(vip.pk, tag.pk, None), (general.pk, None, wecom.org.n1_staff.store_id)]
    page = wecom.client.get(f"/channels/wecom/codes/{code.pk}/").content.decode()
    assert page.index(f'data-route="{vip.pk}"') < page.index(f'data-route="{general.pk}"')
    # The edit page comes back with the saved rows filled in (their chips named after the rows).
    form = wecom.client.get(path).content.decode()
    assert f'name="routes-0-group_code" value="{vip.pk}"' in form and f'name="routes-0-tag" value="{tag.pk}"' in form

    cleared = wecom.client.post(path, _rows())
    assert cleared.status_code == 302 and _routes(channel_code=code) == []
    assert AuditEntry.objects.filter(action="wecom.code.group_routes", target_id=str(code.pk)).count() == 2


def test_hq_creates_edits_and_deletes_a_keyword_group_in_the_console(
    wecom: Wecom, oa_account: ChannelAccount  # noqa: F811
) -> None:
    ent = wecom.org.enterprise.pk
    vip, general = _group_code(wecom, "VIP群", "vip"), _group_code(wecom, "福利群", "all")
    tag = _tag(wecom, "VIP")
    oa_services.create_keyword_reply(enterprise_id=ent, account_id=oa_account.pk, keyword="福利", match="contains",
                                     content="看菜单")
    assert wecom.org.hq.user is not None and wecom.org.n1_manager.user is not None
    wecom.client.force_login(wecom.org.n1_manager.user)
    assert wecom.client.get("/channels/wecom/keyword-groups/new/").status_code == 403

    wecom.client.force_login(wecom.org.hq.user)
    new = "/channels/wecom/keyword-groups/new/"
    fields = {"form_key": "kg-1", "oa_account": oa_account.pk, "keyword": "领福利", "reply_text": ""}
    body = {**fields, **_rows((vip.pk, tag.pk, None), (general.pk, None, None))}
    clash = wecom.client.post(new, body)
    assert clash.status_code == 200 and "keyword_clash" in clash.content.decode()
    no_link = wecom.client.post(new, {**body, "form_key": "kg-2", "keyword": "进群", "reply_text": "快来"})
    assert no_link.status_code == 200 and "reply_without_link" in no_link.content.decode()
    no_route = wecom.client.post(new, {**fields, "form_key": "kg-3", "keyword": "进群", **_rows()})
    assert no_route.status_code == 200 and "no_routes" in no_route.content.decode()
    assert not KeywordGroup.objects.exists() and not GroupRoute.objects.exists()

    created = wecom.client.post(new, {**body, "form_key": "kg-4", "keyword": " 进群 "})
    assert created.status_code == 302, created.content.decode()
    group = KeywordGroup.objects.get()
    assert group.keyword == "进群"
    assert _routes(keyword_group=group) == [(vip.pk, tag.pk, None), (general.pk, None, None)]
    listing = wecom.client.get("/channels/wecom/keyword-groups/").content.decode()
    assert f'data-keyword-group-id="{group.pk}"' in listing and "VIP群, 福利群" in listing

    # Edit: a new word, a reply with {link}, the fallback first, paused. The follower is then not answered.
    detail = f"/channels/wecom/keyword-groups/{group.pk}/"
    edited = wecom.client.post(detail, {"form_key": "x", "keyword": "入群", "reply_text": "戳这里 {link}",
                                        **_rows((general.pk, None, None))})
    assert edited.status_code == 302
    group.refresh_from_db()
    assert (group.keyword, group.reply_text, group.is_active) == ("入群", "戳这里 {link}", False)
    assert _routes(keyword_group=group) == [(general.pk, None, None)]
    current().oa.add_follower(DEMO.app_id, openid="oSomeone", unionid=None, subscribed=True)
    assert _say(wecom, oa_account, "oSomeone", "入群") == ""
    again = wecom.client.post(detail, {"form_key": "x", "keyword": "入群", "reply_text": "戳这里 {link}",
                                       "is_active": "on", **_rows((general.pk, None, None))})
    assert again.status_code == 302, again.content.decode()
    group.refresh_from_db()
    assert group.is_active
    assert _say(wecom, oa_account, "oSomeone", "入群") == f"戳这里 {general.qr_code}"

    # Store staff read it and may not change it.
    assert wecom.org.n1_staff.user is not None
    wecom.client.force_login(wecom.org.n1_staff.user)
    read = wecom.client.get(detail)
    assert read.status_code == 200
    assert "福利群" in read.content.decode() and "keyword-group-form" not in read.content.decode()
    assert wecom.client.post(f"{detail}delete/").status_code == 403

    wecom.client.force_login(wecom.org.hq.user)
    assert wecom.client.post(f"{detail}delete/").status_code == 302
    assert not KeywordGroup.objects.exists() and not GroupRoute.objects.exists()
    # The word is free again for an OA keyword reply.
    oa_services.create_keyword_reply(enterprise_id=ent, account_id=oa_account.pk, keyword="入群", match="exact",
                                     content="现在由公众号回答")
    actions = list(AuditEntry.objects.filter(target_type="keyword_group").order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["wecom.keyword_group.create", "wecom.keyword_group.update", "wecom.keyword_group.update",
                       "wecom.keyword_group.delete"]


def test_the_api_patches_and_deletes_a_keyword_group_with_field_codes(
    wecom: Wecom, oa_account: ChannelAccount  # noqa: F811
) -> None:
    hq, ent = Scope.hq(wecom.org.enterprise.pk), wecom.org.enterprise.pk
    general = _group_code(wecom, "福利群", "all")
    group = keyword_groups.create_keyword_group(scope=hq, oa_account_id=oa_account.pk, keyword="进群",
                                                routes=[RouteIn(group_code_id=general.pk)])
    oa_services.create_keyword_reply(enterprise_id=ent, account_id=oa_account.pk, keyword="优惠", match="exact",
                                     content="看菜单")
    api, path = Api(wecom.org.hq), f"/api/channels/wecom/keyword-groups/{group.pk}"

    def patch(who: Api, body: dict[str, Any]) -> Any:
        return who.client.patch(path, json.dumps(body), content_type="application/json", headers=who.headers)

    clash = patch(api, {"keyword": "优惠", "reply_text": "新 {link}"})
    assert clash.status_code == 409 and (clash.json()["code"], clash.json()["field"]) == ("keyword_clash", "keyword")
    no_link = patch(api, {"reply_text": "没有链接"})
    assert no_link.status_code == 422 and no_link.json()["field"] == "reply_text"
    unknown = patch(api, {"routes": [{"group_code_id": general.pk, "tag_id": 999999}]})
    assert unknown.status_code == 404 and (unknown.json()["field"], unknown.json()["index"]) == ("routes", 0)
    group.refresh_from_db()
    assert (group.keyword, group.reply_text) == ("进群", "")  # nothing of the refused patches was written
    assert patch(Api(wecom.org.n1_manager), {"is_active": False}).status_code == 403

    ok = patch(api, {"is_active": False, "reply_text": "点这里 {link}"})
    assert ok.status_code == 200 and (ok.json()["is_active"], ok.json()["reply_text"]) == (False, "点这里 {link}")
    assert ok.json()["routes"] == [{"group_code_id": general.pk, "tag_id": None, "store_id": None}]

    assert api.client.delete(path, headers=Api(wecom.org.n1_staff).headers).status_code == 403
    gone = api.client.delete(path, headers=api.headers)
    assert gone.status_code == 204 and api.get(path).status_code == 404
    assert api.client.delete(path, headers=api.headers).status_code == 404
