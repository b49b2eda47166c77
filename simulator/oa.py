"""The Official Account platform, simulated: its HTTP API (`make_app(state)`, mounted at /oa) and its followers'
traffic.

The API answers with the documented JSON shapes and errcodes (see shared protocol notes, oa.md): 41001 missing token,
40001 invalid credential, 42001 expired token, 40013 invalid appid, 40003 invalid openid, 43004 must follow,
45009 daily quota, 40016-40027 menu errors, OAuth 40029 / 40163 / 42003. State is in memory: an `OaState`, owned by
the simulator's state object (`simulator.state.current().oa`; `simulator.state.reset()` makes a fresh one), with a
clock tests can move forward (`state.advance(seconds)`).

`drive_traffic(...)` plays the followers: follows with a QR scene (EventKey `qrscene_<scene>`), scans while following
(SCAN), keywords, menu clicks (CLICK / VIEW), unfollows, the platform's own retries, and the template send reports;
every callback is signed, and in safe mode encrypted, as the platform does, and POSTed over HTTP.

Unionid convention shared with the WeCom simulator: person number n (n >= 1) has unionid `ou_demo_<n>` in every
simulated app of the demo's open-platform account. About half of the simulated followers are such people (n drawn
from 1..SHARED_PEOPLE); the rest get a unionid of their own (`ou_oa_<hex>`) and exist only on the Official Account.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from defusedxml.ElementTree import fromstring

from simulator.wxcrypto import PlatformCrypto, signature
from siyu.channels import demo_accounts

SHARED_PEOPLE = 300
TOKEN_TTL = 7200
CODE_TTL = 300
MAX_QR_EXPIRE = 2_592_000
DEFAULT_QR_EXPIRE = 30
DEFAULT_TEMPLATE_QUOTA = 100_000
# user/get lists at most 10,000 openids per call (oa.md §10, [HGW] User.php); user/info/batchget takes at most 100
# openids per call (the official "批量获取用户基本信息" text: "最多支持一次拉取100条").
USER_GET_MAX = 10_000
BATCHGET_MAX = 100
DEMO_KEYWORDS = ("会员", "门店", "优惠券", "积分", "你好", "我想查一下会员积分", "退货", "hello")
MENU_TYPES = frozenset(
    {
        "click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
        "location_select", "media_id", "view_limited", "article_id", "article_view_limited", "miniprogram",
    }
)
DEMO_TEMPLATES = (
    {"template_id": "tpl_order_shipped_0001", "title": "订单发货通知",
     "content": "{{first.DATA}}\n订单号：{{keyword1.DATA}}\n物流：{{keyword2.DATA}}\n{{remark.DATA}}"},
    {"template_id": "tpl_points_changed_0001", "title": "积分变动提醒",
     "content": "{{first.DATA}}\n变动：{{keyword1.DATA}}\n余额：{{keyword2.DATA}}\n{{remark.DATA}}"},
    {"template_id": "tpl_coupon_expiring_0001", "title": "优惠券到期提醒",
     "content": "{{first.DATA}}\n券名：{{keyword1.DATA}}\n到期：{{keyword2.DATA}}\n{{remark.DATA}}"},
)


def shared_unionid(n: int) -> str:
    """The unionid of demo person n, the same in the Official Account and WeCom simulators."""
    return f"ou_demo_{n}"


class ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class SimAccount:
    app_id: str
    secret: str
    token: str
    encoding_aes_key: str
    mode: str = "safe"  # plain | compatible | safe
    original_id: str = "gh_5iyudemo0001"

    @property
    def crypto(self) -> PlatformCrypto:
        return PlatformCrypto(self.token, self.encoding_aes_key, self.app_id)


@dataclass
class SimFollower:
    openid: str
    unionid: str
    nickname: str
    sex: int = 0
    city: str = ""
    subscribed: bool = False
    subscribe_time: int = 0
    subscribe_scene: str = "ADD_SCENE_OTHERS"
    qr_scene: int = 0
    qr_scene_str: str = ""


@dataclass
class SimQr:
    ticket: str
    scene: str
    numeric: bool
    permanent: bool
    expires_at: float | None


@dataclass
class SimCode:
    code: str
    app_id: str
    openid: str
    scope: str
    issued_at: float
    used: bool = False


@dataclass
class AppState:
    account: SimAccount
    followers: dict[str, SimFollower] = field(default_factory=dict)
    menu: list[dict[str, Any]] | None = None
    qrcodes: dict[str, SimQr] = field(default_factory=dict)
    templates: list[dict[str, str]] = field(default_factory=lambda: [dict(t) for t in DEMO_TEMPLATES])
    template_sends: list[dict[str, Any]] = field(default_factory=list)
    sent_client_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    pending_events: list[str] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)
    calls: dict[tuple[str, int], int] = field(default_factory=dict)
    # openids per user/get page: the platform's 10,000, lowered by tests to page through a few thousand followers
    user_page_size: int = USER_GET_MAX


class OaState:
    """The platform's memory. One lock guards everything: the server is threaded."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.offset = 0.0
        self.apps: dict[str, AppState] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.sns_tokens: dict[str, tuple[str, str, str, float]] = {}
        self.codes: dict[str, SimCode] = {}
        # Ids (MsgId, msgid) keep growing across restarts, as the platform's do: a demo started again must not
        # repeat the last run's MsgIds, which Siyu would rightly take for replays.
        self.counter = int(time.time() * 1000)
        self.last_callback: tuple[str, dict[str, str], bytes] | None = None
        self.resent = 0  # pushes sent again unchanged (same timestamp and nonce): one row in Siyu, not two
        self.register(
            SimAccount(
                app_id=demo_accounts.OFFICIAL_ACCOUNT.app_id,
                secret=demo_accounts.OFFICIAL_ACCOUNT.secret,
                token=demo_accounts.OFFICIAL_ACCOUNT.token,
                encoding_aes_key=demo_accounts.OFFICIAL_ACCOUNT.encoding_aes_key,
            )
        )

    # -- test and demo controls ------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += seconds

    def register(self, account: SimAccount) -> AppState:
        with self.lock:
            app = self.apps.get(account.app_id)
            if app is None:
                app = self.apps[account.app_id] = AppState(account=account)
            else:
                app.account = account
            return app

    def app(self, app_id: str = demo_accounts.OFFICIAL_ACCOUNT.app_id) -> AppState:
        return self.apps[app_id]

    def expire_tokens(self, app_id: str) -> None:
        """Make every issued token of this app expired (the next call gets 42001)."""
        with self.lock:
            for value, (owner, _expires) in list(self.tokens.items()):
                if owner == app_id:
                    self.tokens[value] = (owner, self.now() - 1)

    def next_id(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def random_token(self, rng: random.Random | None = None, length: int = 64) -> str:
        """URL-safe random text; from `rng` when given, so a seeded run creates the same openids."""
        if rng is None:
            return secrets.token_urlsafe(length)[:length]
        raw = rng.getrandbits(8 * length).to_bytes(length, "big")
        return base64.urlsafe_b64encode(raw).decode()[:length]

    def add_follower(
        self,
        app_id: str,
        *,
        openid: str | None = None,
        unionid: str | None = None,
        nickname: str = "",
        subscribed: bool = True,
        rng: random.Random | None = None,
        subscribe_time: int | None = None,
        subscribe_scene: str = "ADD_SCENE_OTHERS",
        qr_scene_str: str = "",
    ) -> SimFollower:
        """A follower (unionid None: one of its own; "" : the account is not bound to an open platform)."""
        with self.lock:
            app = self.apps[app_id]
            serial = self.next_id()
            openid = openid or "o" + self.random_token(rng, 27)
            follower = SimFollower(
                openid=openid,
                unionid=unionid if unionid is not None else f"ou_oa_{hashlib.sha1(openid.encode()).hexdigest()[:20]}",  # noqa: S324
                nickname=nickname or f"粉丝{serial}",
                sex=(serial % 3),
                city=("上海", "北京", "广州", "深圳", "杭州")[serial % 5],
                subscribed=subscribed,
                subscribe_time=(subscribe_time if subscribe_time is not None else int(self.now())) if subscribed else 0,
                subscribe_scene=subscribe_scene,
                qr_scene_str=qr_scene_str,
            )
            app.followers[openid] = follower
            return follower

    def issue_code(self, app_id: str, openid: str, scope: str) -> str:
        with self.lock:
            code = self.random_token(None, 32)
            self.codes[code] = SimCode(code=code, app_id=app_id, openid=openid, scope=scope, issued_at=self.now())
            return code


# ---------------------------------------------------------------------------------------------------------------
# The HTTP API


Handler = Callable[[OaState, "Request"], Any]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    ordered: list[tuple[str, str]]
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(47001, "data format error") from exc
        if not isinstance(data, dict):
            raise ApiError(47001, "data format error")
        return data


@dataclass(frozen=True)
class Raw:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def _app_by_token(state: OaState, request: Request, *, api: str) -> AppState:
    value = request.params.get("access_token", "")
    if not value:
        raise ApiError(41001, "access_token missing")
    with state.lock:
        found = state.tokens.get(value)
        if found is None:
            raise ApiError(40001, "invalid credential, access_token is invalid or not latest")
        app_id, expires = found
        if state.now() >= expires:
            raise ApiError(42001, "access_token expired")
        app = state.apps[app_id]
        day = int(state.now() // 86400)
        limit = app.quotas.get(api)
        used = app.calls.get((api, day), 0)
        if limit is not None and used >= limit:
            raise ApiError(45009, "reach max api daily quota limit")
        app.calls[(api, day)] = used + 1
        return app


def _app_by_credentials(state: OaState, app_id: str, secret: str, grant_type: str, expected_grant: str) -> AppState:
    if grant_type != expected_grant:
        raise ApiError(40002, "invalid grant_type")
    app = state.apps.get(app_id)
    if app is None:
        raise ApiError(40013, "invalid appid")
    if secret != app.account.secret:
        raise ApiError(40001, "invalid credential, access_token is invalid or not latest")
    return app


def api_token(state: OaState, request: Request) -> dict[str, Any]:
    p = request.params
    app = _app_by_credentials(state, p.get("appid", ""), p.get("secret", ""), p.get("grant_type", ""),
                              "client_credential")
    value = state.random_token(None, 136)
    with state.lock:
        state.tokens[value] = (app.account.app_id, state.now() + TOKEN_TTL)
    return {"access_token": value, "expires_in": TOKEN_TTL}


def _user_json(follower: SimFollower) -> dict[str, Any]:
    if not follower.subscribed:
        return {"subscribe": 0, "openid": follower.openid}
    # nickname and headimgurl are no longer output by user/info (since 2021-12-27); unionid only when the account is
    # bound to an open platform (an empty unionid here stands for "not bound").
    out: dict[str, Any] = {
        "subscribe": 1,
        "openid": follower.openid,
        "language": "zh_CN",
        "subscribe_time": follower.subscribe_time,
        "remark": "",
        "groupid": 0,
        "tagid_list": [],
        "subscribe_scene": follower.subscribe_scene,
        "qr_scene": follower.qr_scene,
        "qr_scene_str": follower.qr_scene_str,
    }
    if follower.unionid:
        out["unionid"] = follower.unionid
    return out


def api_user_info(state: OaState, request: Request) -> dict[str, Any]:
    app = _app_by_token(state, request, api="user/info")
    follower = app.followers.get(request.params.get("openid", ""))
    if follower is None:
        raise ApiError(40003, "invalid openid")
    return _user_json(follower)


def api_user_batchget(state: OaState, request: Request) -> dict[str, Any]:
    app = _app_by_token(state, request, api="user/info/batchget")
    users = request.json().get("user_list")
    if not isinstance(users, list) or not 1 <= len(users) <= BATCHGET_MAX:
        raise ApiError(61451, "invalid parameter")
    out = []
    for item in users:
        follower = app.followers.get(str(item.get("openid", ""))) if isinstance(item, dict) else None
        if follower is None:
            raise ApiError(40003, "invalid openid")
        out.append(_user_json(follower))
    return {"user_info_list": out}


def api_user_get(state: OaState, request: Request) -> dict[str, Any]:
    """GET /cgi-bin/user/get?next_openid=: the followers' openids, in follow order, `user_page_size` per call.

    The documented shape ([MIRROR] Getting_a_User_List): `{"total", "count", "data": {"openid": [...]},
    "next_openid"}`, where total counts every follower, count this page (at most 10,000) and next_openid is the last
    openid of the page: passing it back starts the next page after it. A call that starts past the last follower
    answers count 0, no `data` and an empty next_openid. An openid the account never had is 40003; a cursor whose
    follower has since left still works (the position is kept)."""
    app = _app_by_token(state, request, api="user/get")
    after = request.params.get("next_openid", "")
    with state.lock:
        order = list(app.followers)
        start = 0
        if after:
            if after not in app.followers:
                raise ApiError(40003, "invalid openid")
            start = order.index(after) + 1
        size = max(1, min(app.user_page_size, USER_GET_MAX))
        page: list[str] = []
        for openid in order[start:]:
            if len(page) >= size:
                break
            if app.followers[openid].subscribed:
                page.append(openid)
        total = sum(1 for follower in app.followers.values() if follower.subscribed)
    out: dict[str, Any] = {"total": total, "count": len(page), "next_openid": page[-1] if page else ""}
    if page:
        out["data"] = {"openid": page}
    return out


def _bytes(value: Any) -> int:
    return len(str(value).encode("utf-8"))


def _check_menu_leaf(item: dict[str, Any], *, sub: bool) -> None:
    codes = (40024, 40025, 40026, 40027) if sub else (40017, 40018, 40019, 40020)
    kind = item.get("type")
    if kind not in MENU_TYPES:
        raise ApiError(codes[0], "invalid sub button type" if sub else "invalid button type")
    if kind in ("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
                "location_select") and not 1 <= _bytes(item.get("key", "")) <= 128:
        raise ApiError(codes[2], "invalid sub button key size" if sub else "invalid button key size")
    if kind in ("view", "miniprogram") and not 1 <= _bytes(item.get("url", "")) <= 1024:
        raise ApiError(codes[3], "invalid sub button url size" if sub else "invalid button url size")
    if kind == "miniprogram" and not (item.get("appid") and item.get("pagepath")):
        raise ApiError(61451, "invalid parameter")


def _check_menu(buttons: Any) -> None:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise ApiError(40016, "invalid button size")
    for top in buttons:
        if not isinstance(top, dict) or not 1 <= _bytes(top.get("name", "")) <= 16:
            raise ApiError(40018, "invalid button name size")
        subs = top.get("sub_button")
        if not subs:
            _check_menu_leaf(top, sub=False)
            continue
        if not isinstance(subs, list) or len(subs) > 5:
            raise ApiError(40023, "invalid sub button size")
        for sub in subs:
            if not isinstance(sub, dict) or not 1 <= _bytes(sub.get("name", "")) <= 60:
                raise ApiError(40025, "invalid sub button name size")
            if sub.get("sub_button"):
                raise ApiError(40022, "invalid sub button level")
            _check_menu_leaf(sub, sub=True)


def api_menu_create(state: OaState, request: Request) -> dict[str, Any]:
    app = _app_by_token(state, request, api="menu/create")
    buttons = request.json().get("button")
    _check_menu(buttons)
    with state.lock:
        app.menu = json.loads(json.dumps(buttons))
    return {"errcode": 0, "errmsg": "ok"}


def api_menu_get(state: OaState, request: Request) -> dict[str, Any]:
    app = _app_by_token(state, request, api="menu/get")
    if app.menu is None:
        raise ApiError(46003, "menu no exist")
    return {"menu": {"button": app.menu}}


def api_menu_delete(state: OaState, request: Request) -> dict[str, Any]:
    app = _app_by_token(state, request, api="menu/delete")
    with state.lock:
        app.menu = None
    return {"errcode": 0, "errmsg": "ok"}


_QR_ACTIONS = {
    "QR_SCENE": (True, False),
    "QR_STR_SCENE": (False, False),
    "QR_LIMIT_SCENE": (True, True),
    "QR_LIMIT_STR_SCENE": (False, True),
}


def _qr_scene(body: dict[str, Any], numeric: bool, permanent: bool) -> str:
    scene = (body.get("action_info") or {}).get("scene") or {}
    if numeric:
        value = scene.get("scene_id")
        top = 100_000 if permanent else 0xFFFFFFFF
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise ApiError(61451, "invalid parameter")
        return str(value)
    text = scene.get("scene_str")
    if not isinstance(text, str) or not 1 <= len(text) <= 64:
        raise ApiError(61451, "invalid parameter")
    return text


def api_qrcode_create(state: OaState, request: Request) -> dict[str, Any]:
    app = _app_by_token(state, request, api="qrcode/create")
    body = request.json()
    kind = _QR_ACTIONS.get(str(body.get("action_name", "")))
    if kind is None:
        raise ApiError(61451, "invalid parameter")
    numeric, permanent = kind
    scene = _qr_scene(body, numeric, permanent)
    expire = None
    if not permanent:
        raw = body.get("expire_seconds", DEFAULT_QR_EXPIRE)
        if not isinstance(raw, int) or raw < 1:
            raise ApiError(61451, "invalid parameter")
        expire = min(raw, MAX_QR_EXPIRE)
    ticket = "gQ" + state.random_token(None, 94)
    qr = SimQr(ticket=ticket, scene=scene, numeric=numeric, permanent=permanent,
               expires_at=None if expire is None else state.now() + expire)
    with state.lock:
        app.qrcodes[ticket] = qr
    out: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[2:24]}"}
    if expire is not None:
        out["expire_seconds"] = expire
    return out


def api_showqrcode(state: OaState, request: Request) -> Raw:
    ticket = request.params.get("ticket", "")
    with state.lock:
        known = any(ticket in app.qrcodes for app in state.apps.values())
    if not known:
        return Raw("404 Not Found", [("Content-Type", "text/plain")], b"invalid ticket")
    return Raw("200 OK", [("Content-Type", "image/png")], qr_png(ticket))


def api_template_send(state: OaState, request: Request) -> dict[str, Any]:
    app = _app_by_token(state, request, api="message/template/send")
    body = request.json()
    follower = app.followers.get(str(body.get("touser", "")))
    if follower is None:
        raise ApiError(40003, "invalid openid")
    if not follower.subscribed:
        raise ApiError(43004, "require subscribe")
    if body.get("template_id") not in {t["template_id"] for t in app.templates}:
        raise ApiError(40037, "invalid template_id")
    if not isinstance(body.get("data"), dict):
        raise ApiError(47001, "data format error")
    client_id = str(body.get("client_msg_id", ""))
    with state.lock:
        if client_id and (follower.openid, client_id) in app.sent_client_ids:
            return {"errcode": 0, "errmsg": "ok", "msgid": app.sent_client_ids[(follower.openid, client_id)]}
        day = int(state.now() // 86400)
        if app.calls.get(("template_quota", day), 0) >= app.quotas.get("template_quota", DEFAULT_TEMPLATE_QUOTA):
            raise ApiError(45009, "reach max api daily quota limit")
        app.calls[("template_quota", day)] = app.calls.get(("template_quota", day), 0) + 1
        msgid = 2_000_000_000_000_000 + state.next_id()
        if client_id:
            app.sent_client_ids[(follower.openid, client_id)] = msgid
        app.template_sends.append({**body, "msgid": msgid})
        app.pending_events.append(
            _event_xml(app.account, follower.openid, "TEMPLATESENDJOBFINISH", extra=f"<MsgID>{msgid}</MsgID>"
                       "<Status><![CDATA[success]]></Status>", at=int(state.now()))
        )
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def api_private_templates(state: OaState, request: Request) -> dict[str, Any]:
    app = _app_by_token(state, request, api="template/get_all_private_template")
    return {"template_list": [dict(t) for t in app.templates]}


def _redirect_error(message: str) -> Raw:
    return Raw("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")], message.encode())


