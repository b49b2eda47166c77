"""A simulated WeCom (企业微信) customer-contact platform: the server API and the callbacks, as a WSGI app
(`make_app(platform)`; the channel simulator mounts the one its state object owns, `simulator.state.current().wecom`).

It speaks the platform's wire protocol (paths, JSON shapes, errcodes; encrypted and signed XML callbacks) and keeps
its own state: corp members, external contacts and follow relations, contact-me ways with their `state`, corp tags,
customer groups, welcome codes, mass messages, moments and transfers. It enforces the documented limits that Siyu
must handle (shared/protocol/wecom-limits.md): the 20 s single-use welcome code, 4 mass messages per customer per
calendar month, ≤2 in-service transfers per customer in 90 days with the takeover 24 h later, the resigned-member
rule for resigned transfers, 10 moment tasks per minute, name and list limits. Every number is in `Limits`.

Customer behaviour (scanning a code, deleting a staff member, joining a group, refusing a transfer) is driven by
methods on `WecomPlatform`, by `drive_traffic`, or over HTTP through the `/_sim/...` control endpoints. Callbacks
queue in `platform.outbox` and are delivered outside the state lock, so Siyu may call back into the API while it
handles one. As on the platform, operations done through the API produce no callback (wecom-callbacks.md §1).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx

from simulator.oa import SHARED_PEOPLE, shared_unionid
from simulator.wxcrypto import PlatformCrypto
from siyu.channels.demo_accounts import DemoApp

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = 86400


@dataclass
class Limits:
    token_ttl_s: int = 7200
    welcome_code_ttl_s: int = 20
    mass_per_customer_per_month: int = 4
    mass_max_recipients: int = 10000
    mass_max_chats: int = 2000
    mass_text_max_bytes: int = 4000
    attachments_max: int = 9
    # "Querying immediately after creation may give 41063" (wecom-limits.md §3): seconds after add_msg_template
    # during which get_groupmsg_task / get_groupmsg_send_result answer 41063. 0 = never (the default).
    mass_dispatch_s: float = 0.0
    groupmsg_list_limit_max: int = 100
    groupmsg_list_span_s: int = 31 * DAY
    groupmsg_page_limit_max: int = 1000
    transfer_delay_s: int = DAY
    transfer_window_s: int = 90 * DAY
    transfers_per_window: int = 2
    transfer_batch_max: int = 100
    transfer_msg_max: int = 200
    # The per-customer errcode for the 90-day rule is not in our protocol notes (wecom-limits.md §4): configurable.
    transfer_too_often_errcode: int = 40128
    member_customer_cap: int = 5000
    batch_userids_max: int = 100
    batch_limit_max: int = 100
    contact_way_users_max: int = 100
    state_max: int = 30
    remark_max: int = 30
    tag_name_max: int = 30
    corp_tags_max: int = 3000
    moments_per_minute: int = 10
    moment_text_max: int = 2000
    moment_images_max: int = 9
    moment_link_title_max_bytes: int = 64
    moment_senders_max: int = 100_000
    moment_job_ttl_s: int = DAY
    # Moment attachments (media/upload_attachment, attachment_type=1; wecom-jssdk-sidebar-groups.md §14): images
    # JPG/PNG ≤10 MB and ≤1,555,200 pixels, videos MP4 ≤10 MB.
    attachment_image_max_bytes: int = 10 * 1024 * 1024
    attachment_image_max_pixels: int = 1_555_200
    attachment_video_max_bytes: int = 10 * 1024 * 1024
    # Seconds a moment task stays "running" (status 2) before get_moment_task_result says done. 0 = at once.
    moment_processing_s: float = 0.0
    # Seconds after which the sender confirms a mass message in the client by itself (the demo plays staff who
    # tap "send"). None = never: a test or a person confirms through /_sim/confirm_mass_send.
    mass_auto_confirm_s: float | None = None
    groupchat_limit_max: int = 1000
    # Join ways (加入群聊, wecom-jssdk-sidebar-groups.md §9): ≤5 groups per way; QR joiners move on to the next
    # listed group when one holds 200 members (third-party sources; the official page says only "when full").
    join_way_chats_max: int = 5
    join_way_group_full: int = 200
    join_way_room_base_name_max: int = 40
    # Group welcome templates (入群欢迎语素材, wecom-jssdk-sidebar-groups.md §13): ≤100 per corp (41055); text ≤3000
    # bytes on add, ≤4000 on edit (the two pages disagree); link title ≤128 B and desc ≤512 B; mini-program title ≤64 B.
    group_welcome_templates_max: int = 100
    group_welcome_add_text_max: int = 3000
    group_welcome_edit_text_max: int = 4000
    group_welcome_link_title_max: int = 128
    group_welcome_link_desc_max: int = 512
    group_welcome_mp_title_max: int = 64


class SimError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


# ---------------------------------------------------------------------------------------------------------------
# State


@dataclass
class Member:
    userid: str
    name: str = ""
    resigned: bool = False
    activated: bool = True
    verified: bool = True
    customer_cap: int | None = None
    department: list[int] = field(default_factory=lambda: [1])
    main_department: int = 0  # 0 = the first of `department`
    mobile: str = ""
    disabled: bool = False


@dataclass
class Department:
    id: int
    name: str
    parentid: int = 0
    order: int = 0


@dataclass
class OAuthCode:
    userid: str
    issued_at: float
    used: bool = False


@dataclass
class Contact:
    external_userid: str
    name: str
    unionid: str = ""
    gender: int = 0
    type: int = 1
    refuses_transfer: bool = False


@dataclass
class Follow:
    userid: str
    external_userid: str
    createtime: int
    state: str = ""
    add_way: int = 1
    remark: str = ""
    oper_userid: str = ""
    tags: set[str] = field(default_factory=set)
    active: bool = True
    confirmed: bool = True


@dataclass
class ContactWayState:
    config_id: str
    type: int
    scene: int
    users: list[str]
    state: str = ""
    remark: str = ""
    skip_verify: bool = True
    qr_code: str = ""


@dataclass
class JoinWayState:
    config_id: str
    scene: int
    chat_id_list: list[str]
    remark: str = ""
    auto_create_room: int = 1
    room_base_name: str = ""
    room_base_id: int = 0
    state: str = ""
    qr_code: str = ""
    rooms_created: int = 0


@dataclass
class GroupWelcomeTemplateState:
    template_id: str
    text: str
    attachment: dict[str, Any]  # {"image"|"link"|"miniprogram": {...}} or {}
    creator: str = "api"  # "api" (this app) or "console" (made by an admin: the app may not change it, 41058)
    notify: int = 1


@dataclass
class TagState:
    id: str
    name: str
    group_id: str
    order: int = 0
    create_time: int = 0


@dataclass
class TagGroupState:
    group_id: str
    name: str
    order: int = 0
    create_time: int = 0


@dataclass
class ChatMember:
    member_id: str
    type: int
    join_time: int
    join_scene: int
    invitor: str = ""
    state: str = ""  # the join way's state, echoed per member by groupchat/get


@dataclass
class Chat:
    chat_id: str
    name: str
    owner: str
    create_time: int
    notice: str = ""
    members: dict[str, ChatMember] = field(default_factory=dict)
    dismissed: bool = False
    # A full group with 99 WeChat members: a transfer needs confirming in the client first (errcode 90503)
    needs_confirm: bool = False
    admins: list[str] = field(default_factory=list)  # members the owner made group admins (群管理员)


@dataclass
class WelcomeCode:
    code: str
    userid: str
    external_userid: str
    issued_at: float
    used: bool = False


@dataclass
class WelcomeSent:
    welcome_code: str
    userid: str
    external_userid: str
    text: str
    attachments: list[dict[str, Any]]
    at: float


@dataclass
class MassMessage:
    msgid: str
    chat_type: str
    sender: str
    text: str
    recipients: list[str]
    created_at: float
    results: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # recipient -> (userid, status, time)
    confirmed: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)
    confirmed_at: float = 0.0


@dataclass
class Transfer:
    handover: str
    takeover: str
    external_userid: str
    resigned: bool
    started_at: float
    takeover_time: float
    status: int = 2


@dataclass
class PendingCallback:
    url: str
    params: dict[str, str]
    body: bytes
    plaintext: str
    attempts: int = 0


@dataclass
class Corp:
    corp_id: str
    secret: str
    token: str
    encoding_aes_key: str
    agent_id: str = ""
    callback_url: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    follows: dict[tuple[str, str], Follow] = field(default_factory=dict)
    contact_ways: dict[str, ContactWayState] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)  # media/uploadimg: url -> what was uploaded
    app_messages: list[dict[str, Any]] = field(default_factory=list)  # message/send: what members received
    # friend requests through a contact way with skip_verify off, waiting for the member to accept
    requests: dict[tuple[str, str], Follow] = field(default_factory=dict)
    join_ways: dict[str, JoinWayState] = field(default_factory=dict)
    group_welcome_templates: dict[str, GroupWelcomeTemplateState] = field(default_factory=dict)
    tag_groups: dict[str, TagGroupState] = field(default_factory=dict)
    tags: dict[str, TagState] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    welcome_codes: dict[str, WelcomeCode] = field(default_factory=dict)
    welcomes: list[WelcomeSent] = field(default_factory=list)
    messages: dict[str, MassMessage] = field(default_factory=dict)
    monthly_received: dict[tuple[str, str], int] = field(default_factory=dict)  # (recipient, yyyy-mm) -> count
    transfers: list[Transfer] = field(default_factory=list)
    moments: dict[str, dict[str, Any]] = field(default_factory=dict)
    moment_calls: list[float] = field(default_factory=list)
    # The JS-SDK side (a staff member's WeCom client with a chat open beside the toolbar page).
    jsapi_ticket: str = ""
    agent_ticket: str = ""
    open_chat: tuple[str, str] | None = None  # (userid, external_userid) of the chat the client shows
    jssdk_sessions: dict[str, str] = field(default_factory=dict)  # session -> userid, after a valid agentConfig
    chat_messages: list[dict[str, Any]] = field(default_factory=list)  # what sendChatMessage put into chats
    media: dict[str, dict[str, Any]] = field(default_factory=dict)  # temporary media by media_id
    # API paths the corp's admin has not opened to this server, with the errcode they answer (e.g. the contacts
    # API from an IP outside the trusted list: 48009)
    refused: dict[str, int] = field(default_factory=dict)
    # The address book (通讯录): departments by id (1 is the root, named after the corp) and web sign-in codes.
    departments: dict[int, Department] = field(default_factory=dict)
    oauth_codes: dict[str, OAuthCode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.departments = self.departments or {1: Department(id=1, name=self.corp_id, parentid=0)}
        # Tickets derived from the corp's secret: a restarted simulator hands out the tickets Siyu has cached.
        seed = f"{self.corp_id}:{self.secret}".encode()
        self.jsapi_ticket = self.jsapi_ticket or hashlib.sha256(seed + b":jsapi").hexdigest()
        self.agent_ticket = self.agent_ticket or hashlib.sha256(seed + b":agent_config").hexdigest()

    @property
    def crypto(self) -> PlatformCrypto:
        return PlatformCrypto(token=self.token, encoding_aes_key=self.encoding_aes_key, receive_id=self.corp_id)

    def active_follows_of(self, external_userid: str) -> list[Follow]:
        return [f for f in self.follows.values() if f.external_userid == external_userid and f.active]


def _rows(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    rows = data.get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SimError(40058, f"{key} must be a list of objects")
    return rows


def _text(row: dict[str, Any], key: str, default: str | None = None) -> str:
    """A string field of an imported row; required unless a default is given."""
    value = row.get(key)
    if value in (None, "") and default is not None:
        return default
    if not isinstance(value, str | int) or value == "":
        raise SimError(40058, f"{key} missing")
    return str(value)


def _new_id(prefix: str, size: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(size))


def _month(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(SHANGHAI).strftime("%Y-%m")


def _require_text(body: dict[str, Any], key: str, errcode: int = 40058) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise SimError(errcode, f"missing or invalid {key}")
    return value


def _cursor(raw: Any) -> int:
    try:
        return max(0, int(raw or 0))
    except (TypeError, ValueError) as exc:
        raise SimError(40058, "invalid cursor") from exc


def _page(total: int, offset: int, limit: int) -> str:
    return str(offset + limit) if offset + limit < total else ""


# ---------------------------------------------------------------------------------------------------------------
# The platform


class WecomPlatform:
    """All simulated corps, their tokens and the pending callbacks. Thread-safe: one lock around the state."""

    def __init__(self, *, limits: Limits | None = None, auto_members: bool = False, seed: int | None = None) -> None:
        self.limits = limits or Limits()
        self.auto_members = auto_members
        self.corps: dict[str, Corp] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.outbox: list[PendingCallback] = []
        self.offset = 0.0
        self.lock = threading.RLock()
        self.rng = random.Random(seed)  # noqa: S311 - simulated behaviour, not security
        self.api_calls: list[str] = []

    # -- clock ----------------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the platform's clock forward (tokens, welcome codes, transfers due)."""
        with self.lock:
            self.offset += seconds
            self.process_due()

    # -- set-up ---------------------------------------------------------------------------------------------

    def add_corp(
        self,
        *,
        corp_id: str,
        secret: str,
        token: str,
        encoding_aes_key: str,
        agent_id: str = "",
        callback_url: str = "",
    ) -> Corp:
        with self.lock:
            corp = self.corps.get(corp_id)
            if corp is None:
                corp = Corp(corp_id, secret, token, encoding_aes_key, agent_id, callback_url)
                self.corps[corp_id] = corp
            elif callback_url:
                corp.callback_url = callback_url
            return corp

    def add_demo_corp(self, app: DemoApp, *, callback_url: str = "") -> Corp:
        return self.add_corp(
            corp_id=app.app_id,
            secret=app.secret,
            token=app.token,
            encoding_aes_key=app.encoding_aes_key,
            agent_id=app.agent_id,
            callback_url=callback_url,
        )

    def corp(self, corp_id: str) -> Corp:
        found = self.corps.get(corp_id)
        if found is None:
            raise SimError(40013, "invalid corpid")
        return found

    def add_member(self, corp_id: str, userid: str, name: str = "", **flags: Any) -> Member:
        with self.lock:
            member = Member(userid=userid, name=name or userid, **flags)
            self.corp(corp_id).members[userid] = member
            return member

    def add_department(self, corp_id: str, dept_id: int, name: str, parent_id: int = 1) -> Department:
        with self.lock:
            corp = self.corp(corp_id)
            if parent_id and parent_id not in corp.departments:
                raise SimError(60003, f"parent department {parent_id} not found")
            dept = corp.departments[dept_id] = Department(id=dept_id, name=name, parentid=parent_id,
                                                           order=len(corp.departments))
            return dept

    def move_member(self, corp_id: str, userid: str, departments: list[int]) -> None:
        with self.lock:
            member = self._member(self.corp(corp_id), userid)
            member.department, member.main_department = list(departments), departments[0]

    def resign_member(self, corp_id: str, userid: str) -> None:
        with self.lock:
            self._member(self.corp(corp_id), userid).resigned = True

    def expire_tokens(self) -> None:
        """Make every issued token expired (the next call answers 42001)."""
        with self.lock:
            self.tokens = {t: (c, self.now() - 1) for t, (c, _) in self.tokens.items()}

    def invalidate_tokens(self) -> None:
        """Forget every issued token (the next call answers 40014)."""
        with self.lock:
            self.tokens.clear()

    def _member(self, corp: Corp, userid: Any, *, errcode: int = 40003) -> Member:
        if not isinstance(userid, str) or not userid:
            raise SimError(41009 if errcode == 40003 else errcode, "missing userid")
        member = corp.members.get(userid)
        if member is None and self.auto_members:
            member = corp.members[userid] = Member(userid=userid, name=userid)
        if member is None or member.resigned:
            raise SimError(errcode, f"invalid userid {userid}")
        return member

    def _contact(self, corp: Corp, external_userid: Any) -> Contact:
        contact = corp.contacts.get(external_userid) if isinstance(external_userid, str) else None
        if contact is None:
            raise SimError(40096, f"invalid external userid {external_userid}")
        return contact

    # -- callbacks ------------------------------------------------------------------------------------------

    def emit(self, corp: Corp, fields: list[tuple[str, Any]], *, at: float | None = None) -> PendingCallback | None:
        """Queue one callback, encrypted and signed as the platform does; nothing when no URL is configured."""
        if not corp.callback_url:
            return None
        created = int(at if at is not None else self.now())
        head: list[tuple[str, Any]] = [
            ("ToUserName", corp.corp_id),
            ("FromUserName", "sys"),
            ("CreateTime", created),
            ("MsgType", "event"),
        ]
        plaintext = render_xml(head + fields)
        # The envelope's timestamp is the wall clock at sending (Siyu checks it against its own clock, ±300 s);
        # CreateTime inside follows the simulated clock, which tests move forward.
        sent = str(int(time.time()))
        pending = envelope(corp, plaintext, timestamp=sent, nonce=str(self.rng.randrange(10**8, 10**10)))
        self.outbox.append(pending)
        return pending

    def take_outbox(self) -> list[PendingCallback]:
        with self.lock:
            taken, self.outbox = self.outbox, []
            return taken

    def deliver(self, transport: Transport | None = None) -> list[int]:
        """Post every pending callback (outside the lock); failures are kept for another try, 3 tries in all."""
        send = transport or http_transport
        statuses = []
        for pending in self.take_outbox():
            pending.attempts += 1
            try:
                status = send(pending)
            except httpx.HTTPError:
                status = 0
            statuses.append(status)
            if status != 200 and pending.attempts < 3:
                with self.lock:
                    self.outbox.append(pending)
        return statuses

    # -- customer behaviour ---------------------------------------------------------------------------------

    def new_person(self, corp_id: str, *, name: str = "", unionid: str | None = None) -> Contact:
        with self.lock:
            corp = self.corp(corp_id)
            contact = Contact(
                external_userid=_new_id("wm", 26),
                name=name or random_name(self.rng),
                unionid=self._unionid(corp) if unionid is None else unionid,
                gender=self.rng.choice((0, 1, 2)),
            )
            corp.contacts[contact.external_userid] = contact
            return contact

    def _unionid(self, corp: Corp) -> str:
        """Half the people are one of the demo's shared people, who may also follow the Official Account."""
        if self.rng.random() < 0.5:
            taken = {c.unionid for c in corp.contacts.values()}
            for _attempt in range(5):
                candidate = shared_unionid(self.rng.randint(1, SHARED_PEOPLE))
                if candidate not in taken:
                    return candidate
        return _new_id("o", 27)

    def scan(
        self, corp_id: str, config_id: str, *, contact: Contact | None = None, userid: str = "", half: bool = False
    ) -> Follow:
        """A customer scans a contact-me code and adds one of its members (the platform picks which)."""
        with self.lock:
            corp = self.corp(corp_id)
            way = corp.contact_ways.get(config_id)
            if way is None:
                raise SimError(40058, "invalid config_id")
            member = self._member(corp, userid or self.rng.choice(way.users))
            person = contact or self.new_person(corp_id)
            active = sum(1 for f in corp.follows.values() if f.userid == member.userid and f.active)
            if active >= (member.customer_cap or self.limits.member_customer_cap):
                raise SimError(40099, "external contact count reached the limit")
            now = self.now()
            follow = Follow(
                userid=member.userid,
                external_userid=person.external_userid,
                createtime=int(now),
                state=way.state,
                add_way=1,
                oper_userid=person.external_userid,
                confirmed=not half,
            )
            if not way.skip_verify:  # a friend request: nothing happens until the member accepts it
                corp.requests[(member.userid, person.external_userid)] = follow
                return follow
            return self._added(corp, follow, half=half, state=way.state)

    def accept_request(self, corp_id: str, userid: str, external_userid: str) -> Follow:
        """The member accepts a friend request made through a code that asks for verification."""
        with self.lock:
            corp = self.corp(corp_id)
            follow = corp.requests.pop((userid, external_userid))
            follow.createtime = int(self.now())
            return self._added(corp, follow, half=False, state=follow.state)

    def _added(self, corp: Corp, follow: Follow, *, half: bool, state: str) -> Follow:
        """The follow exists now: the add event with a welcome code (the caller holds the lock)."""
        corp.follows[(follow.userid, follow.external_userid)] = follow
        code = WelcomeCode(_new_id("wc", 30), follow.userid, follow.external_userid, self.now())
        corp.welcome_codes[code.code] = code
        change = "add_half_external_contact" if half else "add_external_contact"
        self.emit(corp, _contact_fields(change, follow, [("State", state), ("WelcomeCode", code.code)]))
        return follow

    def confirm_half(self, corp_id: str, userid: str, external_userid: str) -> None:
        """The member confirms a 免验证 add: add_external_contact follows, without a welcome code."""
        with self.lock:
            corp = self.corp(corp_id)
            follow = corp.follows[(userid, external_userid)]
            follow.confirmed = True
            self.emit(corp, _contact_fields("add_external_contact", follow, [("State", follow.state)]))

    def customer_deletes(self, corp_id: str, userid: str, external_userid: str) -> None:
        with self.lock:
            corp = self.corp(corp_id)
            follow = corp.follows[(userid, external_userid)]
            follow.active = False
            self.emit(corp, _contact_fields("del_follow_user", follow))

    def staff_deletes(self, corp_id: str, userid: str, external_userid: str) -> None:
        with self.lock:
            corp = self.corp(corp_id)
            follow = corp.follows[(userid, external_userid)]
            follow.active = False
            self.emit(corp, _contact_fields("del_external_contact", follow))

    def staff_edits(
        self, corp_id: str, userid: str, external_userid: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """The member edits the customer's corp tags in the client (this one does call back)."""
        with self.lock:
            corp = self.corp(corp_id)
            follow = corp.follows[(userid, external_userid)]
            follow.tags |= {t for t in add if t in corp.tags}
            follow.tags -= set(remove)
            self.emit(corp, _contact_fields("edit_external_contact", follow))

    def console_add_tag(self, corp_id: str, *, group_name: str, tag_name: str) -> TagState:
        """An admin adds a corp tag in the admin console: change_external_tag create."""
        with self.lock:
            corp = self.corp(corp_id)
            tag = self._add_tags(corp, group_name=group_name, group_id="", names=[tag_name])[0]
            self.emit(corp, _tag_fields(tag.id, "create"))
            return tag

    def console_rename_tag(self, corp_id: str, tag_id: str, name: str) -> None:
        with self.lock:
            corp = self.corp(corp_id)
            corp.tags[tag_id].name = name
            self.emit(corp, _tag_fields(tag_id, "update"))

    def console_delete_tag(self, corp_id: str, tag_id: str) -> None:
        with self.lock:
            corp = self.corp(corp_id)
            self._delete_tags(corp, [tag_id])
            self.emit(corp, _tag_fields(tag_id, "delete"))

    def create_chat(self, corp_id: str, owner: str, *, name: str = "", members: Iterable[str] = ()) -> Chat:
        with self.lock:
            corp = self.corp(corp_id)
            now = int(self.now())
            chat = Chat(chat_id=_new_id("wr", 26), name=name or f"{owner} 的客户群", owner=owner, create_time=now)
            chat.members[owner] = ChatMember(owner, 1, now, 1)
            for member_id in members:
                kind = 1 if member_id in corp.members else 2
                chat.members[member_id] = ChatMember(member_id, kind, now, 1, invitor=owner)
            corp.chats[chat.chat_id] = chat
            self.emit(corp, [("Event", "change_external_chat"), ("ChatId", chat.chat_id), ("ChangeType", "create")])
            return chat

    def join_chat(self, corp_id: str, chat_id: str, member_ids: list[str], *, scene: int = 3) -> None:
        """Members join: JoinScene 0 = invited by a member, 3 = scanned the group QR (callback values)."""
        with self.lock:
            corp = self.corp(corp_id)
            chat = corp.chats[chat_id]
            now = int(self.now())
            for member_id in member_ids:
                kind = 1 if member_id in corp.members else 2
                chat.members[member_id] = ChatMember(member_id, kind, now, 3 if scene == 3 else 1, invitor=chat.owner)
            self._member_change(corp, chat, "add_member", member_ids, [("JoinScene", scene)])

    def leave_chat(self, corp_id: str, chat_id: str, member_ids: list[str], *, scene: int = 0) -> None:
        """Members leave: QuitScene 0 = left, 1 = removed by the owner or an admin."""
        with self.lock:
            corp = self.corp(corp_id)
            chat = corp.chats[chat_id]
            for member_id in member_ids:
                chat.members.pop(member_id, None)
            self._member_change(corp, chat, "del_member", member_ids, [("QuitScene", scene)])

    def join_by_way(self, corp_id: str, config_id: str, *, contact: Contact | None = None) -> tuple[str, str]:
        """A customer scans a join way's QR: the platform puts them into the first listed group under its full
        size, else (auto_create_room) into a new group it opens, else refuses. Returns (chat_id, external_userid)."""
        with self.lock:
            corp = self.corp(corp_id)
            way = corp.join_ways.get(config_id)
            if way is None:
                raise SimError(40058, "invalid config_id")
            chats = [corp.chats[c] for c in way.chat_id_list if c in corp.chats and not corp.chats[c].dismissed]
            chat = next((c for c in chats if len(c.members) < self.limits.join_way_group_full), None)
            if chat is None:
                if not way.auto_create_room or not chats:
                    raise SimError(90503, "all groups of the join way are full")
                number = way.room_base_id + way.rooms_created
                way.rooms_created += 1
                owner = chats[-1].owner
                now = int(self.now())
                chat = Chat(chat_id=_new_id("wr", 26), name=f"{way.room_base_name}{number}", owner=owner,
                            create_time=now)
                chat.members[owner] = ChatMember(owner, 1, now, 1)
                corp.chats[chat.chat_id] = chat
                way.chat_id_list.append(chat.chat_id)
                self.emit(corp, [("Event", "change_external_chat"), ("ChatId", chat.chat_id), ("ChangeType", "create")])
        person = contact or self.new_person(corp_id)
        with self.lock:
            now = int(self.now())
            chat.members[person.external_userid] = ChatMember(person.external_userid, 2, now, 3, state=way.state)
            self._member_change(corp, chat, "add_member", [person.external_userid], [("JoinScene", 3)])
        return chat.chat_id, person.external_userid

    def dismiss_chat(self, corp_id: str, chat_id: str) -> None:
        with self.lock:
            corp = self.corp(corp_id)
            corp.chats[chat_id].dismissed = True
            self.emit(corp, [("Event", "change_external_chat"), ("ChatId", chat_id), ("ChangeType", "dismiss")])

    def _member_change(
        self, corp: Corp, chat: Chat, detail: str, member_ids: list[str], scene: list[tuple[str, Any]]
    ) -> None:
        self.emit(
            corp,
            [
                ("Event", "change_external_chat"),
                ("ChatId", chat.chat_id),
                ("ChangeType", "update"),
                ("UpdateDetail", detail),
                *scene,
                ("MemChangeCnt", len(member_ids)),
                ("MemChangeList", member_ids),
                ("LastMemVer", _new_id("", 32).lower()),
                ("CurMemVer", _new_id("", 32).lower()),
            ],
        )

    def confirm_mass_send(self, corp_id: str, msgid: str) -> None:
        """The sender confirms a mass message in the client: delivery, with the per-customer monthly cap."""
        with self.lock:
            corp = self.corp(corp_id)
            message = corp.messages[msgid]
            if message.confirmed:
                return
            message.confirmed = True
            now = self.now()
            message.confirmed_at = now
            month = _month(now)
            for recipient in message.recipients:
                status = self._deliver_mass(corp, message, recipient, month)
                sender = message.results[recipient][0]
                message.results[recipient] = (sender, status, int(now) if status == 1 else 0)

    def _deliver_mass(self, corp: Corp, message: MassMessage, recipient: str, month: str) -> int:
        if message.chat_type == "single":
            sender = message.results[recipient][0]
            follow = corp.follows.get((sender, recipient))
            if follow is None or not follow.active:
                return 2
        key = (recipient, month)
        if corp.monthly_received.get(key, 0) >= self.limits.mass_per_customer_per_month:
            return 3
        corp.monthly_received[key] = corp.monthly_received.get(key, 0) + 1
        return 1

    def process_due(self) -> None:
        """Finish transfers whose 24 h have passed (done, refused by the customer, or the takeover at its cap), and
        in demo mode (`limits.mass_auto_confirm_s`) confirm the mass messages their senders have had long enough."""
        with self.lock:
            now = self.now()
            for corp in self.corps.values():
                for transfer in corp.transfers:
                    if transfer.status == 2 and transfer.takeover_time <= now:
                        self._finish_transfer(corp, transfer)
            delay = self.limits.mass_auto_confirm_s
            if delay is not None:
                for corp in self.corps.values():
                    due = [m.msgid for m in corp.messages.values() if not m.confirmed and now - m.created_at >= delay]
                    for msgid in due:
                        self.confirm_mass_send(corp.corp_id, msgid)

    def _finish_transfer(self, corp: Corp, transfer: Transfer) -> None:
        contact = corp.contacts[transfer.external_userid]
        takeover = corp.members[transfer.takeover]
        active = sum(1 for f in corp.follows.values() if f.userid == takeover.userid and f.active)
        if contact.refuses_transfer:
            transfer.status = 3
            reason = "customer_refused"
        elif active >= (takeover.customer_cap or self.limits.member_customer_cap):
            transfer.status = 4
            reason = "customer_limit_exceed"
        else:
            transfer.status = 1
            old = corp.follows[(transfer.handover, transfer.external_userid)]
            old.active = False
            corp.follows[(transfer.takeover, transfer.external_userid)] = Follow(
                userid=transfer.takeover,
                external_userid=transfer.external_userid,
                createtime=int(transfer.takeover_time),
                state=old.state,
                add_way=202,
                oper_userid=transfer.handover,
                tags=set(old.tags),
            )
            fields = _contact_fields("del_external_contact", old, [("Source", "DELETE_BY_TRANSFER")])
            self.emit(corp, fields, at=transfer.takeover_time)
            return
        fail = Follow(userid=transfer.takeover, external_userid=transfer.external_userid, createtime=0)
        self.emit(corp, _contact_fields("transfer_fail", fail, [("FailReason", reason)]), at=transfer.takeover_time)

    # -- inspection (tests, the console of the simulator) ---------------------------------------------------

    def welcomes(self, corp_id: str) -> list[WelcomeSent]:
        with self.lock:
            return list(self.corp(corp_id).welcomes)

    def follow(self, corp_id: str, userid: str, external_userid: str) -> Follow | None:
        with self.lock:
            return self.corp(corp_id).follows.get((userid, external_userid))

    def import_contact_way(self, corp_id: str, *, config_id: str, users: list[str], state: str) -> None:
        """Remember a contact way created in an earlier run (the demo restarts the simulator, not the platform)."""
        with self.lock:
            corp = self.corp(corp_id)
            for userid in users:
                if userid not in corp.members:
                    corp.members[userid] = Member(userid=userid, name=userid)
            corp.contact_ways.setdefault(config_id, ContactWayState(config_id, 2, 2, list(users), state))

    def import_known(self, corp_id: str, data: dict[str, Any]) -> dict[str, int]:
        """What the platform would remember from before the simulator (re)started, as Siyu holds it: members, contact
        ways, external contacts with their follows, and customer groups (the `/_sim/import` control). What the
        simulator already knows wins: an import never revives a follow or group it has seen end."""
        counts = {"members": 0, "contact_ways": 0, "contacts": 0, "follows": 0, "chats": 0}
        with self.lock:
            corp = self.corp(corp_id)
            for row in _rows(data, "members"):
                userid = _text(row, "userid")
                if userid not in corp.members:
                    corp.members[userid] = Member(userid=userid, name=_text(row, "name", userid),
                                                  resigned=row.get("resigned") is True)
                    counts["members"] += 1
            for row in _rows(data, "contact_ways"):
                config_id = _text(row, "config_id")
                if config_id not in corp.contact_ways:
                    users = [str(u) for u in row.get("users") or []]
                    corp.contact_ways[config_id] = ContactWayState(config_id, 2, 2, users, _text(row, "state", ""))
                    counts["contact_ways"] += 1
            for row in _rows(data, "follows"):
                counts["contacts"] += self._import_follow(corp, row)
                counts["follows"] += 1
            for row in _rows(data, "chats"):
                counts["chats"] += self._import_chat(corp, row)
        return counts

    def _import_follow(self, corp: Corp, row: dict[str, Any]) -> int:
        """One follow (a contact is made too when new); 1 when the contact is new."""
        userid, external_userid = _text(row, "userid"), _text(row, "external_userid")
        corp.members.setdefault(userid, Member(userid=userid, name=userid))
        new = external_userid not in corp.contacts
        if new:
            corp.contacts[external_userid] = Contact(external_userid, _text(row, "name", ""), _text(row, "unionid", ""))
        createtime = int(row.get("createtime") or self.now() - DAY)
        corp.follows.setdefault(
            (userid, external_userid),
            Follow(userid, external_userid, createtime, state=_text(row, "state", ""), oper_userid=userid),
        )
        return int(new)

    def _import_chat(self, corp: Corp, row: dict[str, Any]) -> int:
        chat_id = _text(row, "chat_id")
        if chat_id in corp.chats:
            return 0
        owner = _text(row, "owner")
        created = int(row.get("create_time") or self.now() - DAY)
        chat = Chat(chat_id, _text(row, "name", ""), owner, created)
        chat.members[owner] = ChatMember(owner, 1, created, 1)
        for member in row.get("members") or []:
            if isinstance(member, dict):
                member_id = _text(member, "member_id")
                chat.members[member_id] = ChatMember(member_id, int(member.get("type") or 2), created, 3)
        corp.chats[chat_id] = chat
        return 1

    def import_follow(self, corp_id: str, *, userid: str, external_userid: str, name: str, unionid: str = "") -> None:
        with self.lock:
            corp = self.corp(corp_id)
            corp.members.setdefault(userid, Member(userid=userid, name=userid))
            corp.contacts.setdefault(external_userid, Contact(external_userid, name, unionid))
            corp.follows.setdefault(
                (userid, external_userid), Follow(userid, external_userid, int(self.now()) - DAY, oper_userid=userid)
            )

    # -- tag helpers (used by API and console behaviour) ----------------------------------------------------

    def _add_tags(
        self, corp: Corp, *, group_name: str, group_id: str, names: list[str], order: int = 0
    ) -> list[TagState]:
        for name in names:
            if not name or len(name) > self.limits.tag_name_max:
                raise SimError(40058, "invalid tag name")
        if group_id:
            group = corp.tag_groups.get(group_id)
            if group is None:
                raise SimError(40068, "invalid tag group id")
        else:
            if not group_name or len(group_name) > self.limits.tag_name_max:
                raise SimError(40058, "invalid group_name")
            group = next((g for g in corp.tag_groups.values() if g.name == group_name), None)
            if group is None:
                group = TagGroupState(_new_id("et", 26), group_name, order, int(self.now()))
                corp.tag_groups[group.group_id] = group
        if len(corp.tags) + len(names) > self.limits.corp_tags_max:
            raise SimError(40058, "too many corp tags")
        out = []
        for name in dict.fromkeys(names):
            existing = next((t for t in corp.tags.values() if t.group_id == group.group_id and t.name == name), None)
            if existing is None:
                existing = TagState(_new_id("et", 26), name, group.group_id, 0, int(self.now()))
                corp.tags[existing.id] = existing
            out.append(existing)
        return out

    def _delete_tags(self, corp: Corp, tag_ids: list[str]) -> None:
        doomed = set(tag_ids)
        for tag_id in doomed:
            corp.tags.pop(tag_id, None)
        for follow in corp.follows.values():
            follow.tags -= doomed
        live_groups = {t.group_id for t in corp.tags.values()}
        for group_id in [g for g in corp.tag_groups if g not in live_groups]:
            del corp.tag_groups[group_id]

    # -- the HTTP API ---------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes, host: str,
               content_type: str = "") -> tuple[int, Any]:
        """One API request: returns (HTTP status, JSON-able answer). Errors are errcodes in a 200 answer."""
        if path == "/jssdk.js":
            return 200, {"js": JSSDK_JS}
        uploads = {"/cgi-bin/media/upload": self._media_upload, "/cgi-bin/media/upload_attachment":
                   self._attachment_upload, "/cgi-bin/media/uploadimg": self._image_upload}
        if path in uploads:
            return uploads[path](query, body, content_type)
        if path.startswith("/_sim/"):
            return self._control(path, body)
        if path.startswith("/qr/"):
            return 200, {"svg": qr_svg(path[4:])}
        handler = ROUTES.get(path)
        if handler is None:
            return 404, {"errcode": 404, "errmsg": "not found"}
        try:
            payload = self._json(body) if method == "POST" else {}
            with self.lock:
                self.api_calls.append(path)
                if path == "/cgi-bin/gettoken":
                    return 200, self._gettoken(query)
                corp = self._authenticate(query)
                if path in corp.refused:
                    raise SimError(corp.refused[path], "api forbidden for this app or address")
                answer = handler(self, corp, {**query, **payload}, host)
        except SimError as exc:
            return 200, {"errcode": exc.errcode, "errmsg": exc.errmsg}
        return 200, {"errcode": 0, "errmsg": "ok", **answer}

    def _media_upload(self, query: dict[str, str], body: bytes, content_type: str) -> tuple[int, Any]:
        """POST /cgi-bin/media/upload?type=image|video|file with the file as the multipart part `media`."""
        try:
            with self.lock:
                self.api_calls.append("/cgi-bin/media/upload")
                corp = self._authenticate(query)
                kind = query.get("type", "")
                if kind not in ("image", "video", "voice", "file"):
                    raise SimError(40004, "invalid media type")
                part = _multipart_part(body, content_type, "media")
                if part is None:
                    raise SimError(41005, "media data missing")
                filename, data = part
                media_id = _new_id("3", 60)
                corp.media[media_id] = {"type": kind, "filename": filename, "size": len(data), "data": data}
                return 200, {"errcode": 0, "errmsg": "ok", "type": kind, "media_id": media_id,
                             "created_at": str(int(self.now()))}
        except SimError as exc:
            return 200, {"errcode": exc.errcode, "errmsg": exc.errmsg}

    def _attachment_upload(self, query: dict[str, str], body: bytes, content_type: str) -> tuple[int, Any]:
        """POST /cgi-bin/media/upload_attachment?media_type=image|video|file&attachment_type=1 (moments) or 2
        (product album): media a moment may carry, checked against the moment limits; valid 3 days."""
        try:
            with self.lock:
                self.api_calls.append("/cgi-bin/media/upload_attachment")
                corp = self._authenticate(query)
                kind, purpose = query.get("media_type", ""), query.get("attachment_type", "")
                if kind not in ("image", "video", "file"):
                    raise SimError(40004, "invalid media type")
                if purpose not in ("1", "2"):
                    raise SimError(40058, "invalid attachment_type")
                part = _multipart_part(body, content_type, "media")
                if part is None or not part[1]:
                    raise SimError(41005, "media data missing")
                filename, data = part
                if purpose == "1":
                    _check_moment_media(self.limits, kind, data)
                media_id = _new_id("3", 60)
                corp.media[media_id] = {"type": kind, "filename": filename, "size": len(data), "data": data,
                                        "attachment_type": int(purpose), "created_at": self.now()}
                return 200, {"errcode": 0, "errmsg": "ok", "type": kind, "media_id": media_id,
                             "created_at": str(int(self.now()))}
        except SimError as exc:
            return 200, {"errcode": exc.errcode, "errmsg": exc.errmsg}

    def _image_upload(self, query: dict[str, str], body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        """POST /cgi-bin/media/uploadimg: a jpg or png of 5 B to 2 MB kept for good; answers its URL."""
        try:
            with self.lock:
                self.api_calls.append("/cgi-bin/media/uploadimg")
                corp = self._authenticate(query)
                part = _multipart_part(body, content_type, "media")
                if part is None:
                    raise SimError(41005, "media data missing")
                filename, data = part
                if not (data.startswith(b"\x89PNG") or data.startswith(b"\xff\xd8")):
                    raise SimError(40005, "invalid file type: jpg or png only")
                if not 5 <= len(data) <= 2 * 1024 * 1024:
                    raise SimError(40006, "invalid file size")
                url = f"https://wework.qpic.cn/sim/{_new_id('i', 24)}/0"
                corp.images[url] = {"filename": filename, "size": len(data)}
                return 200, {"errcode": 0, "errmsg": "ok", "url": url}
        except SimError as exc:
            return 200, {"errcode": exc.errcode, "errmsg": exc.errmsg}

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise SimError(40058, "Warning: wrong json format.") from exc
        if not isinstance(data, dict):
            raise SimError(40058, "Warning: wrong json format.")
        return data

    def _gettoken(self, query: dict[str, str]) -> dict[str, Any]:
        corp_id, secret = query.get("corpid", ""), query.get("corpsecret", "")
        if not corp_id:
            raise SimError(41002, "corpid missing")
        if not secret:
            raise SimError(41004, "corpsecret missing")
        corp = self.corps.get(corp_id)
        if corp is None:
            raise SimError(40013, "invalid corpid")
        if secret != corp.secret:
            raise SimError(40001, "invalid credential")
        now = self.now()
        for token, (owner, expires) in self.tokens.items():
            if owner == corp_id and expires > now:
                return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": int(expires - now)}
        token = _new_id("", 64)
        self.tokens[token] = (corp_id, now + self.limits.token_ttl_s)
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.limits.token_ttl_s}

    def _authenticate(self, query: dict[str, str]) -> Corp:
        token = query.get("access_token", "")
        if not token:
            raise SimError(41001, "access_token missing")
        issued = self.tokens.get(token)
        if issued is None:
            raise SimError(40014, "invalid access_token")
        if issued[1] <= self.now():
            raise SimError(42001, "access_token expired")
        return self.corps[issued[0]]

    def _control(self, path: str, body: bytes) -> tuple[int, Any]:
        try:
            data = self._json(body)
            action = CONTROL.get(path)
            if action is None:
                return 404, {"errcode": 404, "errmsg": "no such control"}
            answer = action(self, data)
        except (SimError, KeyError) as exc:
            code = exc.errcode if isinstance(exc, SimError) else 40058
            return 400, {"errcode": code, "errmsg": str(exc)}
        statuses = self.deliver()
        return 200, {"errcode": 0, **answer, "delivered": statuses}


