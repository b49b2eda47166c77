"""The Official Account's HTTP API: base access token, user info, menu, QR codes, template messages, OAuth.

An httpx client with explicit timeouts. Every failure becomes a RetryableError (busy, quota, network, 5xx: try
again later) or a TerminalError (bad input, not following, revoked: retrying cannot help). Results cross the boundary
as frozen dataclasses. The client knows nothing of the database: the access token lives in a TokenStore.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from siyu.core.timeutil import now

TIMEOUT = httpx.Timeout(connect=3.0, read=8.0, write=5.0, pool=3.0)
# Refresh early: the platform itself rotates 5 minutes before expiry and keeps old and new valid meanwhile.
TOKEN_MARGIN = timedelta(minutes=5)
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
RETRYABLE_CODES = frozenset({-1, 45009, 45011, 45033})
BATCHGET_MAX = 100  # openids per user/info/batchget


class OaApiError(Exception):
    retryable = False

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class RetryableError(OaApiError):
    retryable = True


class TerminalError(OaApiError):
    retryable = False


def error_for(errcode: int, errmsg: str) -> OaApiError:
    cls = RetryableError if errcode in RETRYABLE_CODES else TerminalError
    return cls(errcode, errmsg)


@dataclass(frozen=True)
class Credentials:
    app_id: str
    secret: str
    base_url: str


@dataclass(frozen=True)
class CachedToken:
    value: str
    expires_at: datetime

    def fresh(self, at: datetime) -> bool:
        return at < self.expires_at - TOKEN_MARGIN


class TokenStore(Protocol):
    def load(self) -> CachedToken | None: ...

    def save(self, token: CachedToken) -> None: ...

    def discard(self, value: str) -> None: ...


class MemoryTokenStore:
    def __init__(self) -> None:
        self.token: CachedToken | None = None

    def load(self) -> CachedToken | None:
        return self.token

    def save(self, token: CachedToken) -> None:
        self.token = token

    def discard(self, value: str) -> None:
        if self.token is not None and self.token.value == value:
            self.token = None


@dataclass(frozen=True)
class UserInfo:
    openid: str
    subscribed: bool
    unionid: str = ""
    subscribe_time: int = 0
    subscribe_scene: str = ""
    qr_scene: int = 0
    qr_scene_str: str = ""
    language: str = ""
    remark: str = ""
    tagid_list: tuple[int, ...] = ()


@dataclass(frozen=True)
class UserList:
    """One page of user/get: `next_openid` is where the next page starts ("" or count 0: the list is done)."""

    total: int
    count: int
    openids: tuple[str, ...]
    next_openid: str


@dataclass(frozen=True)
class QrTicket:
    ticket: str
    url: str
    expire_seconds: int | None

    def image_url(self, base_url: str) -> str:
        return f"{base_url}/cgi-bin/showqrcode?ticket={quote(self.ticket, safe='')}"


@dataclass(frozen=True)
class OAuthToken:
    openid: str
    scope: str
    access_token: str
    refresh_token: str
    expires_in: int
    unionid: str = ""
    is_snapshotuser: bool = False


@dataclass(frozen=True)
class SnsUser:
    openid: str
    nickname: str = ""
    sex: int = 0
    province: str = ""
    city: str = ""
    country: str = ""
    headimgurl: str = ""
    unionid: str = ""


@dataclass(frozen=True)
class TemplateInfo:
    template_id: str
    title: str
    content: str = ""


def _user_info(raw: dict[str, Any]) -> UserInfo:
    return UserInfo(
        openid=str(raw.get("openid", "")),
        subscribed=bool(raw.get("subscribe", 0)),
        unionid=str(raw.get("unionid", "")),
        subscribe_time=int(raw.get("subscribe_time", 0) or 0),
        subscribe_scene=str(raw.get("subscribe_scene", "")),
        qr_scene=int(raw.get("qr_scene", 0) or 0),
        qr_scene_str=str(raw.get("qr_scene_str", "")),
        language=str(raw.get("language", "")),
        remark=str(raw.get("remark", "")),
        tagid_list=tuple(int(t) for t in raw.get("tagid_list", []) or []),
    )


class OaClient:
    def __init__(self, credentials: Credentials, tokens: TokenStore, *, http: httpx.Client | None = None) -> None:
        self.credentials = credentials
        self.tokens = tokens
        self.base_url = credentials.base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=TIMEOUT)

    # -- transport ------------------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: dict[str, Any], body: Any = None) -> dict[str, Any]:
        try:
            response = self._http.request(method, self.base_url + path, params=params, json=body)
        except httpx.TimeoutException as exc:
            raise RetryableError(-2, f"timeout calling {path}") from exc
        except httpx.TransportError as exc:
            raise RetryableError(-3, f"network error calling {path}: {exc}") from exc
        if response.status_code >= 500:
            raise RetryableError(-4, f"HTTP {response.status_code} from {path}")
        if response.status_code != 200:
            raise TerminalError(-5, f"HTTP {response.status_code} from {path}")
        try:
            data = response.json()
        except ValueError as exc:
            raise RetryableError(-6, f"non-JSON answer from {path}") from exc
        if not isinstance(data, dict):
            raise TerminalError(-6, f"unexpected answer from {path}")
        errcode = int(data.get("errcode", 0) or 0)
        if errcode:
            raise error_for(errcode, str(data.get("errmsg", "")))
        return data

    def access_token(self, *, force: bool = False) -> str:
        cached = None if force else self.tokens.load()
        if cached is not None and cached.fresh(now()):
            return cached.value
        data = self._send(
            "GET",
            "/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.credentials.app_id,
                "secret": self.credentials.secret,
            },
        )
        token = CachedToken(
            value=str(data["access_token"]), expires_at=now() + timedelta(seconds=int(data.get("expires_in", 7200)))
        )
        self.tokens.save(token)
        return token.value

    def _call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """Call with the cached token; when the platform says it is invalid or expired, refresh once and retry."""
        token = self.access_token()
        try:
            return self._send(method, path, params={**(params or {}), "access_token": token}, body=body)
        except TerminalError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            self.tokens.discard(token)
        fresh = self.access_token(force=True)
        return self._send(method, path, params={**(params or {}), "access_token": fresh}, body=body)

    # -- users ----------------------------------------------------------------------------------------------------

    def user_info(self, openid: str) -> UserInfo:
        return _user_info(self._call("GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"}))

    def user_list(self, next_openid: str = "") -> UserList:
        """One page of the followers' openids (at most 10,000), starting after `next_openid`."""
        params = {"next_openid": next_openid} if next_openid else {}
        data = self._call("GET", "/cgi-bin/user/get", params=params)
        openids = tuple(str(o) for o in (data.get("data") or {}).get("openid") or ())
        return UserList(
            total=int(data.get("total", 0) or 0),
            count=int(data.get("count", len(openids)) or 0),
            openids=openids,
            next_openid=str(data.get("next_openid") or ""),
        )

    def user_info_batch(self, openids: Sequence[str]) -> list[UserInfo]:
        if len(openids) > BATCHGET_MAX:
            raise ValueError(f"at most {BATCHGET_MAX} openids per batchget")
        body = {"user_list": [{"openid": openid, "lang": "zh_CN"} for openid in openids]}
        data = self._call("POST", "/cgi-bin/user/info/batchget", body=body)
        return [_user_info(item) for item in data.get("user_info_list", [])]

    # -- menu, QR codes, templates -----------------------------------------------------------------------------------

    def create_menu(self, buttons: list[dict[str, Any]]) -> None:
        self._call("POST", "/cgi-bin/menu/create", body={"button": buttons})

    def create_qrcode(self, *, scene: str, numeric: bool, permanent: bool, expire_seconds: int | None) -> QrTicket:
        key = "scene_id" if numeric else "scene_str"
        value: int | str = int(scene) if numeric else scene
        action = ("QR_LIMIT_SCENE" if numeric else "QR_LIMIT_STR_SCENE") if permanent else (
            "QR_SCENE" if numeric else "QR_STR_SCENE"
        )
        body: dict[str, Any] = {"action_name": action, "action_info": {"scene": {key: value}}}
        if not permanent and expire_seconds is not None:
            body["expire_seconds"] = expire_seconds
        data = self._call("POST", "/cgi-bin/qrcode/create", body=body)
        expires = data.get("expire_seconds")
        return QrTicket(
            ticket=str(data["ticket"]), url=str(data.get("url", "")), expire_seconds=int(expires) if expires else None
        )

    def send_template(
        self,
        *,
        openid: str,
        template_id: str,
        data: dict[str, Any],
        url: str = "",
        miniprogram: dict[str, str] | None = None,
        client_msg_id: str = "",
    ) -> str:
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = miniprogram
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        return str(self._call("POST", "/cgi-bin/message/template/send", body=body)["msgid"])

    def private_templates(self) -> list[TemplateInfo]:
        data = self._call("GET", "/cgi-bin/template/get_all_private_template")
        return [
            TemplateInfo(
                template_id=str(item["template_id"]),
                title=str(item.get("title", "")),
                content=str(item.get("content", "")),
            )
            for item in data.get("template_list", [])
        ]

    # -- OAuth web authorisation (no base token involved) ---------------------------------------------------------

    def oauth_exchange(self, code: str) -> OAuthToken:
        data = self._send(
            "GET",
            "/sns/oauth2/access_token",
            params={
                "appid": self.credentials.app_id,
                "secret": self.credentials.secret,
                "code": code,
                "grant_type": "authorization_code",
            },
        )
        return OAuthToken(
            openid=str(data["openid"]),
            scope=str(data.get("scope", "")),
            access_token=str(data.get("access_token", "")),
            refresh_token=str(data.get("refresh_token", "")),
            expires_in=int(data.get("expires_in", 0) or 0),
            unionid=str(data.get("unionid", "")),
            is_snapshotuser=bool(data.get("is_snapshotuser", 0)),
        )

    def sns_userinfo(self, *, access_token: str, openid: str) -> SnsUser:
        data = self._send(
            "GET", "/sns/userinfo", params={"access_token": access_token, "openid": openid, "lang": "zh_CN"}
        )
        return SnsUser(
            openid=str(data.get("openid", openid)),
            nickname=str(data.get("nickname", "")),
            sex=int(data.get("sex", 0) or 0),
            province=str(data.get("province", "")),
            city=str(data.get("city", "")),
            country=str(data.get("country", "")),
            headimgurl=str(data.get("headimgurl", "")),
            unionid=str(data.get("unionid", "")),
        )
