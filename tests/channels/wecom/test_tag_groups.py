"""Tag-built groups (标签建群) against the simulator: customers with all (or any) of the tags are invited, each by a
staff member who follows them, through one mass send per staff member carrying the group code's join link; progress
(who sent, who got it) and the result (who joined one of the code's groups afterwards) are counted; refusals carry
codes and write nothing; store staff may not start one."""

from __future__ import annotations

import pytest

from siyu.channels.wecom import group_codes, mass_sends, queries, tag_groups
from siyu.channels.wecom.models import CustomerGroup, MassSend, MassSendSender
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.customers import services as customer_services
from siyu.org.scope import Scope, scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api
from tests.channels.wecom.test_mass_send import _cid, _customers
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_customers_with_all_tags_are_invited_by_their_staff_and_joins_are_counted(wecom: Wecom) -> None:
    ent, hq = wecom.org.enterprise.pk, Scope.hq(wecom.org.enterprise.pk)
    n1_a, n1_b, n1_c = _customers(wecom, 3, "n1_staff")
    n2_a, n2_b = _customers(wecom, 2, "n2_staff")
    tag_group = TagGroupFactory.create(enterprise=wecom.org.enterprise, name="兴趣")
    mum, runner = (TagFactory.create(group=tag_group, name=n) for n in ("宝妈", "跑步"))
    # both tags: n1_a, n2_a; only 宝妈: n1_b; only 跑步: n2_b; none: n1_c
    customer_services.tag_customers(enterprise_id=ent, customer_ids=[_cid(n1_a), _cid(n2_a), _cid(n1_b)],
                                    tag_ids=[mum.pk])
    customer_services.tag_customers(enterprise_id=ent, customer_ids=[_cid(n1_a), _cid(n2_a), _cid(n2_b)],
                                    tag_ids=[runner.pk])
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="宝妈跑团")
    wecom.deliver()
    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    code = group_codes.create_group_code(scope=hq, account_id=wecom.account.pk, name="宝妈跑团", group_ids=[group.pk],
                                         cap=100, state="mumrun")

    assert tag_groups.owners(hq, wecom.account.pk, [mum.pk, runner.pk], "all") == {
        wecom.org.n1_staff.pk: 1, wecom.org.n2_staff.pk: 1}
    assert tag_groups.owners(hq, wecom.account.pk, [mum.pk, runner.pk], "any") == {
        wecom.org.n1_staff.pk: 2, wecom.org.n2_staff.pk: 2}

    task = tag_groups.create_tag_group(scope=hq, account_id=wecom.account.pk, group_code_id=code.pk,
                                       tag_ids=[mum.pk, runner.pk], match="all", text="{group}开团啦")
    senders = {s.userid: s for s in MassSendSender.objects.filter(mass_send=task)}
    assert set(senders) == {"n1_staff", "n2_staff"}
    code.refresh_from_db()
    for userid, external in (("n1_staff", n1_a), ("n2_staff", n2_a)):
        message = wecom.platform.corps[CORP_ID].messages[senders[userid].msgid]
        assert message.recipients == [external]
        assert message.text == "宝妈跑团开团啦"
        assert [a["link"]["url"] for a in message.attachments] == [code.qr_code]
    results = queries.tag_group_results(hq, task.pk)
    assert (results.staff_total, results.staff_sent, results.invited, results.delivered, results.joined) == (
        2, 0, 2, 0, 0)

    # n1 confirms in the client; n1_a joins, and so does n1_c (not invited: not counted).
    wecom.platform.confirm_mass_send(CORP_ID, senders["n1_staff"].msgid)
    mass_sends.poll_mass_send(mass_send_id=task.pk)
    wecom.platform.join_chat(CORP_ID, chat.chat_id, [n1_a, n1_c])
    wecom.deliver()
    results = queries.tag_group_results(hq, task.pk)
    assert (results.staff_sent, results.delivered, results.joined) == (1, 1, 1)

    # The console: the list and the task's page with the same counts; n1's manager sees only n1's part.
    assert wecom.org.hq.user is not None and wecom.org.n1_manager.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    assert f'data-tag-group-id="{task.pk}"' in wecom.client.get("/channels/wecom/tag-built-groups/").content.decode()
    page = wecom.client.get(f"/channels/wecom/tag-built-groups/{task.pk}/").content.decode()
    assert 'data-kpi="joined"><small>' in page and f'data-staff-id="{wecom.org.n2_staff.pk}"' in page
    assert queries.tag_group_results(scope_for_staff(wecom.org.n1_manager), task.pk).staff_total == 1


def test_refusals_carry_codes_and_write_nothing(wecom: Wecom) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    (only,) = _customers(wecom, 1, "n1_staff")
    tag = TagFactory.create(group=TagGroupFactory.create(enterprise=wecom.org.enterprise, name="等级"), name="VIP")
    nobody = TagFactory.create(group=tag.group, name="SVIP")
    customer_services.tag_customers(enterprise_id=wecom.org.enterprise.pk, customer_ids=[_cid(only)],
                                    tag_ids=[tag.pk])
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="VIP群")
    wecom.deliver()
    code = group_codes.create_group_code(scope=hq, account_id=wecom.account.pk, name="VIP群",
                                         group_ids=[CustomerGroup.objects.get(chat_id=chat.chat_id).pk], cap=50,
                                         state="vip")
    with pytest.raises(ValidationFailed) as empty:
        tag_groups.create_tag_group(scope=hq, account_id=wecom.account.pk, group_code_id=code.pk,
                                    tag_ids=[tag.pk, nobody.pk], match="all")
    assert (empty.value.code, empty.value.field) == ("no_customers", "tag_ids")
    with pytest.raises(PermissionDenied):
        tag_groups.create_tag_group(scope=scope_for_staff(wecom.org.n1_staff), account_id=wecom.account.pk,
                                    group_code_id=code.pk, tag_ids=[tag.pk])
    assert not MassSend.objects.exists()

    api = Api(wecom.org.n1_manager)
    body = {"account_id": wecom.account.pk, "group_code_id": code.pk, "tag_ids": [tag.pk], "match": "both"}
    bad = api.post("/api/channels/wecom/tag-built-groups", body)
    assert bad.status_code == 422, bad.content
    staff = Api(wecom.org.n1_staff)
    assert staff.post("/api/channels/wecom/tag-built-groups", {**body, "match": "any"}).status_code == 403
    assert not MassSend.objects.exists()
    made = api.post("/api/channels/wecom/tag-built-groups", {**body, "match": "any"})
    assert made.status_code == 201, made.content
    assert (made.json()["invited"], made.json()["staff_total"], made.json()["tag_ids"]) == (1, 1, [tag.pk])
    assert api.get(f"/api/channels/wecom/tag-built-groups/{made.json()['id']}").json()["match"] == "any"
