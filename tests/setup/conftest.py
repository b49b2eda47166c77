"""Set-up tests: HQ of an enterprise (the `org` fixture) connecting accounts through the API and the console, with
the platforms played by the simulator on a loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from simulator import oa as oa_sim
from simulator import wechatpay as pay_sim
from simulator.server import SimulatorServer
from simulator.state import Simulator, install
from simulator.wecom import WecomPlatform
from siyu.channels.wechatpay.client import Credentials
from siyu.org.models import Role
from tests.channels.wechatpay.conftest import new_credentials
from tests.conftest import Org
from tests.factories import EnterpriseFactory, StaffFactory, UserFactory

CORP_ID = "wwsetuptest000001"
CORP_SECRET = "setup-test-wecom-app-secret-0000000000000"  # noqa: S105
OA_APP_ID = "wxsetupoa00000001"
OA_SECRET = "setup-test-oa-app-secret-00000001"  # noqa: S105
MP_APP_ID = "wxsetupmp00000001"
MP_SECRET = "setup-test-mp-app-secret-00000001"  # noqa: S105
TOKEN = "SetupTestToken2026"  # noqa: S105
AES_KEY = "c2V0dXB0ZXN0c2V0dXB0ZXN0c2V0dXB0ZXN0MDAwMDE"  # base64 of 32 bytes, '=' dropped


@pytest.fixture(autouse=True)
def _fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Sim:
    server: SimulatorServer
    state: Simulator
    wecom: WecomPlatform
    pay_merchant: pay_sim.SimMerchant
    pay: Credentials

    def url(self, mount: str) -> str:
        return f"{self.server.base_url}/{mount}"


@pytest.fixture
def sim() -> Iterator[Sim]:
    platform = WecomPlatform(seed=3)
    platform.add_corp(corp_id=CORP_ID, secret=CORP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, agent_id="1000002")
    platform.add_member(CORP_ID, "zhangsan", "张三")
    state = install(Simulator(wecom_platform=platform))
    state.oa.register(oa_sim.SimAccount(app_id=OA_APP_ID, secret=OA_SECRET, token=TOKEN, encoding_aes_key=AES_KEY))
    state.miniprogram.register_app(MP_APP_ID, MP_SECRET)
    with SimulatorServer(port=0, mounts=state.mounts()) as server:
        merchant, credentials = new_credentials(server.base_url + "/pay")
        yield Sim(server=server, state=state, wecom=platform, pay_merchant=merchant, pay=credentials)


class Api:
    """JSON calls as one signed-in console user (the session cookie; the test client skips CSRF)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/setup{path}")

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"/api/setup{path}", json.dumps(body or {}), content_type="application/json")

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.patch(f"/api/setup{path}", json.dumps(body), content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/setup{path}")


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def hq(org: Org) -> Api:
    return Api(_client_for(org.hq.user))


@pytest.fixture
def hq_console(org: Org) -> Client:
    return _client_for(org.hq.user)


@pytest.fixture
def other_hq(db: None) -> Api:
    """The HQ administrator of another enterprise."""
    other = EnterpriseFactory.create(name="Other Brand", code="other-brand")
    staff = StaffFactory.create(enterprise=other, name="other_hq", role=Role.HQ_ADMIN,
                                user=UserFactory.create(username="other_hq"))
    return Api(_client_for(staff.user))


def wecom_body(sim: Sim | None = None, **over: Any) -> dict[str, Any]:
    return {"kind": "wecom", "name": "门店企微", "app_id": CORP_ID, "agent_id": "1000002", "secret": CORP_SECRET,
            "token": TOKEN, "encoding_aes_key": AES_KEY,
            "base_url": sim.url("wecom") if sim else "https://qyapi.weixin.qq.com", **over}


def oa_body(sim: Sim | None = None, **over: Any) -> dict[str, Any]:
    return {"kind": "official_account", "name": "品牌服务号", "app_id": OA_APP_ID, "secret": OA_SECRET, "token": TOKEN,
            "encoding_aes_key": AES_KEY, "callback_mode": "safe", "account_type": "service",
            "base_url": sim.url("oa") if sim else "", **over}


def mp_body(sim: Sim | None = None, **over: Any) -> dict[str, Any]:
    return {"kind": "miniprogram", "name": "品牌商城", "app_id": MP_APP_ID, "secret": MP_SECRET,
            "base_url": sim.url("mp") if sim else "", **over}


def merchant_body(credentials: Credentials, **over: Any) -> dict[str, Any]:
    return {"name": "直营商户", "mch_id": credentials.mch_id, "app_id": credentials.app_id,
            "merchant_serial_no": credentials.serial_no, "platform_key_id": credentials.platform_key_id,
            "platform_public_key": credentials.platform_key_pem, "private_key": credentials.private_key_pem,
            "apiv3_key": credentials.apiv3_key, "base_url": credentials.base_url,
            "notify_url": "https://scrm.example.com/finance/wechatpay/callback/" + credentials.mch_id + "/", **over}
