"""Console forms refuse a POST without the CSRF token: every URL the resolver knows (the API has its own test, Django's
admin is Django's), so a page added tomorrow is covered. Views exempt from CSRF are the platforms' callbacks, which
authenticate by signature; any other exemption fails this test until it is listed here with its reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.conftest import Org

pytestmark = pytest.mark.django_db

SKIPPED_PREFIXES = ("api/", "admin/")
CSRF_EXEMPT = {
    "siyu.channels.wecom.views.callback": "WeCom callbacks: signed by the platform (msg_signature)",
    "siyu.channels.official_account.views.callback": "Official Account callbacks: signed by the platform",
    "siyu.finance.views.wechatpay_notify": "WeChat Pay notifies: signed by the platform (Wechatpay-Signature)",
    "siyu.channels.sms.views.callback": "SMS receipts and replies: signed by the provider (X-Sms-Signature HMAC)",
}
SAMPLE = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": "00000000-0000-0000-0000-000000000000"}


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route


def _url(route: str) -> str:
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE[m.group(1) or "str"], route)


def _console_urls() -> list[str]:
    routes = [r for r in _routes(get_resolver().url_patterns) if not r.startswith(SKIPPED_PREFIXES)]
    assert all("^" not in r for r in routes), "a regex route: teach _url to fill it"
    return sorted({_url(r) for r in routes})


URLS = _console_urls()


def _view_name(url: str) -> str:
    func = resolve(url).func
    return f"{func.__module__}.{func.__qualname__}"


def test_the_resolver_lists_the_console() -> None:
    assert len(URLS) > 50
    assert "/login/" in URLS and "/customers/1/tags/" in URLS and "/i18n/setlang/" in URLS


@pytest.mark.parametrize("url", URLS)
def test_a_console_post_without_the_token_is_refused(org: Org, url: str) -> None:
    client = Client(enforce_csrf_checks=True)
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    func = resolve(url).func
    if getattr(func, "csrf_exempt", False):
        assert _view_name(url) in CSRF_EXEMPT, f"{url} is CSRF-exempt: list it with the reason"
        return
    response = client.post(url, {"name": "x", "action": "revoke"})
    assert response.status_code == 403, (url, response.status_code)


def test_a_console_post_with_the_token_is_accepted(org: Org) -> None:
    client = Client(enforce_csrf_checks=True)
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    client.get("/tags/")
    token = client.cookies["csrftoken"].value
    response = client.post("/tags/", {"form": "group", "name": "Interests", "csrfmiddlewaretoken": token})
    assert response.status_code == 302, response.status_code


def test_anonymous_sign_in_without_the_token_is_refused(db: None) -> None:
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
