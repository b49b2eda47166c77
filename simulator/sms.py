"""A simulated SMS provider, mounted under /sms by the simulator server.

Sending (Siyu calls the provider):
- `POST /send` `{"phone", "sign", "text", "key"}`: accepts a text for a mainland mobile number (11 digits from 1);
  the same `key` twice is one message. Answers `{"code": "OK", "message_id"}` or `{"code": "INVALID_PHONE"}` (400).
  An accepted message gets a delivery receipt (below): `UNDELIV` for the numbers in `SmsState.failing`, else
  `DELIVRD`.

Callbacks (the provider calls Siyu, at `SmsState.callback_url`; `siyu simulate` sets it to
`{siyu}/channels/sms/callback/`). Every callback is `POST` with a JSON body and three headers:

    X-Sms-Timestamp: <unix seconds>
    X-Sms-Nonce:     <16 random hex characters>
    X-Sms-Signature: hex(HMAC-SHA256(secret, "<timestamp>\\n<nonce>\\n" + body bytes))

The secret is shared by the provider and the brand (`SmsState.secret`; Siyu's `SIYU_SMS_CALLBACK_SECRET`, both
defaulting to the demo secret). Bodies:

    {"type": "receipt", "message_id": "sms00000001", "key": "<the key of the send>", "phone": "13800000000",
     "status": "DELIVRD" | "UNDELIV", "error_code": "" | "MK:0001", "reported_at": "2026-12-07T08:00:00Z"}
    {"type": "reply", "message_id": "mo00000001", "phone": "13800000000", "text": "TD",
     "reply_to": "<message_id of the last message this phone received, or empty>",
     "received_at": "2026-12-07T08:00:00Z"}

A 2xx answer acknowledges; anything else (or no answer) is retried, up to `retries` times. Like real providers the
simulator may report twice (`duplicate_receipts`) and out of order (`flush_receipts(reverse=True)`).

Simulator only:
- `GET /sim/inbox?phone=...`: what that phone received, newest last, as a person reads it.
- `POST /sim/reply` `{"phone", "text"}`: that person answers the brand's SMS; the provider posts the reply to Siyu.
  Answers `{"code": "OK", "message_id", "delivered": <Siyu's HTTP status or 0>}`.

The signature is computed here with the standard library alone: the simulator shares no code with Siyu's checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs
from urllib.request import Request, urlopen

from siyu.channels import demo_accounts

PHONE = re.compile(r"1\d{10}")
MAX_BODY = 64 * 1024


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The provider's signature over one callback (see the module docstring)."""
    message = f"{timestamp}\n{nonce}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None, nonce: str = "") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(8)
    return {"Content-Type": "application/json; charset=utf-8", "X-Sms-Timestamp": ts, "X-Sms-Nonce": nonce,
            "X-Sms-Signature": sign(secret, ts, nonce, body)}


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Callback:
    body: bytes
    attempts: int = 0


