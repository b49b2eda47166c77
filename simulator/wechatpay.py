"""A simulated WeChat Pay (API v3, direct merchant) over its wire protocol: the channel simulator mounts it under
/pay (`SimulatorServer(port=0)`, or `make_app(state)` for a state of your own); point a PayMerchant's base URL at
`.../pay`. What it remembers (merchants, orders, the notifies it sent) is a `PayState`, owned by the simulator's state
object (simulator.state).

Its crypto is its own, written on `cryptography` directly (the product's rests on the wechatpayv3 SDK; an
import-linter contract keeps the simulator away from it), so each side checks the other. It verifies every request's
`Authorization` signature against the merchant's public key, signs every answer and notify with its platform key,
and encrypts notify resources with the merchant's APIv3 key (AEAD_AES_256_GCM).

- `POST /v3/pay/transactions/jsapi`, `GET /v3/pay/transactions/out-trade-no/{no}?mchid=`,
  `POST /v3/pay/transactions/out-trade-no/{no}/close`, `POST /v3/refund/domestic/refunds`: the platform's API.
- `POST /sim/pay {"mchid", "out_trade_no", "repeat": 1, "delay_s": 0, "notify": true}` plays the shopper paying:
  the order becomes SUCCESS and its notify is sent `repeat` times after `delay_s` seconds (or not at all).
- `PayState.build_notify(...)` makes a signed, encrypted notify in-process, for tests that send it themselves.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.request import Request, urlopen

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CST = timezone(timedelta(hours=8))
WINDOW_S = 300
_AUTH = re.compile(r'(\w+)="([^"]*)"')


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _verify(pem: str, message: str, signature: str) -> bool:
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(),
                      hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def encrypt_resource(apiv3_key: str, plaintext: str, associated_data: str = "transaction") -> dict[str, str]:
    nonce = secrets.token_hex(6)  # 12 characters, used as their bytes
    sealed = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plaintext.encode(), associated_data.encode())
    return {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(sealed).decode(),
            "associated_data": associated_data, "nonce": nonce}


@dataclass
class SimMerchant:
    mch_id: str
    app_id: str
    apiv3_key: str
    merchant_serial: str
    merchant_public_pem: str
    platform_key: rsa.RSAPrivateKey
    platform_key_id: str


@dataclass
class SimOrder:
    mch_id: str
    app_id: str
    out_trade_no: str
    description: str
    total: int
    currency: str
    openid: str
    notify_url: str
    prepay_id: str
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""
    refunds: list[dict[str, Any]] = field(default_factory=list)


class PayState:
    """The platform's memory: merchants, orders (with their refunds) and the notifies sent. One lock guards it: the
    server is threaded and notifies go out from background threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.merchants: dict[str, SimMerchant] = {}
        self.orders: dict[tuple[str, str], SimOrder] = {}
        self.sent: list[tuple[str, int]] = []  # (notify url, status answered), for tests

    def register_merchant(self, merchant: SimMerchant) -> None:
        with self.lock:
            self.merchants[merchant.mch_id] = merchant

    def order(self, mch_id: str, out_trade_no: str) -> SimOrder | None:
        return self.orders.get((mch_id, out_trade_no))

    def demo_merchant(self, mch_id: str = "1900000109",
                      app_id: str = "wx5iyudemomp00001") -> tuple[SimMerchant, str]:
        """A fresh merchant with new keys, registered; returns it and the merchant private key PEM (Siyu's side)."""
        merchant_key, platform_key = new_rsa_key(), new_rsa_key()
        merchant = SimMerchant(mch_id=mch_id, app_id=app_id, apiv3_key=secrets.token_hex(16),
                               merchant_serial=secrets.token_hex(20).upper(),
                               merchant_public_pem=public_pem(merchant_key), platform_key=platform_key,
                               platform_key_id="PUB_KEY_ID_" + str(secrets.randbelow(10**20)))
        self.register_merchant(merchant)
        return merchant, private_pem(merchant_key)

    def build_notify(self, mch_id: str, event_type: str, resource: dict[str, Any], *, timestamp: int | None = None,
                     original_type: str = "transaction") -> tuple[dict[str, str], bytes]:
        """A notify as the platform sends it: (headers, body)."""
        merchant = self.merchants[mch_id]
        sealed = encrypt_resource(merchant.apiv3_key, json.dumps(resource, ensure_ascii=False), original_type)
        envelope = {"id": secrets.token_hex(18), "create_time": _now_iso(), "event_type": event_type,
                    "resource_type": "encrypt-resource", "summary": "支付成功",
                    "resource": {**sealed, "original_type": original_type}}
        body = json.dumps(envelope, ensure_ascii=False).encode()
        headers = {**signed_headers(merchant, body, timestamp=timestamp), "Content-Type": "application/json"}
        return headers, body

    def deliver(self, url: str, headers: dict[str, str], body: bytes) -> int:
        request = Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - the URL the merchant gave
        try:
            with urlopen(request, timeout=5) as response:  # noqa: S310
                status = int(response.status)
        except OSError as exc:
            status = int(getattr(exc, "code", 0) or 0)
        with self.lock:
            self.sent.append((url, status))
        return status

    def send_later(self, o: SimOrder, event_type: str, resource: dict[str, Any], *, delay_s: float, repeat: int,
                   original_type: str = "transaction") -> None:
        def run() -> None:
            if delay_s:
                time.sleep(delay_s)
            for _ in range(repeat):
                headers, body = self.build_notify(o.mch_id, event_type, resource, original_type=original_type)
                self.deliver(o.notify_url, headers, body)

        threading.Thread(target=run, name="sim-pay-notify", daemon=True).start()

    def pay(self, mch_id: str, out_trade_no: str, *, notify: bool = True, repeat: int = 1,
            delay_s: float = 0.0) -> SimOrder:
        """The shopper pays: the order becomes SUCCESS and its notify goes out (in the background)."""
        with self.lock:
            o = self.orders[(mch_id, out_trade_no)]
            if o.state == "NOTPAY":
                o.state, o.transaction_id, o.success_time = "SUCCESS", "42" + secrets.token_hex(13), _now_iso()
        if notify:
            self.send_later(o, "TRANSACTION.SUCCESS", transaction_json(o), delay_s=delay_s, repeat=repeat)
        return o