# ---------------------------------------------------------------------------------------------------------------
# XML and delivery


def render_xml(fields: list[tuple[str, Any]]) -> str:
    parts = ["<xml>"]
    for name, value in fields:
        if isinstance(value, list):
            items = "".join(f"<Item><![CDATA[{item}]]></Item>" for item in value)
            parts.append(f"<{name}>{items}</{name}>")
        elif isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    parts.append("</xml>")
    return "".join(parts)


def envelope(corp: Corp, plaintext: str, *, timestamp: str, nonce: str) -> PendingCallback:
    crypto = corp.crypto
    ciphertext = crypto.encrypt(plaintext)
    body = (
        f"<xml><ToUserName><![CDATA[{corp.corp_id}]]></ToUserName><AgentID><![CDATA[{corp.agent_id}]]></AgentID>"
        f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    )
    params = {"msg_signature": crypto.sign(timestamp, nonce, ciphertext), "timestamp": timestamp, "nonce": nonce}
    return PendingCallback(url=corp.callback_url, params=params, body=body.encode(), plaintext=plaintext)


Transport = Callable[[PendingCallback], int]


def http_transport(pending: PendingCallback) -> int:
    response = httpx.post(
        pending.url,
        params=pending.params,
        content=pending.body,
        headers={"Content-Type": "text/xml"},
        timeout=httpx.Timeout(5.0, connect=2.0),
    )
    return response.status_code


