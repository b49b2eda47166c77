"""The mini-program login adapter: `code2session` (GET /sns/jscode2session) turns the `code` from `wx.login()` into
the user's openid, unionid (when the app is bound to an Open Platform account) and session_key.

An httpx client with explicit timeouts; failures sort into RetryableError (busy, quota, network, 5xx) and
TerminalError (bad or used code, wrong secret). Results cross the boundary as a frozen dataclass. Knows nothing of the
database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(connect=3.0, read=5.0, write=5.0, pool=3.0)
RETRYABLE_CODES = frozenset({-1, 45011})
# 40029 invalid code, 40163 code already used, 40226 risky user blocked, 40013 / 40125 wrong appid / secret.
BAD_CODE = frozenset({40029, 40163})


class MiniProgramError(Exception):
    retryable = False

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class RetryableError(MiniProgramError):
    retryable = True


class TerminalError(MiniProgramError):
    retryable = False


@dataclass(frozen=True)
class Session:
    openid: str
    session_key: str
    unionid: str = ""


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 500:
        raise RetryableError(-1, f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise TerminalError(response.status_code, f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise RetryableError(-1, "response is not JSON") from exc
    if not isinstance(body, dict):
        raise TerminalError(-2, "unexpected response")
    return body


def code2session(*, base_url: str, app_id: str, secret: str, code: str, client: httpx.Client | None = None) -> Session:
    params = {"appid": app_id, "secret": secret, "js_code": code, "grant_type": "authorization_code"}
    url = f"{base_url.rstrip('/')}/sns/jscode2session"
    try:
        if client is not None:
            response = client.get(url, params=params)
        else:
            with httpx.Client(timeout=TIMEOUT) as own:
                response = own.get(url, params=params)
    except httpx.HTTPError as exc:
        raise RetryableError(-1, f"network: {exc.__class__.__name__}") from exc
    body = _json(response)
    errcode = int(body.get("errcode") or 0)
    if errcode:
        cls = RetryableError if errcode in RETRYABLE_CODES else TerminalError
        raise cls(errcode, str(body.get("errmsg", "")))
    openid, session_key = body.get("openid"), body.get("session_key")
    if not isinstance(openid, str) or not openid or not isinstance(session_key, str):
        raise TerminalError(-2, "no openid in the response")
    unionid = body.get("unionid")
    return Session(openid=openid, session_key=session_key, unionid=unionid if isinstance(unionid, str) else "")
