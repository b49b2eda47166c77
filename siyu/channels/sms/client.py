"""The SMS provider's HTTP API (the simulator plays it under /sms): `POST {base}/send` with a JSON body
{phone, sign, text, key}. The key is the caller's idempotency key: the provider sends a repeat once. Timeouts are
explicit; errors are sorted into retryable (network, 5xx, 429) and terminal (the provider refused the message)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

TIMEOUT = httpx.Timeout(5.0, connect=3.0)
_local = threading.local()


def _http() -> httpx.Client:
    """One keep-alive HTTP client per thread (as the Official Account's provider keeps): a client made per send
    loads the CA bundle each time, 60 ms, which capped a campaign's SMS at ~15/s (bench/campaign.py)."""
    client = getattr(_local, "http", None)
    if client is None:
        client = _local.http = httpx.Client(timeout=TIMEOUT)
    return client


class SmsError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SmsReceipt:
    message_id: str


def send_text(*, base_url: str, phone: str, sign: str, text: str, key: str) -> SmsReceipt:
    if not base_url:
        raise SmsError("no SMS provider is configured (SIYU_SMS_BASE_URL)", retryable=False)
    try:
        response = _http().post(f"{base_url.rstrip('/')}/send", json={"phone": phone, "sign": sign, "text": text,
                                                                     "key": key})
    except httpx.HTTPError as exc:
        raise SmsError(f"SMS provider unreachable: {type(exc).__name__}", retryable=True) from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise SmsError(f"SMS provider busy ({response.status_code})", retryable=True)
    try:
        body = response.json()
    except ValueError as exc:
        raise SmsError("SMS provider answered something that is not JSON", retryable=False) from exc
    if response.status_code != 200 or body.get("code") != "OK":
        raise SmsError(f"SMS provider refused the message: {str(body.get('code', response.status_code))[:40]}",
                       retryable=False)
    return SmsReceipt(message_id=str(body.get("message_id", "")))
