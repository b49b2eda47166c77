"""The WeChat Pay v3 HTTP client: prepay (JSAPI / mini-program), query by out_trade_no, close, refund, refund query,
the trade bill (its signed tradebill answer, then the download, whose SHA1 we check ourselves: the download itself
is not signed, and the wechatpayv3 SDK's download checks neither). A bill asked for with tar_type=GZIP is
decompressed as it streams in and the SHA1 is over the decompressed bill, as the platform's tradebill answer
announces it ("原始账单（gzip需要解压缩）的摘要值").

Every request is signed; every answer is verified before it is believed (the signature over timestamp, nonce and
body with the platform key `Wechatpay-Serial` names, the timestamp within ±300 s), since a forged "SUCCESS" must never
reach the books. Errors are sorted: `PayError.retryable` is true for timeouts, 429 and 5xx (repeat with the same
out_trade_no / out_refund_no), false for everything the platform refused on the merits. Explicit timeouts; never
called inside a database transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import IO, Any
from urllib.parse import quote

import httpx
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

from siyu.channels.wechatpay import crypto
from siyu.core.errors import UpstreamError

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
WINDOW_S = 300
RETRYABLE_STATUS = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Credentials:
    mch_id: str
    app_id: str
    serial_no: str
    private_key_pem: str
    apiv3_key: str
    platform_key_id: str
    platform_key_pem: str
    base_url: str
    notify_url: str


class PayError(UpstreamError):
    """The platform refused or could not be reached. `platform_code` is its code (ORDER_NOT_EXIST, ...)."""

    def __init__(
        self, message: str | StrPromise, *, platform_code: str, http_status: int = 0, retryable: bool = False
    ) -> None:
        super().__init__(message, code="wechatpay_" + platform_code.lower())
        self.platform_code = platform_code
        self.http_status = http_status
        self.retryable = retryable
        self.answer_serial = ""  # BAD_SIGNATURE: the platform key the answer named (Wechatpay-Serial)


@dataclass(frozen=True)
class Transaction:
    out_trade_no: str
    transaction_id: str
    trade_state: str
    total_fen: int
    payer_total_fen: int
    currency: str
    success_time: str
    openid: str
    mch_id: str
    app_id: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Transaction:
        amount = data.get("amount") or {}
        return cls(out_trade_no=str(data.get("out_trade_no", "")), transaction_id=str(data.get("transaction_id", "")),
                   trade_state=str(data.get("trade_state", "")), total_fen=_int(amount.get("total")),
                   payer_total_fen=_int(amount.get("payer_total", amount.get("total"))),
                   currency=str(amount.get("currency", "")), success_time=str(data.get("success_time", "")),
                   openid=str((data.get("payer") or {}).get("openid", "")), mch_id=str(data.get("mchid", "")),
                   app_id=str(data.get("appid", "")))


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    refund_id: str
    status: str
    refund_fen: int
    total_fen: int
    currency: str
    success_time: str = ""

    @classmethod
    def parse(cls, data: dict[str, Any]) -> RefundResult:
        amount = data.get("amount") or {}
        return cls(out_refund_no=str(data.get("out_refund_no", "")), refund_id=str(data.get("refund_id", "")),
                   status=str(data.get("status", data.get("refund_status", ""))), refund_fen=_int(amount.get("refund")),
                   total_fen=_int(amount.get("total")), currency=str(amount.get("currency", "")),
                   success_time=str(data.get("success_time", "")))


@dataclass(frozen=True)
class PlatformCertificate:
    """One entry of GET /v3/certificates. `pem` is the decrypted certificate, or "" when the APIv3 key does not
    open it (the AEAD tag fails: a wrong APIv3 key)."""

    serial_no: str
    effective_time: str
    expire_time: str
    pem: str


@dataclass(frozen=True)
class BillRef:
    """The tradebill answer: where to download the day's bill and the SHA1 the downloaded bytes must have."""

    hash_type: str
    hash_value: str
    download_url: str
    gzip: bool = False  # the download is a GZIP file; hash_value is the SHA1 of what it decompresses to


@dataclass(frozen=True)
class Download:
    sha1: str
    size: int


