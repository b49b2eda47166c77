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
- `GET /v3/certificates`: the platform certificates, each encrypted with the merchant's APIv3 key (associated data
  "certificate"); the answer is signed like every other. `PayState.use_certificate(mch_id)` moves a merchant to
  certificate mode (the answers name the certificate's serial instead of a PUB_KEY_ID) and returns the PEM;
  `PayState.rotate_certificate(mch_id)` makes the platform sign with a new key and certificate, as it does yearly.
- `POST /sim/pay {"mchid", "out_trade_no", "repeat": 1, "delay_s": 0, "notify": true}` plays the shopper paying:
  the order becomes SUCCESS and its notify is sent `repeat` times after `delay_s` seconds (or not at all).
- `PayState.build_notify(...)` makes a signed, encrypted notify in-process, for tests that send it themselves.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import html
import io
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs
from urllib.request import Request, urlopen

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

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


def _self_signed(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    """A platform certificate for `key`: self-signed here (the real one is issued by Tenpay's CA), valid 5 years."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (simulated)"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com")])
    serial = x509.random_serial_number()
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=5 * 365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode(), format(serial, "X")


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
    platform_cert_pem: str = ""  # made on first use (GET /v3/certificates, use_certificate)
    platform_cert_serial: str = ""


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
        # tests set False to play a refund notify that never comes (the refund still succeeds)
        self.refund_notifies = True
        self.bill_tweaks: dict[tuple[str, str], BillTweaks] = {}
        self.downloads: dict[str, tuple[float, str, bytes]] = {}  # token -> (expiry, mch_id, bytes)

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

    def register_known_merchant(self, *, mch_id: str, app_id: str, apiv3_key: str, merchant_serial: str,
                                merchant_private_pem: str, platform_private_pem: str,
                                platform_key_id: str) -> SimMerchant:
        """A merchant whose keys were made earlier (the demo's): the platform learns the merchant's public key and
        signs with its own platform key."""
        merchant_key = serialization.load_pem_private_key(merchant_private_pem.encode(), password=None)
        platform_key = serialization.load_pem_private_key(platform_private_pem.encode(), password=None)
        if not isinstance(merchant_key, rsa.RSAPrivateKey) or not isinstance(platform_key, rsa.RSAPrivateKey):
            raise ValueError("WeChat Pay keys are RSA keys")
        merchant = SimMerchant(mch_id=mch_id, app_id=app_id, apiv3_key=apiv3_key, merchant_serial=merchant_serial,
                               merchant_public_pem=public_pem(merchant_key), platform_key=platform_key,
                               platform_key_id=platform_key_id)
        self.register_merchant(merchant)
        return merchant

    def certificate(self, mch_id: str) -> tuple[str, str]:
        """The merchant's current platform certificate (PEM, serial in upper-case hex), made on first use."""
        with self.lock:
            merchant = self.merchants[mch_id]
            if not merchant.platform_cert_pem:
                merchant.platform_cert_pem, merchant.platform_cert_serial = _self_signed(merchant.platform_key)
            return merchant.platform_cert_pem, merchant.platform_cert_serial

    def use_certificate(self, mch_id: str) -> str:
        """Certificate mode: answers and notifies name the platform certificate's serial. Returns its PEM."""
        pem, serial = self.certificate(mch_id)
        with self.lock:
            self.merchants[mch_id].platform_key_id = serial
        return pem

    def rotate_certificate(self, mch_id: str) -> str:
        """A new platform key and certificate (certificate mode): the platform signs with them from now on."""
        with self.lock:
            merchant = self.merchants[mch_id]
            merchant.platform_key = new_rsa_key()
            merchant.platform_cert_pem, merchant.platform_cert_serial = _self_signed(merchant.platform_key)
            merchant.platform_key_id = merchant.platform_cert_serial
            return merchant.platform_cert_pem

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
            delay_s: float = 0.0, at: datetime | None = None) -> SimOrder:
        """The shopper pays (now, or at `at`): the order becomes SUCCESS and its notify goes out (in the
        background)."""
        with self.lock:
            o = self.orders[(mch_id, out_trade_no)]
            if o.state == "NOTPAY":
                when = at.astimezone(CST).replace(microsecond=0).isoformat() if at else _now_iso()
                o.state, o.transaction_id, o.success_time = "SUCCESS", "42" + secrets.token_hex(13), when
        if notify:
            self.send_later(o, "TRANSACTION.SUCCESS", transaction_json(o), delay_s=delay_s, repeat=repeat)
        return o


    def plant_trade(self, mch_id: str, out_trade_no: str, total: int, *, at: datetime, description: str = "商品",
                    openid: str = "o_sim_buyer", state: str = "SUCCESS") -> SimOrder:
        """A transaction the platform has (paid at `at`), whether or not the merchant's system ever asked for it."""
        merchant = self.merchants[mch_id]
        o = SimOrder(mch_id=mch_id, app_id=merchant.app_id, out_trade_no=out_trade_no, description=description,
                     total=total, currency="CNY", openid=openid, notify_url="", prepay_id="wx" + secrets.token_hex(15),
                     state=state, transaction_id="42" + secrets.token_hex(13),
                     success_time=at.astimezone(CST).replace(microsecond=0).isoformat())
        with self.lock:
            self.orders[(mch_id, out_trade_no)] = o
        return o

    def plant_refund(self, mch_id: str, out_trade_no: str, out_refund_no: str, refund: int, *, at: datetime,
                     status: str = "SUCCESS") -> dict[str, Any]:
        """A refund the platform has on a transaction it has (requested at `at`)."""
        with self.lock:
            o = self.orders[(mch_id, out_trade_no)]
            r = {"refund_id": "50" + secrets.token_hex(14), "out_refund_no": out_refund_no,
                 "transaction_id": o.transaction_id, "out_trade_no": out_trade_no, "channel": "ORIGINAL",
                 "status": status, "create_time": at.astimezone(CST).replace(microsecond=0).isoformat(),
                 "amount": {"refund": refund, "total": o.total, "payer_total": o.total, "payer_refund": refund,
                            "currency": o.currency}}
            if status == "SUCCESS":
                r["success_time"] = r["create_time"]
            o.refunds.append(r)
            o.state = "REFUND"
        return r

    def bill_rows(self, mch_id: str, day: str) -> list[tuple[str, list[str], dict[str, int]]]:
        """(time, 27 values, figures in fen) of every payment paid and refund requested on `day`, from this platform's
        own record."""
        rows = []
        with self.lock:
            orders = [o for o in self.orders.values() if o.mch_id == mch_id]
        for o in orders:
            if o.success_time and o.state in ("SUCCESS", "REFUND"):
                on, when = _bill_time(o.success_time)
                if on == day:
                    fee = _fee_fen(o.total)
                    rows.append((when, [when, o.app_id, o.mch_id, "0", "", o.transaction_id, o.out_trade_no, o.openid,
                                        "JSAPI", "SUCCESS", "OTHERS", o.currency, _yuan(o.total), "0.00", "0", "0",
                                        "0.00", "0.00", "", "", o.description, "", _fee_text(fee), "0.60%",
                                        _yuan(o.total), "0.00", ""],
                                 {"settle": o.total, "refund": 0, "fee": fee, "order": o.total, "asked": 0}))
            for r in o.refunds:
                on, when = _bill_time(str(r["create_time"]))
                if on != day:
                    continue
                amount = int(r["amount"]["refund"])
                fee = -_fee_fen(amount)
                rows.append((when, [when, o.app_id, o.mch_id, "0", "", o.transaction_id, o.out_trade_no, o.openid,
                                    "JSAPI", "REFUND", "OTHERS", o.currency, "0.00", "0.00", str(r["refund_id"]),
                                    str(r["out_refund_no"]), _yuan(amount), "0.00", "ORIGINAL", str(r["status"]),
                                    o.description, "", _fee_text(fee), "0.60%", "0.00", _yuan(amount), ""],
                             {"settle": 0, "refund": amount, "fee": fee, "order": 0, "asked": amount}))
        rows.sort(key=lambda row: (row[0], row[1][6], row[1][15]))
        return rows

    def trade_bill(self, mch_id: str, day: str) -> bytes:
        """The day's ALL trade bill as the platform serves it: a header, one backtick-prefixed row per payment and
        refund (RFC 4180 quoting where a value holds a comma, quote or line break), then the summary header and row."""
        tweaks = self.bill_tweaks.get((mch_id, day), BillTweaks())
        if tweaks.raw is not None:
            return tweaks.raw
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(BILL_HEADER)
        totals = {"settle": 0, "refund": 0, "fee": 0, "order": 0, "asked": 0}
        rows = self.bill_rows(mch_id, day)
        for _when, values, figures in rows:
            writer.writerow(["`" + v for v in values])
            for name, value in figures.items():
                totals[name] += value
        for values in tweaks.extra_rows:
            writer.writerow(["`" + v for v in values])
        writer.writerow(SUMMARY_HEADER)
        count = len(rows) + len(tweaks.extra_rows) + tweaks.summary_count_delta
        writer.writerow(["`" + v for v in (str(count), _yuan(totals["settle"]), _yuan(totals["refund"]), "0.00",
                                           _fee_text(totals["fee"]),
                                           _yuan(totals["order"] + tweaks.summary_order_total_delta_fen),
                                           _yuan(totals["asked"]))])
        return out.getvalue().encode()


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
        if sum(r["amount"]["refund"] for r in o.refunds if r["status"] not in ("CLOSED", "ABNORMAL")) + refund \
                > o.total:  # a refund that never paid back holds nothing of the transaction
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
    answer = dict(r)  # PROCESSING: the money goes back a moment later, as the platform's does
    with state.lock:
        r["status"], r["success_time"] = "SUCCESS", done["success_time"]
    if state.refund_notifies:
        state.send_later(r_order, "REFUND.SUCCESS", done, delay_s=0.05, repeat=1, original_type="refund")
    return "200 OK", answer


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
    refund_query = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
    if refund_query and method == "GET":
        return _refund_query(state, merchant, refund_query.group(1))
    if path == "/v3/bill/tradebill" and method == "GET":
        return _tradebill(state, merchant, environ)
    if path == "/v3/certificates" and method == "GET":
        return _certificates(state, merchant)
    return "404 Not Found", _error("NOT_FOUND", "no such API")


CASHIER_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>微信支付（模拟）</title>
<style>body{{font-family:sans-serif;margin:0;padding:24px;text-align:center;background:#f5f5f5}}
.amount{{font-size:32px;margin:24px 0}}button{{width:100%;padding:14px;font-size:18px;background:#07c160;color:#fff;
border:0;border-radius:6px}}</style></head><body><p>模拟器 · 微信支付</p><p>{description}</p>
<p class="amount">¥{amount}</p><form method="post"><input type="hidden" name="mchid" value="{mchid}">
<input type="hidden" name="out_trade_no" value="{no}"><input type="hidden" name="return" value="{back}">
<button type="submit" id="sim-pay">确认支付</button></form></body></html>"""


def _cashier(state: PayState, environ: dict[str, Any], body: bytes,
             start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The payment sheet a shopper sees in WeChat after the page calls getBrandWCPayRequest (simulator only): GET
    shows the amount, POST pays (the notify goes out) and returns to the merchant's page (`return`, http(s) only)."""
    post = environ.get("REQUEST_METHOD") == "POST"
    fields = parse_qs(body.decode("utf-8", "replace") if post else environ.get("QUERY_STRING", ""))
    mchid, no = fields.get("mchid", [""])[0], fields.get("out_trade_no", [""])[0]
    back = fields.get("return", [""])[0]
    o = state.order(mchid, no)
    if o is None or not back.startswith(("http://", "https://")):
        return _respond(start_response, None, "404 Not Found", _error("ORDER_NOT_EXIST", "no such order"))
    if post:
        state.pay(mchid, no)
        start_response("302 Found", [("Location", back), ("Content-Length", "0")])
        return [b""]
    page = CASHIER_PAGE.format(description=html.escape(o.description), amount=_yuan(o.total), mchid=html.escape(mchid),
                               no=html.escape(no), back=html.escape(back)).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))])
    return [page]


