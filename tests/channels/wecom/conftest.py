"""The WeCom tests run the simulator on a loopback port: Siyu's client talks to it over real HTTP, and its callbacks,
encrypted and signed as the platform does, are posted to Siyu's callback view through the Django test client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client

from simulator.server import SimulatorServer
from simulator.wecom import PendingCallback, WecomPlatform, make_app
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount
from tests.conftest import Org

CORP_ID = "wwtestcorp0001"
SECRET = "test-contact-secret"
TOKEN = "testToken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@dataclass
class Wecom:
    platform: WecomPlatform
    server: SimulatorServer
    account: ChannelAccount
    client: Client
    org: Org

    @property
    def corp(self) -> str:
        return CORP_ID

    def deliver(self) -> list[int]:
        return self.platform.deliver(self.post)

    def post(self, pending: PendingCallback) -> int:
        path = urlsplit(pending.url).path
        response = self.client.post(f"{path}?{urlencode(pending.params)}", data=pending.body, content_type="text/xml")
        return response.status_code


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    """The org fixture creates six users; PBKDF2 would make each test take seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def immediate_tasks(settings: Any) -> None:
    settings.TASKS = IMMEDIATE


@pytest.fixture
def platform() -> WecomPlatform:
    return WecomPlatform(seed=7)


@pytest.fixture
def sim_server(platform: WecomPlatform) -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, mounts={"/wecom": make_app(platform)}) as server:
        yield server


@pytest.fixture
def wecom(
    org: Org, platform: WecomPlatform, sim_server: SimulatorServer, immediate_tasks: None, client: Client
) -> Wecom:
    account = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk,
        kind=AccountKind.WECOM,
        name="Test WeCom",
        app_id=CORP_ID,
        agent_id="1000002",
        secret=SECRET,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        base_url=f"{sim_server.base_url}/wecom",
    )
    platform.add_corp(
        corp_id=CORP_ID,
        secret=SECRET,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        agent_id="1000002",
        callback_url=f"http://testserver/channels/wecom/callback/{account.pk}/",
    )
    for staff in (org.n1_staff, org.n2_staff, org.s1_staff, org.n1_manager, org.hq):
        platform.add_member(CORP_ID, staff.wecom_userid, staff.name)
    return Wecom(platform=platform, server=sim_server, account=account, client=client, org=org)
