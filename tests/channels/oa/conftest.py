"""Official Account tests: the simulator runs in-process on a loopback port and plays the platform; Siyu's endpoint
is driven through Django's test client (or a live server), with tasks run immediately."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from simulator import oa as oa_sim
from simulator.server import SimulatorServer
from simulator.state import current, reset
from siyu.channels import demo_accounts
from siyu.channels.models import ChannelAccount
from siyu.channels.official_account import services
from tests.conftest import Org

DEMO = demo_accounts.OFFICIAL_ACCOUNT
GH = "gh_5iyudemo0001"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """The org fixture creates six users; PBKDF2 at a million rounds each dominated these tests' run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, mounts={"/oa": oa_sim.make_app(reset().oa)}) as server:
        yield server


@pytest.fixture
def account(org: Org, sim: SimulatorServer, immediate_tasks: None) -> ChannelAccount:
    return services.connect_account(
        enterprise_id=org.enterprise.pk, name="Test OA", app_id=DEMO.app_id, secret=DEMO.secret, token=DEMO.token,
        encoding_aes_key=DEMO.encoding_aes_key, base_url=sim.base_url + "/oa",
    )


@dataclass
class Platform:
    """Pushes callbacks at Siyu the way the platform does (signed by the simulator's code, in a chosen mode)."""

    client: Client
    account: ChannelAccount
    capture: Callable[..., AbstractContextManager[Any]]

    @property
    def sim_account(self) -> oa_sim.SimAccount:
        return current().oa.app(DEMO.app_id).account

    @property
    def url(self) -> str:
        return f"/oa/callback/{self.account.pk}/"

    def post_raw(self, query: dict[str, str], body: bytes) -> Any:
        with self.capture(execute=True):
            return self.client.post(f"{self.url}?{urlencode(query)}", data=body, content_type="text/xml")

    def set_mode(self, mode: str) -> None:
        """The operator picks the 消息加解密方式 on the platform and configures the same on the Siyu account."""
        self.sim_account.mode = mode
        if self.account.callback_mode != mode:
            self.account = services.set_callback_mode(
                enterprise_id=self.account.enterprise_id, account_id=self.account.pk, mode=mode
            )

    def push(self, xml: str, *, mode: str = "plain", openid: str = "") -> Any:
        self.set_mode(mode)
        query, body = oa_sim.sign_callback(self.sim_account, xml, openid=openid)
        return self.post_raw(query, body)

    def follower(self, *, openid: str, unionid: str = "", subscribed: bool = True) -> oa_sim.SimFollower:
        return current().oa.add_follower(DEMO.app_id, openid=openid, unionid=unionid or None, subscribed=subscribed)


@pytest.fixture
def platform(account: ChannelAccount, client: Client, django_capture_on_commit_callbacks: Any) -> Platform:
    found = Platform(client=client, account=account, capture=django_capture_on_commit_callbacks)
    found.set_mode("plain")  # tests choose safe / compatible mode explicitly
    return found