def api_authorize(state: OaState, request: Request) -> Raw:
    """The consent page. The parameter order is checked strictly; `sim_openid` (simulator only) picks the user."""
    keys = [key for key, _value in request.ordered]
    if keys[:4] != ["appid", "redirect_uri", "response_type", "scope"]:
        return _redirect_error("10003 parameter order must be appid, redirect_uri, response_type, scope, state")
    p = request.params
    app = state.apps.get(p["appid"])
    if app is None:
        return _redirect_error("10016 invalid appid")
    if p["response_type"] != "code" or p["scope"] not in ("snsapi_base", "snsapi_userinfo"):
        return _redirect_error("10005 invalid scope")
    oauth_state = p.get("state", "")
    if len(oauth_state) > 128 or not all(ch.isascii() and ch.isalnum() for ch in oauth_state):
        return _redirect_error("10009 invalid state")
    follower = app.followers.get(p.get("sim_openid", "")) or state.add_follower(p["appid"], subscribed=False)
    code = state.issue_code(p["appid"], follower.openid, p["scope"])
    target = p["redirect_uri"]
    target += ("&" if "?" in target else "?") + urlencode({"code": code, "state": oauth_state})
    return Raw("302 Found", [("Location", target), ("Content-Type", "text/plain")], b"")


def api_oauth_token(state: OaState, request: Request) -> dict[str, Any]:
    p = request.params
    app = _app_by_credentials(state, p.get("appid", ""), p.get("secret", ""), p.get("grant_type", ""),
                              "authorization_code")
    with state.lock:
        code = state.codes.get(p.get("code", ""))
        if code is None or code.app_id != app.account.app_id:
            raise ApiError(40029, "invalid code")
        if code.used:
            raise ApiError(40163, "code been used")
        if state.now() - code.issued_at > CODE_TTL:
            raise ApiError(42003, "code expired")
        code.used = True
        follower = app.followers[code.openid]
        token = state.random_token(None, 88)
        state.sns_tokens[token] = (app.account.app_id, code.openid, code.scope, state.now() + TOKEN_TTL)
    return {
        "access_token": token,
        "expires_in": TOKEN_TTL,
        "refresh_token": state.random_token(None, 88),
        "openid": code.openid,
        "scope": code.scope,
        "is_snapshotuser": 0,
        "unionid": follower.unionid,  # the demo account is bound to an open-platform account
    }


