"""The product's WeChat Pay client and notify opening against the simulator (an independent implementation):
signed requests accepted, signed answers verified, forged answers and notifies refused."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator import wechatpay as sim
from simulator.state import current
from siyu.channels.wechatpay import crypto
from siyu.channels.wechatpay.client import PayClient, PayError
from siyu.channels.wechatpay.notify import NotifyRejected, open_notify
from tests.channels.wechatpay.conftest import PaySim, new_credentials


def _client(p: PaySim) -> PayClient:
    return PayClient(p.credentials)


def test_prepay_query_close_round_trip(pay_sim: PaySim) -> None:
    client = _client(pay_sim)
    prepay_id = client.prepay_jsapi(out_trade_no="SY2026120500001", description="抽纸 x2", amount_fen=1990,
                                    currency="CNY", openid="o_buyer_1")
    again = client.prepay_jsapi(out_trade_no="SY2026120500001", description="抽纸 x2", amount_fen=1990,
                                currency="CNY", openid="o_buyer_1")
    assert prepay_id == again and prepay_id.startswith("wx")
    tx = client.query("SY2026120500001")
    assert (tx.trade_state, tx.total_fen, tx.currency, tx.out_trade_no) == ("NOTPAY", 1990, "CNY", "SY2026120500001")
    client.close("SY2026120500001")
    assert client.query("SY2026120500001").trade_state == "CLOSED"
    with pytest.raises(PayError) as caught:
        client.query("SY_NOT_THERE_01")
    assert caught.value.platform_code == "ORDER_NOT_EXIST" and not caught.value.retryable


def test_request_payment_params_verify_with_the_merchant_public_key(pay_sim: PaySim) -> None:
    params = _client(pay_sim).request_payment("wx201410272009395522657a690389285100")
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100" and params["signType"] == "RSA"
    assert len(params["timeStamp"]) == 10 and len(params["nonceStr"]) == 32
    public = serialization.load_pem_public_key(pay_sim.merchant.merchant_public_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    public.verify(base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public.verify(base64.b64decode(params["paySign"]), message + b"x", padding.PKCS1v15(), hashes.SHA256())


def test_a_request_signed_with_another_key_is_refused_by_the_platform(pay_sim: PaySim) -> None:
    _other, other_creds = new_credentials(pay_sim.credentials.base_url)
    forged = replace(pay_sim.credentials, private_key_pem=other_creds.private_key_pem)
    with pytest.raises(PayError) as caught:
        PayClient(forged).query("SY2026120500009")
    assert caught.value.platform_code == "SIGN_ERROR"


def test_an_answer_signed_by_another_platform_key_is_not_believed(pay_sim: PaySim) -> None:
    other = sim.new_rsa_key()
    believer = replace(pay_sim.credentials, platform_key_pem=sim.public_pem(other))
    with pytest.raises(PayError) as caught:
        PayClient(believer).query("SY2026120500009")
    assert caught.value.platform_code == "BAD_SIGNATURE"
    skewed = PayClient(pay_sim.credentials, clock=lambda: time.time() + 600)
    with pytest.raises(PayError):
        skewed.query("SY2026120500009")


def _open(p: PaySim, headers: dict[str, str], body: bytes, now: float | None = None) -> dict[str, object]:
    return open_notify(headers=headers, body=body, platform_key_id=p.credentials.platform_key_id,
                       platform_key=crypto.load_platform_key(p.credentials.platform_key_pem),
                       apiv3_key=p.credentials.apiv3_key, now_s=now or time.time()).resource


def test_a_notify_opens_only_when_signed_fresh_and_sealed_with_the_apiv3_key(pay_sim: PaySim) -> None:
    resource = {"out_trade_no": "SY1", "trade_state": "SUCCESS", "amount": {"total": 100, "currency": "CNY"}}
    headers, body = current().wechatpay.build_notify(pay_sim.merchant.mch_id, "TRANSACTION.SUCCESS", resource)
    assert _open(pay_sim, headers, body) == resource

    cases: dict[str, tuple[dict[str, str], bytes]] = {
        "bad_signature": (headers, body.replace(b"TRANSACTION", b"TRANSACTIOM")),
        "unknown_serial": ({**headers, "Wechatpay-Serial": "PUB_KEY_ID_0000"}, body),
    }
    stale_headers, stale_body = current().wechatpay.build_notify(pay_sim.merchant.mch_id, "TRANSACTION.SUCCESS",
                                                                 resource, timestamp=int(time.time()) - 301)
    cases["stale"] = (stale_headers, stale_body)
    envelope = json.loads(body)
    envelope["resource"]["ciphertext"] = sim.encrypt_resource("0" * 32, json.dumps(resource))["ciphertext"]
    wrong_key_body = json.dumps(envelope).encode()
    cases["decrypt_failed"] = (sim.signed_headers(pay_sim.merchant, wrong_key_body), wrong_key_body)
    for code, (h, b) in cases.items():
        with pytest.raises(NotifyRejected) as caught:
            _open(pay_sim, h, b)
        assert caught.value.code == code
