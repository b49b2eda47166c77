"""A simulated mini-program platform for the storefront login: the channel simulator mounts it under /mp
(`SimulatorServer(port=0)`, or `make_app(state)` for a state of your own); point a `miniprogram` ChannelAccount's
base URL at `.../mp`. What it remembers (the apps, the codes issued) is a `MiniProgramState`, owned by the
simulator's state object (simulator.state).

- `POST /sim/code` `{"appid", "user"}` plays `wx.login()` on a phone: it returns a one-time `code` (valid 5 minutes)
  for that user, and the openid / unionid the platform will report for it.
- `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code` is the platform's API: openid,
  session_key and (for apps bound to an Open Platform account) unionid; errors as the platform sends them (40029
  invalid code, 40163 code used, 40125 wrong secret, 40013 unknown appid).

A user's openid differs per app; the unionid is the same across apps (one person, several WeChat apps of one brand).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from siyu.channels import demo_accounts

DEMO_APP_ID = demo_accounts.MINIPROGRAM.app_id
DEMO_SECRET = demo_accounts.MINIPROGRAM.secret
CODE_TTL_SECONDS = 300


@dataclass
class _App:
    secret: str
    unionid: bool


@dataclass
class _Code:
    app_id: str
    user: str
    issued: float
    used: bool = False


class MiniProgramState:
    """The platform's memory: the registered apps and the login codes issued. Thread-safe (the server is threaded)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.apps: dict[str, _App] = {DEMO_APP_ID: _App(secret=DEMO_SECRET, unionid=True)}
        self.codes: dict[str, _Code] = {}

    def register_app(self, app_id: str, secret: str, *, unionid: bool = True) -> None:
        """Tell the simulated platform about an app (tests register their own)."""
        with self.lock:
            self.apps[app_id] = _App(secret=secret, unionid=unionid)

    def issue_code(self, app_id: str, user: str) -> str:
        """What `POST /sim/code` does, callable in-process."""
        code = secrets.token_hex(16)
        with self.lock:
            self.codes[code] = _Code(app_id=app_id, user=user, issued=time.monotonic())
        return code

    def consume(self, app_id: str, code: str) -> tuple[_Code | None, int, str]:
        with self.lock:
            found = self.codes.get(code)
            if found is None or found.app_id != app_id or time.monotonic() - found.issued > CODE_TTL_SECONDS:
                return None, 40029, "invalid code"
            if found.used:
                return None, 40163, "code been used"
            found.used = True
            return found, 0, ""


def openid_for(app_id: str, user: str) -> str:
    return "o" + hashlib.sha256(f"{app_id}:{user}".encode()).hexdigest()[:27]


def unionid_for(user: str) -> str:
    return "u" + hashlib.sha256(f"union:{user}".encode()).hexdigest()[:27]


def _respond(start_response: Callable[..., Any], body: dict[str, Any], status: str = "200 OK") -> Iterable[bytes]:
    start_response(status, [("Content-Type", "application/json; charset=utf-8")])
    return [json.dumps(body, ensure_ascii=False).encode()]


def _error(start_response: Callable[..., Any], errcode: int, errmsg: str) -> Iterable[bytes]:
    return _respond(start_response, {"errcode": errcode, "errmsg": errmsg})


def _jscode2session(state: MiniProgramState, environ: dict[str, Any],
                    start_response: Callable[..., Any]) -> Iterable[bytes]:
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    app_id = query.get("appid", "")
    app = state.apps.get(app_id)
    if app is None:
        return _error(start_response, 40013, "invalid appid")
    if query.get("secret") != app.secret:
        return _error(start_response, 40125, "invalid appsecret")
    if query.get("grant_type") != "authorization_code":
        return _error(start_response, 40002, "invalid grant_type")
    found, errcode, errmsg = state.consume(app_id, query.get("js_code", ""))
    if found is None:
        return _error(start_response, errcode, errmsg)
    body: dict[str, Any] = {"openid": openid_for(app_id, found.user), "session_key": secrets.token_urlsafe(16)}
    if app.unionid:
        body["unionid"] = unionid_for(found.user)
    return _respond(start_response, body)


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except (ValueError, KeyError):
        return {}
    return data if isinstance(data, dict) else {}


def _sim_code(state: MiniProgramState, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    data = _read_json(environ)
    app_id, user = str(data.get("appid", "")), str(data.get("user", ""))
    app = state.apps.get(app_id)
    if app is None or not user:
        return _respond(start_response, {"error": "give a known appid and a user"}, "400 Bad Request")
    body = {"code": state.issue_code(app_id, user), "openid": openid_for(app_id, user),
            "unionid": unionid_for(user) if app.unionid else ""}
    return _respond(start_response, body)


def make_app(state: MiniProgramState) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The platform's WSGI app over `state`."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/sns/jscode2session" and method == "GET":
            return _jscode2session(state, environ, start_response)
        if path == "/sim/code" and method == "POST":
            return _sim_code(state, environ, start_response)
        return _respond(start_response, {"errcode": 404, "errmsg": "not found"}, "404 Not Found")

    return app