@dataclass
class SmsState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    inbox: dict[str, list[str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    last_message: dict[str, str] = field(default_factory=dict)  # phone -> message id of the last message it got
    counter: int = 0
    # Callbacks to Siyu
    callback_url: str = ""
    secret: str = demo_accounts.SMS_CALLBACK_SECRET
    failing: set[str] = field(default_factory=set)  # numbers whose messages are reported UNDELIV
    duplicate_receipts: bool = False  # report every receipt twice (providers retry what they think was lost)
    auto_deliver: bool = False  # post receipts from a background thread as soon as a message is accepted
    retries: int = 3
    pending: list[Callback] = field(default_factory=list)
    delivered: list[tuple[bytes, int]] = field(default_factory=list)  # (body, Siyu's status) of every post

    def send(self, phone: str, sign_name: str, text: str, key: str) -> str:
        with self.lock:
            if key and key in self.keys:
                return self.keys[key]
            self.counter += 1
            message_id = f"sms{self.counter:08d}"
            self.inbox.setdefault(phone, []).append(f"【{sign_name}】{text}" if sign_name else text)
            self.last_message[phone] = message_id
            if key:
                self.keys[key] = message_id
            failed = phone in self.failing
            receipt = {"type": "receipt", "message_id": message_id, "key": key, "phone": phone,
                       "status": "UNDELIV" if failed else "DELIVRD", "error_code": "MK:0001" if failed else "",
                       "reported_at": _iso_now()}
            body = json.dumps(receipt, ensure_ascii=False).encode()
            copies = 2 if self.duplicate_receipts else 1
            if self.callback_url:
                self.pending.extend(Callback(body) for _ in range(copies))
        if self.auto_deliver and self.callback_url:
            threading.Thread(target=self.flush_receipts, name="sim-sms-receipts", daemon=True).start()
        return message_id

    def messages(self, phone: str) -> list[str]:
        with self.lock:
            return list(self.inbox.get(phone, []))

    def last_code(self, phone: str) -> str:
        """The last 6-digit code this phone received (what a tester types in)."""
        for text in reversed(self.messages(phone)):
            found = re.search(r"\d{6}", text)
            if found:
                return found.group(0)
        return ""

    # -- callbacks -------------------------------------------------------------------------------------------

    def post(self, body: bytes) -> int:
        """One signed POST to Siyu; its HTTP status, 0 when it could not be reached."""
        request = Request(self.callback_url, data=body, headers=signed_headers(self.secret, body), method="POST")  # noqa: S310
        try:
            with urlopen(request, timeout=5) as response:  # noqa: S310 - the URL the brand configured
                status = int(response.status)
        except HTTPError as exc:
            status = int(exc.code)
        except (URLError, OSError):
            status = 0
        with self.lock:
            self.delivered.append((body, status))
        return status

    def flush_receipts(self, *, reverse: bool = False) -> int:
        """Post every pending receipt (oldest first, or newest first with `reverse`); a refused one is retried up to
        `retries` times. Returns how many Siyu acknowledged."""
        with self.lock:
            batch, self.pending = self.pending, []
        if reverse:
            batch.reverse()
        acknowledged = 0
        for item in batch:
            while item.attempts < max(1, self.retries):
                item.attempts += 1
                if 200 <= self.post(item.body) < 300:
                    acknowledged += 1
                    break
        return acknowledged

    def reply(self, phone: str, text: str) -> tuple[str, int]:
        """A person answers the brand's SMS: the reply is posted to Siyu now. Returns (message id, Siyu's status)."""
        with self.lock:
            self.counter += 1
            message_id = f"mo{self.counter:08d}"
            reply_to = self.last_message.get(phone, "")
        body = json.dumps({"type": "reply", "message_id": message_id, "phone": phone, "text": text,
                           "reply_to": reply_to, "received_at": _iso_now()}, ensure_ascii=False).encode()
        status = 0
        for _ in range(max(1, self.retries)):
            status = self.post(body) if self.callback_url else 0
            if 200 <= status < 300 or not self.callback_url:
                break
        return message_id, status


def _answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]


def _read_json(environ: dict[str, Any]) -> dict[str, Any] | None:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY:
        return None
    try:
        data = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _sim_reply(state: SmsState, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    data = _read_json(environ)
    if data is None:
        return _answer(start_response, "400 Bad Request", {"code": "BAD_JSON"})
    phone, text = str(data.get("phone", "")), str(data.get("text", ""))
    if not PHONE.fullmatch(phone) or not text or len(text) > 500:
        return _answer(start_response, "400 Bad Request", {"code": "INVALID_REPLY"})
    message_id, status = state.reply(phone, text)
    return _answer(start_response, "200 OK", {"code": "OK", "message_id": message_id, "delivered": status})


def _send(state: SmsState, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if int(environ.get("CONTENT_LENGTH") or 0) > MAX_BODY:
        return _answer(start_response, "413 Payload Too Large", {"code": "TOO_LARGE"})
    data = _read_json(environ)
    if data is None:
        return _answer(start_response, "400 Bad Request", {"code": "BAD_JSON"})
    phone, text = str(data.get("phone", "")), str(data.get("text", ""))
    if not PHONE.fullmatch(phone):
        return _answer(start_response, "400 Bad Request", {"code": "INVALID_PHONE"})
    if not text or len(text) > 500:
        return _answer(start_response, "400 Bad Request", {"code": "INVALID_TEXT"})
    message_id = state.send(phone, str(data.get("sign", ""))[:20], text, str(data.get("key", ""))[:128])
    return _answer(start_response, "200 OK", {"code": "OK", "message_id": message_id})


def make_app(state: SmsState) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/sim/inbox" and method == "GET":
            phone = parse_qs(environ.get("QUERY_STRING", "")).get("phone", [""])[0]
            return _answer(start_response, "200 OK", {"phone": phone, "messages": state.messages(phone)})
        if path == "/sim/reply" and method == "POST":
            return _sim_reply(state, environ, start_response)
        if path == "/send" and method == "POST":
            return _send(state, environ, start_response)
        return _answer(start_response, "404 Not Found", {"code": "NOT_FOUND"})

    return app
