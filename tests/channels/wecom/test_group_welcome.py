"""Group welcome templates (入群欢迎语素材) against the simulator: the add records WeCom's template id and every later
change is an edit of it, a delete removes it, the platform's refusals are kept with their meaning, bad input is
refused before anything is queued, and templates bind to group codes and groups (a group's own wins)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from simulator.wecom import GroupWelcomeTemplateState
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom import errcodes, group_codes, group_welcome, queries
from siyu.channels.wecom.models import (
    CustomerGroup,
    GroupWelcome,
    GroupWelcomeBinding,
    GroupWelcomeStatus,
    OutboundCall,
)
from siyu.core.audit import AuditEntry
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.org.scope import Scope, scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.races import race

pytestmark = pytest.mark.django_db(transaction=True)

LINK = {"msgtype": "link", "link": {"title": "双十二会员日", "url": "https://m.example.com/d12", "desc": "全场8折"}}


def _hq(w: Wecom) -> Scope:
    return Scope.hq(w.org.enterprise.pk)


def _create(w: Wecom, **kw: object) -> GroupWelcome:
    fields: dict[str, object] = {"name": "快闪群欢迎语", "text": "欢迎 %NICKNAME% 入群！", "attachment": LINK}
    fields.update(kw)
    welcome = group_welcome.create_group_welcome(scope=_hq(w), account_id=w.account.pk, **fields)  # type: ignore[arg-type]
    welcome.refresh_from_db()
    return welcome


def _templates(w: Wecom) -> dict[str, GroupWelcomeTemplateState]:
    return w.platform.corps[CORP_ID].group_welcome_templates


def test_a_template_is_added_once_and_its_id_recorded(wecom: Wecom) -> None:
    welcome = _create(wecom)
    assert welcome.status == GroupWelcomeStatus.ACTIVE
    assert (welcome.version, welcome.pushed_version) == (1, 1)
    on_platform = _templates(wecom)[welcome.template_id]
    assert on_platform.text == "欢迎 %NICKNAME% 入群！"
    assert on_platform.attachment == {"link": LINK["link"]}
    assert OutboundCall.objects.filter(method="add_group_welcome_template").count() == 1
    assert AuditEntry.objects.filter(action="wecom.group_welcome.create", target_id=str(welcome.pk)).exists()


def test_an_edit_changes_the_same_template_and_an_unchanged_save_pushes_nothing(wecom: Wecom) -> None:
    welcome = _create(wecom)
    image = {"msgtype": "image", "image": {"pic_url": "https://p.qpic.cn/welcome.png"}}
    for _ in range(2):  # the second call changes nothing: no new version, no call
        group_welcome.update_group_welcome(scope=_hq(wecom), welcome_id=welcome.pk, text="新的欢迎语",
                                           attachment=image)
    welcome.refresh_from_db()
    assert (welcome.version, welcome.pushed_version, welcome.status) == (2, 2, GroupWelcomeStatus.ACTIVE)
    assert list(_templates(wecom)) == [welcome.template_id]
    assert _templates(wecom)[welcome.template_id].attachment == {"image": {"pic_url": "https://p.qpic.cn/welcome.png"}}
    assert OutboundCall.objects.filter(method="edit_group_welcome_template").count() == 1
    group_welcome.update_group_welcome(scope=_hq(wecom), welcome_id=welcome.pk, clear_attachment=True)
    assert _templates(wecom)[welcome.template_id].attachment == {}


def test_a_mini_program_card_needs_a_cover_wecom_knows(wecom: Wecom) -> None:
    card = {"msgtype": "miniprogram", "miniprogram": {"title": "会员中心", "pic_media_id": "MEDIA_GONE",
                                                      "appid": "wx1234567890", "page": "pages/index.html"}}
    refused = _create(wecom, attachment=card)
    assert (refused.status, refused.errcode, refused.template_id) == (GroupWelcomeStatus.FAILED, 40007, "")
    assert str(errcodes.MEANINGS[40007]) in errcodes.describe(refused.errcode)
    wecom.platform.corps[CORP_ID].media["MEDIA_OK"] = {"type": "image", "filename": "c.png", "size": 1, "data": b""}
    card["miniprogram"]["pic_media_id"] = "MEDIA_OK"  # type: ignore[index]
    group_welcome.update_group_welcome(scope=_hq(wecom), welcome_id=refused.pk, attachment=card)
    refused.refresh_from_db()
    assert refused.status == GroupWelcomeStatus.ACTIVE and refused.errcode is None
    assert _templates(wecom)[refused.template_id].attachment["miniprogram"]["pic_media_id"] == "MEDIA_OK"


def test_the_platform_limit_and_a_template_made_elsewhere_are_refusals_with_meaning(wecom: Wecom) -> None:
    wecom.platform.limits.group_welcome_templates_max = 1
    _templates(wecom)["msgADMIN"] = GroupWelcomeTemplateState("msgADMIN", "管理后台建的", {}, creator="console")
    full = _create(wecom)
    assert (full.status, full.errcode) == (GroupWelcomeStatus.FAILED, 41055)
    assert errcodes.describe(full.errcode).startswith(str(errcodes.MEANINGS[41055]))
    wecom.platform.limits.group_welcome_templates_max = 100
    GroupWelcome.objects.filter(pk=full.pk).update(template_id="msgADMIN", status=GroupWelcomeStatus.ACTIVE)
    group_welcome.update_group_welcome(scope=_hq(wecom), welcome_id=full.pk, text="改一下")
    full.refresh_from_db()
    assert (full.status, full.errcode) == (GroupWelcomeStatus.FAILED, 41058)
    assert _templates(wecom)["msgADMIN"].text == "管理后台建的"


def test_delete_removes_it_on_wecom_and_its_bindings(wecom: Wecom) -> None:
    welcome = _create(wecom)
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="门店群")
    wecom.deliver()
    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    group_welcome.bind_group(scope=_hq(wecom), group_id=group.pk, welcome_id=welcome.pk)
    group_welcome.delete_group_welcome(scope=_hq(wecom), welcome_id=welcome.pk)
    assert _templates(wecom) == {}
    assert not GroupWelcomeBinding.objects.exists()
    with pytest.raises(NotFound):
        queries.get_group_welcome(_hq(wecom), welcome.pk)
    with pytest.raises(NotFound):  # a second delete is a 404, not a second call
        group_welcome.delete_group_welcome(scope=_hq(wecom), welcome_id=welcome.pk)
    assert OutboundCall.objects.filter(method="del_group_welcome_template").count() == 1


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"text": "欢" * 1001}, "too_long", "text"),  # 3003 bytes
        ({"text": "", "attachment": None}, "empty", "text"),
        ({"attachment": {"msgtype": "video", "video": {"media_id": "x"}}}, "unknown_msgtype", "attachment.msgtype"),
        ({"attachment": {"msgtype": "link", "link": "https://x"}}, "attachment_fields_required", "attachment.link"),
        ({"attachment": {"msgtype": "image"}}, "attachment_fields_required", "attachment.image"),
        ({"attachment": {"msgtype": "image", "image": {"media_id": "a", "pic_url": "https://x/y.png"}}},
         "image_source", "attachment"),
        ({"attachment": {"msgtype": "link", "link": {"title": "标" * 43, "url": "https://x"}}},
         "too_long", "attachment.link.title"),
        ({"attachment": {"msgtype": "link", "link": {"title": "t", "url": "javascript:alert(1)"}}},
         "not_http_url", "attachment.link.url"),
        ({"attachment": {"msgtype": "miniprogram", "miniprogram": {"title": "t", "appid": "wx1"}}},
         "required", "attachment.miniprogram.pic_media_id"),
        ({"name": " "}, "name_length", "name"),
    ],
)
def test_bad_input_is_refused_before_anything_is_queued(wecom: Wecom, fields: dict[str, object], code: str,
                                                        field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _create(wecom, **fields)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert not GroupWelcome.objects.exists() and not OutboundCall.objects.exists()


def test_only_hq_writes_templates_and_siyu_keeps_to_the_corp_limit(wecom: Wecom) -> None:
    with pytest.raises(PermissionDenied):
        group_welcome.create_group_welcome(scope=scope_for_staff(wecom.org.n1_manager), account_id=wecom.account.pk,
                                           name="x", text="hi")
    GroupWelcome.objects.bulk_create([
        GroupWelcome(enterprise=wecom.org.enterprise, account=wecom.account, name=f"t{i}", text="x",
                     status=GroupWelcomeStatus.ACTIVE, template_id=f"msg{i}")
        for i in range(group_welcome.TEMPLATES_PER_CORP)
    ])
    with pytest.raises(Conflict) as caught:
        _create(wecom)
    assert caught.value.code == "template_limit"


def test_bindings_a_groups_own_template_wins_over_its_codes(wecom: Wecom) -> None:
    chats = [wecom.platform.create_chat(CORP_ID, "n1_staff", name=f"快闪群{i}") for i in range(2)]
    wecom.deliver()
    groups = [CustomerGroup.objects.get(chat_id=c.chat_id) for c in chats]
    code = group_codes.create_group_code(scope=_hq(wecom), account_id=wecom.account.pk, name="码",
                                         group_ids=[g.pk for g in groups], cap=10)
    for_code, for_group = _create(wecom, name="码的"), _create(wecom, name="群的")
    manager = scope_for_staff(wecom.org.n1_manager)
    group_welcome.bind_group_code(scope=manager, code_id=code.pk, welcome_id=for_code.pk)
    group_welcome.bind_group(scope=manager, group_id=groups[1].pk, welcome_id=for_group.pk)
    assert queries.group_welcome_of(manager, groups[0].pk) == queries.EffectiveWelcome(for_code, "code")
    assert queries.group_welcome_of(manager, groups[1].pk) == queries.EffectiveWelcome(for_group, "group")
    group_welcome.bind_group(scope=manager, group_id=groups[1].pk, welcome_id=None)
    assert queries.group_welcome_of(manager, groups[1].pk).source == "code"
    assert AuditEntry.objects.filter(action="wecom.group_welcome.bind").count() == 3
    with pytest.raises(PermissionDenied):
        group_welcome.bind_group(scope=scope_for_staff(wecom.org.n1_staff), group_id=groups[0].pk,
                                 welcome_id=for_group.pk)
    with pytest.raises(NotFound):  # another enterprise does not see the group
        group_welcome.bind_group(scope=Scope.hq(999_999), group_id=groups[0].pk, welcome_id=for_group.pk)


def test_a_template_of_another_corp_is_refused_on_binding(wecom: Wecom) -> None:
    other = channel_services.ensure_account(
        enterprise_id=wecom.org.enterprise.pk, kind=AccountKind.WECOM, name="Other corp", app_id="wwothercorp",
        agent_id="1000003", secret="s", token="t", encoding_aes_key="b" * 43, base_url=wecom.account.base_url,
    )
    foreign = GroupWelcome.objects.create(enterprise=wecom.org.enterprise, account=other, name="别的企业",
                                          text="x", status=GroupWelcomeStatus.ACTIVE)
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="门店群")
    wecom.deliver()
    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    with pytest.raises(ValidationFailed) as caught:
        group_welcome.bind_group(scope=_hq(wecom), group_id=group.pk, welcome_id=foreign.pk)
    assert (caught.value.code, caught.value.field) == ("welcome_of_other_corp", "welcome_id")
    assert not GroupWelcomeBinding.objects.exists()


def test_two_creates_at_once_for_the_last_slot_make_one_template(wecom: Wecom) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")
    GroupWelcome.objects.bulk_create([
        GroupWelcome(enterprise=wecom.org.enterprise, account=wecom.account, name=f"t{i}", text="x",
                     status=GroupWelcomeStatus.ACTIVE, template_id=f"msg{i}")
        for i in range(group_welcome.TEMPLATES_PER_CORP - 1)
    ])
    outcomes = race(2, lambda i: group_welcome.create_group_welcome(
        scope=_hq(wecom), account_id=wecom.account.pk, name=f"并发{i}", text="欢迎"))
    assert outcomes == Counter({"ok": 1, "template_limit": 1})
    assert GroupWelcome.objects.count() == group_welcome.TEMPLATES_PER_CORP