def api_sns_userinfo(state: OaState, request: Request) -> dict[str, Any]:
    p = request.params
    with state.lock:
        found = state.sns_tokens.get(p.get("access_token", ""))
        if found is None:
            raise ApiError(40001, "invalid credential, access_token is invalid or not latest")
        app_id, openid, scope, expires = found
        if state.now() >= expires:
            raise ApiError(42001, "access_token expired")
        if p.get("openid") != openid:
            raise ApiError(40003, "invalid openid")
        if scope != "snsapi_userinfo":
            raise ApiError(48001, "api unauthorized")
        follower = state.apps[app_id].followers[openid]
    return {
        "openid": openid,
        "nickname": follower.nickname,
        "sex": follower.sex,
        "province": "",
        "city": follower.city,
        "country": "中国",
        "headimgurl": "",
        "privilege": [],
        "unionid": follower.unionid,
    }


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/cgi-bin/token"): api_token,
    ("GET", "/cgi-bin/user/get"): api_user_get,
    ("GET", "/cgi-bin/user/info"): api_user_info,
    ("POST", "/cgi-bin/user/info/batchget"): api_user_batchget,
    ("POST", "/cgi-bin/menu/create"): api_menu_create,
    ("GET", "/cgi-bin/menu/get"): api_menu_get,
    ("GET", "/cgi-bin/menu/delete"): api_menu_delete,
    ("POST", "/cgi-bin/qrcode/create"): api_qrcode_create,
    ("GET", "/cgi-bin/showqrcode"): api_showqrcode,
    ("POST", "/cgi-bin/message/template/send"): api_template_send,
    ("GET", "/cgi-bin/template/get_all_private_template"): api_private_templates,
    ("GET", "/connect/oauth2/authorize"): api_authorize,
    ("GET", "/sns/oauth2/access_token"): api_oauth_token,
    ("GET", "/sns/userinfo"): api_sns_userinfo,
}


