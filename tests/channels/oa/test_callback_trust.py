"""Official Account callback authenticity: the account's configured mode decides (never the request), the timestamp
window, the replay cache, the body limit, redaction, the bound on refused requests, and OAuth state expiry. Pushes
are built with wechatpy and hashlib here, independently of Siyu's crypto module."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from defusedxml.ElementTree import fromstring
from django.db.models import Count, Sum
from django.test import Client
from wechatpy.crypto import WeChatCrypto

from siyu.channels import services as channel_services
from siyu.channels.common.authenticity import MAX_CALLBACK_BODY
from siyu.channels.intake import REFUSALS_STORED_PER_MINUTE
from siyu.channels.models import InboundCallback, RefusalTally
from siyu.channels.official_account import services
from siyu.channels.official_account.models import OAuthState
from siyu.core.errors import DomainError
from siyu.core.timeutil import now
from siyu.customers.models import Customer, Event
from tests.channels.oa.conftest import DEMO, GH, Platform

pytestmark = pytest.mark.django_db


def sha1_of(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - the platform's algorithm


def text_xml(openid: str, content: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def plain_push(xml: str, *, timestamp: int | None = None, nonce: str = "4242") -> tuple[dict[str, str], bytes]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"signature": sha1_of(DEMO.token, ts, nonce), "timestamp": ts, "nonce": nonce}, xml.encode()


def safe_push(xml: str, *, timestamp: int | None = None, nonce: str = "5151") -> tuple[dict[str, str], bytes]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sealed = fromstring(WeChatCrypto(DEMO.token, DEMO.encoding_aes_key, DEMO.app_id).encrypt_message(xml, nonce, ts))
    body = f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{sealed.findtext('Encrypt')}]]>" \
           "</Encrypt></xml>"
    query = {"signature": sha1_of(DEMO.token, ts, nonce), "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
             "msg_signature": sealed.findtext("MsgSignature") or ""}
    return query, body.encode()


def set_mode(platform: Platform, mode: str) -> None:
    platform.set_mode(mode)


# -- the configured mode decides ------------------------------------------------------------------------------------


def test_an_account_with_an_aes_key_is_connected_in_safe_mode(platform: Platform, org: Any) -> None:
    account = services.connect_account(enterprise_id=org.enterprise.pk, name="n", app_id="wxother0000000001",
                                       secret="s", token="tok123", encoding_aes_key=DEMO.encoding_aes_key)
    assert account.callback_mode == "safe"
    bare = services.connect_account(enterprise_id=org.enterprise.pk, name="n", app_id="wxother0000000002",
                                    secret="s", token="tok123")
    assert bare.callback_mode == "plain"
    with pytest.raises(DomainError) as refused:
        services.connect_account(enterprise_id=org.enterprise.pk, name="n", app_id="wxother0000000003",
                                 secret="s", token="tok123", callback_mode="safe")
    assert refused.value.field == "encoding_aes_key"


@pytest.mark.parametrize("encrypt_type", [None, "raw", "aes"])
def test_a_forged_plaintext_post_to_a_safe_mode_account_is_refused(
    platform: Platform, encrypt_type: str | None
) -> None:
    set_mode(platform, "safe")
    platform.follower(openid="oForged")
    query, body = plain_push(text_xml("oForged", "会员", 881))
    if encrypt_type is not None:
        query["encrypt_type"] = encrypt_type
    response = platform.post_raw(query, body)
    assert response.status_code == 403
    row = InboundCallback.objects.get()
    assert (row.status, row.plaintext) == ("rejected", "")
    assert not Customer.objects.exists()
    assert not Event.objects.exists()


def test_a_safe_mode_account_accepts_its_encrypted_push(platform: Platform) -> None:
    set_mode(platform, "safe")
    platform.follower(openid="oSafe2")
    query, body = safe_push(text_xml("oSafe2", "你好", 882))
    del query["encrypt_type"]  # the request's own claim plays no part: the account is in safe mode
    response = platform.post_raw(query, body)
    assert response.status_code == 200
    assert InboundCallback.objects.get().status == "processed"
    assert Event.objects.get(name="message_received").properties["text"] == "你好"


def test_compatible_mode_reads_the_ciphertext_and_ignores_plaintext_fields_beside_it(platform: Platform) -> None:
    set_mode(platform, "compatible")
    platform.follower(openid="oCompat2")
    query, body = safe_push(text_xml("oCompat2", "真的", 883))
    beside = ("<FromUserName><![CDATA[oSomeoneElse]]></FromUserName><MsgType><![CDATA[text]]></MsgType>"
              "<Content><![CDATA[假的]]></Content><Encrypt>")
    lying = body.replace(b"<Encrypt>", beside.encode())
    assert platform.post_raw(query, lying).status_code == 200
    assert Event.objects.get(name="message_received").properties["text"] == "真的"
    plain_query, plain_body = plain_push(text_xml("oCompat2", "明文", 884), nonce="777")
    assert platform.post_raw(plain_query, plain_body).status_code == 200  # compatible mode also takes plaintext
    assert Event.objects.filter(name="message_received").count() == 2


def test_plain_mode_a_second_body_under_a_seen_timestamp_and_nonce_is_not_processed(platform: Platform) -> None:
    """The plain signature does not cover the body: a captured query string must not carry a second body."""
    platform.follower(openid="oPlain")
    query, body = plain_push(text_xml("oPlain", "第一条", 885))
    assert platform.post_raw(query, body).status_code == 200
    forged = platform.post_raw(query, text_xml("oPlain", "伪造的", 886).encode())
    assert (forged.status_code, forged.content) == (200, b"success")
    texts = [e.properties["text"] for e in Event.objects.filter(name="message_received")]
    assert texts == ["第一条"]
    assert InboundCallback.objects.count() == 1


def test_a_replayed_push_is_acknowledged_with_success_and_processed_once(platform: Platform) -> None:
    set_mode(platform, "safe")
    platform.follower(openid="oReplay2")
    query, body = safe_push(text_xml("oReplay2", "在吗", 887))
    first = platform.post_raw(query, body)
    second = platform.post_raw(query, body)
    assert first.status_code == 200
    assert (second.status_code, second.content) == (200, b"success")
    assert Event.objects.filter(name="message_received").count() == 1
    assert InboundCallback.objects.count() == 1


# -- timestamp window -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_more_than_300_s_away_is_refused(platform: Platform, offset: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    platform.follower(openid="oLate")
    fixed = float(int(time.time()))  # the product's clock held still: 301 s stays 301 s however slow the request
    monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda: fixed))
    query, body = plain_push(text_xml("oLate", "会员", 888), timestamp=int(fixed) + offset)
    assert platform.post_raw(query, body).status_code == 403
    row = InboundCallback.objects.get()
    assert (row.status, row.signature_ok) == ("rejected", True)
    assert "timestamp" in row.error
    assert not Customer.objects.exists()


def test_server_verification_refuses_a_stale_timestamp(platform: Platform) -> None:
    stale = str(int(time.time()) - 301)
    query = {"signature": sha1_of(DEMO.token, stale, "1"), "timestamp": stale, "nonce": "1", "echostr": "98765"}
    response = platform.client.get(f"{platform.url}?{urlencode(query)}")
    assert response.status_code == 403
    assert b"98765" not in response.content


# -- body limit, redaction, refusals --------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413(platform: Platform) -> None:
    query, _body = plain_push("<xml/>")
    oversized = b"<xml><Content>" + b"a" * (MAX_CALLBACK_BODY + 1 - 30) + b"</Content></xml>"
    assert len(oversized) == MAX_CALLBACK_BODY + 1
    assert platform.post_raw(query, oversized).status_code == 413
    assert platform.post_raw({**query, "nonce": "1"}, oversized[:MAX_CALLBACK_BODY]).status_code != 413
    assert InboundCallback.objects.count() == 1


def test_a_body_over_the_limit_is_413_under_asgi(platform: Platform) -> None:
    from tests.channels.wecom.test_intake import _asgi

    query, _body = plain_push("<xml/>")
    oversized = b"<xml>" + b"a" * MAX_CALLBACK_BODY + b"</xml>"
    assert _asgi("POST", platform.url, query, oversized, chunk=65536)[0] == 413
    assert InboundCallback.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_push_within_the_limit_reaches_the_view_under_asgi(platform: Platform) -> None:
    from tests.channels.wecom.test_intake import _asgi

    platform.follower(openid="oAsgi")
    query, body = plain_push(text_xml("oAsgi", "你好", 891))
    assert _asgi("POST", platform.url, query, body, chunk=40) == (200, b"success")
    assert InboundCallback.objects.get().status in ("received", "processed")


def test_signatures_and_echostr_are_not_kept_in_the_callback_log(platform: Platform) -> None:
    set_mode(platform, "safe")
    platform.follower(openid="oLog")
    query, body = safe_push(text_xml("oLog", "x", 889))
    assert platform.post_raw(query, body).status_code == 200
    ts = str(int(time.time()))
    verify = {"signature": sha1_of(DEMO.token, ts, "9"), "timestamp": ts, "nonce": "9", "echostr": "echo-31337"}
    assert platform.client.get(f"{platform.url}?{urlencode(verify)}").status_code == 200
    secrets = {query["signature"], query["msg_signature"], verify["signature"], verify["echostr"]}
    for row in InboundCallback.objects.all():
        assert not secrets & set(row.query.values()), row.query


def test_a_flood_of_forged_posts_stores_at_most_the_bound(platform: Platform, client: Client) -> None:
    query, body = plain_push(text_xml("oFlood", "x", 890))
    forged = {**query, "signature": "0" * 40}
    url = f"{platform.url}?{urlencode(forged)}"
    for _ in range(1000):
        assert client.post(url, data=body, content_type="text/xml", REMOTE_ADDR="2001:db8::1").status_code == 403
    for _ in range(5):  # the same /64 network: the same source
        assert client.post(url, data=body, content_type="text/xml", REMOTE_ADDR="2001:db8::2").status_code == 403
    minutes = RefusalTally.objects.count()
    assert 1 <= InboundCallback.objects.count() <= REFUSALS_STORED_PER_MINUTE * minutes
    assert RefusalTally.objects.aggregate(n=Sum("refused"))["n"] == 1005
    assert set(RefusalTally.objects.values_list("source", flat=True)) == {"2001:db8::/64"}
    assert dict(InboundCallback.objects.values_list("source").annotate(n=Count("id"))).keys() == {"2001:db8::/64"}


# -- OAuth state ----------------------------------------------------------------------------------------------------


def test_expired_oauth_states_are_deleted_by_the_periodic_job_and_refused(platform: Platform) -> None:
    account = platform.account
    old = services.start_oauth(account_id=account.pk, scope="snsapi_base", redirect_uri="https://x.test/cb")
    fresh = services.start_oauth(account_id=account.pk, scope="snsapi_base", redirect_uri="https://x.test/cb")
    old_state = old.split("state=")[1].split("#")[0]
    fresh_state = fresh.split("state=")[1].split("#")[0]
    OAuthState.objects.filter(state=old_state).update(created_at=now() - timedelta(minutes=11))
    with pytest.raises(DomainError):
        services.complete_oauth(account_id=account.pk, code="whatever", state=old_state)
    removed = services.prune_oauth_states()
    assert removed == 1
    assert list(OAuthState.objects.values_list("state", flat=True)) == [fresh_state]
    with pytest.raises(DomainError) as refused:
        services.complete_oauth(account_id=account.pk, code="whatever", state=old_state)
    assert refused.value.status in (400, 404)


def test_pruning_keeps_refusal_counts_for_a_week_then_drops_them(platform: Platform) -> None:
    forged = {"signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    platform.post_raw(forged, b"<xml/>")
    assert RefusalTally.objects.count() == 1
    channel_services.prune_callback_records(at=now() + timedelta(days=1))
    assert RefusalTally.objects.count() == 1
    channel_services.prune_callback_records(at=now() + timedelta(days=8))
    assert RefusalTally.objects.count() == 0
