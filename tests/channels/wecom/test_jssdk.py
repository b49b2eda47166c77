"""The JS-SDK signature (wecom-jssdk-sidebar-groups.md §4): the platform's published example, wechatpy's independent
implementation, and the simulated client refusing what the platform refuses (forged signature, a URL with its
fragment signed, a millisecond timestamp, another app's agentid)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st
from wechatpy.client.api.jsapi import WeChatJSAPI

from simulator.server import SimulatorServer
from simulator.wecom import WecomPlatform, make_app
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom import jssdk
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, SECRET, TOKEN

# The example published with the JS-SDK's signature algorithm (WeChat's JS-SDK appendix 1; WeCom signs the same way).
EXAMPLE_TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
EXAMPLE_URL = "http://mp.weixin.qq.com?params=value"
EXAMPLE: dict[str, Any] = {"noncestr": "Wm3WZYTPz0wzccnW", "timestamp": 1414587457, "url": EXAMPLE_URL}
EXAMPLE_SIGNATURE = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_the_published_example() -> None:
    assert jssdk.signature(ticket=EXAMPLE_TICKET, **EXAMPLE) == EXAMPLE_SIGNATURE


def test_the_fragment_is_not_signed() -> None:
    with_fragment = {**EXAMPLE, "url": EXAMPLE_URL + "#/chat?x=1"}
    assert jssdk.signature(ticket=EXAMPLE_TICKET, **with_fragment) == EXAMPLE_SIGNATURE


_TEXT = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="#&="), min_size=1,
                max_size=40)


@given(ticket=_TEXT, noncestr=_TEXT, timestamp=st.integers(min_value=0, max_value=2**33), path=_TEXT)
def test_agrees_with_wechatpy(ticket: str, noncestr: str, timestamp: int, path: str) -> None:
    url = f"https://crm.example.com/content/sidebar/?q={path}"
    theirs = WeChatJSAPI.get_jsapi_signature(None, noncestr, ticket, timestamp, url)
    assert jssdk.signature(ticket=ticket, noncestr=noncestr, timestamp=timestamp, url=url) == theirs


@pytest.fixture
def sim() -> Iterator[tuple[WecomPlatform, str]]:
    cache.clear()
    platform = WecomPlatform(seed=5)
    platform.add_corp(corp_id=CORP_ID, secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, agent_id="1000002")
    platform.import_follow(CORP_ID, userid="n1_staff", external_userid="wmX", name="王芳")
    with SimulatorServer(port=0, mounts={"/wecom": make_app(platform)}) as server:
        yield platform, f"{server.base_url}/wecom"


def _control(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(httpx.post(f"{base}{path}", json=body, timeout=10).json())


@pytest.mark.django_db
def test_the_simulated_client_accepts_our_config_and_refuses_forgeries(sim: tuple[WecomPlatform, str]) -> None:
    platform, base = sim
    account = channel_services.ensure_account(
        enterprise_id=_enterprise(), kind=AccountKind.WECOM, name="W", app_id=CORP_ID, agent_id="1000002",
        secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, base_url=base)
    _control(base, "/_sim/open_chat", {"corp_id": CORP_ID, "userid": "n1_staff", "external_userid": "wmX"})
    url = "http://testserver/content/sidebar/?from=toolbar"
    cfg = jssdk.agent_config(account, url + "#top")
    good = {"corpid": cfg.corpid, "agentid": cfg.agentid, "timestamp": str(cfg.timestamp), "nonceStr": cfg.nonce_str,
            "signature": cfg.signature, "url": url}
    answer = _control(base, "/_sim/jssdk/agent_config", good)
    assert answer["errcode"] == 0, answer
    session = answer["session"]
    contact = _control(base, "/_sim/jssdk/invoke", {"corpid": CORP_ID, "session": session,
                                                      "api": "getCurExternalContact"})
    assert contact == {"errcode": 0, "err_msg": "getCurExternalContact:ok", "userId": "wmX", "delivered": []}
    forged = [{**good, "signature": "0" * 40}, {**good, "url": url + "&x=1"},
              {**good, "timestamp": str(cfg.timestamp * 1000)}]
    assert [_control(base, "/_sim/jssdk/agent_config", body)["errcode"] for body in forged] == [40093] * 3
    assert _control(base, "/_sim/jssdk/agent_config", {**good, "agentid": "1000009"})["errcode"] == 42012
    refused = _control(base, "/_sim/jssdk/invoke", {"corpid": CORP_ID, "session": "forged", "api": "sendChatMessage",
                                                    "args": {"msgtype": "text", "text": {"content": "hi"}}})
    assert refused["err_msg"] == "sendChatMessage:fail no permission" and platform.corps[CORP_ID].chat_messages == []


@pytest.mark.django_db
def test_the_ticket_is_fetched_once_and_cached(sim: tuple[WecomPlatform, str]) -> None:
    platform, base = sim
    account = channel_services.ensure_account(
        enterprise_id=_enterprise(), kind=AccountKind.WECOM, name="W", app_id=CORP_ID, agent_id="1000002",
        secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, base_url=base)
    first = jssdk.agent_config(account, "http://testserver/a")
    second = jssdk.agent_config(account, "http://testserver/a")
    assert first.nonce_str != second.nonce_str
    assert platform.api_calls.count("/cgi-bin/ticket/get") == 1
    expected = jssdk.signature(ticket=platform.corps[CORP_ID].agent_ticket, noncestr=second.nonce_str,
                               timestamp=second.timestamp, url="http://testserver/a")
    assert second.signature == expected


def _enterprise() -> int:
    from tests.factories import EnterpriseFactory

    return int(EnterpriseFactory.create().pk)
