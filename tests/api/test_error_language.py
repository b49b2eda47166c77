"""An API error keeps its code in every language; its message follows Accept-Language, else English."""

from __future__ import annotations

import json

from django.test import Client

from siyu.org.services import create_api_token
from tests.conftest import Org


def _post(secret: str, headers: dict[str, str], cookies: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    client = Client()
    for name, value in (cookies or {}).items():
        client.cookies[name] = value
    response = client.post("/api/customers", json.dumps({"name": "A", "phone": "12345"}),
                           content_type="application/json", headers={"Authorization": f"Bearer {secret}", **headers})
    return response.status_code, response.json()


def test_error_message_in_the_callers_language_with_the_same_code(org: Org) -> None:
    _token, secret = create_api_token(staff=org.hq, name="language")
    status_zh, zh = _post(secret, {"Accept-Language": "zh-hans"})
    status_cn, cn = _post(secret, {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    status_en, en = _post(secret, {"Accept-Language": "en-US,en;q=0.9"})
    status_none, none = _post(secret, {})
    assert {status_zh, status_cn, status_en, status_none} == {422}
    assert {zh["code"], cn["code"], en["code"], none["code"]} == {"invalid_phone"}
    assert {zh["field"], en["field"], none["field"]} == {"phone"}
    assert zh["message"] == "'12345' 不是有效的中国大陆手机号（以 13-19 开头的 11 位数字）"
    assert cn["message"] == zh["message"]
    assert en["message"] == "'12345' is not a valid mainland China mobile number (11 digits starting 13-19)"
    assert none["message"] == en["message"]


def test_console_language_cookie_is_the_fallback_and_the_header_wins(org: Org) -> None:
    _token, secret = create_api_token(staff=org.hq, name="language")
    _status, by_cookie = _post(secret, {}, cookies={"django_language": "zh-hans"})
    _status, header_wins = _post(secret, {"Accept-Language": "en"}, cookies={"django_language": "zh-hans"})
    assert by_cookie["message"].startswith("'12345' 不是有效的")
    assert header_wins["message"].startswith("'12345' is not a valid")
    assert by_cookie["code"] == header_wins["code"] == "invalid_phone"
