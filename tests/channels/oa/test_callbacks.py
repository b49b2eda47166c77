"""The callback endpoint against pushes signed (and encrypted) the way the platform does."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlencode

import pytest
from defusedxml.ElementTree import fromstring
from wechatpy.crypto import WeChatCrypto

from simulator import oa as oa_sim
from simulator.state import current
from siyu.channels.models import InboundCallback
from siyu.channels.official_account import services
from siyu.customers.models import Customer, Event, Identity
from siyu.customers.services import IdentityInput, create_customer
from tests.channels.oa.conftest import DEMO, GH, Platform

pytestmark = pytest.mark.django_db


def sha1_of(*parts: str) -> str:
    """The platform's signature, written out here independently of Siyu's crypto module."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - the platform's algorithm


def fields_of(xml: bytes | str) -> dict[str, str]:
    raw = xml.encode() if isinstance(xml, str) else xml
    return {child.tag: child.text or "" for child in fromstring(raw)}


def account_of(platform: Platform) -> oa_sim.SimAccount:
    return platform.sim_account


# -- server verification --------------------------------------------------------------------------------------------


def test_server_verification_echoes_echostr_when_the_signature_matches(platform: Platform) -> None:
    ts = str(int(time.time()))
    query = {"signature": sha1_of(DEMO.token, ts, "263014780"), "timestamp": ts,
             "nonce": "263014780", "echostr": "5838479218127813673"}
    response = platform.client.get(f"{platform.url}?{urlencode(query)}")
    assert response.status_code == 200
    assert response.content == b"5838479218127813673"
    row = InboundCallback.objects.get()
    assert (row.event, row.status, row.signature_ok) == ("verify", "processed", True)


def test_server_verification_with_a_wrong_signature_is_refused_and_logged(platform: Platform) -> None:
    query = {"signature": sha1_of("another-token", "1409659589", "263014780"), "timestamp": "1409659589",
             "nonce": "263014780", "echostr": "123"}
    response = platform.client.get(f"{platform.url}?{urlencode(query)}")
    assert response.status_code == 403
    assert b"123" not in response.content
    row = InboundCallback.objects.get()
    assert (row.status, row.signature_ok) == ("rejected", False)


# -- follow with a scene --------------------------------------------------------------------------------------------


def test_follow_with_a_scene_creates_the_customer_with_openid_and_unionid(platform: Platform) -> None:
    platform.follower(openid="oFollower0001", unionid="ou_demo_41")
    xml = oa_sim.subscribe_xml(account_of(platform), "oFollower0001", scene="store_counter", ticket="gQTICKET")
    response = platform.push(xml)
    assert response.status_code == 200
    identities = dict(Identity.objects.values_list("kind", "value"))
    assert identities == {"oa_openid": "oFollower0001", "unionid": "ou_demo_41"}
    customer = Customer.objects.get()
    assert customer.created_source == "official_account"
    assert Identity.objects.get(kind="oa_openid").account == DEMO.app_id
    event = Event.objects.get(name="oa_followed")
    assert event.customer_id == customer.pk
    assert event.properties == {"scene": "store_counter"}
    assert event.channel == "official_account"
    assert InboundCallback.objects.get().status == "processed"


def test_follower_sharing_a_unionid_with_a_wecom_customer_is_the_same_customer(platform: Platform, org) -> None:
    wecom = create_customer(
        enterprise_id=org.enterprise.pk, name="王女士",
        identities=[IdentityInput(kind="wecom_external_userid", value="wmWecomContact7"),
                    IdentityInput(kind="unionid", value="ou_demo_7")],
    )
    platform.follower(openid="oFollower0007", unionid="ou_demo_7")
    platform.push(oa_sim.subscribe_xml(account_of(platform), "oFollower0007", scene="poster", ticket="t"))
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1
    owners = dict(Identity.objects.values_list("kind", "customer_id"))
    assert owners == {"wecom_external_userid": wecom.pk, "unionid": wecom.pk, "oa_openid": wecom.pk}
    assert Event.objects.get(name="oa_followed").customer_id == wecom.pk


def test_a_unionid_learnt_later_merges_the_openid_customer_into_the_wecom_one(platform: Platform, org) -> None:
    wecom = create_customer(
        enterprise_id=org.enterprise.pk, name="李先生",
        identities=[IdentityInput(kind="wecom_external_userid", value="wmWecomContact9"),
                    IdentityInput(kind="unionid", value="ou_demo_9")],
    )
    platform.follower(openid="oFollower0009", unionid="ou_demo_9")
    current().oa.app(DEMO.app_id).quotas["user/info"] = 0  # user/info answers 45009 for now
    platform.push(oa_sim.subscribe_xml(account_of(platform), "oFollower0009"))
    first = InboundCallback.objects.get(event="subscribe")
    assert first.status == "processed"
    assert "45009" in first.error
    assert Customer.objects.filter(merged_into__isnull=True).count() == 2

    del current().oa.app(DEMO.app_id).quotas["user/info"]
    platform.push(oa_sim.text_xml(account_of(platform), "oFollower0009", content="在吗"))
    live = Customer.objects.filter(merged_into__isnull=True)
    assert list(live.values_list("pk", flat=True)) == [wecom.pk]
    assert set(Event.objects.filter(customer=wecom).values_list("name", flat=True)) >= {
        "oa_followed", "message_received", "customer_merged",
    }