def _now_iso() -> str:
    return datetime.now(CST).replace(microsecond=0).isoformat()


def transaction_json(o: SimOrder) -> dict[str, Any]:
    data: dict[str, Any] = {"appid": o.app_id, "mchid": o.mch_id, "out_trade_no": o.out_trade_no,
                            "trade_state": o.state, "trade_state_desc": o.state, "trade_type": "JSAPI",
                            "attach": "", "payer": {"openid": o.openid},
                            "amount": {"total": o.total, "payer_total": o.total, "currency": o.currency,
                                       "payer_currency": o.currency}}
    if o.transaction_id:
        data.update(transaction_id=o.transaction_id, bank_type="OTHERS", success_time=o.success_time)
    return data


# ---------------------------------------------------------------------------------------------------------------
# Signed answers and notifies


def signed_headers(merchant: SimMerchant, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = secrets.token_hex(16)
    return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": merchant.platform_key_id,
            "Wechatpay-Signature": _sign(merchant.platform_key, f"{ts}\n{nonce}\n{body.decode()}\n"),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}


# ---------------------------------------------------------------------------------------------------------------
# WSGI


Answer = tuple[str, dict[str, Any] | None]


def _respond(start_response: Callable[..., Any], merchant: SimMerchant | None, status: str,
             data: dict[str, Any] | None) -> Iterable[bytes]:
    body = json.dumps(data, ensure_ascii=False).encode() if data is not None else b""
    headers = [("Content-Type", "application/json; charset=utf-8"), ("Request-ID", secrets.token_hex(8))]
    if merchant is not None:
        headers += list(signed_headers(merchant, body).items())
    start_response(status, headers)
    return [body]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def _authenticate(
    state: PayState, environ: dict[str, Any], body: bytes
) -> tuple[SimMerchant | None, Answer | None]:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("WECHATPAY2-SHA256-RSA2048 "):
        return None, ("401 Unauthorized", _error("SIGN_ERROR", "missing or unknown authorization scheme"))
    fields = dict(_AUTH.findall(header))
    merchant = state.merchants.get(fields.get("mchid", ""))
    if merchant is None:
        return None, ("400 Bad Request", _error("MCH_NOT_EXISTS", "unknown mchid"))
    if fields.get("serial_no") != merchant.merchant_serial:
        return merchant, ("401 Unauthorized", _error("SIGN_ERROR", "unknown merchant serial"))
    ts = fields.get("timestamp", "")
    if not ts.isdigit() or abs(int(ts) - time.time()) > WINDOW_S:
        return merchant, ("401 Unauthorized", _error("SIGN_ERROR", "timestamp expired"))
    url = environ.get("PATH_INFO", "") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
    message = f"{environ['REQUEST_METHOD']}\n{url}\n{ts}\n{fields.get('nonce_str', '')}\n{body.decode()}\n"
    if not _verify(merchant.merchant_public_pem, message, fields.get("signature", "")):
        return merchant, ("401 Unauthorized", _error("SIGN_ERROR", "signature mismatch"))
    return merchant, None


