"""Auto-pull (自动拉群) and keyword groups (关键词拉群) end to end: a channel code's welcome carries the join link of
the group code chosen by the customer's tags (or store); a follower's keyword to the Official Account is answered
with the invitation of the group chosen by their tags; a keyword that clashes with an OA keyword reply is refused
both ways with `keyword_clash`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from defusedxml.ElementTree import fromstring

from simulator import oa as oa_sim
from simulator.server import SimulatorServer
from simulator.state import current, reset
from siyu.channels.models import ChannelAccount
from siyu.channels.official_account import services as oa_services
from siyu.channels.wecom import auto_pull, channel_codes, group_codes, keyword_groups
from siyu.channels.wecom.auto_pull import RouteIn
from siyu.channels.wecom.models import ChannelCode, CustomerGroup, GroupCode
from siyu.core.errors import Conflict
from siyu.customers import services as customer_services
from siyu.customers.models import IdentityKind
from siyu.customers.services import IdentityInput
from siyu.org.scope import Scope
from tests.channels.oa.conftest import DEMO
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _group_code(w: Wecom, name: str, state: str) -> GroupCode:
    chat = w.platform.create_chat(CORP_ID, "n1_staff", name=name)
    w.deliver()
    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    code = group_codes.create_group_code(scope=Scope.hq(w.org.enterprise.pk), account_id=w.account.pk, name=name,
                                         group_ids=[group.pk], cap=100, state=state)
    code.refresh_from_db()
    assert code.qr_code
    return code


def _welcome_links(w: Wecom) -> list[str]:
    welcome = w.platform.welcomes(CORP_ID)[-1]
    return [a["link"]["url"] for a in welcome.attachments if a.get("msgtype") == "link"]


def test_the_welcome_carries_the_group_chosen_by_the_customers_tags(wecom: Wecom) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    tag_group = TagGroupFactory.create(enterprise=wecom.org.enterprise, name="兴趣")
    mum, runner = (TagFactory.create(group=tag_group, name=n) for n in ("宝妈", "跑步"))
    mum_code, run_code, general = (_group_code(wecom, n, s) for n, s in
                                   (("宝妈群", "mum"), ("跑步群", "run"), ("福利群", "all")))
    code = channel_codes.create_channel_code(scope=hq, account_id=wecom.account.pk, name="门店海报",
                                             staff_ids=[wecom.org.n1_staff.pk], tag_ids=[runner.pk],
                                             welcome_text="{name}，欢迎", state="poster")
    auto_pull.set_channel_code_routes(scope=hq, code_id=code.pk, routes=[
        RouteIn(group_code_id=mum_code.pk, tag_id=mum.pk), RouteIn(group_code_id=run_code.pk, tag_id=runner.pk),
        RouteIn(group_code_id=general.pk)])
    code = ChannelCode.objects.get(pk=code.pk)

    # A new customer gets the code's auto tag 跑步: the runners' group.
    wecom.platform.scan(CORP_ID, code.config_id)
    assert wecom.deliver() == [200]
    assert _welcome_links(wecom) == [run_code.qr_code]

    # A known customer tagged 宝妈 (known by unionid) scans the same code: the first matching route, the mums' group.
    known = customer_services.resolve_customer(
        enterprise_id=wecom.org.enterprise.pk, identities=[IdentityInput(kind=IdentityKind.UNIONID,
                                                                         value="o_known_mum_000000000000001")],
        defaults={"name": "王妈妈"})
    customer_services.tag_customers(enterprise_id=wecom.org.enterprise.pk, customer_ids=[known.pk], tag_ids=[mum.pk])
    person = wecom.platform.new_person(CORP_ID, name="王妈妈", unionid="o_known_mum_000000000000001")
    wecom.platform.scan(CORP_ID, code.config_id, contact=person)
    assert wecom.deliver() == [200]
    assert _welcome_links(wecom) == [mum_code.qr_code]

    # With only the fallback route, everyone gets the general group.
    auto_pull.set_channel_code_routes(scope=hq, code_id=code.pk, routes=[RouteIn(group_code_id=general.pk)])
    wecom.platform.scan(CORP_ID, code.config_id)
    wecom.deliver()
    assert _welcome_links(wecom) == [general.qr_code]


@pytest.fixture
def oa_account(wecom: Wecom) -> Iterator[ChannelAccount]:
    with SimulatorServer(port=0, mounts={"/oa": oa_sim.make_app(reset().oa)}) as server:
        account = oa_services.connect_account(
            enterprise_id=wecom.org.enterprise.pk, name="Test OA", app_id=DEMO.app_id, secret=DEMO.secret,
            token=DEMO.token, encoding_aes_key=DEMO.encoding_aes_key, base_url=server.base_url + "/oa")
        current().oa.app(DEMO.app_id).account.mode = "plain"  # plain-text callbacks on both sides
        if account.callback_mode != "plain":
            account = oa_services.set_callback_mode(enterprise_id=account.enterprise_id, account_id=account.pk,
                                                    mode="plain")
        yield account


def _say(w: Wecom, account: ChannelAccount, openid: str, text: str) -> str:
    sim_account = current().oa.app(DEMO.app_id).account
    xml = oa_sim.text_xml(sim_account, openid, content=text)
    query, body = oa_sim.sign_callback(sim_account, xml, openid=openid)
    response = w.client.post(f"/oa/callback/{account.pk}/?{urlencode(query)}", data=body, content_type="text/xml")
    assert response.status_code == 200
    if response.content == b"success":
        return ""
    node = fromstring(response.content).find("Content")
    return node.text if node is not None and node.text else ""


def test_a_keyword_to_the_oa_answers_with_the_group_for_the_senders_tags(
    wecom: Wecom, oa_account: ChannelAccount
) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    vip = TagFactory.create(group=TagGroupFactory.create(enterprise=wecom.org.enterprise, name="等级"), name="VIP")
    vip_code, general = _group_code(wecom, "VIP群", "vip"), _group_code(wecom, "福利群", "all")
    keyword_groups.create_keyword_group(scope=hq, oa_account_id=oa_account.pk, keyword="进群", routes=[
        RouteIn(group_code_id=vip_code.pk, tag_id=vip.pk), RouteIn(group_code_id=general.pk)])
    current().oa.add_follower(DEMO.app_id, openid="oVipFollower", unionid=None, subscribed=True)
    current().oa.add_follower(DEMO.app_id, openid="oPlainFollower", unionid=None, subscribed=True)
    vip_customer = customer_services.resolve_customer(
        enterprise_id=wecom.org.enterprise.pk,
        identities=[IdentityInput(kind=IdentityKind.OA_OPENID, value="oVipFollower", account=DEMO.app_id)],
        defaults={"name": "贵宾"})
    customer_services.tag_customers(enterprise_id=wecom.org.enterprise.pk, customer_ids=[vip_customer.pk],
                                    tag_ids=[vip.pk])

    assert _say(wecom, oa_account, "oVipFollower", " 进群 ") == f"点击链接加入群聊：{vip_code.qr_code}"
    assert _say(wecom, oa_account, "oPlainFollower", "进群") == f"点击链接加入群聊：{general.qr_code}"
    assert _say(wecom, oa_account, "oPlainFollower", "天气") == ""


def test_a_keyword_clashing_with_an_oa_keyword_reply_is_refused_both_ways(
    wecom: Wecom, oa_account: ChannelAccount
) -> None:
    hq, ent = Scope.hq(wecom.org.enterprise.pk), wecom.org.enterprise.pk
    general = _group_code(wecom, "福利群", "all")
    oa_services.create_keyword_reply(enterprise_id=ent, account_id=oa_account.pk, keyword="福利", match="contains",
                                     content="看菜单")
    with pytest.raises(Conflict) as clash:  # "领福利群" contains 福利: the OA rule would answer it too
        keyword_groups.create_keyword_group(scope=hq, oa_account_id=oa_account.pk, keyword="领福利群",
                                            routes=[RouteIn(group_code_id=general.pk)])
    assert (clash.value.code, clash.value.field) == ("keyword_clash", "keyword")

    keyword_groups.create_keyword_group(scope=hq, oa_account_id=oa_account.pk, keyword="进群",
                                        routes=[RouteIn(group_code_id=general.pk)])
    with pytest.raises(Conflict) as reverse:
        oa_services.create_keyword_reply(enterprise_id=ent, account_id=oa_account.pk, keyword="进群", match="exact",
                                         content="重复")
    assert (reverse.value.code, reverse.value.field) == ("keyword_clash", "keyword")


def test_the_api_sets_routes_and_refuses_a_clashing_keyword_with_its_code(
    wecom: Wecom, oa_account: ChannelAccount
) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    general = _group_code(wecom, "福利群", "all")
    code = channel_codes.create_channel_code(scope=hq, account_id=wecom.account.pk, name="海报",
                                             staff_ids=[wecom.org.n1_staff.pk], state="poster2")
    api = Api(wecom.org.hq)
    put = api.client.put(f"/api/channels/wecom/codes/{code.pk}/group-routes",
                         json.dumps({"routes": [{"group_code_id": general.pk}]}), content_type="application/json",
                         headers=api.headers)
    assert put.status_code == 200 and put.json() == [{"group_code_id": general.pk, "tag_id": None, "store_id": None}]
    oa_services.create_keyword_reply(enterprise_id=wecom.org.enterprise.pk, account_id=oa_account.pk,
                                     keyword="进群", match="exact", content="旧回复")
    body = {"oa_account_id": oa_account.pk, "keyword": "进群", "routes": [{"group_code_id": general.pk}]}
    clash = api.post("/api/channels/wecom/keyword-groups", body)
    assert clash.status_code == 409 and clash.json()["code"] == "keyword_clash"
    created = api.post("/api/channels/wecom/keyword-groups", {**body, "keyword": "领福利"})
    assert created.status_code == 201, created.content
    assert created.json()["routes"] == [{"group_code_id": general.pk, "tag_id": None, "store_id": None}]
    assert api.get("/api/channels/wecom/keyword-groups").json()["total"] == 1