def test_follow_hooks_run_once_per_follow_with_a_stable_key(platform: Platform) -> None:
    seen: list[services.FollowContext] = []
    services.register_follow_hook(seen.append, name="test-hook")
    try:
        platform.follower(openid="oHook", unionid="ou_demo_77")
        query, body = oa_sim.sign_callback(account_of(platform), oa_sim.subscribe_xml(account_of(platform), "oHook"))
        platform.post_raw(query, body)
        platform.post_raw(query, body)  # the platform's retry
    finally:
        services._FOLLOW_HOOKS.pop("test-hook")
    assert len(seen) == 1
    assert (seen[0].openid, seen[0].unionid, seen[0].first_follow, seen[0].scene) == ("oHook", "ou_demo_77", True, "")
    assert seen[0].idempotency_key.startswith("oa_cb:")


def test_a_failing_follow_hook_does_not_undo_the_follow(platform: Platform) -> None:
    def broken(context: services.FollowContext) -> None:
        Event.objects.all().delete()  # would undo the follow event if it were not rolled back
        raise RuntimeError("coupon service down")

    services.register_follow_hook(broken, name="broken-hook")
    try:
        platform.follower(openid="oHookFail", unionid="ou_demo_78")
        platform.push(oa_sim.subscribe_xml(account_of(platform), "oHookFail"))
    finally:
        services._FOLLOW_HOOKS.pop("broken-hook")
    row = InboundCallback.objects.get()
    assert row.status == "processed"
    assert "coupon service down" in row.error
    assert Event.objects.filter(name="oa_followed").count() == 1


# -- passive replies ------------------------------------------------------------------------------------------------


@pytest.fixture
def keyword_rules(platform: Platform, org) -> None:
    ent, acc = org.enterprise.pk, platform.account.pk
    services.create_keyword_reply(enterprise_id=ent, account_id=acc, keyword="会员", match="exact", content="A")
    services.create_keyword_reply(enterprise_id=ent, account_id=acc, keyword="会员", match="contains", content="B")
    services.create_keyword_reply(enterprise_id=ent, account_id=acc, keyword="积分", match="contains", priority=5,
                                  content="C")
    services.create_keyword_reply(enterprise_id=ent, account_id=acc, keyword="MENU_SIGN_IN", match="click",
                                  content="签到成功")


@pytest.mark.parametrize(
    ("sent", "expected"),
    [("会员", "A"), (" 会员 ", "A"), ("我的会员卡", "B"), ("会员积分", "C"), ("积分", "C")],
)
def test_keyword_reply_exact_beats_contains_and_priority_beats_both(
    platform: Platform, keyword_rules: None, sent: str, expected: str
) -> None:
    platform.follower(openid="oKeyword")
    before = int(time.time())
    response = platform.push(oa_sim.text_xml(account_of(platform), "oKeyword", content=sent))
    reply = fields_of(response.content)
    assert reply["ToUserName"] == "oKeyword"
    assert reply["FromUserName"] == GH
    assert reply["MsgType"] == "text"
    assert reply["Content"] == expected
    assert before <= int(reply["CreateTime"]) <= int(time.time())
    assert set(reply) == {"ToUserName", "FromUserName", "CreateTime", "MsgType", "Content"}


def test_no_matching_rule_answers_success(platform: Platform, keyword_rules: None) -> None:
    platform.follower(openid="oNoMatch")
    response = platform.push(oa_sim.text_xml(account_of(platform), "oNoMatch", content="天气如何"))
    assert response.content == b"success"
    assert Event.objects.get(name="message_received").properties == {"kind": "text", "text": "天气如何"}


def test_menu_click_answers_with_its_click_rule_and_is_logged(platform: Platform, keyword_rules: None) -> None:
    platform.follower(openid="oClicker")
    response = platform.push(oa_sim.click_xml(account_of(platform), "oClicker", key="MENU_SIGN_IN"))
    assert fields_of(response.content)["Content"] == "签到成功"
    view = platform.push(oa_sim.view_xml(account_of(platform), "oClicker", url="https://example.com/a", menu_id="9"))
    assert view.content == b"success"
    props = list(Event.objects.filter(name="oa_menu_clicked").order_by("id").values_list("properties", flat=True))
    assert props == [{"kind": "click", "key": "MENU_SIGN_IN"}, {"kind": "view", "key": "https://example.com/a"}]