def _prepay(state: PayState, merchant: SimMerchant, data: dict[str, Any]) -> Answer:
    no = str(data.get("out_trade_no", ""))
    amount = data.get("amount") or {}
    total = amount.get("total")
    if data.get("mchid") != merchant.mch_id or data.get("appid") != merchant.app_id:
        return "400 Bad Request", _error("APPID_MCHID_NOT_MATCH", "appid and mchid do not match")
    if not re.fullmatch(r"[0-9A-Za-z_\-*|]{6,32}", no) or not isinstance(total, int) or total <= 0 \
            or amount.get("currency", "CNY") != "CNY" or not (data.get("payer") or {}).get("openid") \
            or not data.get("notify_url") or not data.get("description"):
        return "400 Bad Request", _error("PARAM_ERROR", "invalid parameters")
    with state.lock:
        existing = state.orders.get((merchant.mch_id, no))
        if existing is not None:
            if existing.state != "NOTPAY":
                return "403 Forbidden", _error("OUT_TRADE_NO_USED", "out_trade_no already used")
            if existing.total != total:
                return "400 Bad Request", _error("INVALID_REQUEST", "same out_trade_no with other parameters")
            return "200 OK", {"prepay_id": existing.prepay_id}
        o = SimOrder(mch_id=merchant.mch_id, app_id=merchant.app_id, out_trade_no=no,
                     description=str(data["description"]), total=total, currency="CNY",
                     openid=str(data["payer"]["openid"]), notify_url=str(data["notify_url"]),
                     prepay_id="wx" + secrets.token_hex(15))
        state.orders[(merchant.mch_id, no)] = o
    return "200 OK", {"prepay_id": o.prepay_id}


def _query(state: PayState, merchant: SimMerchant, no: str) -> Answer:
    o = state.orders.get((merchant.mch_id, no))
    if o is None:
        return "404 Not Found", _error("ORDER_NOT_EXIST", "order does not exist")
    return "200 OK", transaction_json(o)


def _close(state: PayState, merchant: SimMerchant, no: str) -> Answer:
    with state.lock:
        o = state.orders.get((merchant.mch_id, no))
        if o is None:
            return "404 Not Found", _error("ORDER_NOT_EXIST", "order does not exist")
        if o.state in ("SUCCESS", "REFUND"):
            return "400 Bad Request", _error("ORDER_PAID", "order paid")
        o.state = "CLOSED"
    return "204 No Content", None


