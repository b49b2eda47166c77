"""The SMS provider's callback wire format (the simulator's module docstring, simulator/sms.py, is the provider's
side; docs/sms.md the operator's). Pure functions over bytes: nothing here touches the database.

    POST /channels/sms/callback/
    X-Sms-Timestamp: <unix seconds>   X-Sms-Nonce: <[0-9A-Za-z_-]{1,64}>
    X-Sms-Signature: hex(HMAC-SHA256(secret, "<timestamp>\\n<nonce>\\n" + body))
    {"type": "receipt", "message_id", "key", "phone", "status": "DELIVRD" | "UNDELIV", "error_code", "reported_at"}
    {"type": "reply", "message_id", "phone", "text", "reply_to", "received_at"}

The signature covers the body, so nothing in a callback is trusted before it holds; the timestamp it covers is then
checked against the window and the (timestamp, nonce) pair against the replay cache.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_BODY_BYTES = 64 * 1024
_NONCE = re.compile(r"[0-9A-Za-z_-]{1,64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
PHONE = re.compile(r"1\d{10}")
# The provider's receipt statuses (CMPP stat codes) and what they mean here.
RECEIPT_STATUSES = {"DELIVRD": "delivered", "UNDELIV": "failed", "EXPIRED": "failed", "REJECTD": "failed",
                    "SENT": "sent"}


class Refused(Exception):
    """A callback that is not accepted: `status` (4xx) and `code` are the answer, `reason` is for the log."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


@dataclass(frozen=True)
class Headers:
    timestamp: str
    nonce: str
    signature: str

    @classmethod
    def from_meta(cls, meta: Mapping[str, object]) -> Headers:
        return cls(*(str(meta.get(f"HTTP_X_SMS_{name}", ""))[:200] for name in ("TIMESTAMP", "NONCE", "SIGNATURE")))


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}\n{nonce}\n".encode() + body, hashlib.sha256).hexdigest()


def authenticate(*, secret: str, headers: Headers, body: bytes, now_s: float) -> int:
    """The request's timestamp when the signature holds and the timestamp is within ±300 s; else Refused."""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, "too_large", "body over the limit")
    if not secret:
        raise Refused(403, "not_configured", "no SMS callback secret is configured")
    if not (headers.timestamp and headers.nonce and headers.signature):
        raise Refused(401, "unsigned", "signature headers missing")
    if not _NONCE.fullmatch(headers.nonce) or not _SIGNATURE.fullmatch(headers.signature.lower()):
        raise Refused(401, "bad_signature", "malformed nonce or signature")
    expected = signature(secret, headers.timestamp, headers.nonce, body)
    if not hmac.compare_digest(expected, headers.signature.lower()):
        raise Refused(401, "bad_signature", "signature mismatch")
    ts = headers.timestamp
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 12) or abs(int(ts) - now_s) > 300:
        raise Refused(401, "stale_timestamp", "timestamp outside the ±300 s window")
    return int(ts)


def replay_key(timestamp: int, nonce: str) -> str:
    """Zero-padded timestamp first, so the unique index orders keys by age and the prune is a range scan."""
    return f"{timestamp:010d}:{nonce}"


@dataclass(frozen=True)
class Receipt:
    message_id: str
    key: str
    phone: str
    status: str  # sent / delivered / failed
    error_code: str
    reported_at: datetime


@dataclass(frozen=True)
class Reply:
    message_id: str
    phone: str
    text: str
    reply_to: str
    received_at: datetime


def _time(raw: object, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refused(400, "invalid", f"{field} is not an ISO time") from exc
    if value.tzinfo is None:
        raise Refused(400, "invalid", f"{field} has no timezone")
    return value.astimezone(UTC)


def _text(data: Mapping[str, object], name: str, limit: int) -> str:
    value = data.get(name, "")
    if not isinstance(value, str | int) or len(str(value)) > limit:
        raise Refused(400, "invalid", f"{name} is not text of at most {limit} characters")
    return str(value)


def parse(body: bytes) -> Receipt | Reply:
    """An authenticated body as a receipt or a reply; a malformed one is Refused (400)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "bad_json", "body is not JSON") from exc
    if not isinstance(data, dict):
        raise Refused(400, "bad_json", "body is not a JSON object")
    kind = data.get("type")
    phone = _text(data, "phone", 20)
    message_id = _text(data, "message_id", 64)
    if not message_id:
        raise Refused(400, "invalid", "message_id missing")
    if kind == "receipt":
        status = RECEIPT_STATUSES.get(_text(data, "status", 16))
        if status is None:
            raise Refused(400, "invalid", "unknown receipt status")
        return Receipt(message_id=message_id, key=_text(data, "key", 128), phone=phone, status=status,
                       error_code=_text(data, "error_code", 32), reported_at=_time(data.get("reported_at"),
                                                                                   "reported_at"))
    if kind == "reply":
        text = _text(data, "text", 500)
        if not PHONE.fullmatch(phone) or not text:
            raise Refused(400, "invalid", "a reply needs a mobile number and a text")
        return Reply(message_id=message_id, phone=phone, text=text, reply_to=_text(data, "reply_to", 64),
                     received_at=_time(data.get("received_at"), "received_at"))
    raise Refused(400, "invalid", "unknown callback type")