def test_news_reply_to_a_message_carries_one_article_and_to_a_follow_up_to_eight(platform: Platform, org) -> None:
    articles = [{"title": f"T{n}", "description": f"D{n}", "url": f"https://example.com/{n}",
                 "pic_url": f"https://example.com/{n}.png"} for n in range(3)]
    ent, acc = org.enterprise.pk, platform.account.pk
    services.create_keyword_reply(enterprise_id=ent, account_id=acc, keyword="新品", kind="news", articles=articles)
    services.set_follow_reply(enterprise_id=ent, account_id=acc, kind="news", articles=articles)
    platform.follower(openid="oNews")
    to_message = fromstring(platform.push(oa_sim.text_xml(account_of(platform), "oNews", content="新品")).content)
    assert to_message.findtext("MsgType") == "news"
    assert to_message.findtext("ArticleCount") == "1"
    items = to_message.findall("Articles/item")
    seen = [(i.findtext("Title"), i.findtext("Description"), i.findtext("PicUrl"), i.findtext("Url")) for i in items]
    assert seen == [("T0", "D0", "https://example.com/0.png", "https://example.com/0")]
    to_follow = fromstring(platform.push(oa_sim.subscribe_xml(account_of(platform), "oNews")).content)
    assert to_follow.findtext("ArticleCount") == "3"
    assert [i.findtext("Title") for i in to_follow.findall("Articles/item")] == ["T0", "T1", "T2"]


def test_a_scene_reply_text_answers_follow_and_scan_through_that_scene(platform: Platform, org) -> None:
    services.set_follow_reply(enterprise_id=org.enterprise.pk, account_id=platform.account.pk, content="欢迎")
    services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=platform.account.pk, name="海报",
                             permanent=True, scene_str="poster", reply_text="海报专属欢迎")
    platform.follower(openid="oScene")
    follow = platform.push(oa_sim.subscribe_xml(account_of(platform), "oScene", scene="poster", ticket="t"))
    assert fields_of(follow.content)["Content"] == "海报专属欢迎"
    plain = platform.push(oa_sim.subscribe_xml(account_of(platform), "oOther"))
    assert fields_of(plain.content)["Content"] == "欢迎"
    scan = platform.push(oa_sim.scan_xml(account_of(platform), "oScene", scene="poster", ticket="t"))
    assert fields_of(scan.content)["Content"] == "海报专属欢迎"


# -- safe mode ------------------------------------------------------------------------------------------------------


def test_safe_mode_reply_is_encrypted_and_decrypts_with_wechatpy(platform: Platform, keyword_rules: None) -> None:
    platform.follower(openid="oSafe")
    response = platform.push(oa_sim.text_xml(account_of(platform), "oSafe", content="会员"), mode="safe")
    envelope = fields_of(response.content)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert envelope["MsgSignature"] == sha1_of(DEMO.token, envelope["TimeStamp"], envelope["Nonce"],
                                               envelope["Encrypt"])
    plain = WeChatCrypto(DEMO.token, DEMO.encoding_aes_key, DEMO.app_id).decrypt_message(
        response.content.decode(), envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    reply = fields_of(plain)
    assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"], reply["Content"]) == (
        "oSafe", GH, "text", "A"
    )


