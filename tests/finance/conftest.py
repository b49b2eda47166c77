"""A storefront shop with a WeChat Pay merchant whose platform is the simulator, and a signed-in shopper."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from simulator import wechatpay as sim
from simulator.server import SimulatorServer
from simulator.state import current
from siyu.finance import queries
from siyu.finance.models import Account, PayMerchant
from siyu.orders.models import Order, StorefrontSession
from siyu.org.scope import Scope
from tests.channels.wechatpay.conftest import new_credentials
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop

TOKEN = "sf_finance-test-shopper-0001"
OPENID = "o_finance_buyer_1"


@dataclass
class Paying:
    shop: Shop
    merchant: sim.SimMerchant
    row: PayMerchant
    client: Client

    @property
    def notify_url(self) -> str:
        return f"/finance/wechatpay/callback/{self.merchant.mch_id}/"

    def pay_route(self, order: Order) -> Any:
        return self.client.post(f"/api/storefront/orders/{order.pk}/pay", "", content_type="application/json",
                                headers={"Authorization": f"Bearer {TOKEN}"})

    def notify(self, resource: dict[str, Any], *, headers: dict[str, str] | None = None, body: bytes | None = None,
               timestamp: int | None = None) -> Any:
        h, b = current().wechatpay.build_notify(self.merchant.mch_id, "TRANSACTION.SUCCESS", resource,
                                                timestamp=timestamp)
        return self.client.post(self.notify_url, body if body is not None else b, content_type="application/json",
                                headers=headers or h)

    def clearing(self) -> int:
        return queries.balance(Scope.hq(self.shop.enterprise_id), Account.PLATFORM_CLEARING, currency="CNY")


@pytest.fixture
def paying(org: Org) -> Iterator[Paying]:
    shop = build_shop(org)
    now = timezone.now()
    StorefrontSession.objects.create(enterprise=org.enterprise, customer=shop.customer, app_id="wxpaytest0000001",
                                     openid=OPENID, token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                     created_at=now, expires_at=now + timedelta(days=1))
    with SimulatorServer(port=0, mounts={"/pay": sim.make_app(current().wechatpay)}) as server:
        merchant, creds = new_credentials(server.base_url + "/pay")
        row = PayMerchant(enterprise=org.enterprise, name="直营", mch_id=creds.mch_id, app_id=creds.app_id,
                          merchant_serial_no=creds.serial_no, platform_key_id=creds.platform_key_id,
                          platform_public_key=creds.platform_key_pem, base_url=creds.base_url,
                          notify_url="https://siyu.example/finance/wechatpay/callback/" + creds.mch_id + "/")
        row.private_key, row.apiv3_key = creds.private_key_pem, creds.apiv3_key
        row.save()
        yield Paying(shop=shop, merchant=merchant, row=row, client=Client())