def _tag_fields(tag_id: str, change: str) -> list[tuple[str, Any]]:
    return [("Event", "change_external_tag"), ("Id", tag_id), ("TagType", "tag"), ("ChangeType", change)]


def _contact_fields(change: str, follow: Follow, extra: list[tuple[str, Any]] | None = None) -> list[tuple[str, Any]]:
    fields: list[tuple[str, Any]] = [
        ("Event", "change_external_contact"),
        ("ChangeType", change),
        ("UserID", follow.userid),
        ("ExternalUserID", follow.external_userid),
    ]
    return fields + [(k, v) for k, v in (extra or []) if v != ""]


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟 芳 娜 敏 静 丽 强 磊 洋 艳 勇 军 杰 娟 涛 明 超 秀英 霞 婷".split()


def random_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.5 else "")


def qr_svg(config_id: str) -> str:
    """A QR-looking picture derived from the config id (the simulator's stand-in for the platform's qr_code)."""
    rng = random.Random(config_id)  # noqa: S311
    cells = "".join(
        f'<rect x="{x}" y="{y}" width="1" height="1"/>' for x in range(21) for y in range(21) if rng.random() < 0.45
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 21 21" shape-rendering="crispEdges">{cells}</svg>'


# ---------------------------------------------------------------------------------------------------------------
# API handlers: (platform, corp, request fields, host) -> answer fields. They run under the platform lock.

Handler = Callable[[WecomPlatform, Corp, dict[str, Any], str], dict[str, Any]]


def _follow_user_json(corp: Corp, follow: Follow) -> dict[str, Any]:
    tags = []
    for tag_id in sorted(follow.tags):
        tag = corp.tags.get(tag_id)
        if tag is not None:
            group = corp.tag_groups[tag.group_id]
            tags.append({"group_name": group.name, "tag_name": tag.name, "tag_id": tag.id, "type": 1})
    return {
        "userid": follow.userid,
        "remark": follow.remark,
        "description": "",
        "createtime": follow.createtime,
        "tags": tags,
        "remark_corp_name": "",
        "remark_mobiles": [],
        "oper_userid": follow.oper_userid,
        "add_way": follow.add_way,
        "state": follow.state,
    }


def _contact_json(contact: Contact) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_userid": contact.external_userid,
        "name": contact.name,
        "type": contact.type,
        "avatar": f"https://wework.qpic.cn/sim/{contact.external_userid}/0",
        "gender": contact.gender,
    }
    if contact.unionid:
        data["unionid"] = contact.unionid
    return data