def test_a_push_encrypted_by_wechatpy_is_accepted(platform: Platform, keyword_rules: None) -> None:
    platform.set_mode("safe")
    platform.follower(openid="oWechatpy")
    ts = str(int(time.time()))
    inner = (f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[oWechatpy]]></FromUserName>"
             "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
             "<Content><![CDATA[积分]]></Content><MsgId>6000000000000000001</MsgId></xml>")
    sealed = fields_of(WeChatCrypto(DEMO.token, DEMO.encoding_aes_key, DEMO.app_id).encrypt_message(
        inner, "1320562132", ts
    ))
    body = f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
    query = {"signature": sha1_of(DEMO.token, ts, "1320562132"), "timestamp": ts,
             "nonce": "1320562132", "encrypt_type": "aes", "msg_signature": sealed["MsgSignature"],
             "openid": "oWechatpy"}
    response = platform.post_raw(query, body.encode())
    envelope = fields_of(response.content)
    plain = WeChatCrypto(DEMO.token, DEMO.encoding_aes_key, DEMO.app_id).decrypt_message(
        response.content.decode(), envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    assert fields_of(plain)["Content"] == "C"
    assert Event.objects.get(name="message_received").properties["text"] == "积分"


def test_compatible_mode_push_is_read_from_the_ciphertext(platform: Platform, keyword_rules: None) -> None:
    platform.follower(openid="oCompat")
    response = platform.push(oa_sim.text_xml(account_of(platform), "oCompat", content="会员"), mode="compatible")
    assert "Encrypt" in fields_of(response.content)
    assert InboundCallback.objects.get().status == "processed"


# -- rejection and replays ------------------------------------------------------------------------------------------


def test_a_bad_signature_is_rejected_stored_and_not_processed(platform: Platform) -> None:
    xml = oa_sim.text_xml(account_of(platform), "oForger", content="会员")
    query, body = oa_sim.sign_callback(account_of(platform), xml)
    query["signature"] = sha1_of("not-the-token", query["timestamp"], query["nonce"])
    response = platform.post_raw(query, body)
    assert response.status_code == 403
    row = InboundCallback.objects.get()
    assert (row.status, row.signature_ok, row.plaintext) == ("rejected", False, "")
    assert "oForger" in row.body
    assert "signature" in row.error
    assert not Customer.objects.exists()


def test_a_tampered_safe_mode_body_fails_the_msg_signature(platform: Platform) -> None:
    platform.set_mode("safe")
    query, body = oa_sim.sign_callback(account_of(platform), oa_sim.subscribe_xml(account_of(platform), "oX"))
    tampered = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[A")
    response = platform.post_raw(query, tampered)
    assert response.status_code == 403
    assert InboundCallback.objects.get().status == "rejected"
    assert not Customer.objects.exists()


def test_a_replayed_message_is_processed_once(platform: Platform, keyword_rules: None) -> None:
    platform.follower(openid="oReplay")
    xml = oa_sim.text_xml(account_of(platform), "oReplay", content="会员", msg_id=77)
    query, body = oa_sim.sign_callback(account_of(platform), xml)
    first, second = platform.post_raw(query, body), platform.post_raw(query, body)
    assert fields_of(first.content)["Content"] == "A"
    assert second.content == b"success"  # the same request (timestamp, nonce): received already
    # the same message pushed anew (another nonce): stored as a duplicate, answered, not processed again
    again = platform.post_raw(*oa_sim.sign_callback(account_of(platform), xml, nonce="31415926"))
    assert fields_of(again.content)["Content"] == "A"
    assert Event.objects.filter(name="message_received").count() == 1
    assert sorted(InboundCallback.objects.values_list("status", flat=True)) == ["duplicate", "processed"]


def test_a_replayed_event_is_processed_once_but_a_later_one_counts(platform: Platform) -> None:
    platform.follower(openid="oEvents")
    account = account_of(platform)
    query, body = oa_sim.sign_callback(account, oa_sim.scan_xml(account, "oEvents", scene="s1", ticket="t", at=1000))
    platform.post_raw(query, body)
    platform.post_raw(query, body)
    platform.push(oa_sim.scan_xml(account, "oEvents", scene="s1", ticket="t", at=1001))
    assert Event.objects.filter(name="oa_scanned").count() == 2


def test_unknown_account_is_404_and_logged(platform: Platform) -> None:
    query, body = oa_sim.sign_callback(account_of(platform), oa_sim.subscribe_xml(account_of(platform), "o1"))
    response = platform.client.post(f"/oa/callback/999999/?{urlencode(query)}", data=body, content_type="text/xml")
    assert response.status_code == 404
    assert InboundCallback.objects.get().account_id is None


def test_an_entity_expansion_body_is_refused_without_expanding(platform: Platform) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b"<xml><ToUserName>gh</ToUserName><FromUserName>&b;</FromUserName><CreateTime>1</CreateTime>"
            b"<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>")
    ts = str(int(time.time()))
    query = {"signature": sha1_of(DEMO.token, ts, "2"), "timestamp": ts, "nonce": "2"}
    response = platform.post_raw(query, bomb)
    assert response.status_code == 200  # authentic (signed) but unreadable: answered so the platform stops retrying
    row = InboundCallback.objects.get()
    assert (row.status, row.signature_ok) == ("rejected", True)
    assert "47001" in row.error
    assert not Customer.objects.exists()


def test_unsubscribe_marks_the_follower_and_logs_the_event(platform: Platform) -> None:
    platform.follower(openid="oLeaver", unionid="ou_demo_3")
    account = account_of(platform)
    platform.push(oa_sim.subscribe_xml(account, "oLeaver", at=1000))
    response = platform.push(oa_sim.unsubscribe_xml(account, "oLeaver", at=1001))
    assert response.content == b"success"
    customer = Customer.objects.get()
    assert list(Event.objects.filter(customer=customer, name__startswith="oa_").order_by("occurred_at")
                .values_list("name", flat=True)) == ["oa_followed", "oa_unfollowed"]
    from siyu.channels.official_account.models import Follower

    follower = Follower.objects.get(openid="oLeaver")
    assert (follower.subscribed, follower.follow_count, follower.customer_id) == (False, 1, customer.pk)