def _refund(state: PayState, merchant: SimMerchant, data: dict[str, Any]) -> Answer:
    o = state.orders.get((merchant.mch_id, str(data.get("out_trade_no", ""))))
    amount = data.get("amount") or {}
    refund, no = amount.get("refund"), str(data.get("out_refund_no", ""))
    if o is None:
        return "404 Not Found", _error("ORDER_NOT_EXIST", "order does not exist")
    if o.state not in ("SUCCESS", "REFUND"):
        return "403 Forbidden", _error("TRADE_ERROR", "order not paid")
    if not isinstance(refund, int) or refund <= 0 or amount.get("total") != o.total or not no:
        return "400 Bad Request", _error("PARAM_ERROR", "invalid refund amount")
    with state.lock:
        for r in o.refunds:
            if r["out_refund_no"] == no:
                return "200 OK", r
        if sum(r["amount"]["refund"] for r in o.refunds) + refund > o.total:
            return "400 Bad Request", _error("INVALID_REQUEST", "refund exceeds the paid amount")
        r = {"refund_id": "50" + secrets.token_hex(14), "out_refund_no": no, "transaction_id": o.transaction_id,
             "out_trade_no": o.out_trade_no, "channel": "ORIGINAL", "status": "PROCESSING",
             "create_time": _now_iso(), "amount": {"refund": refund, "total": o.total, "payer_total": o.total,
                                                   "payer_refund": refund, "currency": o.currency}}
        o.refunds.append(r)
        o.state = "REFUND"
    notify_url = str(data.get("notify_url") or o.notify_url)
    done = {"mchid": o.mch_id, "out_trade_no": o.out_trade_no, "transaction_id": o.transaction_id,
            "out_refund_no": no, "refund_id": r["refund_id"], "refund_status": "SUCCESS",
            "success_time": _now_iso(), "user_received_account": "支付用户零钱",
            "amount": {"total": o.total, "refund": refund, "payer_total": o.total, "payer_refund": refund}}
    r_order = SimOrder(**{**o.__dict__, "notify_url": notify_url, "refunds": []})
    state.send_later(r_order, "REFUND.SUCCESS", done, delay_s=0.05, repeat=1, original_type="refund")
    return "200 OK", r


def _read(environ: dict[str, Any]) -> bytes:
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), 1024 * 1024)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length else b""


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _route(state: PayState, environ: dict[str, Any], merchant: SimMerchant, body: bytes) -> Answer:
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    found = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)(/close)?", path)
    if path == "/v3/pay/transactions/jsapi" and method == "POST":
        return _prepay(state, merchant, _json(body))
    if found and method == "GET" and not found.group(2):
        return _query(state, merchant, found.group(1))
    if found and method == "POST" and found.group(2):
        return _close(state, merchant, found.group(1))
    if path == "/v3/refund/domestic/refunds" and method == "POST":
        return _refund(state, merchant, _json(body))
    return "404 Not Found", _error("NOT_FOUND", "no such API")


def make_app(state: PayState) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The platform's WSGI app over `state`."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _read(environ)
        if environ.get("PATH_INFO") == "/sim/pay" and environ.get("REQUEST_METHOD") == "POST":
            data = _json(body)
            if (str(data.get("mchid", "")), str(data.get("out_trade_no", ""))) not in state.orders:
                return _respond(start_response, None, "404 Not Found", _error("ORDER_NOT_EXIST", "no such order"))
            o = state.pay(str(data["mchid"]), str(data["out_trade_no"]), notify=bool(data.get("notify", True)),
                          repeat=max(0, min(int(data.get("repeat", 1)), 5)), delay_s=float(data.get("delay_s", 0)))
            return _respond(start_response, None, "200 OK", transaction_json(o))
        merchant, refused = _authenticate(state, environ, body)
        if refused is not None:
            return _respond(start_response, merchant, *refused)
        assert merchant is not None
        return _respond(start_response, merchant, *_route(state, environ, merchant, body))

    return app