def api_get_contact(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    contact = p._contact(corp, req.get("external_userid") or None)
    follows = [f for f in corp.active_follows_of(contact.external_userid) if f.confirmed]
    if not follows:
        raise SimError(84061, "not external contact")
    offset = _cursor(req.get("cursor"))
    page = follows[offset : offset + 500]
    return {
        "external_contact": _contact_json(contact),
        "follow_user": [_follow_user_json(corp, f) for f in page],
        "next_cursor": _page(len(follows), offset, 500),
    }


def api_list_contacts(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    member = p._member(corp, req.get("userid"))
    ids = [f.external_userid for f in corp.follows.values() if f.userid == member.userid and f.active]
    return {"external_userid": ids}


def api_follow_user_list(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    return {"follow_user": sorted(m.userid for m in corp.members.values() if not m.resigned)}


def api_batch_get_by_user(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    userids = req.get("userid_list")
    if not isinstance(userids, list) or not userids:
        raise SimError(40058, "userid_list missing")
    if len(userids) > p.limits.batch_userids_max:
        raise SimError(40058, "userid_list too long")
    for userid in userids:
        p._member(corp, userid)
    limit = min(int(req.get("limit") or 50), p.limits.batch_limit_max)
    rows = sorted(
        (f for f in corp.follows.values() if f.userid in userids and f.active and f.confirmed),
        key=lambda f: (f.userid, f.createtime, f.external_userid),
    )
    offset = _cursor(req.get("cursor"))
    page = rows[offset : offset + limit]
    items = []
    for follow in page:
        info = _follow_user_json(corp, follow)
        info["tag_id"] = [t["tag_id"] for t in info.pop("tags")]
        items.append({"external_contact": _contact_json(corp.contacts[follow.external_userid]), "follow_info": info})
    return {"external_contact_list": items, "next_cursor": _page(len(rows), offset, limit)}


def _tag_group_json(corp: Corp, group: TagGroupState, only: set[str] | None = None) -> dict[str, Any]:
    tags = [t for t in corp.tags.values() if t.group_id == group.group_id and (only is None or t.id in only)]
    return {
        "group_id": group.group_id,
        "group_name": group.name,
        "create_time": group.create_time,
        "order": group.order,
        "tag": [{"id": t.id, "name": t.name, "create_time": t.create_time, "order": t.order} for t in tags],
    }


def api_get_corp_tag_list(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    group_ids = [g for g in req.get("group_id") or [] if isinstance(g, str)]
    tag_ids = [t for t in req.get("tag_id") or [] if isinstance(t, str)]
    if group_ids:
        groups = [corp.tag_groups[g] for g in group_ids if g in corp.tag_groups]
        return {"tag_group": [_tag_group_json(corp, g) for g in groups]}
    if tag_ids:
        wanted = {t for t in tag_ids if t in corp.tags}
        groups = [g for g in corp.tag_groups.values() if any(corp.tags[t].group_id == g.group_id for t in wanted)]
        return {"tag_group": [_tag_group_json(corp, g, wanted) for g in groups]}
    return {"tag_group": [_tag_group_json(corp, g) for g in corp.tag_groups.values()]}


def api_add_corp_tag(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    raw = req.get("tag")
    if not isinstance(raw, list) or not raw:
        raise SimError(40058, "tag list is empty")
    names = [str(t.get("name", "")) if isinstance(t, dict) else "" for t in raw]
    tags = p._add_tags(
        corp,
        group_name=str(req.get("group_name") or ""),
        group_id=str(req.get("group_id") or ""),
        names=names,
        order=int(req.get("order") or 0),
    )
    group = corp.tag_groups[tags[0].group_id]
    return {"tag_group": _tag_group_json(corp, group, {t.id for t in tags})}


def api_edit_corp_tag(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    target = _require_text(req, "id")
    name = req.get("name")
    if name is not None and (not isinstance(name, str) or not name or len(name) > p.limits.tag_name_max):
        raise SimError(40058, "invalid name")
    if target in corp.tags:
        tag = corp.tags[target]
        if name and any(t.name == name and t.group_id == tag.group_id and t.id != target for t in corp.tags.values()):
            raise SimError(40071, "标签名字已经存在")
        tag.name = name or tag.name
    elif target in corp.tag_groups:
        if name and any(g.name == name and g.group_id != target for g in corp.tag_groups.values()):
            raise SimError(40071, "标签名字已经存在")
        corp.tag_groups[target].name = name or corp.tag_groups[target].name
    else:
        raise SimError(40068, "invalid tagid")
    return {}


def api_del_corp_tag(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    tag_ids = [t for t in req.get("tag_id") or [] if isinstance(t, str)]
    group_ids = [g for g in req.get("group_id") or [] if isinstance(g, str)]
    if not tag_ids and not group_ids:
        raise SimError(40058, "tag_id and group_id are both empty")
    if any(t not in corp.tags for t in tag_ids) or any(g not in corp.tag_groups for g in group_ids):
        raise SimError(40068, "invalid tagid")
    doomed = set(tag_ids) | {t.id for t in corp.tags.values() if t.group_id in group_ids}
    p._delete_tags(corp, list(doomed))
    for group_id in group_ids:
        corp.tag_groups.pop(group_id, None)
    return {}


def api_mark_tag(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    member = p._member(corp, req.get("userid"))
    contact = p._contact(corp, req.get("external_userid"))
    add = [t for t in req.get("add_tag") or [] if isinstance(t, str)]
    remove = [t for t in req.get("remove_tag") or [] if isinstance(t, str)]
    if not add and not remove:
        raise SimError(40058, "add_tag and remove_tag are both empty")
    if any(t not in corp.tags for t in add + remove):
        raise SimError(40068, "invalid tagid")
    follow = corp.follows.get((member.userid, contact.external_userid))
    if follow is None or not follow.active:
        raise SimError(84061, "not external contact")
    follow.tags |= set(add)
    follow.tags -= set(remove)
    return {}


def _check_way_users(p: WecomPlatform, corp: Corp, users: Any, way_type: int) -> list[str]:
    if not isinstance(users, list) or not users:
        raise SimError(40058, "user is empty")
    if way_type == 1 and len(users) != 1:
        raise SimError(40058, "a single contact way has exactly one user")
    if len(users) > p.limits.contact_way_users_max:
        raise SimError(40058, "too many users")
    return [p._member(corp, u).userid for u in users]


def api_add_contact_way(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    way_type, scene = req.get("type"), req.get("scene")
    if way_type not in (1, 2) or scene not in (1, 2):
        raise SimError(40058, "invalid type or scene")
    state, remark = str(req.get("state") or ""), str(req.get("remark") or "")
    if len(state) > p.limits.state_max or len(remark) > p.limits.remark_max:
        raise SimError(40058, "state or remark too long")
    users = _check_way_users(p, corp, req.get("user"), way_type)
    config_id = _new_id("", 32).lower()
    qr_code = f"http://{host}/qr/{config_id}" if scene == 2 else ""
    corp.contact_ways[config_id] = ContactWayState(
        config_id, way_type, scene, users, state, remark, bool(req.get("skip_verify", True)), qr_code
    )
    return {"config_id": config_id, **({"qr_code": qr_code} if qr_code else {})}


def _way(corp: Corp, req: dict[str, Any]) -> ContactWayState:
    way = corp.contact_ways.get(str(req.get("config_id") or ""))
    if way is None:
        raise SimError(40058, "invalid config_id")
    return way


def api_get_contact_way(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    way = _way(corp, req)
    return {
        "contact_way": {
            "config_id": way.config_id,
            "type": way.type,
            "scene": way.scene,
            "remark": way.remark,
            "skip_verify": way.skip_verify,
            "state": way.state,
            "user": way.users,
            "qr_code": way.qr_code,
        }
    }


def api_update_contact_way(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    way = _way(corp, req)
    if "user" in req:
        way.users = _check_way_users(p, corp, req.get("user"), way.type)
    if "remark" in req:
        way.remark = str(req.get("remark") or "")[: p.limits.remark_max]
    if "skip_verify" in req:
        way.skip_verify = bool(req.get("skip_verify"))
    if "state" in req:
        state = str(req.get("state") or "")
        if len(state) > p.limits.state_max:
            raise SimError(40058, "state too long")
        way.state = state
    return {}


def api_del_contact_way(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    del corp.contact_ways[_way(corp, req).config_id]
    return {}


def _join_way_fields(p: WecomPlatform, corp: Corp, req: dict[str, Any]) -> dict[str, Any]:
    scene = req.get("scene")
    if scene not in (1, 2):
        raise SimError(40058, "invalid scene")
    chats = req.get("chat_id_list")
    if not isinstance(chats, list) or not chats or len(chats) > p.limits.join_way_chats_max:
        raise SimError(40058, f"chat_id_list must list 1-{p.limits.join_way_chats_max} groups")
    for chat_id in chats:
        chat = corp.chats.get(str(chat_id))
        if chat is None or chat.dismissed:
            raise SimError(40058, f"invalid chat_id {chat_id}")
    state = str(req.get("state") or "")
    if len(state) > p.limits.state_max:
        raise SimError(40058, "state too long")
    base_name = str(req.get("room_base_name") or "")
    if len(base_name) > p.limits.join_way_room_base_name_max:
        raise SimError(40058, "room_base_name too long")
    auto = req.get("auto_create_room", 1)
    return {
        "scene": scene,
        "chat_id_list": [str(c) for c in chats],
        "remark": str(req.get("remark") or "")[: p.limits.remark_max],
        "auto_create_room": 1 if auto in (1, "1", True) else 0,
        "room_base_name": base_name,
        "room_base_id": int(req.get("room_base_id") or 0),
        "state": state,
    }


def api_add_join_way(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    fields = _join_way_fields(p, corp, req)
    config_id = _new_id("", 32).lower()
    qr_code = f"http://{host}/qr/{config_id}" if fields["scene"] == 2 else ""
    corp.join_ways[config_id] = JoinWayState(config_id=config_id, qr_code=qr_code, **fields)
    return {"config_id": config_id}


def _join_way(corp: Corp, req: dict[str, Any]) -> JoinWayState:
    way = corp.join_ways.get(str(req.get("config_id") or ""))
    if way is None:
        raise SimError(40058, "invalid config_id")
    return way


def api_get_join_way(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    way = _join_way(corp, req)
    answer: dict[str, Any] = {
        "config_id": way.config_id, "scene": way.scene, "remark": way.remark,
        "auto_create_room": way.auto_create_room, "room_base_name": way.room_base_name,
        "room_base_id": way.room_base_id, "chat_id_list": list(way.chat_id_list), "state": way.state,
    }
    if way.scene == 2:
        answer["qr_code"] = way.qr_code
    return {"join_way": answer}


def api_update_join_way(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """Overwrites the whole config (every field not sent falls back to its default)."""
    way = _join_way(corp, req)
    fields = _join_way_fields(p, corp, req)
    for name, value in fields.items():
        setattr(way, name, value)
    return {}


def api_del_join_way(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    del corp.join_ways[_join_way(corp, req).config_id]
    return {}


def _check_attachments(p: WecomPlatform, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > p.limits.attachments_max:
        raise SimError(40058, "invalid attachments size")
    for item in raw:
        if not isinstance(item, dict) or item.get("msgtype") not in ("image", "link", "miniprogram", "video", "file"):
            raise SimError(40058, "invalid attachments msgtype")
    return list(raw)


def api_send_welcome_msg(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    code_value = req.get("welcome_code")
    if not code_value:
        raise SimError(41049, "missing welcome_code")
    code = corp.welcome_codes.get(str(code_value))
    if code is None or p.now() - code.issued_at > p.limits.welcome_code_ttl_s:
        raise SimError(41050, "welcome_code expired or invalid")
    if code.used:
        raise SimError(41051, "welcome_code already used")
    text = (req.get("text") or {}).get("content", "") if isinstance(req.get("text"), dict) else ""
    attachments = _check_attachments(p, req.get("attachments"))
    if not text and not attachments:
        raise SimError(40058, "text and attachments are both empty")
    code.used = True
    corp.welcomes.append(WelcomeSent(code.code, code.userid, code.external_userid, str(text), attachments, p.now()))
    return {}


def _mass_recipients(p: WecomPlatform, corp: Corp, req: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    chat_type = str(req.get("chat_type") or "single")
    sender = str(req.get("sender") or "")
    if sender:
        p._member(corp, sender)  # an unknown or resigned member is 40003
    if chat_type == "group":
        if not sender:
            raise SimError(40058, "sender is required for group sends")
        chats = [c for c in req.get("chat_id_list") or [] if isinstance(c, str)]
        if len(chats) > p.limits.mass_max_chats:
            raise SimError(40058, "too many chats")
        return chat_type, chats or [c.chat_id for c in corp.chats.values() if c.owner == sender], []
    wanted = [e for e in req.get("external_userid") or [] if isinstance(e, str)]
    if len(wanted) > p.limits.mass_max_recipients:
        raise SimError(40058, "too many external_userid")
    if not wanted and not sender:
        raise SimError(40058, "external_userid and sender are both empty")
    if not wanted and sender:
        wanted = [f.external_userid for f in corp.follows.values() if f.userid == sender and f.active]
    fail = [e for e in wanted if e not in corp.contacts]
    return chat_type, [e for e in wanted if e in corp.contacts], fail


def api_add_msg_template(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    chat_type, recipients, fail = _mass_recipients(p, corp, req)
    text = (req.get("text") or {}).get("content", "") if isinstance(req.get("text"), dict) else ""
    if len(str(text).encode()) > p.limits.mass_text_max_bytes:
        raise SimError(40058, "text too long")
    attachments = _check_attachments(p, req.get("attachments"))
    if not text and not attachments:
        raise SimError(40058, "text and attachments are both empty")
    if not recipients:
        raise SimError(41048, "no sendable customer")
    message = MassMessage(
        _new_id("msg", 24), chat_type, str(req.get("sender") or ""), str(text), recipients, p.now(),
        attachments=attachments,
    )
    for recipient in recipients:
        sender = message.sender
        if chat_type == "single" and not sender:
            follows = corp.active_follows_of(recipient)
            sender = follows[0].userid if follows else ""
        message.results[recipient] = (sender, 0, 0)
    corp.messages[message.msgid] = message
    return {"fail_list": fail, "msgid": message.msgid}


def _limit(req: dict[str, Any], *, default: int, most: int) -> int:
    """A page size: absent means the default, over the maximum is treated as the maximum."""
    try:
        value = int(req.get("limit") or default)
    except (TypeError, ValueError) as exc:
        raise SimError(40058, "invalid limit") from exc
    return max(1, min(value, most))


def _dispatched_message(p: WecomPlatform, corp: Corp, req: dict[str, Any]) -> MassMessage:
    message = corp.messages.get(str(req.get("msgid") or ""))
    if message is None:
        raise SimError(40058, "invalid msgid")
    if p.now() - message.created_at < p.limits.mass_dispatch_s:
        raise SimError(41063, "mass message is still being dispatched")
    return message


def api_get_groupmsg_list_v2(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """Messages created in [start_time, end_time] (a span of at most a month). API-created messages are corp
    messages (create_type 0) and carry no creator, so a creator filter or filter_type 1 (personal) excludes them."""
    chat_type = str(req.get("chat_type") or "single")
    start, end = req.get("start_time"), req.get("end_time")
    if not isinstance(start, int) or not isinstance(end, int):
        raise SimError(40058, "start_time and end_time are required")
    if end < start or end - start > p.limits.groupmsg_list_span_s:
        raise SimError(40058, "the time span is at most one month")
    limit = _limit(req, default=50, most=p.limits.groupmsg_list_limit_max)
    personal_only = int(req.get("filter_type", 2) or 0) == 1 or bool(req.get("creator"))
    found = [
        m
        for m in sorted(corp.messages.values(), key=lambda m: m.created_at)
        if m.chat_type == chat_type and start <= m.created_at <= end and not personal_only
    ]
    offset = _cursor(req.get("cursor"))
    rows = [
        {
            "msgid": m.msgid,
            "create_time": int(m.created_at),
            "create_type": 0,
            "text": {"content": m.text},
            "attachments": m.attachments,
        }
        for m in found[offset : offset + limit]
    ]
    return {"group_msg_list": rows, "next_cursor": _page(len(found), offset, limit)}


def api_get_groupmsg_task(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """One row per sender: 0 not sent, 2 sent (the simulator delivers as the sender confirms, so 1 is not seen)."""
    message = _dispatched_message(p, corp, req)
    limit = _limit(req, default=500, most=p.limits.groupmsg_page_limit_max)
    senders = list(dict.fromkeys(sender for sender, _status, _time in message.results.values()))
    rows = [
        {
            "userid": sender,
            "status": 2 if message.confirmed else 0,
            "send_time": int(message.confirmed_at) if message.confirmed else 0,
        }
        for sender in senders
    ]
    offset = _cursor(req.get("cursor"))
    return {"task_list": rows[offset : offset + limit], "next_cursor": _page(len(rows), offset, limit)}


def api_get_groupmsg_send_result(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    message = _dispatched_message(p, corp, req)
    userid = str(req.get("userid") or "")
    limit = _limit(req, default=500, most=p.limits.groupmsg_page_limit_max)
    rows = []
    for recipient, (sender, status, sent_at) in message.results.items():
        if userid and sender != userid:
            continue
        if message.chat_type == "group" and status != 1:
            continue
        key = "chat_id" if message.chat_type == "group" else "external_userid"
        rows.append({key: recipient, "userid": sender, "status": status, "send_time": sent_at})
    offset = _cursor(req.get("cursor"))
    return {"send_list": rows[offset : offset + limit], "next_cursor": _page(len(rows), offset, limit)}


_MOMENT_NEEDS = {"image": ("media_id",), "video": ("media_id",), "link": ("url", "media_id")}


def _image_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from a PNG or JPEG header, read here byte by byte (the platform accepts only these)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return "png", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker, length = data[at + 1], int.from_bytes(data[at + 2:at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return "jpeg", int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
        at += 2 + length
    return None


def _check_moment_media(limits: Limits, kind: str, data: bytes) -> None:
    if kind == "image":
        found = _image_size(data)
        if found is None:
            raise SimError(40005, "invalid file type: a moment image is JPG or PNG")
        if len(data) > limits.attachment_image_max_bytes:
            raise SimError(40009, "invalid image size")
        if found[1] * found[2] > limits.attachment_image_max_pixels:
            raise SimError(40009, "invalid image size: more than 1555200 pixels")
    elif kind == "video":
        if data[4:8] != b"ftyp":
            raise SimError(40005, "invalid file type: a moment video is MP4")
        if len(data) > limits.attachment_video_max_bytes:
            raise SimError(40011, "invalid video size")


_MOMENT_NEEDS = {"image": ("media_id",), "video": ("media_id",), "link": ("url", "media_id")}


def _check_moment_attachments(p: WecomPlatform, corp: Corp, raw: Any) -> list[dict[str, Any]]:
    """≤9 images, or 1 video, or 1 link; never mixed (wecom-api.md, Moments); every media_id one that
    upload_attachment gave for moments (the link's is its cover image), still valid."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SimError(40058, "invalid attachments size")
    kinds = {a.get("msgtype") if isinstance(a, dict) else None for a in raw}
    if not kinds <= set(_MOMENT_NEEDS) or len(kinds) > 1:
        raise SimError(40058, "invalid attachments msgtype")
    if len(raw) > (p.limits.moment_images_max if kinds <= {"image"} else 1):
        raise SimError(40058, "invalid attachments size")
    for item in raw:
        kind = item["msgtype"]
        body = item.get(kind)
        if not isinstance(body, dict) or any(not body.get(key) for key in _MOMENT_NEEDS[kind]):
            raise SimError(40058, f"invalid {kind}")
        if kind == "link" and len(str(body.get("title", "")).encode()) > p.limits.moment_link_title_max_bytes:
            raise SimError(40058, "invalid link title size")
        media = corp.media.get(str(body["media_id"]))
        wanted = "video" if kind == "video" else "image"
        if (media is None or media.get("attachment_type") != 1 or media["type"] != wanted
                or p.now() - media["created_at"] > 3 * DAY):
            raise SimError(40007, "invalid media_id")
    return list(raw)


def _visible_range(p: WecomPlatform, raw: Any) -> tuple[list[str], list[str]]:
    if raw is None:
        return [], []
    if not isinstance(raw, dict):
        raise SimError(40058, "invalid visible_range")
    users = (raw.get("sender_list") or {}).get("user_list") or []
    tags = (raw.get("external_contact_list") or {}).get("tag_list") or []
    if not isinstance(users, list) or not isinstance(tags, list) or len(users) > p.limits.moment_senders_max:
        raise SimError(40058, "invalid visible_range")
    return [str(u) for u in users], [str(t) for t in tags]


def api_add_moment_task(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    now = p.now()
    corp.moment_calls = [t for t in corp.moment_calls if now - t < 60]
    if len(corp.moment_calls) >= p.limits.moments_per_minute:
        raise SimError(45009, "api freq out of limit")
    text = (req.get("text") or {}).get("content", "") if isinstance(req.get("text"), dict) else ""
    if len(str(text)) > p.limits.moment_text_max:
        raise SimError(40058, "invalid text size")
    attachments = _check_moment_attachments(p, corp, req.get("attachments"))
    if not text and not attachments:
        raise SimError(40058, "text and attachments are both empty")
    users, tags = _visible_range(p, req.get("visible_range"))
    corp.moment_calls.append(now)
    jobid = _new_id("job", 24)
    corp.moments[jobid] = {
        "moment_id": _new_id("mom", 24),
        "created_at": now,
        "text": str(text),
        "attachments": attachments,
        "users": users,
        "tags": tags,
        "published": {},  # userid -> when they posted it in the client
        "comments": [],  # {"sender", "external_userid" | "userid", "create_time"}
        "likes": [],
    }
    return {"jobid": jobid}


def api_get_moment_task_result(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    job = corp.moments.get(str(req.get("jobid") or ""))
    if job is None or p.now() - job["created_at"] > p.limits.moment_job_ttl_s:
        raise SimError(40058, "invalid jobid")
    if p.now() - job["created_at"] < p.limits.moment_processing_s:
        return {"status": 2, "type": "add_moment_task", "result": {}}
    invalid_users = [
        u for u in job.get("users", []) if u not in corp.members or corp.members[u].resigned
    ]
    invalid_tags = [t for t in job.get("tags", []) if t not in corp.tags]
    return {
        "status": 3,
        "type": "add_moment_task",
        "result": {
            "errcode": 0,
            "errmsg": "ok",
            "moment_id": job["moment_id"],
            "invalid_sender_list": {"user_list": invalid_users, "department_list": []},
            "invalid_external_contact_list": {"tag_list": invalid_tags},
        },
    }


def _moment(corp: Corp, moment_id: Any) -> dict[str, Any]:
    if not moment_id:
        raise SimError(41059, "missing moment_id")
    for job in corp.moments.values():
        if job["moment_id"] == moment_id:
            return job
    raise SimError(41060, "invalid moment_id")


def _moment_senders(corp: Corp, job: dict[str, Any]) -> list[str]:
    """Who is asked to post it: the listed members, or (no list) every member in service."""
    users = job.get("users") or sorted(u for u, m in corp.members.items() if not m.resigned)
    return [u for u in users if u in corp.members and not corp.members[u].resigned]


def api_get_moment_task(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """Per member: published (1) or not yet (0); `limit` ≤1000 (default 500), cursor paging."""
    job = _moment(corp, req.get("moment_id"))
    limit = req.get("limit", 500)
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise SimError(40058, "limit must be 1-1000")
    cursor = str(req.get("cursor") or "0")
    start = int(cursor) if cursor.isdigit() else 0
    senders = _moment_senders(corp, job)
    page = senders[start:start + limit]
    published = job.get("published", {})
    return {
        "task_list": [{"userid": u, "publish_status": 1 if u in published else 0} for u in page],
        "next_cursor": str(start + limit) if start + limit < len(senders) else "",
    }


def api_get_moment_comments(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """The comments and likes on one member's copy of the moment (customers: external_userid; colleagues: userid)."""
    job = _moment(corp, req.get("moment_id"))
    userid = str(req.get("userid") or "")
    if userid not in _moment_senders(corp, job):
        raise SimError(41061, "moment not posted by this userid")
    if userid not in job.get("published", {}):
        raise SimError(41062, "the member has not posted this moment yet")

    def rows(kind: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "sender"} for r in job.get(kind, []) if r["sender"] == userid]

    return {"comment_list": rows("comments"), "like_list": rows("likes")}


def api_groupchat_list(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    limit = req.get("limit")
    if not isinstance(limit, int) or not 1 <= limit <= p.limits.groupchat_limit_max:
        raise SimError(40058, "limit must be 1-1000")
    owners = (req.get("owner_filter") or {}).get("userid_list") or []
    chats = [c for c in corp.chats.values() if not c.dismissed and (not owners or c.owner in owners)]
    status_filter = int(req.get("status_filter") or 0)
    resigned = {m.userid for m in corp.members.values() if m.resigned}
    if status_filter == 1:
        chats = [c for c in chats if c.owner in resigned]
    offset = _cursor(req.get("cursor"))
    page = chats[offset : offset + limit]
    rows = [{"chat_id": c.chat_id, "status": 1 if c.owner in resigned else 0} for c in page]
    return {"group_chat_list": rows, "next_cursor": _page(len(chats), offset, limit)}


def api_groupchat_get(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    chat = corp.chats.get(str(req.get("chat_id") or ""))
    if chat is None or chat.dismissed:
        raise SimError(40058, "invalid chat_id")
    need_name = req.get("need_name") == 1
    members = []
    for m in chat.members.values():
        row: dict[str, Any] = {
            "userid": m.member_id,
            "type": m.type,
            "join_time": m.join_time,
            "join_scene": m.join_scene,
            "invitor": {"userid": m.invitor} if m.invitor else {},
            "group_nickname": "",
        }
        if m.state:
            row["state"] = m.state
        contact = corp.contacts.get(m.member_id)
        if contact is not None and contact.unionid:
            row["unionid"] = contact.unionid
        if need_name:
            staff = corp.members.get(m.member_id, Member(m.member_id))
            row["name"] = contact.name if contact is not None else staff.name
        members.append(row)
    return {
        "group_chat": {
            "chat_id": chat.chat_id,
            "name": chat.name,
            "owner": chat.owner,
            "create_time": chat.create_time,
            "notice": chat.notice,
            "member_list": members,
            "admin_list": [{"userid": a} for a in chat.admins],
        }
    }


def _check_welcome_image(p: WecomPlatform, corp: Corp, fields: dict[str, str]) -> None:
    if not fields.get("media_id") and not fields.get("pic_url"):
        raise SimError(40058, "image needs media_id or pic_url")
    if fields.get("media_id") and fields["media_id"] not in corp.media:
        raise SimError(40007, "invalid media_id")


def _check_welcome_link(p: WecomPlatform, corp: Corp, fields: dict[str, str]) -> None:
    if not fields.get("title") or not fields.get("url"):
        raise SimError(40058, "link needs title and url")
    if len(fields["title"].encode()) > p.limits.group_welcome_link_title_max:
        raise SimError(40058, "link.title too long")
    if len(fields.get("desc", "").encode()) > p.limits.group_welcome_link_desc_max:
        raise SimError(40058, "link.desc too long")


def _check_welcome_miniprogram(p: WecomPlatform, corp: Corp, fields: dict[str, str]) -> None:
    if any(not fields.get(k) for k in ("title", "pic_media_id", "appid", "page")):
        raise SimError(40058, "miniprogram needs title, pic_media_id, appid and page")
    if len(fields["title"].encode()) > p.limits.group_welcome_mp_title_max:
        raise SimError(40058, "miniprogram.title too long")
    if fields["pic_media_id"] not in corp.media:
        raise SimError(40007, "invalid pic_media_id")


_WELCOME_CHECKS = {"image": _check_welcome_image, "link": _check_welcome_link,
                   "miniprogram": _check_welcome_miniprogram}  # in the platform's order of preference


def _welcome_template_fields(p: WecomPlatform, corp: Corp, req: dict[str, Any], text_max: int
                             ) -> tuple[str, dict[str, Any]]:
    """The text and the one attachment the platform keeps (image > link > miniprogram); bad fields are 40058."""
    raw_text = req.get("text")
    text = str(raw_text.get("content") or "") if isinstance(raw_text, dict) else ""
    if len(text.encode()) > text_max:
        raise SimError(40058, f"text.content exceeds {text_max} bytes")
    for kind, check in _WELCOME_CHECKS.items():
        body = req.get(kind)
        if isinstance(body, dict) and body:
            fields = {str(k): str(v) for k, v in body.items()}
            check(p, corp, fields)
            return text, {kind: fields}
    if not text:
        raise SimError(40063, "text and attachments are both empty")
    return text, {}


def _welcome_template(corp: Corp, req: dict[str, Any], *, own: bool) -> GroupWelcomeTemplateState:
    found = corp.group_welcome_templates.get(str(req.get("template_id") or ""))
    if found is None:
        raise SimError(40058, "invalid template_id")
    if own and found.creator != "api":
        raise SimError(41058, "template not created by this app")
    return found


def api_group_welcome_add(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    if len(corp.group_welcome_templates) >= p.limits.group_welcome_templates_max:
        raise SimError(41055, "group welcome template count reached the limit")
    text, attachment = _welcome_template_fields(p, corp, req, p.limits.group_welcome_add_text_max)
    template_id = "msg" + _new_id("", 28)
    notify = 0 if req.get("notify") in (0, "0", False) else 1
    corp.group_welcome_templates[template_id] = GroupWelcomeTemplateState(template_id, text, attachment,
                                                                          notify=notify)
    return {"template_id": template_id}


def api_group_welcome_edit(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    found = _welcome_template(corp, req, own=True)
    found.text, found.attachment = _welcome_template_fields(p, corp, req, p.limits.group_welcome_edit_text_max)
    return {}


def api_group_welcome_get(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    found = _welcome_template(corp, req, own=False)
    return {"text": {"content": found.text}, **found.attachment}


def api_group_welcome_del(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    del corp.group_welcome_templates[_welcome_template(corp, req, own=True).template_id]
    return {}


def api_groupchat_transfer(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """groupchat/transfer: groups whose owner resigned go to `new_owner`; per-group refusals in failed_chat_list
    (wecom-jssdk-sidebar-groups.md §11). As with every API change, no callback follows."""
    chat_ids = req.get("chat_id_list")
    if not isinstance(chat_ids, list) or not 1 <= len(chat_ids) <= p.limits.transfer_batch_max:
        raise SimError(40058, "chat_id_list must list 1-100 groups")
    new_owner = _check_takeover(p, corp, req.get("new_owner"))
    if new_owner.resigned:
        raise SimError(60111, "new_owner has resigned")
    resigned = {m.userid for m in corp.members.values() if m.resigned}
    failed = []
    for raw in chat_ids:
        chat = corp.chats.get(str(raw))
        errcode, errmsg = 0, "ok"
        if chat is None or chat.dismissed:
            errcode, errmsg = 90501, "not a customer group"
        elif chat.owner == new_owner.userid:
            errcode, errmsg = 90504, "new owner is the current owner"
        elif chat.owner not in resigned:
            errcode, errmsg = 90500, "the owner has not resigned"
        elif chat.needs_confirm:
            errcode, errmsg = 90503, "group full with 99 WeChat members: confirm in the client first"
        if errcode:
            failed.append({"chat_id": str(raw), "errcode": errcode, "errmsg": errmsg})
            continue
        assert chat is not None
        chat.owner = new_owner.userid
        if new_owner.userid not in chat.members:
            chat.members[new_owner.userid] = ChatMember(new_owner.userid, 1, int(p.now()), 1)
    return {"failed_chat_list": failed}


def _check_takeover(p: WecomPlatform, corp: Corp, userid: Any) -> Member:
    member = p._member(corp, userid)
    if not member.activated:
        raise SimError(41054, "user not activated")
    if not member.verified:
        raise SimError(40098, "member not real-name verified")
    return member


def _transfer_one(p: WecomPlatform, corp: Corp, handover: str, takeover: str, ext: str, resigned: bool) -> int:
    follow = corp.follows.get((handover, ext))
    if ext not in corp.contacts:
        return 40096
    if follow is None or not follow.active:
        return 84061
    if any(t.external_userid == ext and t.status == 2 for t in corp.transfers):
        return 40129
    now = p.now()
    if not resigned:
        recent = [
            t for t in corp.transfers
            if t.external_userid == ext and not t.resigned and now - t.started_at < p.limits.transfer_window_s
        ]
        if len(recent) >= p.limits.transfers_per_window:
            return p.limits.transfer_too_often_errcode
    corp.transfers.append(Transfer(handover, takeover, ext, resigned, now, now + p.limits.transfer_delay_s))
    return 0


def _transfer(p: WecomPlatform, corp: Corp, req: dict[str, Any], resigned: bool) -> dict[str, Any]:
    handover_id = req.get("handover_userid")
    if resigned:
        handover = corp.members.get(str(handover_id))
        if handover is None:
            raise SimError(40003, "invalid handover_userid")
        if not handover.resigned:
            raise SimError(40097, "handover member is not resigned")
    else:
        handover = p._member(corp, handover_id)
    takeover = _check_takeover(p, corp, req.get("takeover_userid"))
    customers = req.get("external_userid")
    if not isinstance(customers, list) or not customers or len(customers) > p.limits.transfer_batch_max:
        raise SimError(40058, "external_userid must list 1-100 customers")
    message = req.get("transfer_success_msg")
    if isinstance(message, str) and len(message) > p.limits.transfer_msg_max:
        raise SimError(40058, "transfer_success_msg too long")
    rows = [
        {
            "external_userid": ext,
            "errcode": _transfer_one(p, corp, handover.userid, takeover.userid, str(ext), resigned),
        }
        for ext in customers
    ]
    return {"customer": rows}


def api_transfer_customer(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    return _transfer(p, corp, req, resigned=False)


def api_resigned_transfer_customer(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    return _transfer(p, corp, req, resigned=True)


def _transfer_result(p: WecomPlatform, corp: Corp, req: dict[str, Any], resigned: bool) -> dict[str, Any]:
    handover, takeover = str(req.get("handover_userid") or ""), str(req.get("takeover_userid") or "")
    if not handover or not takeover:
        raise SimError(41009, "missing handover_userid or takeover_userid")
    p.process_due()
    latest: dict[str, Transfer] = {}
    for t in corp.transfers:
        if t.handover == handover and t.takeover == takeover and t.resigned == resigned:
            latest[t.external_userid] = t
    rows = [
        {"external_userid": t.external_userid, "status": t.status, "takeover_time": int(t.takeover_time)}
        for t in latest.values()
    ]
    offset = _cursor(req.get("cursor"))
    return {"customer": rows[offset : offset + 1000], "next_cursor": _page(len(rows), offset, 1000)}


def api_transfer_result(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    return _transfer_result(p, corp, req, resigned=False)


def api_resigned_transfer_result(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    return _transfer_result(p, corp, req, resigned=True)


def api_get_jsapi_ticket(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    return {"ticket": corp.jsapi_ticket, "expires_in": 7200}


def api_get_agent_ticket(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    if req.get("type") != "agent_config":
        raise SimError(91040, "invalid ticket type")
    return {"ticket": corp.agent_ticket, "expires_in": 7200}


def api_user_list_id(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """POST /cgi-bin/user/list_id (the contacts API): members' userids, paged by cursor."""
    offset, limit = _cursor(req.get("cursor")), max(1, min(int(req.get("limit") or 10000), 10000))
    ids = sorted(corp.members)
    return {"next_cursor": _page(len(ids), offset, limit),
            "dept_user": [{"userid": userid, "department": 1} for userid in ids[offset:offset + limit]]}


# -- the address book (通讯录) and web sign-in ------------------------------------------------------------------


def _dept_id(raw: Any, *, default: int | None = None) -> int | None:
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise SimError(40058, "invalid department id") from exc


def _subtree(corp: Corp, root: int) -> list[Department]:
    found, todo = [], [root]
    while todo:
        current = todo.pop(0)
        dept = corp.departments.get(current)
        if dept is None:
            continue
        found.append(dept)
        todo.extend(sorted(d.id for d in corp.departments.values() if d.parentid == current))
    return found


def api_department_list(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """GET /cgi-bin/department/list?id=: the department and all below it (the whole tree without id)."""
    root = _dept_id(req.get("id"), default=1) or 1
    if root not in corp.departments:
        raise SimError(60003, "department not found")
    return {"department": [{"id": d.id, "name": d.name, "parentid": d.parentid, "order": d.order,
                            "department_leader": []} for d in _subtree(corp, root)]}


def _main_department(member: Member) -> int:
    return member.main_department or (member.department[0] if member.department else 1)


def api_user_list(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """GET /cgi-bin/user/list?department_id=&fetch_child=: the members of a department (and of those below it when
    fetch_child=1). Deleted members are gone from the address book; disabled ones answer status 2."""
    dept_id = _dept_id(req.get("department_id"))
    if dept_id is None:
        raise SimError(40058, "missing department_id")
    if dept_id not in corp.departments:
        raise SimError(60003, "department not found")
    wanted = {d.id for d in _subtree(corp, dept_id)} if str(req.get("fetch_child", "0")) == "1" else {dept_id}
    users = [
        {"userid": m.userid, "name": m.name, "department": list(m.department), "main_department": _main_department(m),
         "mobile": m.mobile, "status": 2 if m.disabled else (1 if m.activated else 4)}
        for m in sorted(corp.members.values(), key=lambda m: m.userid)
        if not m.resigned and wanted.intersection(m.department)
    ]
    return {"userlist": users}


def api_auth_getuserinfo(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """GET /cgi-bin/auth/getuserinfo?code=: who signed in. A code is single-use, lives 5 minutes and belongs to the
    corp it was issued for (40029 otherwise)."""
    code = corp.oauth_codes.get(str(req.get("code") or ""))
    if code is None or code.used or p.now() - code.issued_at > 300:
        raise SimError(40029, "invalid code")
    code.used = True
    member = corp.members.get(code.userid)
    if member is None or member.resigned:
        raise SimError(46004, "user no exist")
    return {"userid": member.userid, "user_ticket": _new_id("", 32), "expires_in": 1800}


def sso_login(p: WecomPlatform, query: dict[str, str], *, in_client: bool = False,
              ) -> tuple[str, list[tuple[str, str]], bytes]:
    """GET /wwlogin/sso/login (the web sign-in page a staff member scans with WeCom): with `userid` in the query it
    behaves as if that member confirmed on their phone and redirects to redirect_uri with a code and the state;
    without, it lists the corp's members to pick from.

    GET /connect/oauth2/authorize (`in_client`: the in-app authorisation a page opened inside the WeCom client
    starts, response_type=code, scope snsapi_base): silent, for the member using the client, who is the one whose
    chat is open (`/_sim/open_chat`)."""
    from html import escape
    from urllib.parse import urlencode

    with p.lock:
        corp = p.corps.get(query.get("appid", ""))
        redirect_uri = query.get("redirect_uri", "")
        if corp is None or not redirect_uri.startswith(("http://", "https://")):
            return "400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")], b"invalid appid or redirect_uri"
        if corp.agent_id and query.get("agentid") != corp.agent_id:
            return "400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")], b"invalid agentid"
        userid = query.get("userid", "")
        if in_client:
            if query.get("response_type") != "code" or query.get("scope") not in ("snsapi_base", "snsapi_privateinfo"):
                return "400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")], b"invalid scope"
            if not userid and corp.open_chat is not None:
                userid = corp.open_chat[0]
        if userid:
            member = corp.members.get(userid)
            if member is None or member.resigned:
                return "400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")], b"no such member"
            code = _new_id("", 32)
            corp.oauth_codes[code] = OAuthCode(userid=userid, issued_at=p.now())
            sep = "&" if "?" in redirect_uri else "?"
            target = redirect_uri + sep + urlencode({"code": code, "state": query.get("state", "")})
            return "302 Found", [("Location", target)], b""
        links = "".join(
            f'<li><a href="?{escape(urlencode({**query, "userid": m.userid}))}">{escape(m.name)} ({escape(m.userid)})'
            "</a></li>"
            for m in sorted(corp.members.values(), key=lambda m: m.userid) if not m.resigned
        )
        page = (f"<!doctype html><meta charset=utf-8><title>企业微信登录</title><h1>企业微信扫码登录 (simulator)</h1>"
                f"<p>{escape(corp.corp_id)}</p><ul id=members>{links}</ul>")
        return "200 OK", [("Content-Type", "text/html; charset=utf-8")], page.encode()


_EC = "/cgi-bin/externalcontact"
def api_message_send(p: WecomPlatform, corp: Corp, req: dict[str, Any], host: str) -> dict[str, Any]:
    """message/send, text only: the app's members named in touser ("|"-separated) get it; unknown ones are listed
    in invaliduser, and when nobody is left the call fails with 81013."""
    if str(req.get("agentid", "")) != corp.agent_id:
        raise SimError(40056, "invalid agentid")
    if req.get("msgtype") != "text":
        raise SimError(40008, "invalid message type")
    content = str((req.get("text") or {}).get("content", "")) if isinstance(req.get("text"), dict) else ""
    if not content or len(content.encode()) > 2048:
        raise SimError(44004 if not content else 45002, "text content empty or too long")
    named = [u for u in str(req.get("touser", "")).split("|") if u]
    valid = [u for u in named if u in corp.members]
    invalid = [u for u in named if u not in corp.members]
    if not valid:
        raise SimError(81013, "user & party & tag all invalid")
    corp.app_messages.append({"touser": valid, "content": content, "at": int(p.now())})
    return {"invaliduser": "|".join(invalid), "msgid": _new_id("m", 20)}


ROUTES: dict[str, Handler] = {
    "/cgi-bin/gettoken": lambda p, c, r, h: {},
    "/cgi-bin/message/send": api_message_send,
    "/cgi-bin/get_jsapi_ticket": api_get_jsapi_ticket,
    "/cgi-bin/department/list": api_department_list,
    "/cgi-bin/user/list": api_user_list,
    "/cgi-bin/auth/getuserinfo": api_auth_getuserinfo,
    "/cgi-bin/ticket/get": api_get_agent_ticket,
    f"{_EC}/get": api_get_contact,
    f"{_EC}/list": api_list_contacts,
    f"{_EC}/get_follow_user_list": api_follow_user_list,
    f"{_EC}/batch/get_by_user": api_batch_get_by_user,
    f"{_EC}/get_corp_tag_list": api_get_corp_tag_list,
    f"{_EC}/add_corp_tag": api_add_corp_tag,
    f"{_EC}/edit_corp_tag": api_edit_corp_tag,
    f"{_EC}/del_corp_tag": api_del_corp_tag,
    f"{_EC}/mark_tag": api_mark_tag,
    f"{_EC}/add_contact_way": api_add_contact_way,
    f"{_EC}/get_contact_way": api_get_contact_way,
    f"{_EC}/update_contact_way": api_update_contact_way,
    f"{_EC}/del_contact_way": api_del_contact_way,
    f"{_EC}/send_welcome_msg": api_send_welcome_msg,
    f"{_EC}/add_msg_template": api_add_msg_template,
    f"{_EC}/get_groupmsg_list_v2": api_get_groupmsg_list_v2,
    f"{_EC}/get_groupmsg_task": api_get_groupmsg_task,
    f"{_EC}/get_groupmsg_send_result": api_get_groupmsg_send_result,
    f"{_EC}/add_moment_task": api_add_moment_task,
    f"{_EC}/get_moment_task_result": api_get_moment_task_result,
    f"{_EC}/get_moment_task": api_get_moment_task,
    f"{_EC}/get_moment_comments": api_get_moment_comments,
    f"{_EC}/groupchat/list": api_groupchat_list,
    f"{_EC}/groupchat/get": api_groupchat_get,
    f"{_EC}/groupchat/transfer": api_groupchat_transfer,
    f"{_EC}/groupchat/add_join_way": api_add_join_way,
    f"{_EC}/groupchat/get_join_way": api_get_join_way,
    f"{_EC}/groupchat/update_join_way": api_update_join_way,
    f"{_EC}/groupchat/del_join_way": api_del_join_way,
    f"{_EC}/group_welcome_template/add": api_group_welcome_add,
    f"{_EC}/group_welcome_template/edit": api_group_welcome_edit,
    f"{_EC}/group_welcome_template/get": api_group_welcome_get,
    f"{_EC}/group_welcome_template/del": api_group_welcome_del,
    f"{_EC}/transfer_customer": api_transfer_customer,
    f"{_EC}/transfer_result": api_transfer_result,
    f"{_EC}/resigned/transfer_customer": api_resigned_transfer_customer,
    f"{_EC}/resigned/transfer_result": api_resigned_transfer_result,
    "/cgi-bin/user/list_id": api_user_list_id,
}


# ---------------------------------------------------------------------------------------------------------------
# Control endpoints (POST /wecom/_sim/...): what customers and admins do, for the demo and browser tests


def _control_scan(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    corp_id = str(data.get("corp_id") or next(iter(p.corps), ""))
    follow = p.scan(corp_id, str(data["config_id"]))
    return {"userid": follow.userid, "external_userid": follow.external_userid}


def _control_join_group(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    """`count` customers (1-1000) scan a join way's QR one after another; each join's callback is delivered
    before the next scan, as customers arrive over time. Answers how many joined which group."""
    corp_id = str(data.get("corp_id") or next(iter(p.corps), ""))
    count = int(data.get("count", 1))
    if not 1 <= count <= 1000:
        raise SimError(40058, "count must be 1-1000")
    joined: dict[str, int] = {}
    failed: list[int] = []
    refused = 0
    for _n in range(count):
        try:
            chat_id, _ext = p.join_by_way(corp_id, str(data["config_id"]))
        except SimError:
            refused += 1
            continue
        joined[chat_id] = joined.get(chat_id, 0) + 1
        failed.extend(s for s in p.deliver() if s != 200)
    return {"joined": joined, "refused": refused, "failed_deliveries": failed}


def _control_import(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    """Siyu's demo tells a (re)started simulator what the platform would remember: {"corp_id", "members",
    "contact_ways", "follows", "chats"} (see WecomPlatform.import_known). Answers how many of each were new."""
    corp_id = str(data.get("corp_id") or next(iter(p.corps), ""))
    return {"imported": p.import_known(corp_id, data)}


def _control_advance(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    p.advance(float(data.get("seconds", 0)))
    return {"now": int(p.now())}


def _control_confirm_mass_send(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    """The sender taps "send" on a mass message in the WeCom client (for the demo and browser tests)."""
    corp_id = str(data.get("corp_id") or next(iter(p.corps), ""))
    p.confirm_mass_send(corp_id, str(data["msgid"]))
    return {"msgid": str(data["msgid"])}


# ---------------------------------------------------------------------------------------------------------------
# The JS-SDK, as the WeCom client plays it for a chat-toolbar page (wecom-jssdk-sidebar-groups.md §2-§7). The page
# loads /jssdk.js from here instead of jweixin; `wx.agentConfig` and `wx.invoke` post to the controls below.


def jssdk_signature(ticket: str, noncestr: str, timestamp: str, url: str) -> str:
    """The platform's check: SHA-1 of the four fields in ASCII key order, values raw."""
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode()).hexdigest()  # noqa: S324 - the platform's documented algorithm


def _control_open_chat(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    """A staff member opens a 1:1 chat with an external contact in the client (the toolbar page sits beside it)."""
    corp = p.corp(str(data.get("corp_id") or next(iter(p.corps), "")))
    with p.lock:
        userid, external = str(data["userid"]), str(data["external_userid"])
        if (userid, external) not in corp.follows:
            raise SimError(84061, "not external contact")
        corp.open_chat = (userid, external)
    return {"userid": userid, "external_userid": external}


def _control_moment_publish(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    """A member posts the corp moment from their client (moment_id, userid)."""
    corp = p.corp(str(data.get("corp_id") or next(iter(p.corps), "")))
    with p.lock:
        job, userid = _moment(corp, str(data.get("moment_id") or "")), str(data["userid"])
        if userid not in _moment_senders(corp, job):
            raise SimError(41061, "moment not posted by this userid")
        job.setdefault("published", {}).setdefault(userid, int(p.now()))
    return {"moment_id": job["moment_id"], "userid": userid}


def _control_moment_react(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    """Someone comments on or likes a member's posted copy: `kind` comment|like, `external_userid` (a customer who
    follows the member) or `by_userid` (a colleague)."""
    corp = p.corp(str(data.get("corp_id") or next(iter(p.corps), "")))
    with p.lock:
        job, userid, kind = _moment(corp, str(data.get("moment_id") or "")), str(data["userid"]), data.get("kind")
        if kind not in ("comment", "like"):
            raise SimError(40058, "kind is comment or like")
        if userid not in job.get("published", {}):
            raise SimError(41062, "the member has not posted this moment yet")
        row: dict[str, Any] = {"sender": userid, "create_time": int(data.get("create_time") or p.now())}
        if data.get("external_userid"):
            if (userid, str(data["external_userid"])) not in corp.follows:
                raise SimError(84061, "not external contact")
            row["external_userid"] = str(data["external_userid"])
        else:
            row["userid"] = str(data["by_userid"])
        job.setdefault("comments" if kind == "comment" else "likes", []).append(row)
    return {"moment_id": job["moment_id"]}


def _control_agent_config(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    corp = p.corps.get(str(data.get("corpid", "")))
    if corp is None:
        raise SimError(92002, "cross-corp: corpid is not the user's corp")
    with p.lock:
        if str(data.get("agentid", "")) != corp.agent_id:
            raise SimError(42012, "agentid does not match the ticket")
        timestamp = str(data.get("timestamp", ""))
        if not timestamp.isdigit() or len(timestamp) > 11:
            raise SimError(40093, "invalid signature (timestamp must be in seconds)")
        url = str(data.get("url", "")).split("#", 1)[0]
        expected = jssdk_signature(corp.agent_ticket, str(data.get("nonceStr", "")), timestamp, url)
        if str(data.get("signature", "")) != expected:
            raise SimError(40093, "invalid signature")
        if corp.open_chat is None:
            raise SimError(40093, "no chat is open in the client")
        session = _new_id("s", 32)
        corp.jssdk_sessions[session] = corp.open_chat[0]
        return {"session": session, "corpid": corp.corp_id}


def _send_chat_message(corp: Corp, userid: str, external: str, args: dict[str, Any]) -> None:
    msgtype = str(args.get("msgtype", ""))
    raw = args.get(msgtype)
    body: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if msgtype == "text":
        if not str(body.get("content", "")).strip():
            raise SimError(40058, "sendChatMessage:fail text content empty")
    elif msgtype in ("image", "video", "file"):
        if str(body.get("mediaid", "")) not in corp.media:
            raise SimError(40007, "sendChatMessage:fail invalid media_id")
    elif msgtype == "news":
        if not str(body.get("link", "")).startswith(("http://", "https://")):
            raise SimError(40058, "sendChatMessage:fail invalid link")
    elif msgtype == "miniprogram":
        if not str(body.get("page", "")).split("?")[0].endswith(".html"):
            raise SimError(40058, "sendChatMessage:fail invalid page")
    else:
        raise SimError(40058, f"sendChatMessage:fail invalid msgtype {msgtype}")
    corp.chat_messages.append({"userid": userid, "external_userid": external, "msgtype": msgtype,
                               msgtype: dict(body)})


def _control_invoke(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    corp = p.corp(str(data.get("corpid", "")))
    api = str(data.get("api", ""))
    with p.lock:
        userid = corp.jssdk_sessions.get(str(data.get("session", "")))
        if userid is None:
            return {"err_msg": f"{api}:fail no permission"}
        if corp.open_chat is None or corp.open_chat[0] != userid:
            return {"err_msg": f"{api}:fail without context of external contact"}
        external = corp.open_chat[1]
        if api == "getContext":
            return {"err_msg": "getContext:ok", "entry": "single_chat_tools"}
        if api == "getCurExternalContact":
            return {"err_msg": "getCurExternalContact:ok", "userId": external}
        if api == "sendChatMessage":
            raw = data.get("args")
            args: dict[str, Any] = raw if isinstance(raw, dict) else {}
            try:
                _send_chat_message(corp, userid, external, args)
            except SimError as exc:
                return {"err_msg": exc.errmsg}
            return {"err_msg": "sendChatMessage:ok"}
    return {"err_msg": f"{api}:fail not supported"}


JSSDK_JS = r"""/* The simulated WeCom client's JS-SDK (wx.agentConfig, wx.invoke) for chat-toolbar pages. */
(function () {
  var me = document.currentScript && document.currentScript.src;
  var base = me ? me.replace(/\/jssdk\.js.*$/, '') : '';
  var state = {session: null, corpid: null};
  function post(path, body) {
    return fetch(base + path, {method: 'POST', body: JSON.stringify(body), headers: {'Content-Type': 'text/plain'}})
      .then(function (r) { return r.json(); });
  }
  window.wx = {
    config: function () {},
    agentConfig: function (o) {
      post('/_sim/jssdk/agent_config', {corpid: o.corpid, agentid: String(o.agentid), timestamp: String(o.timestamp),
        nonceStr: o.nonceStr, signature: o.signature, url: location.href.split('#')[0]})
      .then(function (res) {
        if (res.errcode === 0) { state.session = res.session; state.corpid = res.corpid;
          if (o.success) o.success({errMsg: 'agentConfig:ok'}); }
        else if (o.fail) o.fail({errMsg: 'agentConfig:fail ' + res.errcode + ' ' + res.errmsg});
      }, function (e) { if (o.fail) o.fail({errMsg: 'agentConfig:fail ' + e}); });
    },
    invoke: function (api, args, cb) {
      post('/_sim/jssdk/invoke', {corpid: state.corpid, session: state.session, api: api, args: args || {}})
        .then(function (res) { if (cb) cb(res); }, function (e) { if (cb) cb({err_msg: api + ':fail ' + e}); });
    }
  };
})();
"""


def _multipart_part(body: bytes, content_type: str, name: str) -> tuple[str, bytes] | None:
    """The file part `name` of a multipart/form-data body: (filename, bytes)."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=email_policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return str(part.get_filename() or ""), payload if isinstance(payload, bytes) else b""
    return None


def _control_state(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    with p.lock:
        return {
            corp.corp_id: {
                "members": len(corp.members),
                "contacts": len(corp.contacts),
                "follows": sum(1 for f in corp.follows.values() if f.active),
                "contact_ways": len(corp.contact_ways),
                "tags": len(corp.tags),
                "chats": sum(1 for c in corp.chats.values() if not c.dismissed),
                "welcomes": len(corp.welcomes),
                "transfers": len(corp.transfers),
                "mass_messages": len(corp.messages),
                "moments": len(corp.moments),
                "chat_messages": len(corp.chat_messages),
            }
            for corp in p.corps.values()
        }


RESTRICTABLE = {"contacts": "/cgi-bin/user/list_id", "customer_contact": f"{_EC}/get_follow_user_list"}


def _control_restrict(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    """The corp's admin restricts (or opens) an API for this app: {"corp_id", "api": "contacts" or a path,
    "errcode": 48009, "restricted": true}."""
    corp = p.corp(str(data.get("corp_id") or next(iter(p.corps), "")))
    api = str(data.get("api", "contacts"))
    path = RESTRICTABLE.get(api, api)
    with p.lock:
        if data.get("restricted", True):
            corp.refused[path] = int(data.get("errcode", 48009))
        else:
            corp.refused.pop(path, None)
    return {"refused": dict(corp.refused)}


Getter = Callable[[str, dict[str, str]], tuple[int, str]]


def http_get(url: str, params: dict[str, str]) -> tuple[int, str]:
    response = httpx.get(url, params=params, timeout=httpx.Timeout(5.0, connect=2.0))
    return response.status_code, response.text


def verify_url(p: WecomPlatform, corp_id: str, url: str, get: Getter = http_get) -> dict[str, Any]:
    """What WeCom does when an admin saves the callback URL: a GET with an encrypted echostr, passed only when the
    answer is the decrypted echostr. `get` is the transport (a test passes Django's test client)."""
    corp = p.corp(corp_id)
    plain = str(secrets.randbelow(10**18))
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    echostr = corp.crypto.encrypt(plain)
    params = {"msg_signature": corp.crypto.sign(timestamp, nonce, echostr), "timestamp": timestamp, "nonce": nonce,
              "echostr": echostr}
    status, text = get(url, params)
    return {"status": status, "verified": status == 200 and text == plain}


def _control_verify_url(p: WecomPlatform, data: dict[str, Any]) -> dict[str, Any]:
    corp_id = str(data.get("corp_id") or next(iter(p.corps), ""))
    return verify_url(p, corp_id, str(data.get("url") or p.corp(corp_id).callback_url))


CONTROL: dict[str, Callable[[WecomPlatform, dict[str, Any]], dict[str, Any]]] = {
    "/_sim/restrict": _control_restrict,
    "/_sim/verify_url": _control_verify_url,
    "/_sim/open_chat": _control_open_chat,
    "/_sim/moment_publish": _control_moment_publish,
    "/_sim/moment_react": _control_moment_react,
    "/_sim/jssdk/agent_config": _control_agent_config,
    "/_sim/jssdk/invoke": _control_invoke,
    "/_sim/scan": _control_scan,
    "/_sim/join_group": _control_join_group,
    "/_sim/advance": _control_advance,
    "/_sim/confirm_mass_send": _control_confirm_mass_send,
    "/_sim/state": _control_state,
    "/_sim/import": _control_import,
}


# ---------------------------------------------------------------------------------------------------------------
# WSGI


def make_app(platform: WecomPlatform) -> Callable[[dict[str, Any], Callable[..., Any]], list[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        host = environ.get("HTTP_HOST", "127.0.0.1") + environ.get("SCRIPT_NAME", "")
        browser = path == "/jssdk.js" or path.startswith("/_sim/")  # what a page in the client calls
        cors = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Headers", "Content-Type")] \
            if browser else []
        if method == "OPTIONS" and browser:
            start_response("204 No Content", [*cors, ("Access-Control-Allow-Methods", "GET, POST")])
            return [b""]
        if path in ("/wwlogin/sso/login", "/connect/oauth2/authorize"):
            status_line, headers, page = sso_login(platform, query, in_client=path == "/connect/oauth2/authorize")
            start_response(status_line, headers)
            return [page]
        status, answer = platform.handle(method, path, query, body, host, environ.get("CONTENT_TYPE", ""))
        if path == "/jssdk.js":
            start_response("200 OK", [*cors, ("Content-Type", "application/javascript; charset=utf-8")])
            return [answer["js"].encode()]
        if path.startswith("/qr/"):
            start_response("200 OK", [("Content-Type", "image/svg+xml")])
            return [answer["svg"].encode()]
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
        start_response(f"{status} {reason}", [*cors, ("Content-Type", "application/json; charset=utf-8")])
        return [json.dumps(answer, ensure_ascii=False).encode()]

    return app


# ---------------------------------------------------------------------------------------------------------------
# Traffic


@dataclass
class TrafficReport:
    scans: int = 0
    adds: int = 0
    customer_deletes: int = 0
    staff_deletes: int = 0
    tag_edits: int = 0
    groups_created: int = 0
    joins: int = 0
    quits: int = 0
    delivered: list[int] = field(default_factory=list)


def _landing(siyu_callback_url: str, config_id: str) -> str:
    parts = urlsplit(siyu_callback_url)
    return f"{parts.scheme}://{parts.netloc}/channels/wecom/qr/{config_id}/"


def _step_scan(p: WecomPlatform, corp: Corp, rng: random.Random, report: TrafficReport, url: str) -> None:
    with p.lock:
        if not corp.contact_ways:
            return
        way = rng.choice(sorted(corp.contact_ways.values(), key=lambda w: w.config_id))
    report.scans += 1
    # The customer's phone opens Siyu's landing page for the code (that is how scans are counted). Each scan is
    # another phone: Siyu counts one scan per visitor and day, and tells visitors apart by address and user agent.
    phone = f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X; sim {secrets.token_hex(6)}) MicroMessenger/8.0.49"
    try:
        httpx.get(_landing(url, way.config_id), headers={"User-Agent": phone}, timeout=httpx.Timeout(5.0, connect=2.0))
    except httpx.HTTPError:
        pass
    if rng.random() < 0.2:
        return  # scanned, did not add
    with p.lock:
        returning = [c for c in corp.contacts.values() if not corp.active_follows_of(c.external_userid)]
        contact = rng.choice(returning) if returning and rng.random() < 0.2 else None
        try:
            p.scan(corp.corp_id, way.config_id, contact=contact)
            report.adds += 1
        except SimError:
            pass


def _random_follow(corp: Corp, rng: random.Random) -> Follow | None:
    live = [f for f in corp.follows.values() if f.active and f.confirmed]
    return rng.choice(live) if live else None


def _step_customer_delete(p: WecomPlatform, corp: Corp, rng: random.Random, report: TrafficReport, url: str) -> None:
    follow = _random_follow(corp, rng)
    if follow is not None:
        p.customer_deletes(corp.corp_id, follow.userid, follow.external_userid)
        report.customer_deletes += 1


def _step_staff_delete(p: WecomPlatform, corp: Corp, rng: random.Random, report: TrafficReport, url: str) -> None:
    follow = _random_follow(corp, rng)
    if follow is not None:
        p.staff_deletes(corp.corp_id, follow.userid, follow.external_userid)
        report.staff_deletes += 1


def _step_tag_edit(p: WecomPlatform, corp: Corp, rng: random.Random, report: TrafficReport, url: str) -> None:
    follow = _random_follow(corp, rng)
    if follow is not None and corp.tags:
        tag = rng.choice(sorted(corp.tags))
        p.staff_edits(corp.corp_id, follow.userid, follow.external_userid, add=[tag])
        report.tag_edits += 1


def _step_group(p: WecomPlatform, corp: Corp, rng: random.Random, report: TrafficReport, url: str) -> None:
    chats = [c for c in corp.chats.values() if not c.dismissed]
    follow = _random_follow(corp, rng)
    if follow is None:
        return
    if not chats or (len(chats) < 8 and rng.random() < 0.15):
        p.create_chat(corp.corp_id, follow.userid, members=[follow.external_userid])
        report.groups_created += 1
        return
    chat = rng.choice(chats)
    externals = [m for m in chat.members.values() if m.type == 2]
    if externals and rng.random() < 0.3:
        p.leave_chat(corp.corp_id, chat.chat_id, [rng.choice(externals).member_id], scene=rng.choice((0, 0, 1)))
        report.quits += 1
    elif follow.external_userid not in chat.members:
        p.join_chat(corp.corp_id, chat.chat_id, [follow.external_userid], scene=rng.choice((0, 3)))
        report.joins += 1


STEPS: list[tuple[Callable[[WecomPlatform, Corp, random.Random, TrafficReport, str], None], float]] = [
    (_step_scan, 6.0),
    (_step_customer_delete, 0.8),
    (_step_staff_delete, 0.2),
    (_step_tag_edit, 0.6),
    (_step_group, 2.0),
]


def drive_traffic(
    siyu_callback_url: str,
    account: DemoApp,
    rng: random.Random,
    steps: int,
    *,
    platform: WecomPlatform,
    transport: Transport | None = None,
) -> TrafficReport:
    """Simulated customers acting on the corp's contact ways and groups of `platform` (for `siyu simulate`,
    `simulator.state.current().wecom`); every callback is posted to Siyu at once."""
    p = platform
    corp = p.add_demo_corp(account, callback_url=siyu_callback_url)
    report = TrafficReport()
    actions = [a for a, _ in STEPS]
    weights = [w for _, w in STEPS]
    for _ in range(steps):
        action = rng.choices(actions, weights)[0]
        if action is _step_scan:  # it opens Siyu's landing page over HTTP: not under the state lock
            action(p, corp, rng, report, siyu_callback_url)
        else:
            with p.lock:
                action(p, corp, rng, report, siyu_callback_url)
        report.delivered += p.deliver(transport)
    p.process_due()
    report.delivered += p.deliver(transport)
    return report