def _read_request(environ: dict[str, Any]) -> Request:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    ordered = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return Request(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=environ.get("PATH_INFO", "/"),
        params=dict(ordered),
        ordered=ordered,
        body=body,
    )


def make_app(state: OaState) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The platform's WSGI app over `state`."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = _read_request(environ)
        handler = ROUTES.get((request.method, request.path))
        if handler is None:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"errcode":-1,"errmsg":"system error: no such api"}']
        try:
            result = handler(state, request)
        except ApiError as exc:
            result = {"errcode": exc.errcode, "errmsg": exc.errmsg}
        if isinstance(result, Raw):
            start_response(result.status, result.headers)
            return [result.body]
        start_response("200 OK", [("Content-Type", "application/json; encoding=utf-8")])
        return [json.dumps(result, ensure_ascii=False).encode("utf-8")]

    return app


# ---------------------------------------------------------------------------------------------------------------
# A QR-looking PNG (not a scannable code: the simulator has nothing to scan it with)


def qr_png(ticket: str, modules: int = 29, scale: int = 6) -> bytes:
    bits = "".join(f"{byte:08b}" for byte in hashlib.sha512(ticket.encode()).digest() * 2)

    def dark(x: int, y: int) -> bool:
        for fx, fy in ((0, 0), (modules - 7, 0), (0, modules - 7)):
            if fx <= x < fx + 7 and fy <= y < fy + 7:
                dx, dy = x - fx, y - fy
                return dx in (0, 6) or dy in (0, 6) or (2 <= dx <= 4 and 2 <= dy <= 4)
        return bits[(y * modules + x) % len(bits)] == "1"

    size = (modules + 4) * scale
    rows = []
    for py in range(size):
        y = py // scale - 2
        row = bytearray([0])
        for px in range(size):
            x = px // scale - 2
            row.append(0 if 0 <= x < modules and 0 <= y < modules and dark(x, y) else 255)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(
        b"IEND", b""
    )


