"""Facts about the HTTP request that more than one app needs."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest

UNKNOWN_IP = "0.0.0.0"  # noqa: S104 - a placeholder address for counting, never bound


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or, behind a reverse proxy, the last entry of SIYU_CLIENT_IP_HEADER (the
    one the proxy itself appended; entries before it are whatever the client chose to send)."""
    header = settings.SIYU_CLIENT_IP_HEADER
    return address_of(request.META.get("REMOTE_ADDR", ""), request.headers.get(header, "") if header else "")


def asgi_client_ip(scope: Mapping[str, Any]) -> str:
    """The same answer for an ASGI request that never became a Django request (the callback fast paths)."""
    client = scope.get("client") or ("", 0)
    header = settings.SIYU_CLIENT_IP_HEADER.lower().encode("latin-1")
    forwarded = b""
    if header:
        forwarded = next((value for name, value in scope.get("headers", ()) if name.lower() == header), b"")
    return address_of(str(client[0]), forwarded.decode("latin-1"))


def address_of(remote: str, forwarded: str) -> str:
    raw = forwarded.split(",")[-1] if forwarded else remote
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return UNKNOWN_IP