class BillBadGzip(PayError):
    def __init__(self, message: str | StrPromise) -> None:
        super().__init__(message, platform_code="BILL_BAD_GZIP")


class BillHashMismatch(PayError):
    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"the downloaded bill's SHA1 is {got}, the platform announced {expected}",
                         platform_code="BILL_HASH_MISMATCH")


_SHA1 = re.compile(r"[0-9a-fA-F]{40}")
MAX_BILL_BYTES = 4 * 1024**3


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


class PayClient:
    def __init__(self, credentials: Credentials, *, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.c = credentials
        self._http = http
        self._clock = clock
        self._key = crypto.load_private_key(credentials.private_key_pem)
        self._platform_key = crypto.load_platform_key(credentials.platform_key_pem)

    # -- transport -------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Request:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body is not None else ""
        headers = {
            "Accept": "application/json",
            "Authorization": crypto.authorization(mch_id=self.c.mch_id, serial_no=self.c.serial_no,
                                                  private_key=self._key, method=method, url=path, body=text,
                                                  timestamp=int(self._clock()), nonce_str=crypto.nonce()),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        return httpx.Request(method, self.c.base_url.rstrip("/") + path, headers=headers,
                             content=text.encode() if body is not None else None)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        request = self._request(method, path, body)
        http = self._http or httpx.Client(timeout=TIMEOUT)
        try:
            return http.send(request)
        except httpx.HTTPError as exc:
            raise PayError(
                _("WeChat Pay could not be reached: %(name)s") % {"name": type(exc).__name__},
                platform_code="UNREACHABLE", retryable=True,
            ) from exc
        finally:
            if self._http is None:
                http.close()

    def _verified(self, response: httpx.Response) -> None:
        h = response.headers
        ts, nonce_str = h.get("Wechatpay-Timestamp", ""), h.get("Wechatpay-Nonce", "")
        signature, serial = h.get("Wechatpay-Signature", ""), h.get("Wechatpay-Serial", "")
        if serial != self.c.platform_key_id:
            error = PayError(_("the answer names an unknown platform key"), platform_code="BAD_SIGNATURE",
                             http_status=response.status_code)
            error.answer_serial = serial[:64]
            raise error
        if not ts.isdigit() or abs(int(ts) - self._clock()) > WINDOW_S:
            raise PayError(_("the answer's timestamp is outside the window"), platform_code="BAD_SIGNATURE",
                           http_status=response.status_code)
        if not crypto.verify(public_key=self._platform_key, timestamp=ts, nonce_str=nonce_str,
                             body=response.content, signature=signature):
            raise PayError(_("the answer's signature does not hold"), platform_code="BAD_SIGNATURE",
                           http_status=response.status_code)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        response = self._send(method, path, body)
        if response.status_code >= 500 or response.status_code == 429:
            raise PayError(
                _("WeChat Pay answered %(status_code)s") % {"status_code": response.status_code},
                platform_code=_code(response), http_status=response.status_code, retryable=True,
            )
        self._verified(response)
        if response.status_code >= 400:
            raise PayError(_message(response), platform_code=_code(response), http_status=response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        try:
            data = response.json()
        except ValueError as exc:
            raise PayError(_("WeChat Pay answered something that is not JSON"), platform_code="BAD_ANSWER") from exc
        if not isinstance(data, dict):
            raise PayError(_("WeChat Pay answered something that is not an object"), platform_code="BAD_ANSWER")
        return data

    # -- operations ------------------------------------------------------------------------------------------

    def prepay_jsapi(self, *, out_trade_no: str, description: str, amount_fen: int, currency: str, openid: str,
                     time_expire: str = "", attach: str = "") -> str:
        body: dict[str, Any] = {
            "appid": self.c.app_id, "mchid": self.c.mch_id, "description": description[:127],
            "out_trade_no": out_trade_no, "notify_url": self.c.notify_url,
            "amount": {"total": amount_fen, "currency": currency}, "payer": {"openid": openid},
        }
        if time_expire:
            body["time_expire"] = time_expire
        if attach:
            body["attach"] = attach[:128]
        data = self.call("POST", "/v3/pay/transactions/jsapi", body) or {}
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise PayError(_("the prepay answer has no prepay_id"), platform_code="BAD_ANSWER")
        return prepay_id

    def query(self, out_trade_no: str) -> Transaction:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}?mchid={quote(self.c.mch_id)}"
        return Transaction.parse(self.call("GET", path) or {})

    def close(self, out_trade_no: str) -> None:
        self.call("POST", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close",
                  {"mchid": self.c.mch_id})

    def refund(self, *, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, currency: str,
               reason: str = "", notify_url: str = "") -> RefundResult:
        body: dict[str, Any] = {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
                                "amount": {"refund": refund_fen, "total": total_fen, "currency": currency}}
        if reason:
            body["reason"] = reason[:80]
        if notify_url or self.c.notify_url:
            body["notify_url"] = notify_url or self.c.notify_url
        return RefundResult.parse(self.call("POST", "/v3/refund/domestic/refunds", body) or {})

    def refund_query(self, out_refund_no: str) -> RefundResult:
        return RefundResult.parse(self.call("GET", f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}")
                                  or {})

    def certificates(self) -> list[PlatformCertificate]:
        """The platform certificates (a signed, verified answer), each decrypted with the APIv3 key."""
        data = self.call("GET", "/v3/certificates") or {}
        entries = data.get("data")
        if not isinstance(entries, list):
            raise PayError(_("the certificates answer has no list"), platform_code="BAD_ANSWER")
        out: list[PlatformCertificate] = []
        for entry in entries:
            sealed = entry.get("encrypt_certificate") if isinstance(entry, dict) else None
            if not isinstance(sealed, dict):
                raise PayError(_("the certificates answer has no list"), platform_code="BAD_ANSWER")
            pem = crypto.decrypt(apiv3_key=self.c.apiv3_key, nonce_str=str(sealed.get("nonce", "")),
                                 ciphertext=str(sealed.get("ciphertext", "")),
                                 associated_data=str(sealed.get("associated_data", "")))
            out.append(PlatformCertificate(serial_no=str(entry.get("serial_no", "")).upper()[:64],
                                           effective_time=str(entry.get("effective_time", ""))[:40],
                                           expire_time=str(entry.get("expire_time", ""))[:40], pem=pem or ""))
        return out

    def trade_bill(self, bill_date: date, bill_type: str = "ALL", *, gzip: bool = False) -> BillRef:
        """Ask for the day's trade bill (a signed, verified answer): the download URL and the bill's SHA1 (over the
        decompressed bill when `gzip` asks for a GZIP download)."""
        path = f"/v3/bill/tradebill?bill_date={bill_date.isoformat()}&bill_type={quote(bill_type)}"
        data = self.call("GET", path + ("&tar_type=GZIP" if gzip else "")) or {}
        hash_type, hash_value, url = data.get("hash_type"), data.get("hash_value"), data.get("download_url")
        if hash_type != "SHA1" or not isinstance(hash_value, str) or not _SHA1.fullmatch(hash_value) \
                or not isinstance(url, str):
            raise PayError(_("the tradebill answer has no SHA1 hash or download URL"), platform_code="BAD_ANSWER")
        return BillRef(hash_type=hash_type, hash_value=hash_value.lower(), download_url=url, gzip=gzip)

    def download_bill(self, ref: BillRef, dest: IO[bytes], *, max_bytes: int = MAX_BILL_BYTES) -> Download:
        """Stream the bill into `dest` (signed GET), hashing as it comes; a SHA1 that is not the announced one raises
        BillHashMismatch (the caller discards what was written). The URL must be on the platform's own host: our
        signature is never sent anywhere else."""
        base = self.c.base_url.rstrip("/")
        if not ref.download_url.startswith(base + "/"):
            raise PayError(_("the download URL is not on WeChat Pay's host"), platform_code="BAD_ANSWER")
        request = self._request("GET", ref.download_url[len(base):], None)
        http = self._http or httpx.Client(timeout=TIMEOUT)
        sink = _BillSink(dest, max_bytes=max_bytes, gzip=ref.gzip)
        try:
            response = http.send(request, stream=True)
        except httpx.HTTPError as exc:
            if self._http is None:
                http.close()
            raise PayError(
                _("WeChat Pay could not be reached: %(name)s") % {"name": type(exc).__name__},
                platform_code="UNREACHABLE", retryable=True,
            ) from exc
        try:
            if response.status_code != 200:
                response.read()
                raise PayError(_("the bill download answered %(status_code)s")
                    % {"status_code": response.status_code}, platform_code=_code(response),
                               http_status=response.status_code, retryable=response.status_code >= 500)
            for raw in response.iter_bytes(1024 * 1024):
                sink.write(raw)
            sink.close()
        except httpx.HTTPError as exc:
            raise PayError(
                _("the bill download broke off: %(name)s") % {"name": type(exc).__name__},
                platform_code="UNREACHABLE", retryable=True,
            ) from exc
        finally:
            response.close()
            if self._http is None:
                http.close()
        got = sink.digest.hexdigest()
        if got != ref.hash_value.lower():
            raise BillHashMismatch(ref.hash_value, got)
        return Download(sha1=got, size=sink.size)

    def request_payment(self, prepay_id: str) -> dict[str, str]:
        """The parameters the mini-program hands to wx.requestPayment (and a JSAPI page to WeixinJSBridge)."""
        timestamp, nonce_str, package = str(int(self._clock())), crypto.nonce(), f"prepay_id={prepay_id}"
        return {"appId": self.c.app_id, "timeStamp": timestamp, "nonceStr": nonce_str, "package": package,
                "signType": "RSA", "paySign": crypto.pay_sign(private_key=self._key, app_id=self.c.app_id,
                                                              timestamp=timestamp, nonce_str=nonce_str,
                                                              package=package)}


class _BillSink:
    """Where the downloaded bytes go: decompressed first when the bill is GZIP, then hashed, counted against the
    size limit and written to `dest`."""

    def __init__(self, dest: IO[bytes], *, max_bytes: int, gzip: bool) -> None:
        self.dest, self.max_bytes = dest, max_bytes
        self.digest = hashlib.sha1()  # noqa: S324 - the platform's published bill hash
        self.size = 0
        self.inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if gzip else None  # gzip framing only

    def write(self, raw: bytes) -> None:
        for chunk in [raw] if self.inflate is None else _inflate(self.inflate, raw, self.max_bytes - self.size):
            self._out(chunk)

    def close(self) -> None:
        if self.inflate is None:
            return
        try:
            self._out(self.inflate.flush())
        except zlib.error as exc:
            raise BillBadGzip(_("the bill is not valid GZIP: %(exc)s") % {"exc": exc}) from exc
        if not self.inflate.eof:
            raise BillBadGzip(_("the GZIP bill ends before its end of stream (truncated)"))

    def _out(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise PayError(_("the bill is larger than we accept"), platform_code="BILL_TOO_LARGE")
        self.digest.update(chunk)
        self.dest.write(chunk)


def _inflate(inflate: Any, data: bytes, room: int) -> list[bytes]:
    """The decompressed pieces of `data`, never more than `room` + 1 bytes in all (a small file that inflates to
    gigabytes stops at the size limit instead of filling the disk). Anything after the gzip stream's end, or bytes
    that are not gzip, refuse the bill."""
    if inflate.eof:
        if data:
            raise BillBadGzip(_("bytes after the end of the GZIP bill"))
        return []
    out, pending = [], data
    try:
        while pending and not inflate.eof:
            piece = inflate.decompress(pending, 1024 * 1024)
            out.append(piece)
            room -= len(piece)
            if room < 0:
                break
            pending = inflate.unconsumed_tail
        if inflate.eof and inflate.unused_data:
            raise BillBadGzip(_("bytes after the end of the GZIP bill"))
    except zlib.error as exc:
        raise BillBadGzip(_("the bill is not valid GZIP: %(exc)s") % {"exc": exc}) from exc
    return out


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _code(response: httpx.Response) -> str:
    code = _body(response).get("code")
    return code if isinstance(code, str) and code.isascii() and 0 < len(code) <= 40 else f"HTTP_{response.status_code}"


def _message(response: httpx.Response) -> str:
    message = _body(response).get("message")
    return f"WeChat Pay refused: {message}"[:200] if isinstance(message, str) else "WeChat Pay refused the request"
