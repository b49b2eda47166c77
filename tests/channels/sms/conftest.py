"""SMS tests: the simulator plays the provider on a loopback port (sending, receipts, replies); Siyu's callback is
reached through Django's test client, or over real HTTP through a live server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from simulator import sms as sms_sim
from simulator.server import SimulatorServer
from simulator.state import reset
from siyu.customers import consent
from siyu.customers.models import Customer
from siyu.org.scope import Scope
from tests.factories import CustomerFactory

SECRET = "siyu-demo-sms-callback-secret-0001"  # noqa: S105 - the demo secret, written out by hand
URL = "/channels/sms/callback/"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def provider(settings: Any) -> Iterator[sms_sim.SmsState]:
    """The simulated provider, served on a loopback port; Siyu sends through it."""
    state = reset().sms
    with SimulatorServer(port=0, mounts={"/sms": sms_sim.make_app(state)}) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        yield state


def signed(body: dict[str, Any] | bytes, *, secret: str = SECRET, ts: int | None = None,
           nonce: str = "n0nce") -> tuple[bytes, dict[str, str]]:
    """A callback signed by hand (HMAC-SHA256 over "<ts>\\n<nonce>\\n" + body): (body, headers)."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), stamp.encode() + b"\n" + nonce.encode() + b"\n" + raw, hashlib.sha256)
    return raw, {"X-Sms-Timestamp": stamp, "X-Sms-Nonce": nonce, "X-Sms-Signature": mac.hexdigest()}


def post(client: Client, body: dict[str, Any] | bytes, **kw: Any) -> Any:
    raw, headers = signed(body, **kw)
    return client.post(URL, data=raw, content_type="application/json", headers=headers)


def customer(enterprise: Any, phone: str, *, granted: bool = True, **kw: Any) -> Customer:
    row = CustomerFactory.create(enterprise=enterprise, phone=phone, **kw)
    if granted:
        consent.record(scope=Scope.hq(enterprise.pk), customer_id=row.pk, channel="sms", granted=True,
                       method="storefront", text="我同意接收品牌短信")
    return row