# ---------------------------------------------------------------------------------------------------------------
# Callbacks, as the platform sends them


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _event_xml(account: SimAccount, openid: str, event: str, *, extra: str = "", at: int | None = None) -> str:
    """`at`: the CreateTime (default now; the traffic passes its platform's clock)."""
    created = int(time.time()) if at is None else at
    return (
        f"<xml><ToUserName>{_cdata(account.original_id)}</ToUserName><FromUserName>{_cdata(openid)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType>{_cdata('event')}</MsgType><Event>{_cdata(event)}</Event>"
        f"{extra}</xml>"
    )


def subscribe_xml(account: SimAccount, openid: str, *, scene: str = "", ticket: str = "", at: int | None = None) -> str:
    extra = ""
    if scene:
        extra = f"<EventKey>{_cdata('qrscene_' + scene)}</EventKey><Ticket>{_cdata(ticket)}</Ticket>"
    return _event_xml(account, openid, "subscribe", extra=extra, at=at)


def scan_xml(account: SimAccount, openid: str, *, scene: str, ticket: str, at: int | None = None) -> str:
    extra = f"<EventKey>{_cdata(scene)}</EventKey><Ticket>{_cdata(ticket)}</Ticket>"
    return _event_xml(account, openid, "SCAN", extra=extra, at=at)


