from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from simulator import wechatpay as sim
from simulator.server import SimulatorServer
from simulator.state import current
from siyu.channels.wechatpay.client import Credentials


@dataclass
class PaySim:
    server: SimulatorServer
    merchant: sim.SimMerchant
    credentials: Credentials


def new_credentials(base_url: str, notify_url: str = "https://siyu.example/finance/wechatpay/notify/") -> tuple[
        sim.SimMerchant, Credentials]:
    merchant, private_key = current().wechatpay.demo_merchant(mch_id=str(1_900_000_000 + secrets.randbelow(99_999_999)),
                                              app_id="wxpaytest0000001")
    credentials = Credentials(
        mch_id=merchant.mch_id, app_id=merchant.app_id, serial_no=merchant.merchant_serial,
        private_key_pem=private_key, apiv3_key=merchant.apiv3_key, platform_key_id=merchant.platform_key_id,
        platform_key_pem=sim.public_pem(merchant.platform_key), base_url=base_url, notify_url=notify_url)
    return merchant, credentials


@pytest.fixture
def pay_sim() -> Iterator[PaySim]:
    with SimulatorServer(port=0, mounts={"/pay": sim.make_app(current().wechatpay)}) as server:
        merchant, credentials = new_credentials(server.base_url + "/pay")
        yield PaySim(server=server, merchant=merchant, credentials=credentials)
