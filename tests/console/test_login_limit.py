"""Sign-in is rate-limited per username and per client address: 10 failures in 15 minutes, then the form refuses
(429, saying when to retry) even the right password. The counter lives in the database, so every web process sees
the same count, and a periodic job removes failures that no longer count."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from siyu.core.periodic import periodic_jobs
from siyu.org.models import LoginFailure
from siyu.org.tasks import purge_login_failures
from tests.conftest import Org

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"  # tests.factories.UserFactory's
LIMIT = 10


def _client(ip: str = "198.51.100.7", language: str = "en") -> Client:
    client = Client(REMOTE_ADDR=ip)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _sign_in(client: Client, username: str, password: str, path: str = "/login/") -> Any:
    return client.post(path, {"username": username, "password": password})


def _signed_in(response: Any) -> bool:
    return response.status_code == 302


def _fail(times: int, username: str, ip: str = "198.51.100.7") -> None:
    for _ in range(times):
        response = _sign_in(_client(ip), username, "wrong")
        assert response.status_code == 200  # a wrong password before the limit: the form again


def test_the_right_password_works_below_the_limit(org: Org) -> None:
    _fail(LIMIT - 1, "hq")
    assert _signed_in(_sign_in(_client(), "hq", PASSWORD))


def test_after_ten_failures_the_username_is_refused_even_with_the_right_password(org: Org) -> None:
    _fail(LIMIT, "hq")
    refused = _sign_in(_client("203.0.113.9"), "hq", PASSWORD)  # another address: the username's own limit
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.content.decode()
    assert 14 * 60 <= int(refused["Retry-After"]) <= 15 * 60
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_the_refusal_is_translated(org: Org) -> None:
    _fail(LIMIT, "hq")
    refused = _sign_in(_client(language="zh-hans"), "hq", PASSWORD)
    assert refused.status_code == 429
    assert "登录失败次数过多" in refused.content.decode()


def test_after_ten_failures_from_one_address_every_username_is_refused_there(org: Org) -> None:
    for n in range(LIMIT):
        _fail(1, f"nobody{n}", ip="192.0.2.1")
    assert _sign_in(_client("192.0.2.1"), "hq", PASSWORD).status_code == 429
    assert _signed_in(_sign_in(_client("192.0.2.2"), "hq", PASSWORD))  # the user from elsewhere is not locked out


def test_the_username_limit_ignores_case_and_spaces(org: Org) -> None:
    for name in ["HQ", " hq", "Hq "] * 4:
        _sign_in(_client(f"192.0.2.{len(name)}"), name, "wrong")
    assert _sign_in(_client("192.0.2.200"), "hq", PASSWORD).status_code == 429


def test_failures_older_than_the_window_do_not_count(org: Org) -> None:
    _fail(LIMIT, "hq")
    LoginFailure.objects.update(at=timezone.now() - timedelta(minutes=16))
    assert _signed_in(_sign_in(_client(), "hq", PASSWORD))


def test_a_success_clears_the_usernames_failures(org: Org) -> None:
    _fail(LIMIT - 1, "hq", ip="192.0.2.50")
    assert _signed_in(_sign_in(_client("192.0.2.51"), "hq", PASSWORD))
    _fail(LIMIT - 1, "hq", ip="192.0.2.52")
    assert _signed_in(_sign_in(_client("192.0.2.53"), "hq", PASSWORD))


def test_the_admin_sign_in_shares_the_limit(org: Org) -> None:
    _fail(LIMIT, "hq")
    assert _sign_in(_client("203.0.113.5"), "hq", PASSWORD, path="/admin/login/").status_code == 429


def test_the_periodic_job_removes_only_expired_failures(org: Org) -> None:
    _fail(3, "hq")
    assert LoginFailure.objects.count() == 3
    oldest_two = LoginFailure.objects.order_by("pk").values_list("pk", flat=True)[:2]
    LoginFailure.objects.filter(pk__in=list(oldest_two)).update(at=timezone.now() - timedelta(minutes=16))
    assert purge_login_failures.call() == 2
    assert LoginFailure.objects.count() == 1
    assert any(job.name == "org.purge_login_failures" for job in periodic_jobs())