def unsubscribe_xml(account: SimAccount, openid: str, *, at: int | None = None) -> str:
    return _event_xml(account, openid, "unsubscribe", extra=f"<EventKey>{_cdata('')}</EventKey>", at=at)


def click_xml(account: SimAccount, openid: str, *, key: str, at: int | None = None) -> str:
    return _event_xml(account, openid, "CLICK", extra=f"<EventKey>{_cdata(key)}</EventKey>", at=at)


def view_xml(account: SimAccount, openid: str, *, url: str, menu_id: str = "", at: int | None = None) -> str:
    extra = f"<EventKey>{_cdata(url)}</EventKey>" + (f"<MenuId>{menu_id}</MenuId>" if menu_id else "")
    return _event_xml(account, openid, "VIEW", extra=extra, at=at)


def text_xml(
    account: SimAccount, openid: str, *, content: str, msg_id: int | None = None, at: int | None = None
) -> str:
    created = int(time.time()) if at is None else at
    # The traffic passes its platform's next id; a message built alone gets a random one (MsgIds must not repeat:
    # Siyu would rightly take a repeat for a replay).
    msg_id = msg_id if msg_id is not None else 24_000_000_000_000_000 + secrets.randbelow(10**15)
    return (
        f"<xml><ToUserName>{_cdata(account.original_id)}</ToUserName><FromUserName>{_cdata(openid)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType>{_cdata('text')}</MsgType><Content>{_cdata(content)}</Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )


def sign_callback(
    account: SimAccount, message_xml: str, *, openid: str = "", timestamp: str | None = None, nonce: str | None = None
) -> tuple[dict[str, str], bytes]:
    """The query string and body of one push, in the account's mode (plain, compatible or safe).

    The timestamp is the wall clock at sending, not the simulated clock (which tests move forward): Siyu refuses a
    timestamp more than 300 s from its own clock, as a receiver must. CreateTime inside follows the simulated clock.
    """
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or str(random.SystemRandom().randint(10**8, 10**10))
    query = {"signature": signature(account.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    if openid:
        query["openid"] = openid
    if account.mode == "plain":
        return query, message_xml.encode("utf-8")
    ciphertext = account.crypto.encrypt(message_xml)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = account.crypto.sign(timestamp, nonce, ciphertext)
    inner = ""
    if account.mode == "compatible":
        root = fromstring(message_xml.encode("utf-8"))
        inner = "".join(f"<{c.tag}>{_cdata(c.text or '')}</{c.tag}>" for c in root if c.tag != "ToUserName")
    head = f"<xml><ToUserName>{_cdata(account.original_id)}</ToUserName>"
    body = f"{head}{inner}<Encrypt>{_cdata(ciphertext)}</Encrypt></xml>"
    return query, body.encode("utf-8")


def open_reply(account: SimAccount, query: dict[str, str], body: bytes) -> dict[str, str] | None:
    """What the follower would see: the passive reply's fields, None for `success` / empty, ValueError if broken."""
    text = body.decode("utf-8").strip()
    if text in ("", "success"):
        return None
    fields = {child.tag: child.text or "" for child in fromstring(text.encode("utf-8"))}
    if query.get("encrypt_type") == "aes":
        if signature(account.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"]) != fields["MsgSignature"]:
            raise ValueError("reply MsgSignature mismatch")
        plain = account.crypto.decrypt(fields["Encrypt"])
        fields = {child.tag: child.text or "" for child in fromstring(plain)}
    return fields


# ---------------------------------------------------------------------------------------------------------------
# Traffic


@dataclass
class Traffic:
    url: str
    state: OaState
    app: AppState
    rng: random.Random
    http: httpx.Client
    accepted: int = 0

    def post(self, message_xml: str, openid: str) -> bool:
        query, body = sign_callback(self.app.account, message_xml, openid=openid)
        return self.post_raw(query, body)

    def post_raw(self, query: dict[str, str], body: bytes) -> bool:
        self.state.last_callback = (self.url, query, body)
        try:
            response = self.http.post(self.url, params=query, content=body,
                                      headers={"Content-Type": "text/xml; charset=utf-8"})
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        try:
            open_reply(self.app.account, query, response.content)
        except (ValueError, KeyError):
            return False
        self.accepted += 1
        return True

    def at(self) -> int:
        """The platform's clock for a push's CreateTime."""
        return int(self.state.now())

    def msg_id(self) -> int:
        return 24_000_000_000_000_000 + self.state.next_id()

    def followers(self, subscribed: bool) -> list[SimFollower]:
        return [f for f in self.app.followers.values() if f.subscribed == subscribed]

    def live_qrcodes(self) -> list[SimQr]:
        now = self.state.now()
        return [q for q in self.app.qrcodes.values() if q.expires_at is None or q.expires_at > now]


def _new_unionid(traffic: Traffic) -> str:
    taken = {f.unionid for f in traffic.app.followers.values()}
    if traffic.rng.random() < 0.5:
        for _attempt in range(5):
            candidate = shared_unionid(traffic.rng.randint(1, SHARED_PEOPLE))
            if candidate not in taken:
                return candidate
    return f"ou_oa_{traffic.rng.getrandbits(80):020x}"


def _follow(traffic: Traffic, follower: SimFollower | None = None) -> None:
    if follower is None:
        follower = traffic.state.add_follower(
            traffic.app.account.app_id, unionid=_new_unionid(traffic), subscribed=False, rng=traffic.rng
        )
    codes = traffic.live_qrcodes()
    qr = traffic.rng.choice(codes) if codes and traffic.rng.random() < 0.7 else None
    with traffic.state.lock:
        follower.subscribed = True
        follower.subscribe_time = int(traffic.state.now())
        follower.subscribe_scene = "ADD_SCENE_QR_CODE" if qr else "ADD_SCENE_SEARCH"
        follower.qr_scene = int(qr.scene) if qr and qr.numeric else 0
        follower.qr_scene_str = qr.scene if qr and not qr.numeric else ""
    scene, ticket = (qr.scene, qr.ticket) if qr else ("", "")
    xml = subscribe_xml(traffic.app.account, follower.openid, scene=scene, ticket=ticket, at=traffic.at())
    traffic.post(xml, follower.openid)


def _scan(traffic: Traffic) -> None:
    codes, following = traffic.live_qrcodes(), traffic.followers(True)
    if not codes or not following:
        return _follow(traffic)
    qr, follower = traffic.rng.choice(codes), traffic.rng.choice(following)
    xml = scan_xml(traffic.app.account, follower.openid, scene=qr.scene, ticket=qr.ticket, at=traffic.at())
    traffic.post(xml, follower.openid)


def _keyword(traffic: Traffic) -> None:
    following = traffic.followers(True)
    if not following:
        return _follow(traffic)
    follower = traffic.rng.choice(following)
    content = traffic.rng.choice(DEMO_KEYWORDS)
    xml = text_xml(traffic.app.account, follower.openid, content=content, msg_id=traffic.msg_id(), at=traffic.at())
    traffic.post(xml, follower.openid)


def _menu_click(traffic: Traffic) -> None:
    following = traffic.followers(True)
    leaves = [sub for top in (traffic.app.menu or []) for sub in (top.get("sub_button") or [top])]
    leaves = [leaf for leaf in leaves if leaf.get("type") in ("click", "view")]
    if not following or not leaves:
        return _keyword(traffic)
    follower, leaf = traffic.rng.choice(following), traffic.rng.choice(leaves)
    account = traffic.app.account
    if leaf["type"] == "click":
        xml = click_xml(account, follower.openid, key=leaf["key"], at=traffic.at())
    else:
        xml = view_xml(account, follower.openid, url=leaf["url"], menu_id="", at=traffic.at())
    traffic.post(xml, follower.openid)


def _unfollow(traffic: Traffic) -> None:
    following = traffic.followers(True)
    if len(following) < 3:
        return _follow(traffic)
    follower = traffic.rng.choice(following)
    with traffic.state.lock:
        follower.subscribed = False
    traffic.post(unsubscribe_xml(traffic.app.account, follower.openid, at=traffic.at()), follower.openid)


def _refollow(traffic: Traffic) -> None:
    gone = traffic.followers(False)
    return _follow(traffic, traffic.rng.choice(gone) if gone else None)


def _platform_retry(traffic: Traffic) -> None:
    """The platform resends a push it did not see answered in time: Siyu must process it once."""
    last = traffic.state.last_callback
    if last is None or last[0] != traffic.url:
        return _keyword(traffic)
    traffic.state.resent += 1
    traffic.post_raw(last[1], last[2])


ACTIONS: tuple[tuple[Callable[[Traffic], None], float], ...] = (
    (_follow, 0.30),
    (_refollow, 0.05),
    (_scan, 0.12),
    (_keyword, 0.25),
    (_menu_click, 0.13),
    (_unfollow, 0.10),
    (_platform_retry, 0.05),
)


def _flush_reports(traffic: Traffic) -> None:
    with traffic.state.lock:
        pending, traffic.app.pending_events[:] = list(traffic.app.pending_events), []
    for xml in pending:
        openid = str(fromstring(xml.encode("utf-8")).findtext("FromUserName") or "")
        traffic.post(xml, openid)


def drive_traffic(siyu_callback_url: str, rng: random.Random, steps: int, *, state: OaState, app_id: str = "") -> int:
    """Simulate `steps` follower actions against Siyu's callback URL; returns how many pushes Siyu accepted.

    `state` is the platform the followers act on (`simulator.state.current().oa`). The account is the demo Official
    Account unless `app_id` names another registered one. Template send reports
    (TEMPLATESENDJOBFINISH) queued by the API are pushed first.
    """
    app_state = state.app(app_id or demo_accounts.OFFICIAL_ACCOUNT.app_id)
    weights = [weight for _action, weight in ACTIONS]
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0)) as http:
        traffic = Traffic(url=siyu_callback_url, state=state, app=app_state, rng=rng, http=http)
        _flush_reports(traffic)
        for _step in range(steps):
            action = rng.choices([a for a, _w in ACTIONS], weights=weights)[0]
            action(traffic)
    return traffic.accepted
