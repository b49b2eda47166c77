"""Facts about the HTTP request that more than one app needs."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

UNKNOWN_IP = "0.0.0.0"  # noqa: S104 - a placeholder address for counting, never bound


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or, behind a reverse proxy, the last entry of SIYU_CLIENT_IP_HEADER (the
    one the proxy itself appended; entries before it are whatever the client chose to send)."""
    raw = request.META.get("REMOTE_ADDR", "")
    header = settings.SIYU_CLIENT_IP_HEADER
    if header:
        forwarded = request.headers.get(header, "")
        if forwarded:
            raw = forwarded.split(",")[-1]
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return UNKNOWN_IP
