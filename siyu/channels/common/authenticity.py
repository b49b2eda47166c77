"""What every callback path checks before it trusts a request, in one place (docs/security.md, "Callbacks").

- One body limit for every callback path (the ASGI fast path, the Django views, WeCom and the Official Account):
  a larger request is answered 413 before its body is read.
- The timestamp window: a request whose timestamp is more than 300 s from our clock, either way, is refused. The
  timestamp is covered by the signature, so it is checked once the signature holds.
- The replay key: (account, timestamp, nonce) of an authentic request, stored unique on its raw log row. The same
  request delivered again (the platforms resend what they saw no answer to; anyone who captured it may too) is
  acknowledged but neither stored nor processed twice. A key can only collide while its timestamp is inside the
  window, so keys older than that are dropped by a periodic job. The key starts with the zero-padded timestamp, so
  the unique index itself orders keys by age and the prune is a range scan on it.
- Redaction: signatures and echostr never reach the callback log.

Pure functions over strings: no database here.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping

from django.conf import settings

MAX_CALLBACK_BODY = 1024 * 1024
TIMESTAMP_WINDOW_S = 300
REDACTED = "[redacted]"
SECRET_PARAMS = frozenset({"signature", "msg_signature", "echostr"})
STALE = "timestamp outside the ±300 s window"
_NONCE = re.compile(r"[0-9A-Za-z_-]{1,64}")


def too_large(content_length: object) -> bool:
    """A declared body length over the limit (the header as Django or ASGI gives it; absent or malformed is 0)."""
    try:
        return int(str(content_length or 0)) > MAX_CALLBACK_BODY
    except ValueError:
        return False


def fresh_timestamp(raw: str, *, now_s: float) -> int | None:
    """The request's timestamp when it is a decimal number of seconds within the window of `now_s`, else None."""
    if not raw or len(raw) > 12 or not (raw.isascii() and raw.isdigit()):
        return None
    ts = int(raw)
    return ts if abs(ts - now_s) <= TIMESTAMP_WINDOW_S else None


def replay_key(account_id: int, timestamp: int, nonce: str) -> str:
    """`<timestamp, 10 digits>:<account>:<nonce>`; a nonce outside [0-9A-Za-z_-]{1,64} is replaced by its digest."""
    tail = nonce if _NONCE.fullmatch(nonce) else hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()[:40]
    return f"{timestamp:010d}:{account_id}:{tail}"


def replay_keys_expire_before(now_s: float) -> str:
    """Every key lower than this can never be accepted again (its timestamp left the window)."""
    return f"{int(now_s) - TIMESTAMP_WINDOW_S - 1:010d}"


def redact(query: Mapping[str, str]) -> dict[str, str]:
    """The query parameters as the log keeps them: signatures and echostr replaced by a marker."""
    return {key: (REDACTED if key in SECRET_PARAMS and value else value) for key, value in query.items()}


def source_address(ip: str) -> str:
    """The sender as refusals are counted: an IPv4 address, or the /64 network of an IPv6 address (one host
    usually holds a whole /64); anything unparseable is "?"."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "?"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def visitor_key(ip: str, user_agent: str) -> str:
    """An opaque id of one visitor (source address + user agent, keyed with the secret key so it cannot be reversed
    into an address): what a landing page de-duplicates its scans by."""
    data = f"{source_address(ip)}\n{(user_agent or '')[:512]}".encode("utf-8", "replace")
    return hmac.new(f"siyu-visitor:{settings.SECRET_KEY}".encode(), data, hashlib.sha256).hexdigest()[:32]
