"""Opening a WeChat Pay notify (pay and refund results): authenticate, then decrypt, before anything is believed.

Order of checks: the body limit (by the caller), the platform key the `Wechatpay-Serial` header names, the timestamp
within ±300 s, the signature over `timestamp\\nnonce\\nbody\\n`, then the JSON envelope and the AEAD_AES_256_GCM
resource under the APIv3 key. Any failure is a `NotifyRejected` with a code; nothing about it is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from siyu.channels.wechatpay import crypto

WINDOW_S = 300


class NotifyRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Notification:
    id: str
    event_type: str
    timestamp: int
    nonce: str
    resource: dict[str, Any]


def _header(headers: Mapping[str, str], name: str) -> str:
    return str(headers.get(name, "") or "")


def open_notify(*, headers: Mapping[str, str], body: bytes, platform_key_id: str, platform_key: Any,
                apiv3_key: str, now_s: float) -> Notification:
    ts = _header(headers, "Wechatpay-Timestamp")
    nonce_str = _header(headers, "Wechatpay-Nonce")
    signature = _header(headers, "Wechatpay-Signature")
    if _header(headers, "Wechatpay-Serial") != platform_key_id:
        raise NotifyRejected("unknown_serial", "the notify names an unknown platform key")
    if not (ts.isascii() and ts.isdigit()) or len(ts) > 12 or abs(int(ts) - now_s) > WINDOW_S:
        raise NotifyRejected("stale", "timestamp outside the ±300 s window")
    if not nonce_str or len(nonce_str) > 64:
        raise NotifyRejected("bad_nonce", "the notify carries no usable nonce")
    if not crypto.verify(public_key=platform_key, timestamp=ts, nonce_str=nonce_str, body=body, signature=signature):
        raise NotifyRejected("bad_signature", "the notify's signature does not hold")
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotifyRejected("bad_body", "unknown resource algorithm")
        plain = crypto.decrypt(apiv3_key=apiv3_key, nonce_str=str(resource["nonce"]),
                               ciphertext=str(resource["ciphertext"]),
                               associated_data=str(resource.get("associated_data") or ""))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotifyRejected("bad_body", "the notify body is not a WeChat Pay notification") from exc
    if plain is None:
        raise NotifyRejected("decrypt_failed", "the resource does not decrypt under the APIv3 key")
    try:
        data = json.loads(plain)
    except ValueError as exc:
        raise NotifyRejected("bad_body", "the decrypted resource is not JSON") from exc
    if not isinstance(data, dict):
        raise NotifyRejected("bad_body", "the decrypted resource is not an object")
    return Notification(id=str(envelope.get("id", ""))[:64], event_type=str(envelope.get("event_type", ""))[:40],
                        timestamp=int(ts), nonce=nonce_str, resource=data)
