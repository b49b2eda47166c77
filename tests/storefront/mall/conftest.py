"""H5 mall tests: the simulator (Official Account OAuth, SMS provider, WeChat Pay) on a loopback port; the mall's
pages driven through Django's test client as a phone's browser would (cookies, redirects, forms)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client

from simulator.server import SimulatorServer
from simulator.state import Simulator, reset
from siyu.channels import demo_accounts
from siyu.channels.models import ChannelAccount
from siyu.channels.official_account import services as oa_services
from siyu.core.money import Money
from siyu.finance.models import PayMerchant
from siyu.promotions import services as promotions
from siyu.promotions.services import CouponTemplateInput
from tests.channels.wechatpay.conftest import new_credentials
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop

DEMO = demo_accounts.OFFICIAL_ACCOUNT


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Platforms:
    server: SimulatorServer
    state: Simulator

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture
def platforms(settings: Any) -> Iterator[Platforms]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    state = reset()
    with SimulatorServer(port=0, simulator=state) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        yield Platforms(server=server, state=state)


@pytest.fixture
def oa_account(org: Org, platforms: Platforms) -> ChannelAccount:
    return oa_services.connect_account(
        enterprise_id=org.enterprise.pk, name="品牌服务号", app_id=DEMO.app_id, secret=DEMO.secret, token=DEMO.token,
        encoding_aes_key=DEMO.encoding_aes_key, base_url=platforms.base_url + "/oa",
    )


@pytest.fixture
def merchant(org: Org, platforms: Platforms) -> PayMerchant:
    sim_merchant, creds = new_credentials(platforms.base_url + "/pay")
    row = PayMerchant(enterprise=org.enterprise, name="直营", mch_id=creds.mch_id, app_id=creds.app_id,
                      merchant_serial_no=creds.serial_no, platform_key_id=creds.platform_key_id,
                      platform_public_key=creds.platform_key_pem, base_url=creds.base_url,
                      notify_url=f"http://127.0.0.1:1/finance/wechatpay/callback/{creds.mch_id}/")
    row.private_key, row.apiv3_key = creds.private_key_pem, creds.apiv3_key
    row.save()
    return row


@pytest.fixture
def mall_shop(org: Org) -> Shop:
    shop = build_shop(org)
    promotions.create_coupon_template(scope=shop.hq, data=CouponTemplateInput(
        name="领券满100减20", kind="threshold", amount_off=Money(2000), threshold=Money(10000), valid_days=7,
        per_customer_limit=1, claimable=True))
    return shop


def base(org: Org) -> str:
    return f"/m/{org.enterprise.code}"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def oauth_sign_in(client: Client, org: Org, openid: str, next_url: str = "") -> Any:
    """Tap the OA menu's mall link: Siyu sends the browser to the platform, the user allows, the platform sends
    the browser back with a code. Returns the final response of the return leg."""
    start = client.get(f"{base(org)}/login/wechat/", {"next": next_url or f"{base(org)}/"})
    assert start.status_code == 302, start.content
    consent = httpx.get(start["Location"].split("#")[0] + f"&sim_openid={openid}", follow_redirects=False)
    assert consent.status_code == 302, consent.text
    return client.get(path_of(consent.headers["location"]))


def sms_sign_in(client: Client, org: Org, platforms: Platforms, phone: str) -> Any:
    sent = client.post(f"{base(org)}/login/sms/send/", {"phone": phone})
    assert sent.status_code == 302, sent.content
    code = platforms.state.sms.last_code(phone)
    return client.post(f"{base(org)}/login/sms/", {"phone": phone, "code": code, "next": f"{base(org)}/"})