def make_app(state: PayState) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The platform's WSGI app over `state`."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _read(environ)
        if environ.get("PATH_INFO") == "/sim/cashier":
            return _cashier(state, environ, body, start_response)
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
        if environ.get("PATH_INFO") == "/v3/billdownload/file" and environ.get("REQUEST_METHOD") == "GET":
            content = _download(state, merchant, environ)
            if content is None:
                return _respond(start_response, merchant, "404 Not Found",
                                _error("RESOURCE_NOT_EXISTS", "the download link is unknown or has expired"))
            kind = "application/gzip" if content[:2] == b"\x1f\x8b" else "text/csv; charset=utf-8"
            start_response("200 OK", [("Content-Type", kind),
                                      ("Content-Length", str(len(content)))])
            return [content]  # bill downloads are not signed: the SHA1 in the tradebill answer vouches for them
        return _respond(start_response, merchant, *_route(state, environ, merchant, body))

    return app


# ---------------------------------------------------------------------------------------------------------------
# Refund query and the trade bill


def _refund_query(state: PayState, merchant: SimMerchant, out_refund_no: str) -> Answer:
    with state.lock:
        for o in state.orders.values():
            if o.mch_id != merchant.mch_id:
                continue
            for r in o.refunds:
                if r["out_refund_no"] == out_refund_no:
                    return "200 OK", dict(r)
    return "404 Not Found", _error("RESOURCE_NOT_EXISTS", "refund does not exist")


BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
               "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
               "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注").split(",")
SUMMARY_HEADER = ("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,"
                  "手续费总金额,订单总金额,申请退款总金额").split(",")
FEE_RATE = Decimal("0.006")
DOWNLOAD_TTL_S = 300


@dataclass
class BillTweaks:
    """What a test asks the platform to get wrong in one day's bill (merchant, 'yyyy-MM-dd')."""

    wrong_hash: bool = False  # the tradebill answer's SHA1 is not the file's
    summary_order_total_delta_fen: int = 0  # the summary's 订单总金额 disagrees with the detail rows
    summary_count_delta: int = 0
    extra_rows: list[list[str]] = field(default_factory=list)  # 27 raw values each (backticks added)
    raw: bytes | None = None  # serve exactly these bytes (hashed honestly unless wrong_hash)
    broken_gzip: bool = False  # a GZIP download is cut off half-way


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _fee_fen(fen: int) -> int:
    return int((Decimal(fen) * FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _fee_text(fen: int) -> str:
    return str((Decimal(fen) / 100).quantize(Decimal("0.00001")))


def _bill_time(iso: str) -> tuple[str, str]:
    """(the bill day, the bill's time text) of an RFC 3339 time, in China Standard Time."""
    moment = datetime.fromisoformat(iso).astimezone(CST)
    return moment.date().isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S")


def _tradebill(state: PayState, merchant: SimMerchant, environ: dict[str, Any]) -> Answer:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    day = (query.get("bill_date") or [""])[0]
    bill_type = (query.get("bill_type") or ["ALL"])[0]
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        return "400 Bad Request", _error("PARAM_ERROR", "bill_date is yyyy-MM-dd")
    tar_type = (query.get("tar_type") or [""])[0]
    if bill_type != "ALL":
        return "400 Bad Request", _error("PARAM_ERROR", "only bill_type=ALL is simulated")
    if "tar_type" in query and tar_type != "GZIP":
        return "400 Bad Request", _error("PARAM_ERROR", "tar_type is GZIP or absent")
    if wanted > datetime.now(CST).date():
        return "400 Bad Request", _error("NO_STATEMENT_EXIST", "no statement for that day")
    tweaks = state.bill_tweaks.get((merchant.mch_id, day), BillTweaks())
    if tweaks.raw is None and not tweaks.extra_rows and not state.bill_rows(merchant.mch_id, day):
        return "400 Bad Request", _error("NO_STATEMENT_EXIST", "no transactions that day")
    content = state.trade_bill(merchant.mch_id, day)
    digest = hashlib.sha1(content).hexdigest()  # noqa: S324 - the platform's published bill hash
    if tweaks.wrong_hash:
        digest = hashlib.sha1(content + b"x").hexdigest()  # noqa: S324
    served = content
    if tar_type == "GZIP":  # the hash stays the original bill's: the platform hashes before compressing
        served = gzip.compress(content, mtime=0)
        if tweaks.broken_gzip:
            served = served[: len(served) // 2]
    token = secrets.token_urlsafe(24)
    with state.lock:
        state.downloads[token] = (time.time() + DOWNLOAD_TTL_S, merchant.mch_id, served)
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '')}"
    url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}"
    return "200 OK", {"hash_type": "SHA1", "hash_value": digest,
                      "download_url": f"{url}/v3/billdownload/file?token={token}"}


def _download(state: PayState, merchant: SimMerchant, environ: dict[str, Any]) -> bytes | None:
    token = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [""])[0]
    with state.lock:
        found = state.downloads.get(token)
    if found is None or found[0] < time.time() or found[1] != merchant.mch_id:
        return None
    return found[2]



def _certificates(state: PayState, merchant: SimMerchant) -> Answer:
    pem, serial = state.certificate(merchant.mch_id)
    cert = x509.load_pem_x509_certificate(pem.encode())
    return "200 OK", {"data": [{
        "serial_no": serial,
        "effective_time": cert.not_valid_before_utc.astimezone(CST).isoformat(),
        "expire_time": cert.not_valid_after_utc.astimezone(CST).isoformat(),
        "encrypt_certificate": encrypt_resource(merchant.apiv3_key, pem, "certificate"),
    }]}
