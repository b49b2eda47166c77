"""The WeCom server API client: access token handling, errcode classification, frozen results.

Every call names one ChannelAccount's base URL (the platform's host in production, the simulator in the demo and the
tests). The token is fetched with /cgi-bin/gettoken, cached with its expiry in a TokenStore (the database in
production, shared by the web and worker processes) and refreshed once when a call answers 42001/40014/41001.

Errors are sorted into RetryableError (busy, rate limits, network trouble, 5xx) and TerminalError (everything the
platform rejects for a reason a retry will not change), both WecomError with the platform's errcode.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

TOKEN_ERRORS = frozenset({40014, 42001, 41001})
RETRYABLE_ERRORS = frozenset({-1, 45009, 45033, 41063})
NETWORK_ERROR = -2
HTTP_ERROR = -3
BAD_RESPONSE = -4
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
TOKEN_MARGIN_S = 300


class WecomError(Exception):
    retryable = False

    def __init__(self, errcode: int, errmsg: str, *, path: str = "") -> None:
        super().__init__(f"{path or 'wecom'}: {errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


class RetryableError(WecomError):
    retryable = True


class TerminalError(WecomError):
    retryable = False


def classify(errcode: int, errmsg: str, *, path: str = "") -> WecomError:
    cls = RetryableError if errcode in RETRYABLE_ERRORS else TerminalError
    return cls(errcode, errmsg, path=path)


# ---------------------------------------------------------------------------------------------------------------
# Token cache


class TokenStore(Protocol):
    def get(self) -> str | None: ...

    def put(self, token: str, expires_in: int) -> None: ...

    def invalidate(self, token: str) -> None: ...


class MemoryTokenStore:
    """A per-process cache; the database store (services.DbTokenStore) is the one shared across processes."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str | None:
        with self._lock:
            return self._token if self._token and time.time() < self._expires_at else None

    def put(self, token: str, expires_in: int) -> None:
        with self._lock:
            self._token = token
            self._expires_at = time.time() + max(0, expires_in - TOKEN_MARGIN_S)

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None


# ---------------------------------------------------------------------------------------------------------------
# Results (frozen dataclasses across the boundary)


@dataclass(frozen=True)
class ExternalContact:
    external_userid: str
    name: str = ""
    type: int = 1
    gender: int = 0
    unionid: str = ""
    avatar: str = ""
    corp_name: str = ""


@dataclass(frozen=True)
class FollowUser:
    userid: str
    remark: str = ""
    description: str = ""
    createtime: int = 0
    tag_ids: tuple[str, ...] = ()
    state: str = ""
    add_way: int = 0
    oper_userid: str = ""


