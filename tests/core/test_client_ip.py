"""Behind a reverse proxy the caller is the last entry of the configured header (the one the proxy appended), on the
Django path and on the ASGI callback fast path alike; refused callbacks are counted per that address."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory, override_settings

from siyu.channels.wecom import views as wecom_views
from siyu.core.http import asgi_client_ip, client_ip


def test_without_a_proxy_header_the_socket_address_counts() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "10.0.0.9"
    assert asgi_client_ip({"client": ("10.0.0.9", 5000), "headers": [(b"x-forwarded-for", b"1.2.3.4")]}) == "10.0.0.9"


@override_settings(SIYU_CLIENT_IP_HEADER="X-Forwarded-For")
def test_behind_a_proxy_the_last_forwarded_entry_counts() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert client_ip(request) == "203.0.113.7"
    scope = {"client": ("10.0.0.9", 5000), "headers": [(b"X-Forwarded-For", b"6.6.6.6, 203.0.113.7")]}
    assert asgi_client_ip(scope) == "203.0.113.7"
    assert asgi_client_ip({"client": ("10.0.0.9", 1), "headers": [(b"x-forwarded-for", b"not an ip")]}) == "0.0.0.0"  # noqa: S104 - an address compared, never bound


@override_settings(SIYU_CLIENT_IP_HEADER="X-Forwarded-For")
def test_a_wecom_callback_is_attributed_to_the_forwarded_address(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def receive(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return type("Ack", (), {"body": b"", "status": 200})()

    monkeypatch.setattr(wecom_views.inbound, "receive", receive)
    request = RequestFactory().post("/channels/wecom/callback/1/", data=b"<xml/>", content_type="text/xml",
                                    REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="203.0.113.7")
    wecom_views.callback(request, 1)
    assert seen["source"] == "203.0.113.7"
