"""Storefront tests: the mini-program platform is the simulator on a loopback port
(simulator.miniprogram); the mall talks to Siyu's API through Django's test client with the
customer token the login returns."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.test import Client

from simulator import miniprogram as mp_sim
from simulator.server import SimulatorServer
from simulator.state import current
from siyu.channels.models import ChannelAccount
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop

APP_ID = "wxtestmall000001"
SECRET = "test-mall-secret-000001"  # noqa: S105


@pytest.fixture
def shop(org: Org) -> Shop:
    return build_shop(org)


@pytest.fixture
def platform() -> Iterator[SimulatorServer]:
    current().miniprogram.register_app(APP_ID, SECRET)
    with SimulatorServer(port=0, mounts={"/mp": mp_sim.make_app(current().miniprogram)}) as server:
        yield server


@pytest.fixture
def mall_account(org: Org, platform: SimulatorServer) -> ChannelAccount:
    account = ChannelAccount(enterprise=org.enterprise, kind="miniprogram", name="商城", app_id=APP_ID,
                             callback_token="t", base_url=platform.base_url + "/mp")
    account.secret = SECRET
    account.save()
    return account


@dataclass
class Phone:
    """A customer's phone running the mini-program: wx.login() against the platform, then Siyu's API."""

    platform: SimulatorServer
    client: Client
    token: str = ""

    def wx_login(self, user: str, app_id: str = APP_ID) -> dict[str, str]:
        response = httpx.post(f"{self.platform.base_url}/mp/sim/code", json={"appid": app_id, "user": user},
                              timeout=5)
        response.raise_for_status()
        body: dict[str, str] = response.json()
        return body

    def login(self, user: str) -> Any:
        code = self.wx_login(user)["code"]
        response = self.post("/api/storefront/login", {"appid": APP_ID, "code": code})
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        """Like the mini-program: every action carries a fresh Idempotency-Key (a retry of it would reuse it)."""
        headers = dict(self.headers)
        if "idempotency_key" not in (body or {}):
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return self.client.post(path, json.dumps(body or {}), content_type="application/json", headers=headers)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(path, json.dumps(body), content_type="application/json", headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.headers)


@pytest.fixture
def phone(platform: SimulatorServer, mall_account: ChannelAccount) -> Phone:
    return Phone(platform=platform, client=Client())