@dataclass(frozen=True)
class ContactDetail:
    contact: ExternalContact
    follow_users: tuple[FollowUser, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class ContactPage:
    items: tuple[tuple[ExternalContact, FollowUser], ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class CorpTag:
    id: str
    name: str
    order: int = 0
    create_time: int = 0
    deleted: bool = False


@dataclass(frozen=True)
class CorpTagGroup:
    group_id: str
    group_name: str
    order: int = 0
    create_time: int = 0
    tags: tuple[CorpTag, ...] = ()
    deleted: bool = False


@dataclass(frozen=True)
class ContactWay:
    config_id: str
    qr_code: str = ""


@dataclass(frozen=True)
class ChatTransferFailure:
    chat_id: str
    errcode: int
    errmsg: str = ""


@dataclass(frozen=True)
class JoinWay:
    config_id: str
    qr_code: str = ""
    chat_id_list: tuple[str, ...] = ()
    state: str = ""


@dataclass(frozen=True)
class MsgTemplateResult:
    msgid: str
    fail_list: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendResult:
    userid: str
    status: int
    external_userid: str = ""
    chat_id: str = ""
    send_time: int = 0


@dataclass(frozen=True)
class SendResultPage:
    items: tuple[SendResult, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class GroupMsgTask:
    """get_groupmsg_task: whether one sender has sent (0 not sent, 1 confirmed, 2 sent)."""

    userid: str
    status: int
    send_time: int = 0


@dataclass(frozen=True)
class GroupMsgTaskPage:
    items: tuple[GroupMsgTask, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class GroupMsg:
    """One row of get_groupmsg_list_v2 (creator is empty for API-created messages)."""

    msgid: str
    create_time: int = 0
    create_type: int = 0
    creator: str = ""
    text: str = ""
    attachments: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class GroupMsgPage:
    items: tuple[GroupMsg, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class GroupChatRef:
    chat_id: str
    status: int = 0


@dataclass(frozen=True)
class GroupChatPage:
    items: tuple[GroupChatRef, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class GroupChatMember:
    userid: str
    type: int
    join_time: int = 0
    join_scene: int = 0
    unionid: str = ""
    invitor: str = ""
    group_nickname: str = ""
    name: str = ""
    state: str = ""  # the join way's state, when the member joined through one that set it


@dataclass(frozen=True)
class GroupChat:
    chat_id: str
    name: str = ""
    owner: str = ""
    create_time: int = 0
    notice: str = ""
    members: tuple[GroupChatMember, ...] = ()
    admins: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransferOutcome:
    external_userid: str
    errcode: int


@dataclass(frozen=True)
class TransferStatus:
    external_userid: str
    status: int
    takeover_time: int = 0


@dataclass(frozen=True)
class TransferResultPage:
    items: tuple[TransferStatus, ...]
    next_cursor: str = ""


@dataclass(frozen=True)
class MomentReaction:
    """A comment or like on a member's moment: a customer's (external_userid) or a colleague's (userid)."""

    external_userid: str
    userid: str
    create_time: int


@dataclass(frozen=True)
class MomentReactions:
    comments: tuple[MomentReaction, ...]
    likes: tuple[MomentReaction, ...]


@dataclass(frozen=True)
class MomentTaskResult:
    """get_moment_task_result: status 1 started, 2 running, 3 done (then errcode / moment_id are meaningful)."""

    status: int
    moment_id: str = ""
    errcode: int = 0
    errmsg: str = ""
    invalid_userids: tuple[str, ...] = ()
    invalid_tag_ids: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------------------
# Parsing helpers


def _contact(raw: Mapping[str, Any]) -> ExternalContact:
    return ExternalContact(
        external_userid=str(raw.get("external_userid", "")),
        name=str(raw.get("name", "")),
        type=int(raw.get("type", 1) or 1),
        gender=int(raw.get("gender", 0) or 0),
        unionid=str(raw.get("unionid", "") or ""),
        avatar=str(raw.get("avatar", "") or ""),
        corp_name=str(raw.get("corp_name", "") or ""),
    )


def _follow(raw: Mapping[str, Any]) -> FollowUser:
    if "tag_id" in raw:  # batch/get_by_user's follow_info: corp and rule-group tag ids only
        tag_ids = tuple(str(t) for t in raw.get("tag_id") or ())
    else:  # externalcontact/get's follow_user: tag objects; personal tags (type 2) have no tag_id
        tag_ids = tuple(str(t["tag_id"]) for t in raw.get("tags") or () if t.get("tag_id"))
    return FollowUser(
        userid=str(raw.get("userid", "")),
        remark=str(raw.get("remark", "") or ""),
        description=str(raw.get("description", "") or ""),
        createtime=int(raw.get("createtime", 0) or 0),
        tag_ids=tag_ids,
        state=str(raw.get("state", "") or ""),
        add_way=int(raw.get("add_way", 0) or 0),
        oper_userid=str(raw.get("oper_userid", "") or ""),
    )


def _tag_group(raw: Mapping[str, Any]) -> CorpTagGroup:
    return CorpTagGroup(
        group_id=str(raw.get("group_id", "")),
        group_name=str(raw.get("group_name", "")),
        order=int(raw.get("order", 0) or 0),
        create_time=int(raw.get("create_time", 0) or 0),
        deleted=bool(raw.get("deleted", False)),
        tags=tuple(
            CorpTag(
                id=str(t.get("id", "")),
                name=str(t.get("name", "")),
                order=int(t.get("order", 0) or 0),
                create_time=int(t.get("create_time", 0) or 0),
                deleted=bool(t.get("deleted", False)),
            )
            for t in raw.get("tag") or ()
        ),
    )


def _group_chat(raw: Mapping[str, Any]) -> GroupChat:
    members = tuple(
        GroupChatMember(
            userid=str(m.get("userid", "")),
            type=int(m.get("type", 2) or 2),
            join_time=int(m.get("join_time", 0) or 0),
            join_scene=int(m.get("join_scene", 0) or 0),
            unionid=str(m.get("unionid", "") or ""),
            invitor=str((m.get("invitor") or {}).get("userid", "")),
            group_nickname=str(m.get("group_nickname", "") or ""),
            name=str(m.get("name", "") or ""),
            state=str(m.get("state", "") or "")[:64],
        )
        for m in raw.get("member_list") or ()
    )
    return GroupChat(
        chat_id=str(raw.get("chat_id", "")),
        name=str(raw.get("name", "") or ""),
        owner=str(raw.get("owner", "") or ""),
        create_time=int(raw.get("create_time", 0) or 0),
        notice=str(raw.get("notice", "") or ""),
        members=members,
        admins=tuple(str(a.get("userid", "")) for a in raw.get("admin_list") or ()),
    )


# ---------------------------------------------------------------------------------------------------------------
# The client


def _welcome_template_body(text: str, attachment: Mapping[str, Any] | None) -> dict[str, Any]:
    """The template's fields as the platform takes them: `text.content` and at most one of image, link and
    miniprogram as a top-level object (the platform keeps only one: image > link > miniprogram)."""
    body: dict[str, Any] = {}
    if text:
        body["text"] = {"content": text}
    if attachment:
        kind = str(attachment.get("msgtype", ""))
        body[kind] = dict(attachment.get(kind) or {})
    return body


@dataclass
class WecomClient:
    base_url: str
    corp_id: str
    secret: str
    token_store: TokenStore = field(default_factory=MemoryTokenStore)
    http: httpx.Client | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    # -- transport ------------------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self.http is None:
            self.http = httpx.Client(timeout=self.timeout)
        return self.http

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    def _send(self, method: str, path: str, params: dict[str, Any], body: Any) -> dict[str, Any]:
        url = self.base_url + path
        try:
            if method == "GET":
                response = self._http().get(url, params=params, timeout=self.timeout)
            else:
                response = self._http().post(url, params=params, json=body, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise RetryableError(NETWORK_ERROR, f"timeout: {exc}", path=path) from exc
        except httpx.TransportError as exc:
            raise RetryableError(NETWORK_ERROR, f"network: {exc}", path=path) from exc
        if response.status_code >= 500:
            raise RetryableError(HTTP_ERROR, f"HTTP {response.status_code}", path=path)
        if response.status_code >= 400:
            raise TerminalError(HTTP_ERROR, f"HTTP {response.status_code}", path=path)
        try:
            data = response.json()
        except ValueError as exc:
            raise RetryableError(BAD_RESPONSE, "response is not JSON", path=path) from exc
        if not isinstance(data, dict):
            raise TerminalError(BAD_RESPONSE, "response is not a JSON object", path=path)
        return data

    def fetch_token(self) -> str:
        path = "/cgi-bin/gettoken"
        data = self._send("GET", path, {"corpid": self.corp_id, "corpsecret": self.secret}, None)
        errcode = int(data.get("errcode", 0) or 0)
        if errcode:
            raise classify(errcode, str(data.get("errmsg", "")), path=path)
        token = str(data.get("access_token", ""))
        if not token:
            raise TerminalError(BAD_RESPONSE, "no access_token in the answer", path=path)
        self.token_store.put(token, int(data.get("expires_in", 7200) or 7200))
        return token

    def access_token(self) -> str:
        return self.token_store.get() or self.fetch_token()

    def call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """One API call with the access token in the query; a rejected token is refreshed and the call retried once."""
        for attempt in (1, 2):
            token = self.access_token()
            data = self._send(method, path, {**(params or {}), "access_token": token}, body)
            errcode = int(data.get("errcode", 0) or 0)
            if errcode == 0:
                return data
            if errcode in TOKEN_ERRORS and attempt == 1:
                self.token_store.invalidate(token)
                continue
            raise classify(errcode, str(data.get("errmsg", "")), path=path)
        raise RetryableError(BAD_RESPONSE, "token refresh did not help", path=path)  # pragma: no cover

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", path, body=dict(body))

    # -- customers ------------------------------------------------------------------------------------------

    def get_external_contact(self, external_userid: str, *, cursor: str = "") -> ContactDetail:
        params = {"external_userid": external_userid}
        if cursor:
            params["cursor"] = cursor
        data = self.call("GET", "/cgi-bin/externalcontact/get", params=params)
        return ContactDetail(
            contact=_contact(data.get("external_contact") or {}),
            follow_users=tuple(_follow(f) for f in data.get("follow_user") or ()),
            next_cursor=str(data.get("next_cursor", "") or ""),
        )

    def follow_user_list(self) -> tuple[str, ...]:
        """Members with customer contact enabled (within the app's visible range)."""
        data = self.call("GET", "/cgi-bin/externalcontact/get_follow_user_list")
        return tuple(str(u) for u in data.get("follow_user") or ())

    def batch_get_by_user(self, userids: Sequence[str], *, cursor: str = "", limit: int = 100) -> ContactPage:
        data = self.post(
            "/cgi-bin/externalcontact/batch/get_by_user",
            {"userid_list": list(userids), "cursor": cursor, "limit": limit},
        )
        items = tuple(
            (_contact(row.get("external_contact") or {}), _follow(row.get("follow_info") or {}))
            for row in data.get("external_contact_list") or ()
        )
        return ContactPage(items=items, next_cursor=str(data.get("next_cursor", "") or ""))

    def iter_contacts_by_user(self, userids: Sequence[str], *, limit: int = 100) -> Iterable[ContactPage]:
        """Every page of batch/get_by_user (cursor paging), ≤100 userids per request."""
        for start in range(0, len(userids), 100):
            chunk = list(userids[start : start + 100])
            cursor = ""
            while True:
                page = self.batch_get_by_user(chunk, cursor=cursor, limit=limit)
                yield page
                if not page.next_cursor:
                    break
                cursor = page.next_cursor

    # -- corp tags ------------------------------------------------------------------------------------------

    def get_corp_tag_list(
        self, *, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
    ) -> tuple[CorpTagGroup, ...]:
        data = self.post(
            "/cgi-bin/externalcontact/get_corp_tag_list", {"tag_id": list(tag_ids), "group_id": list(group_ids)}
        )
        return tuple(_tag_group(g) for g in data.get("tag_group") or ())

    def add_corp_tag(
        self, *, group_name: str = "", group_id: str = "", tags: Sequence[str], order: int = 0
    ) -> CorpTagGroup:
        body: dict[str, Any] = {"tag": [{"name": name} for name in tags]}
        if group_id:
            body["group_id"] = group_id
        else:
            body["group_name"] = group_name
            body["order"] = order
        data = self.post("/cgi-bin/externalcontact/add_corp_tag", body)
        return _tag_group(data.get("tag_group") or {})

    def edit_corp_tag(self, *, id: str, name: str = "", order: int | None = None) -> None:  # noqa: A002
        body: dict[str, Any] = {"id": id}
        if name:
            body["name"] = name
        if order is not None:
            body["order"] = order
        self.post("/cgi-bin/externalcontact/edit_corp_tag", body)

    def del_corp_tag(self, *, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()) -> None:
        self.post("/cgi-bin/externalcontact/del_corp_tag", {"tag_id": list(tag_ids), "group_id": list(group_ids)})

    def mark_tag(
        self, *, userid: str, external_userid: str, add_tag: Sequence[str] = (), remove_tag: Sequence[str] = ()
    ) -> None:
        self.post(
            "/cgi-bin/externalcontact/mark_tag",
            {
                "userid": userid,
                "external_userid": external_userid,
                "add_tag": list(add_tag),
                "remove_tag": list(remove_tag),
            },
        )

    # -- contact ways and welcome ---------------------------------------------------------------------------

    def add_contact_way(
        self,
        *,
        users: Sequence[str],
        state: str,
        remark: str = "",
        skip_verify: bool = True,
        type: int = 2,  # noqa: A002 - the platform's field name
        scene: int = 2,
    ) -> ContactWay:
        data = self.post(
            "/cgi-bin/externalcontact/add_contact_way",
            {
                "type": type,
                "scene": scene,
                "remark": remark,
                "skip_verify": skip_verify,
                "state": state,
                "user": list(users),
            },
        )
        return ContactWay(config_id=str(data.get("config_id", "")), qr_code=str(data.get("qr_code", "") or ""))

    def update_contact_way(
        self, *, config_id: str, users: Sequence[str], remark: str | None = None, skip_verify: bool | None = None
    ) -> None:
        body: dict[str, Any] = {"config_id": config_id, "user": list(users)}
        if remark is not None:
            body["remark"] = remark
        if skip_verify is not None:
            body["skip_verify"] = skip_verify
        self.post("/cgi-bin/externalcontact/update_contact_way", body)

    def del_contact_way(self, *, config_id: str) -> None:
        self.post("/cgi-bin/externalcontact/del_contact_way", {"config_id": config_id})

    def send_welcome_msg(
        self, *, welcome_code: str, text: str = "", attachments: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        body: dict[str, Any] = {"welcome_code": welcome_code}
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = [dict(a) for a in attachments]
        self.post("/cgi-bin/externalcontact/send_welcome_msg", body)

    def send_app_text(self, *, agentid: str, userids: Sequence[str], text: str) -> dict[str, Any]:
        """An app message (message/send) to members, e.g. a group SOP's reminder to the group owners. The answer
        lists the members it could not reach (`invaliduser`, "|"-separated); none reachable is errcode 81013."""
        data = self.post("/cgi-bin/message/send", {
            "touser": "|".join(userids), "msgtype": "text",
            "agentid": int(agentid) if agentid.isdigit() else agentid, "text": {"content": text}})
        return {"invaliduser": str(data.get("invaliduser", "") or "")}

    # -- mass sends and moments ----------------------------------------------------------------------------

    def add_msg_template(
        self,
        *,
        chat_type: str = "single",
        external_userids: Sequence[str] = (),
        chat_ids: Sequence[str] = (),
        sender: str = "",
        text: str = "",
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> MsgTemplateResult:
        body: dict[str, Any] = {"chat_type": chat_type}
        if external_userids:
            body["external_userid"] = list(external_userids)
        if chat_ids:
            body["chat_id_list"] = list(chat_ids)
        if sender:
            body["sender"] = sender
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = [dict(a) for a in attachments]
        data = self.post("/cgi-bin/externalcontact/add_msg_template", body)
        return MsgTemplateResult(
            msgid=str(data.get("msgid", "")), fail_list=tuple(str(x) for x in data.get("fail_list") or ())
        )

    def get_groupmsg_send_result(
        self, *, msgid: str, userid: str, cursor: str = "", limit: int = 1000
    ) -> SendResultPage:
        data = self.post(
            "/cgi-bin/externalcontact/get_groupmsg_send_result",
            {"msgid": msgid, "userid": userid, "cursor": cursor, "limit": limit},
        )
        items = tuple(
            SendResult(
                userid=str(row.get("userid", "")),
                status=int(row.get("status", 0) or 0),
                external_userid=str(row.get("external_userid", "") or ""),
                chat_id=str(row.get("chat_id", "") or ""),
                send_time=int(row.get("send_time", 0) or 0),
            )
            for row in data.get("send_list") or ()
        )
        return SendResultPage(items=items, next_cursor=str(data.get("next_cursor", "") or ""))

    def get_groupmsg_task(self, *, msgid: str, cursor: str = "", limit: int = 1000) -> GroupMsgTaskPage:
        data = self.post(
            "/cgi-bin/externalcontact/get_groupmsg_task", {"msgid": msgid, "cursor": cursor, "limit": limit}
        )
        items = tuple(
            GroupMsgTask(
                userid=str(row.get("userid", "")),
                status=int(row.get("status", 0) or 0),
                send_time=int(row.get("send_time", 0) or 0),
            )
            for row in data.get("task_list") or ()
        )
        return GroupMsgTaskPage(items=items, next_cursor=str(data.get("next_cursor", "") or ""))

    def get_groupmsg_list_v2(
        self,
        *,
        chat_type: str = "single",
        start_time: int,
        end_time: int,
        creator: str = "",
        filter_type: int = 2,
        cursor: str = "",
        limit: int = 100,
    ) -> GroupMsgPage:
        body: dict[str, Any] = {
            "chat_type": chat_type,
            "start_time": start_time,
            "end_time": end_time,
            "filter_type": filter_type,
            "cursor": cursor,
            "limit": limit,
        }
        if creator:
            body["creator"] = creator
        data = self.post("/cgi-bin/externalcontact/get_groupmsg_list_v2", body)
        items = tuple(
            GroupMsg(
                msgid=str(row.get("msgid", "")),
                create_time=int(row.get("create_time", 0) or 0),
                create_type=int(row.get("create_type", 0) or 0),
                creator=str(row.get("creator", "") or ""),
                text=str((row.get("text") or {}).get("content", "") or ""),
                attachments=tuple(dict(a) for a in row.get("attachments") or ()),
            )
            for row in data.get("group_msg_list") or ()
        )
        return GroupMsgPage(items=items, next_cursor=str(data.get("next_cursor", "") or ""))

    # -- JS-SDK and media ------------------------------------------------------------------------------------

    def get_agent_ticket(self) -> tuple[str, int]:
        """The app's JS-SDK ticket for wx.agentConfig (type=agent_config) and its lifetime in seconds."""
        data = self.call("GET", "/cgi-bin/ticket/get", params={"type": "agent_config"})
        ticket = str(data.get("ticket", ""))
        if not ticket:
            raise TerminalError(BAD_RESPONSE, "no ticket in the answer", path="/cgi-bin/ticket/get")
        return ticket, int(data.get("expires_in", 7200) or 7200)

    def upload_media(self, *, kind: str, filename: str, content: bytes, content_type: str) -> str:
        """Temporary media (valid 3 days) for sendChatMessage and welcome messages; returns the media_id."""
        data = self._upload("/cgi-bin/media/upload", {"type": kind}, filename, content, content_type)
        return str(data.get("media_id", ""))

    def upload_attachment(self, *, media_type: str, filename: str, content: bytes, content_type: str,
                          attachment_type: int = 1) -> str:
        """Media a moment carries (attachment_type 1; 2 is the product album), valid 3 days: images JPG/PNG
        ≤10 MB and ≤1,555,200 pixels, videos MP4 ≤10 MB and ≤30 s. Returns the media_id."""
        data = self._upload("/cgi-bin/media/upload_attachment",
                            {"media_type": media_type, "attachment_type": str(attachment_type)},
                            filename, content, content_type)
        return str(data.get("media_id", ""))

    def upload_image(self, *, filename: str, content: bytes, content_type: str) -> str:
        """An image kept by WeCom for good (`media/uploadimg`, jpg/png up to 2 MB); returns its URL, the `pic_url`
        of group welcome templates and moments, which unlike a temporary media_id does not lapse after 3 days."""
        url = str(self._upload("/cgi-bin/media/uploadimg", {}, filename, content, content_type).get("url", ""))
        if not url:
            raise TerminalError(BAD_RESPONSE, "no url in the answer", path="/cgi-bin/media/uploadimg")
        return url

    def _upload(self, path: str, params: dict[str, str], filename: str, content: bytes,
                content_type: str) -> dict[str, Any]:
        for attempt in (1, 2):
            token = self.access_token()
            try:
                response = self._http().post(
                    self.base_url + path, params={"access_token": token, **params},
                    files={"media": (filename, content, content_type)}, timeout=self.timeout)
            except httpx.TransportError as exc:
                raise RetryableError(NETWORK_ERROR, f"network: {exc}", path=path) from exc
            if response.status_code >= 400:
                cls = RetryableError if response.status_code >= 500 else TerminalError
                raise cls(HTTP_ERROR, f"HTTP {response.status_code}", path=path)
            data = response.json()
            errcode = int(data.get("errcode", 0) or 0)
            if errcode in TOKEN_ERRORS and attempt == 1:
                self.token_store.invalidate(token)
                continue
            if errcode:
                raise classify(errcode, str(data.get("errmsg", "")), path=path)
            return dict(data)
        raise RetryableError(BAD_RESPONSE, "token refresh did not help", path=path)  # pragma: no cover

    def add_moment_task(
        self,
        *,
        text: str = "",
        attachments: Sequence[Mapping[str, Any]] = (),
        userids: Sequence[str] = (),
        tag_ids: Sequence[str] = (),
    ) -> str:
        """Returns the jobid (valid 24 h). No userids means every member's customers may see it."""
        body: dict[str, Any] = {}
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = [dict(a) for a in attachments]
        visible: dict[str, Any] = {}
        if userids:
            visible["sender_list"] = {"user_list": list(userids)}
        if tag_ids:
            visible["external_contact_list"] = {"tag_list": list(tag_ids)}
        if visible:
            body["visible_range"] = visible
        data = self.post("/cgi-bin/externalcontact/add_moment_task", body)
        return str(data.get("jobid", ""))

    def get_moment_task_result(self, *, jobid: str) -> MomentTaskResult:
        data = self.call("GET", "/cgi-bin/externalcontact/get_moment_task_result", params={"jobid": jobid})
        result = data.get("result") or {}
        senders = result.get("invalid_sender_list") or {}
        contacts = result.get("invalid_external_contact_list") or {}
        return MomentTaskResult(
            status=int(data.get("status", 0) or 0),
            moment_id=str(result.get("moment_id", "") or ""),
            errcode=int(result.get("errcode", 0) or 0),
            errmsg=str(result.get("errmsg", "") or ""),
            invalid_userids=tuple(str(u) for u in senders.get("user_list") or ()),
            invalid_tag_ids=tuple(str(t) for t in contacts.get("tag_list") or ()),
        )

    def get_moment_task(self, *, moment_id: str) -> dict[str, bool]:
        """userid -> whether the member has posted the corp moment (every page of the sender list)."""
        out: dict[str, bool] = {}
        cursor = ""
        for _page in range(1000):
            data = self.post("/cgi-bin/externalcontact/get_moment_task",
                             {"moment_id": moment_id, "cursor": cursor, "limit": 1000})
            for row in data.get("task_list") or ():
                out[str(row.get("userid", ""))] = int(row.get("publish_status", 0) or 0) == 1
            cursor = str(data.get("next_cursor", "") or "")
            if not cursor:
                break
        return out

    def get_moment_comments(self, *, moment_id: str, userid: str) -> MomentReactions:
        """The comments and likes on one member's copy of a moment."""
        data = self.post("/cgi-bin/externalcontact/get_moment_comments", {"moment_id": moment_id, "userid": userid})

        def rows(name: str) -> tuple[MomentReaction, ...]:
            return tuple(
                MomentReaction(external_userid=str(r.get("external_userid", "") or ""),
                               userid=str(r.get("userid", "") or ""), create_time=int(r.get("create_time", 0) or 0))
                for r in data.get(name) or ()
            )

        return MomentReactions(comments=rows("comment_list"), likes=rows("like_list"))

    # -- groups ---------------------------------------------------------------------------------------------

    def list_group_chats(
        self, *, owner_userids: Sequence[str] = (), status_filter: int = 0, cursor: str = "", limit: int = 1000
    ) -> GroupChatPage:
        body: dict[str, Any] = {"status_filter": status_filter, "cursor": cursor, "limit": limit}
        if owner_userids:
            body["owner_filter"] = {"userid_list": list(owner_userids)}
        data = self.post("/cgi-bin/externalcontact/groupchat/list", body)
        items = tuple(
            GroupChatRef(chat_id=str(row.get("chat_id", "")), status=int(row.get("status", 0) or 0))
            for row in data.get("group_chat_list") or ()
        )
        return GroupChatPage(items=items, next_cursor=str(data.get("next_cursor", "") or ""))

    # -- join ways (加入群聊): the QR behind a group code ----------------------------------------------------------

    @staticmethod
    def _join_way_body(chat_ids: Sequence[str], state: str, remark: str) -> dict[str, Any]:
        # auto_create_room 0: when every listed group is full Siyu asks staff for a new group instead
        return {"scene": 2, "remark": remark[:30], "auto_create_room": 0, "chat_id_list": list(chat_ids),
                "state": state}

    def add_join_way(self, *, chat_ids: Sequence[str], state: str, remark: str = "") -> JoinWay:
        body = self._join_way_body(chat_ids, state, remark)
        data = self.post("/cgi-bin/externalcontact/groupchat/add_join_way", body)
        return JoinWay(config_id=str(data.get("config_id", "")))

    def get_join_way(self, *, config_id: str) -> JoinWay:
        data = self.post("/cgi-bin/externalcontact/groupchat/get_join_way", {"config_id": config_id})
        way = data.get("join_way") or {}
        return JoinWay(
            config_id=str(way.get("config_id", config_id)),
            qr_code=str(way.get("qr_code", "") or ""),
            chat_id_list=tuple(str(c) for c in way.get("chat_id_list") or ()),
            state=str(way.get("state", "") or ""),
        )

    def update_join_way(self, *, config_id: str, chat_ids: Sequence[str], state: str, remark: str = "") -> None:
        """update_join_way overwrites the whole config: every field is sent."""
        body = {"config_id": config_id, **self._join_way_body(chat_ids, state, remark)}
        self.post("/cgi-bin/externalcontact/groupchat/update_join_way", body)

    def del_join_way(self, *, config_id: str) -> None:
        self.post("/cgi-bin/externalcontact/groupchat/del_join_way", {"config_id": config_id})

    # -- group welcome templates (入群欢迎语素材, wecom-jssdk-sidebar-groups.md §13) ------------------------------

    def add_group_welcome_template(self, *, text: str = "", attachment: Mapping[str, Any] | None = None,
                                   notify: bool = True) -> str:
        """The template's id. `attachment` is {"msgtype": "image"|"link"|"miniprogram", <msgtype>: {...}}."""
        data = self.post("/cgi-bin/externalcontact/group_welcome_template/add",
                         {**_welcome_template_body(text, attachment), "notify": 1 if notify else 0})
        return str(data.get("template_id", ""))

    def edit_group_welcome_template(self, *, template_id: str, text: str = "",
                                    attachment: Mapping[str, Any] | None = None) -> None:
        self.post("/cgi-bin/externalcontact/group_welcome_template/edit",
                  {"template_id": template_id, **_welcome_template_body(text, attachment)})

    def get_group_welcome_template(self, *, template_id: str) -> dict[str, Any]:
        data = self.post("/cgi-bin/externalcontact/group_welcome_template/get", {"template_id": template_id})
        return {k: v for k, v in data.items() if k not in ("errcode", "errmsg")}

    def del_group_welcome_template(self, *, template_id: str) -> None:
        self.post("/cgi-bin/externalcontact/group_welcome_template/del", {"template_id": template_id})

    def transfer_group_chats(self, *, chat_ids: Sequence[str], new_owner: str) -> tuple[ChatTransferFailure, ...]:
        """groupchat/transfer (groups of a resigned owner): the groups the platform refused, with their errcodes."""
        data = self.post("/cgi-bin/externalcontact/groupchat/transfer",
                         {"chat_id_list": list(chat_ids), "new_owner": new_owner})
        return tuple(
            ChatTransferFailure(chat_id=str(f.get("chat_id", "")), errcode=int(f.get("errcode", 0) or 0),
                                errmsg=str(f.get("errmsg", "") or ""))
            for f in data.get("failed_chat_list") or ()
        )

    def get_group_chat(self, *, chat_id: str, need_name: bool = True) -> GroupChat:
        data = self.post(
            "/cgi-bin/externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1 if need_name else 0}
        )
        return _group_chat(data.get("group_chat") or {})

    # -- inheritance ----------------------------------------------------------------------------------------

    def transfer_customer(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        external_userids: Sequence[str],
        transfer_success_msg: str = "",
        resigned: bool = False,
    ) -> tuple[TransferOutcome, ...]:
        body: dict[str, Any] = {
            "handover_userid": handover_userid,
            "takeover_userid": takeover_userid,
            "external_userid": list(external_userids),
        }
        if transfer_success_msg and not resigned:
            body["transfer_success_msg"] = transfer_success_msg
        path = "/cgi-bin/externalcontact/resigned/transfer_customer" if resigned else (
            "/cgi-bin/externalcontact/transfer_customer"
        )
        data = self.post(path, body)
        return tuple(
            TransferOutcome(external_userid=str(row.get("external_userid", "")), errcode=int(row.get("errcode", 0)))
            for row in data.get("customer") or ()
        )

    def transfer_result(
        self, *, handover_userid: str, takeover_userid: str, cursor: str = "", resigned: bool = False
    ) -> TransferResultPage:
        path = "/cgi-bin/externalcontact/resigned/transfer_result" if resigned else (
            "/cgi-bin/externalcontact/transfer_result"
        )
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "cursor": cursor}
        data = self.post(path, body)
        items = tuple(
            TransferStatus(
                external_userid=str(row.get("external_userid", "")),
                status=int(row.get("status", 0) or 0),
                takeover_time=int(row.get("takeover_time", 0) or 0),
            )
            for row in data.get("customer") or ()
        )
        return TransferResultPage(items=items, next_cursor=str(data.get("next_cursor", "") or ""))
