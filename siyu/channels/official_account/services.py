"""Every change to Official Account data, and the callback endpoint's logic.

The callback path is split in two: `receive_callback` runs inside the platform's 5-second window (verify, decrypt,
store raw, pick the passive reply from the rules with a couple of indexed lookups, enqueue); `process_callback` runs
in the worker (fetch user info, resolve the customer, write events, scene stats, tags, follow hooks) and is safe to
run twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels import demo_accounts, intake
from siyu.channels.common import authenticity, storable
from siyu.channels.common.crypto import MessageCrypto
from siyu.channels.models import AccountKind, CallbackMode, CallbackStatus, ChannelAccount, InboundCallback
from siyu.channels.official_account import callbacks as wire
from siyu.channels.official_account import followers
from siyu.channels.official_account.client import OaApiError, RetryableError, UserInfo
from siyu.channels.official_account.menu import validate_menu
from siyu.channels.official_account.models import (
    Follower,
    FollowerSync,
    FollowReply,
    KeywordReply,
    MatchKind,
    Menu,
    OAuthState,
    PushStatus,
    QrScene,
    ReplyKind,
    ScanKind,
    SceneHit,
    SendStatus,
    TemplateSend,
)
from siyu.channels.official_account.provider import authorize_base, client_for
from siyu.core import audit, dberrors, jobs
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.core.timeutil import local_day, now
from siyu.customers import services as customer_services
from siyu.customers.services import IdentityInput

log = logging.getLogger(__name__)

CHANNEL = "official_account"
MAX_TEXT_BYTES = 2048
MAX_RULES = 500
MAX_TEMPORARY_EXPIRE = 2_592_000
MAX_PERMANENT_SCENE_ID = 100_000
MAX_SCENE_ID = 0xFFFFFFFF
MAX_SCENE_STR = 64
TEMPLATE_MAX_ATTEMPTS = 5
OAUTH_STATE_TTL = timedelta(minutes=10)
OAUTH_SCOPES = ("snsapi_base", "snsapi_userinfo")


# ---------------------------------------------------------------------------------------------------------------
# Accounts


def _account(account_id: int, *, enterprise_id: int | None = None) -> ChannelAccount:
    qs = ChannelAccount.objects.filter(pk=account_id, kind=AccountKind.OFFICIAL_ACCOUNT)
    if enterprise_id is not None:
        qs = qs.filter(enterprise_id=enterprise_id)
    account = qs.first()
    if account is None:
        raise NotFound(_("no Official Account %(account_id)s") % {"account_id": account_id}, field="account_id")
    return account


def _crypto(account: ChannelAccount) -> MessageCrypto | None:
    aes = account.encoding_aes_key if account.sealed_aes_key else ""
    return MessageCrypto(account.callback_token, aes, account.app_id) if aes else None


@transaction.atomic
def connect_account(
    *,
    enterprise_id: int,
    name: str,
    app_id: str,
    secret: str,
    token: str,
    encoding_aes_key: str = "",
    base_url: str = "https://api.weixin.qq.com",
    callback_mode: str = "",
    actor: Actor = None,
) -> ChannelAccount:
    """Add (or update the credentials of) an Official Account. Secrets are sealed at rest.

    `callback_mode` is the 消息加解密方式 set on the platform: plain, compatible or safe. Left empty, an account
    with an EncodingAESKey is safe (encrypted callbacks only) and one without is plain; the mode is the account's,
    never the request's."""
    if not app_id.strip() or len(app_id) > 64:
        raise ValidationFailed(_("appid is 1-64 characters"), field="app_id", code="app_id_length")
    if not token or len(token) > 32 or not token.isalnum():
        raise ValidationFailed(_("Token is 3-32 letters or digits"), field="token", code="token_format")
    if encoding_aes_key and len(encoding_aes_key) != 43:
        raise ValidationFailed(_("EncodingAESKey is 43 characters"), field="encoding_aes_key",
                               code="encoding_aes_key_format")
    mode = _clean_mode(callback_mode, has_key=bool(encoding_aes_key))
    account = ChannelAccount.objects.filter(kind=AccountKind.OFFICIAL_ACCOUNT, app_id=app_id, agent_id="").first()
    if account is not None and account.enterprise_id != enterprise_id:
        raise Conflict(_("this appid is connected to another enterprise"), field="app_id",
                       code="account_elsewhere")
    account = account or ChannelAccount(enterprise_id=enterprise_id, kind=AccountKind.OFFICIAL_ACCOUNT, app_id=app_id)
    account.name, account.callback_token, account.base_url, account.is_active = name[:64], token, base_url, True
    account.secret = secret
    account.encoding_aes_key = encoding_aes_key
    account.callback_mode = mode
    account.save()
    audit.record(enterprise_id=enterprise_id,
                 actor=actor, action="oa.account", target_type="channel_account", target_id=account.pk, summary=name)
    return account


def _clean_mode(mode: str, *, has_key: bool) -> str:
    if not mode:
        return CallbackMode.SAFE if has_key else CallbackMode.PLAIN
    if mode not in CallbackMode.values:
        raise ValidationFailed(
            _("callback_mode is one of %(join)s") % {"join": ', '.join(CallbackMode.values)},
            field="callback_mode",
            code="unknown_callback_mode",
        )
    if mode != CallbackMode.PLAIN and not has_key:
        raise ValidationFailed(_("compatible and safe mode need the EncodingAESKey"), field="encoding_aes_key",
                               code="encoding_aes_key_required")
    return mode


@transaction.atomic
def set_callback_mode(*, enterprise_id: int, account_id: int, mode: str, actor: Actor = None) -> ChannelAccount:
    """Follow a change of 消息加解密方式 on the platform (switch Siyu first when leaving safe mode, last when
    entering it: compatible mode accepts both meanwhile)."""
    account = _account(account_id, enterprise_id=enterprise_id)
    account.callback_mode = _clean_mode(mode or "-", has_key=bool(account.sealed_aes_key))
    account.save(update_fields=["callback_mode"])
    audit.record(enterprise_id=enterprise_id, actor=actor, action="oa.callback_mode", target_type="channel_account",
                 target_id=account.pk, summary=audit.text(N_("message encryption: %(mode)s"),
                                    mode=audit.label(CallbackMode(account.callback_mode).label)))
    return account


# ---------------------------------------------------------------------------------------------------------------
# Follow hooks: later issues grant points / coupons on follow by registering a function here.


@dataclass(frozen=True)
class FollowContext:
    enterprise_id: int
    account_id: int
    app_id: str
    customer_id: int
    openid: str
    unionid: str
    scene: str
    first_follow: bool
    occurred_at: datetime
    idempotency_key: str  # unique per follow; derive the hook's own keys from it ("<key>:points")


FollowHook = Callable[[FollowContext], None]
_FOLLOW_HOOKS: dict[str, FollowHook] = {}


def register_follow_hook(fn: FollowHook, *, name: str = "") -> None:
    """Run `fn` in the worker after every follow, inside the processing transaction (in its own savepoint: a failing
    hook is logged on the callback row and does not undo the follow)."""
    _FOLLOW_HOOKS[name or f"{fn.__module__}.{fn.__qualname__}"] = fn


def follow_hooks() -> list[str]:
    return sorted(_FOLLOW_HOOKS)


def _move_followers(absorbed_id: int, survivor_id: int) -> int:
    return int(Follower.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))


def install() -> None:
    customer_services.register_merge_step("oa_followers", _move_followers)


# ---------------------------------------------------------------------------------------------------------------
# Replies: validation shared by follow and keyword replies


def _clean_articles(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes) or not 1 <= len(raw) <= wire.MAX_ARTICLES:
        raise ValidationFailed(
            _("an article reply has 1-%(MAX_ARTICLES)s articles") % {"MAX_ARTICLES": wire.MAX_ARTICLES},
            field="articles",
            code="articles_count",
        )
    clean = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ValidationFailed(_("each article is an object"), field=f"articles[{index}]", index=index,
                                   code="article_format")
        title = str(item.get("title", "")).strip()
        if not 1 <= len(title) <= 64:
            raise ValidationFailed(_("title is 1-64 characters"), field=f"articles[{index}].title", index=index,
                                   code="title_length")
        url = str(item.get("url", "")).strip()
        pic_url = str(item.get("pic_url", "")).strip()
        for name, value, required in (("url", url, True), ("pic_url", pic_url, False)):
            if (required or value) and (not value.startswith(("http://", "https://")) or len(value) > 1024):
                raise ValidationFailed(
                    _("%(name)s must be an http(s) URL") % {"name": name},
                    field=f"articles[{index}].{name}", index=index,
                    code="http_url",
                )
        description = str(item.get("description", "")).strip()
        if len(description) > 120:
            raise ValidationFailed(_("description is at most 120 characters"), field=f"articles[{index}].description",
                                   index=index, code="description_length")
        clean.append({"title": title, "description": description, "pic_url": pic_url, "url": url})
    return clean


def _clean_reply(kind: str, content: str, articles: Any) -> tuple[str, str, list[dict[str, str]]]:
    if kind not in ReplyKind.values:
        raise ValidationFailed(_("kind must be one of %(join)s") % {"join": ', '.join(ReplyKind.values)}, field="kind",
                               code="unknown_kind")
    if kind == ReplyKind.TEXT:
        text = (content or "").strip()
        if not text:
            raise ValidationFailed(_("the reply text is required"), field="content", code="reply_text_required")
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ValidationFailed(
                _("the reply text is at most %(MAX_TEXT_BYTES)s bytes") % {"MAX_TEXT_BYTES": MAX_TEXT_BYTES},
                field="content",
                code="reply_text_length",
            )
        return kind, text, []
    return kind, "", _clean_articles(articles)


# Other apps may answer a follower's text before the keyword rules (WeCom's keyword groups answer with a group's
# invitation) and reserve their words so no keyword reply answers them too. Registered at start-up; this module
# imports none of them.
TextResponder = Callable[[ChannelAccount, str, str], "str | None"]  # (account, openid, text) -> reply text
KeywordGuard = Callable[[int, str, str], bool]  # (account id, match, keyword) -> the word is another app's
TEXT_RESPONDERS: list[TextResponder] = []
KEYWORD_GUARDS: list[KeywordGuard] = []


def register_text_responder(fn: TextResponder) -> None:
    if fn not in TEXT_RESPONDERS:
        TEXT_RESPONDERS.append(fn)


def register_keyword_guard(fn: KeywordGuard) -> None:
    if fn not in KEYWORD_GUARDS:
        KEYWORD_GUARDS.append(fn)


def _guard(account_id: int, match: str, word: str) -> None:
    if any(guard(account_id, match, word) for guard in KEYWORD_GUARDS):
        raise Conflict(
            _("%(word)s is the keyword of a WeCom keyword group on this account") % {"word": repr(word)},
            field="keyword", code="keyword_clash",
        )


def _reply_of(kind: str, content: str, articles: Sequence[Mapping[str, str]]) -> wire.Reply:
    if kind == ReplyKind.NEWS:
        return wire.Reply(kind="news", articles=wire.articles_from(articles))
    return wire.Reply(kind="text", content=content)


@transaction.atomic
def set_follow_reply(
    *,
    enterprise_id: int,
    account_id: int,
    kind: str = ReplyKind.TEXT,
    content: str = "",
    articles: Any = (),
    is_active: bool = True,
    actor: Actor = None,
) -> FollowReply:
    account = _account(account_id, enterprise_id=enterprise_id)
    kind, content, clean_articles = _clean_reply(kind, content, articles)
    reply, _created = FollowReply.objects.update_or_create(
        account=account, defaults={"kind": kind, "content": content, "articles": clean_articles, "is_active": is_active}
    )
    audit.record(enterprise_id=enterprise_id,
                 actor=actor, action="oa.follow_reply", target_type="channel_account", target_id=account.pk,
                 summary=content[:120] or (clean_articles[0]["title"] if clean_articles else ""))
    return reply


def _clean_keyword(keyword: str, match: str, priority: int) -> tuple[str, str, int]:
    word = (keyword or "").strip()
    if not 1 <= len(word) <= 64:
        raise ValidationFailed(_("keyword is 1-64 characters"), field="keyword", code="keyword_length")
    if match not in MatchKind.values:
        raise ValidationFailed(
            _("match must be one of %(join)s") % {"join": ', '.join(MatchKind.values)},
            field="match",
            code="unknown_match",
        )
    if not isinstance(priority, int) or not -1000 <= priority <= 1000:
        raise ValidationFailed(_("priority is between -1000 and 1000"), field="priority",
                               code="priority_range")
    return word, match, priority


@transaction.atomic
def create_keyword_reply(
    *,
    enterprise_id: int,
    account_id: int,
    keyword: str,
    match: str = MatchKind.EXACT,
    priority: int = 0,
    kind: str = ReplyKind.TEXT,
    content: str = "",
    articles: Any = (),
    is_active: bool = True,
    actor: Actor = None,
) -> KeywordReply:
    account = _account(account_id, enterprise_id=enterprise_id)
    word, match, priority = _clean_keyword(keyword, match, priority)
    kind, content, clean_articles = _clean_reply(kind, content, articles)
    if KeywordReply.objects.filter(account=account).count() >= MAX_RULES:
        raise ValidationFailed(
            _("at most %(MAX_RULES)s keyword replies per account") % {"MAX_RULES": MAX_RULES},
            field="keyword",
            code="too_many_keyword_replies",
        )
    if KeywordReply.objects.filter(account=account, match=match, keyword=word).exists():
        raise Conflict(
            _("a %(match)s rule for %(word)s already exists") % {"match": match, "word": repr(word)},
            field="keyword", code="duplicate",
        )
    _guard(account.pk, match, word)
    rule = KeywordReply.objects.create(
        account=account, keyword=word, match=match, priority=priority, kind=kind, content=content,
        articles=clean_articles, is_active=is_active,
    )
    audit.record(enterprise_id=enterprise_id,
                 actor=actor, action="oa.keyword.create", target_type="oa_keyword", target_id=rule.pk, summary=word)
    return rule


def _rule(enterprise_id: int, reply_id: int) -> KeywordReply:
    rule = KeywordReply.objects.filter(pk=reply_id, account__enterprise_id=enterprise_id).first()
    if rule is None:
        raise NotFound(_("no keyword reply %(reply_id)s") % {"reply_id": reply_id}, field="reply_id")
    return rule


@transaction.atomic
def update_keyword_reply(
    *, enterprise_id: int, reply_id: int, changes: Mapping[str, Any], actor: Actor = None
) -> KeywordReply:
    rule = _rule(enterprise_id, reply_id)
    unknown = set(changes) - {"keyword", "match", "priority", "kind", "content", "articles", "is_active"}
    if unknown:
        raise ValidationFailed(
            _("unknown field %(value)s") % {"value": repr(sorted(unknown)[0])},
            field=sorted(unknown)[0],
            code="unknown_field",
        )
    merged = {
        "keyword": rule.keyword, "match": rule.match, "priority": rule.priority, "kind": rule.kind,
        "content": rule.content, "articles": rule.articles, "is_active": rule.is_active, **changes,
    }
    word, match, priority = _clean_keyword(merged["keyword"], merged["match"], merged["priority"])
    kind, content, clean_articles = _clean_reply(merged["kind"], merged["content"], merged["articles"])
    clash = KeywordReply.objects.filter(account_id=rule.account_id, match=match, keyword=word).exclude(pk=rule.pk)
    if clash.exists():
        raise Conflict(
            _("a %(match)s rule for %(word)s already exists") % {"match": match, "word": repr(word)},
            field="keyword", code="duplicate",
        )
    _guard(rule.account_id, match, word)
    rule.keyword, rule.match, rule.priority = word, match, priority
    rule.kind, rule.content, rule.articles, rule.is_active = kind, content, clean_articles, bool(merged["is_active"])
    rule.save()
    audit.record(enterprise_id=enterprise_id,
                 actor=actor, action="oa.keyword.update", target_type="oa_keyword", target_id=rule.pk, summary=word)
    return rule


@transaction.atomic
def delete_keyword_reply(*, enterprise_id: int, reply_id: int, actor: Actor = None) -> None:
    rule = _rule(enterprise_id, reply_id)
    audit.record(enterprise_id=enterprise_id,
                 actor=actor, action="oa.keyword.delete", target_type="oa_keyword", target_id=rule.pk,
                 summary=rule.keyword)
    rule.delete()


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def match_keyword(rules: Sequence[KeywordReply], text: str) -> KeywordReply | None:
    """The rule answering `text`: highest priority first; at equal priority an exact match beats a contains match,
    then the older rule wins."""
    wanted = _norm(text)
    if not wanted:
        return None
    ordered = sorted(rules, key=lambda r: (-r.priority, r.match != MatchKind.EXACT, r.pk))
    for rule in ordered:
        word = _norm(rule.keyword)
        if (rule.match == MatchKind.EXACT and word == wanted) or (rule.match == MatchKind.CONTAINS and word in wanted):
            return rule
    return None


def _keyword_rule(account_id: int, message: wire.InboundMessage) -> KeywordReply | None:
    if message.msg_type == "text":
        rules = KeywordReply.objects.filter(
            account_id=account_id, is_active=True, match__in=(MatchKind.EXACT, MatchKind.CONTAINS)
        ).order_by("-priority", "id")[:MAX_RULES]
        return match_keyword(list(rules), message.content)
    if message.event == "CLICK" and message.event_key:
        return (
            KeywordReply.objects.filter(
                account_id=account_id, is_active=True, match=MatchKind.CLICK, keyword=message.event_key
            )
            .order_by("-priority", "id")
            .first()
        )
    return None


# ---------------------------------------------------------------------------------------------------------------
# The callback endpoint (inside the 5-second window)


@dataclass(frozen=True)
class CallbackResponse:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


SUCCESS = CallbackResponse(200, "success")
TOO_LARGE = CallbackResponse(413, "request body too large")
STORED_BODY_BYTES = 256 * 1024


def _refuse(account: ChannelAccount | None, query: Mapping[str, str], body: bytes, source: str, **fields: Any) -> None:
    """A refused request: counted, and stored while its account and source are under the per-minute quota."""
    intake.refuse(kind=AccountKind.OFFICIAL_ACCOUNT, account=account, query=query, body=body,
                  body_limit=STORED_BODY_BYTES, source=source, **fields)


def _live_account(account_id: int) -> ChannelAccount | None:
    return ChannelAccount.objects.filter(
        pk=account_id, kind=AccountKind.OFFICIAL_ACCOUNT, is_active=True
    ).first()


def _fresh(q: wire.CallbackQuery) -> int | None:
    return authenticity.fresh_timestamp(q.timestamp, now_s=time.time())


def verify_server(*, account_id: int, query: Mapping[str, str], source: str = "") -> CallbackResponse:
    """The platform's URL check: echo `echostr` when the signature over token/timestamp/nonce matches and the
    timestamp is within the window (the same check in every mode)."""
    account = _live_account(account_id)
    q = wire.CallbackQuery.from_mapping(query)
    if account is None:
        _refuse(None, query, b"", source, event="verify", error="unknown account")
        return CallbackResponse(404, "unknown account")
    if not wire.check_plain_signature(account.callback_token, q):
        _refuse(account, query, b"", source, event="verify", error="signature mismatch")
        return CallbackResponse(403, "invalid signature")
    timestamp = _fresh(q)
    if timestamp is None:
        _refuse(account, query, b"", source, event="verify", signature_ok=True, error=authenticity.STALE)
        return CallbackResponse(403, "stale timestamp")
    intake.log_verified(kind=AccountKind.OFFICIAL_ACCOUNT, account=account, query=query, event="verify",
                        timestamp=timestamp, source=source)
    return CallbackResponse(200, q.echostr)


def receive_callback(*, account_id: int, query: Mapping[str, str], body: bytes, source: str = "") -> CallbackResponse:
    """Authenticate in the account's configured mode, check the timestamp window, store raw (the same request twice
    is one row: the second is answered `success` and not processed), then answer with the passive reply."""
    if len(body) > authenticity.MAX_CALLBACK_BODY:
        return TOO_LARGE
    account = _live_account(account_id)
    if account is None:
        _refuse(None, query, body, source, error=f"unknown account {account_id}"[:255])
        return CallbackResponse(404, "unknown account")
    q = wire.CallbackQuery.from_mapping(query)
    try:
        opened = wire.open_envelope(mode=account.callback_mode, crypto=_crypto(account),
                                    token=account.callback_token, query=q, body=body)
    except wire.CallbackRejected as exc:
        _refuse(account, query, body, source, signature_ok=exc.signature_ok, error=f"{exc.code}: {exc.reason}"[:255])
        # forged: not 200. Authentic but undecryptable: answered, as retries cannot help.
        return CallbackResponse(403, "invalid signature") if not exc.signature_ok else SUCCESS
    timestamp = _fresh(q)
    if timestamp is None:
        _refuse(account, query, body, source, signature_ok=True, error=authenticity.STALE)
        return CallbackResponse(403, "stale timestamp")
    try:
        message = wire.parse_message(opened.plaintext)
    except wire.CallbackRejected as exc:  # the signature held: the sender is authentic, the content is not usable
        _refuse(account, query, body, source, signature_ok=True, error=f"{exc.code}: {exc.reason}"[:255])
        return SUCCESS  # retries cannot help, and the follower sees no error
    replay = authenticity.replay_key(account.pk, timestamp, q.nonce)
    stored = _store(account, query, body, opened.plaintext, message, wire.dedupe_key(account.app_id, message),
                    replay, source)
    if not stored:
        return SUCCESS  # the same request again: received already
    reply = passive_reply(account, message)
    if reply is None:
        return SUCCESS
    xml = wire.render_reply(
        reply, to_user=message.from_user, from_user=message.to_user, answering_message=not message.is_event
    )
    crypto = _crypto(account)
    if opened.encrypted and crypto is not None:
        nonce = q.nonce or secrets.token_hex(8)
        xml = wire.seal_reply(crypto, xml, timestamp=str(int(now().timestamp())), nonce=nonce)
    return CallbackResponse(200, xml, "application/xml; charset=utf-8")


def _store(
    account: ChannelAccount,
    query: Mapping[str, str],
    body: bytes,
    plaintext: bytes,
    message: wire.InboundMessage,
    key: str,
    replay: str,
    source: str,
) -> bool:
    """Store the authenticated push; False when this very request (its replay key) is stored already.

    The event delivered anew (another nonce, the same dedupe key) is stored as a duplicate and not processed.
    """
    fields: dict[str, Any] = {
        "account": account, "kind": AccountKind.OFFICIAL_ACCOUNT, "query": storable.query(authenticity.redact(query)),
        "body": storable.text(body, STORED_BODY_BYTES), "plaintext": storable.text(plaintext), "signature_ok": True,
        "event": message.event_name[:64], "replay_key": replay, "source": authenticity.source_address(source),
    }
    try:
        with transaction.atomic():
            row = InboundCallback.objects.create(dedupe_key=key, **fields)
            transaction.on_commit(lambda: _enqueue_processing(row.pk))
        return True
    except IntegrityError:
        if InboundCallback.objects.filter(replay_key=replay).exists():
            return False
    try:
        with transaction.atomic():
            # The platform retries a push it saw no answer to; the first copy is (being) processed.
            InboundCallback.objects.create(status=CallbackStatus.DUPLICATE, error=f"duplicate of {key}"[:255],
                                           **fields)
    except IntegrityError:
        return False  # a concurrent copy of this very request took the replay key
    return True


def _enqueue_processing(callback_id: int) -> None:
    jobs.enqueue("process_oa_callback", callback_id)


def passive_reply(account: ChannelAccount, message: wire.InboundMessage) -> wire.Reply | None:
    """The reply the follower sees at once, from the rules: a follow reply, a scene reply or a keyword reply."""
    if message.event in ("subscribe", "SCAN"):
        scene = message.scene
        if scene:
            text = QrScene.objects.filter(account=account, scene=scene).values_list("reply_text", flat=True).first()
            if text:
                return wire.Reply(kind="text", content=text)
        if message.event == "SCAN":
            return None
        follow = FollowReply.objects.filter(account=account, is_active=True).first()
        return _reply_of(follow.kind, follow.content, follow.articles) if follow else None
    if message.msg_type == "text":
        for responder in TEXT_RESPONDERS:
            answer = responder(account, message.from_user, message.content)
            if answer:
                return wire.Reply(kind="text", content=answer)
    rule = _keyword_rule(account.pk, message)
    return _reply_of(rule.kind, rule.content, rule.articles) if rule else None


# ---------------------------------------------------------------------------------------------------------------
# Processing in the worker


@dataclass
class _Work:
    callback: InboundCallback
    account: ChannelAccount
    message: wire.InboundMessage
    occurred_at: datetime
    info: UserInfo | None = None
    notes: list[str] | None = None

    def note(self, text: str) -> None:
        self.notes = [*(self.notes or []), text]

    @property
    def key(self) -> str:
        return f"oa_cb:{self.callback.pk}"


CUSTOMER_EVENTS = frozenset({"subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW", "text"})


def process_callback(*, callback_id: int) -> str:
    """Apply one stored callback to Siyu's customers. Returns the final status; a second run is a no-op."""
    callback = InboundCallback.objects.select_related("account").filter(pk=callback_id).first()
    if callback is None or callback.status != CallbackStatus.RECEIVED or callback.account is None:
        return callback.status if callback else "missing"
    message = wire.parse_message(callback.plaintext.encode("utf-8"))
    moment = datetime.fromtimestamp(message.create_time, UTC) if message.create_time else now()
    work = _Work(callback=callback, account=callback.account, message=message, occurred_at=min(moment, now()))
    if message.event_name in CUSTOMER_EVENTS and message.event != "unsubscribe":
        work.info = _fetch_user(work)
    try:
        with transaction.atomic():
            locked = InboundCallback.objects.select_for_update().get(pk=callback_id)
            if locked.status != CallbackStatus.RECEIVED:
                return locked.status
            handler = _HANDLERS.get(message.event_name)
            status = CallbackStatus.PROCESSED if handler else CallbackStatus.IGNORED
            if handler:
                handler(work)
            InboundCallback.objects.filter(pk=callback_id).update(
                status=status, processed_at=now(), error="; ".join(work.notes or [])[:255]
            )
            return str(status)
    except Exception as exc:  # noqa: BLE001 - recorded on the row for the operator, then logged
        if dberrors.is_transient(exc) and now() - callback.received_at <= RETRY_FOR:
            # a lock, a deadlock, the lost side of a race: stays `received` for requeue_stale_callbacks
            log.warning("OA callback %s will be retried: %s", callback_id, exc)
            InboundCallback.objects.filter(pk=callback_id, status=CallbackStatus.RECEIVED).update(
                error=f"will retry: {type(exc).__name__}: {exc}"[:255]
            )
            return "retry"
        log.exception("OA callback %s failed", callback_id)
        InboundCallback.objects.filter(pk=callback_id).update(
            status=CallbackStatus.FAILED, processed_at=now(), error=str(exc)[:255]
        )
        return str(CallbackStatus.FAILED)


RETRY_FOR = timedelta(days=1)
REQUEUE_AFTER = timedelta(minutes=1)


def requeue_stale_callbacks(*, limit: int = 500) -> int:
    """Periodic: callbacks still `received` a while after arrival (a transient failure, a lost enqueue)."""
    ids = list(
        InboundCallback.objects.filter(
            kind=AccountKind.OFFICIAL_ACCOUNT, status=CallbackStatus.RECEIVED, received_at__lte=now() - REQUEUE_AFTER
        ).order_by("id").values_list("id", flat=True)[:limit]
    )
    for callback_id in ids:
        _enqueue_processing(callback_id)
    return len(ids)


def _fetch_user(work: _Work) -> UserInfo | None:
    """User info for the unionid; skipped when the follower's unionid is already known. A failure is noted and the
    callback is processed with the openid alone: the unionid is filled in by a later callback."""
    known = Follower.objects.filter(account=work.account, openid=work.message.from_user).exclude(unionid="")
    if known.exists():
        return None
    try:
        return client_for(work.account).user_info(work.message.from_user)
    except OaApiError as exc:
        work.note(f"user/info {exc}")
        return None


def _customer_and_follower(work: _Work) -> tuple[Any, Follower]:
    openid = work.message.from_user
    follower, _created = Follower.objects.get_or_create(account=work.account, openid=openid)
    unionid = (work.info.unionid if work.info else "") or follower.unionid
    identities = [IdentityInput(kind="oa_openid", value=openid, account=work.account.app_id)]
    if unionid:
        identities.append(IdentityInput(kind="unionid", value=unionid))
    customer = customer_services.resolve_customer(
        enterprise_id=work.account.enterprise_id, identities=identities, defaults={"created_source": CHANNEL}
    )
    follower.unionid = unionid
    follower.customer_id = customer.pk
    follower.last_interaction_at = work.occurred_at
    if work.info and work.info.subscribe_scene:
        follower.subscribe_scene = work.info.subscribe_scene[:40]
    return customer, follower


def _event(work: _Work, customer: Any, name: str, properties: dict[str, Any]) -> None:
    customer_services.record_event(
        customer=customer, name=name, idempotency_key=work.key, occurred_at=work.occurred_at, channel=CHANNEL,
        properties=properties,
    )


def _scene_effects(work: _Work, customer: Any, scene: str, kind: str) -> None:
    if not scene:
        return
    SceneHit.objects.create(
        account=work.account, scene=scene[:64], kind=kind, openid=work.message.from_user,
        day=local_day(work.occurred_at), occurred_at=work.occurred_at, callback=work.callback,
    )
    tag_ids = QrScene.objects.filter(account=work.account, scene=scene).values_list("tag_ids", flat=True).first()
    if not tag_ids:
        return
    try:
        with transaction.atomic():
            customer_services.tag_customers(
                enterprise_id=work.account.enterprise_id, customer_ids=[customer.pk], tag_ids=list(tag_ids),
                source="event",
            )
    except DomainError as exc:
        work.note(f"scene tags: {exc.message}")


def _on_subscribe(work: _Work) -> None:
    customer, follower = _customer_and_follower(work)
    scene = work.message.scene
    first = follower.follow_count == 0
    follower.subscribed, follower.followed_at, follower.unfollowed_at = True, work.occurred_at, None
    follower.follow_count += 1
    if scene and not follower.qr_scene:
        follower.qr_scene = scene[:64]
    follower.save()
    _event(work, customer, "oa_followed", {"scene": scene[:64]})
    _scene_effects(work, customer, scene, ScanKind.FOLLOW)
    context = FollowContext(
        enterprise_id=work.account.enterprise_id, account_id=work.account.pk, app_id=work.account.app_id,
        customer_id=customer.pk, openid=follower.openid, unionid=follower.unionid, scene=scene, first_follow=first,
        occurred_at=work.occurred_at, idempotency_key=work.key,
    )
    for name, hook in list(_FOLLOW_HOOKS.items()):
        try:
            with transaction.atomic():
                hook(context)
        except Exception as exc:  # noqa: BLE001 - a hook's failure must not undo the follow
            log.exception("follow hook %s failed", name)
            work.note(f"hook {name}: {exc}")


def _on_unsubscribe(work: _Work) -> None:
    customer, follower = _customer_and_follower(work)
    follower.subscribed, follower.unfollowed_at = False, work.occurred_at
    follower.save()
    _event(work, customer, "oa_unfollowed", {})


def _on_scan(work: _Work) -> None:
    customer, follower = _customer_and_follower(work)
    follower.subscribed = True
    follower.save()
    _event(work, customer, "oa_scanned", {"scene": work.message.scene[:64]})
    _scene_effects(work, customer, work.message.scene, ScanKind.SCAN)


def _count_hit(work: _Work) -> None:
    rule = _keyword_rule(work.account.pk, work.message)
    if rule is not None:
        KeywordReply.objects.filter(pk=rule.pk).update(hits=F("hits") + 1)


def _on_text(work: _Work) -> None:
    customer, follower = _customer_and_follower(work)
    follower.save()
    _event(work, customer, "message_received", {"kind": "text", "text": work.message.content[:2000]})
    _count_hit(work)


def _on_menu(work: _Work) -> None:
    customer, follower = _customer_and_follower(work)
    follower.save()
    kind = "click" if work.message.event == "CLICK" else "view"
    _event(work, customer, "oa_menu_clicked", {"kind": kind, "key": work.message.event_key[:1024]})
    _count_hit(work)


def _on_template_report(work: _Work) -> None:
    msgid = work.message.msg_id
    if msgid:
        TemplateSend.objects.filter(account=work.account, msgid=msgid).update(delivery=work.message.status[:40])


_HANDLERS: dict[str, Callable[[_Work], None]] = {
    "subscribe": _on_subscribe,
    "unsubscribe": _on_unsubscribe,
    "SCAN": _on_scan,
    "text": _on_text,
    "CLICK": _on_menu,
    "VIEW": _on_menu,
    "TEMPLATESENDJOBFINISH": _on_template_report,
}


# ---------------------------------------------------------------------------------------------------------------
# Custom menu


@transaction.atomic
def save_menu(*, enterprise_id: int, account_id: int, buttons: Any, actor: Actor = None) -> Menu:
    """Validate, store and schedule the push. Invalid input raises with the failing field and writes nothing."""
    account = _account(account_id, enterprise_id=enterprise_id)
    clean = validate_menu(buttons)
    menu = Menu.objects.select_for_update().filter(account=account).first()
    if menu is None:
        menu = Menu(account=account, version=0)
    menu.buttons, menu.version, menu.status, menu.error = clean, menu.version + 1, PushStatus.PENDING, ""
    menu.save()
    version = menu.version
    audit.record(enterprise_id=enterprise_id,
                 actor=actor, action="oa.menu", target_type="channel_account", target_id=account.pk,
                 summary=audit.text(N_("menu version %(version)s"), version=version), changes={"button": clean})
    transaction.on_commit(lambda: _enqueue_menu_push(account.pk, version))
    return menu


def _enqueue_menu_push(account_id: int, version: int) -> None:
    jobs.enqueue("push_oa_menu", account_id, version)


def push_menu(*, account_id: int, version: int) -> str:
    """Push one stored menu version; a newer version saved meanwhile makes this one a no-op."""
    menu = Menu.objects.select_related("account").filter(account_id=account_id).first()
    if menu is None or menu.version != version or menu.status == PushStatus.PUSHED:
        return "stale"
    try:
        client_for(menu.account).create_menu(menu.buttons)
    except OaApiError as exc:
        Menu.objects.filter(pk=menu.pk, version=version).update(status=PushStatus.FAILED, error=str(exc)[:255])
        return "failed"
    Menu.objects.filter(pk=menu.pk, version=version).update(
        status=PushStatus.PUSHED, pushed_version=version, pushed_at=now(), error=""
    )
    return "pushed"


# ---------------------------------------------------------------------------------------------------------------
# Parametric QR codes


def _clean_scene(scene_id: int | None, scene_str: str, permanent: bool) -> tuple[str, bool]:
    if (scene_id is None) == (not scene_str):
        raise ValidationFailed(_("give exactly one of scene_id or scene_str"), field="scene_id",
                               code="scene_id_or_str")
    if scene_id is not None:
        top = MAX_PERMANENT_SCENE_ID if permanent else MAX_SCENE_ID
        if isinstance(scene_id, bool) or not 1 <= scene_id <= top:
            raise ValidationFailed(
                _("scene_id is 1-%(top)s for a %(value)s code")
                % {"top": top, "value": 'permanent' if permanent else 'temporary'},
                field="scene_id",
                code="scene_id_range",
            )
        return str(scene_id), True
    text = scene_str.strip()
    if not 1 <= len(text) <= MAX_SCENE_STR or text != scene_str:
        raise ValidationFailed(
            _("scene_str is 1-%(MAX_SCENE_STR)s characters without surrounding spaces")
            % {"MAX_SCENE_STR": MAX_SCENE_STR},
            field="scene_str",
            code="scene_str_format",
        )
    return text, False


def _clean_expiry(permanent: bool, expire_seconds: int | None) -> int | None:
    if permanent:
        if expire_seconds is not None:
            raise ValidationFailed(_("a permanent code does not expire"), field="expire_seconds",
                                   code="permanent_no_expiry")
        return None
    value = MAX_TEMPORARY_EXPIRE if expire_seconds is None else expire_seconds
    if isinstance(value, bool) or not 60 <= value <= MAX_TEMPORARY_EXPIRE:
        raise ValidationFailed(
            _("expire_seconds is 60-%(MAX_TEMPORARY_EXPIRE)s (30 days)")
            % {"MAX_TEMPORARY_EXPIRE": MAX_TEMPORARY_EXPIRE},
            field="expire_seconds",
            code="expire_seconds_range",
        )
    return value


def create_qr_scene(
    *,
    enterprise_id: int,
    account_id: int,
    name: str,
    permanent: bool,
    scene_id: int | None = None,
    scene_str: str = "",
    expire_seconds: int | None = None,
    tag_ids: Sequence[int] = (),
    reply_text: str = "",
    actor: Actor = None,
) -> QrScene:
    """Record the scene, then ask the platform for its ticket. A failed ticket request is kept on the row (retry with
    `refresh_qr_ticket`); invalid input raises before anything is written."""
    with transaction.atomic():
        account = _account(account_id, enterprise_id=enterprise_id)
        label = (name or "").strip()
        if not 1 <= len(label) <= 64:
            raise ValidationFailed(_("name is 1-64 characters"), field="name", code="name_length")
        scene, numeric = _clean_scene(scene_id, scene_str, permanent)
        expiry = _clean_expiry(permanent, expire_seconds)
        if len(reply_text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ValidationFailed(
                _("reply text is at most %(MAX_TEXT_BYTES)s bytes") % {"MAX_TEXT_BYTES": MAX_TEXT_BYTES},
                field="reply_text",
                code="reply_text_length",
            )
        if not all(isinstance(t, int) and t > 0 for t in tag_ids):
            raise ValidationFailed(_("tag ids are positive integers"), field="tag_ids",
                                   code="tag_ids_format")
        if QrScene.objects.filter(account=account, scene=scene).exists():
            raise Conflict(
                _("scene %(scene)s already exists") % {"scene": repr(scene)},
                field="scene_str" if not numeric else "scene_id", code="duplicate",
            )
        row = QrScene.objects.create(
            account=account, name=label, scene=scene, numeric=numeric, permanent=permanent, expire_seconds=expiry,
            tag_ids=list(tag_ids), reply_text=reply_text.strip(),
        )
        audit.record(enterprise_id=enterprise_id,
                     actor=actor, action="oa.qr.create", target_type="oa_qr_scene", target_id=row.pk, summary=label)
    refresh_qr_ticket(scene_pk=row.pk)
    row.refresh_from_db()
    return row


def refresh_qr_ticket(*, scene_pk: int) -> bool:
    row = QrScene.objects.select_related("account").get(pk=scene_pk)
    try:
        ticket = client_for(row.account).create_qrcode(
            scene=row.scene, numeric=row.numeric, permanent=row.permanent, expire_seconds=row.expire_seconds
        )
    except OaApiError as exc:
        QrScene.objects.filter(pk=row.pk).update(error=str(exc)[:255])
        return False
    expires_at = now() + timedelta(seconds=ticket.expire_seconds) if ticket.expire_seconds else None
    QrScene.objects.filter(pk=row.pk).update(ticket=ticket.ticket, url=ticket.url, expires_at=expires_at, error="")
    return True


def refresh_qr_tickets(*, account_id: int, force: bool = False) -> int:
    """Re-issue the tickets that are missing, failed or expired (all of them with force). Returns how many worked."""
    rows = QrScene.objects.filter(account_id=account_id)
    if not force:
        rows = rows.filter(ticket="") | rows.exclude(error="") | rows.filter(expires_at__lte=now())
    return sum(refresh_qr_ticket(scene_pk=pk) for pk in rows.values_list("pk", flat=True).distinct())


# ---------------------------------------------------------------------------------------------------------------
# Template messages (outbox)


def _clean_template_data(data: Any) -> dict[str, dict[str, str]]:
    if not isinstance(data, Mapping) or not data:
        raise ValidationFailed(_("data maps each template key to {value, color?}"), field="data",
                               code="data_format")
    clean = {}
    for key, item in data.items():
        value = item.get("value") if isinstance(item, Mapping) else item
        if not isinstance(key, str) or not key or not isinstance(value, str | int | float):
            raise ValidationFailed(_("data.%(key)s needs a value") % {"key": key}, field=f"data.{key}",
                                   code="data_value_required")
        entry = {"value": str(value)}
        color = item.get("color") if isinstance(item, Mapping) else None
        if color:
            entry["color"] = str(color)[:16]
        clean[key] = entry
    return clean


@dataclass(frozen=True)
class TemplateRequest:
    openid: str
    template_id: str
    data: Mapping[str, Any]
    idempotency_key: str
    url: str = ""
    miniprogram: Mapping[str, str] | None = None
    customer_id: int | None = None


def _clean_template_request(request: TemplateRequest) -> dict[str, Any]:
    if not 1 <= len(request.openid) <= 64:
        raise ValidationFailed(_("openid is 1-64 characters"), field="openid", code="openid_length")
    if not 1 <= len(request.template_id) <= 64:
        raise ValidationFailed(_("template_id is 1-64 characters"), field="template_id", code="template_id_length")
    if not 1 <= len(request.idempotency_key) <= 64:
        raise ValidationFailed(_("idempotency_key is 1-64 characters"), field="idempotency_key",
                               code="idempotency_key_length")
    if request.url and (not request.url.startswith(("http://", "https://")) or len(request.url) > 1024):
        raise ValidationFailed(_("url must be an http(s) URL"), field="url", code="url_format")
    mini = dict(request.miniprogram or {})
    if mini and not (mini.get("appid") and mini.get("pagepath")):
        raise ValidationFailed(_("miniprogram needs appid and pagepath"), field="miniprogram",
                               code="miniprogram_required")
    return {
        "openid": request.openid, "template_id": request.template_id, "url": request.url,
        "miniprogram": {"appid": str(mini["appid"]), "pagepath": str(mini["pagepath"])} if mini else {},
        "data": _clean_template_data(request.data),
    }


def send_template_message(
    *, enterprise_id: int, account_id: int, request: TemplateRequest, actor: Actor = None
) -> TemplateSend:
    """Write the outbox row (idempotent by key) and let the worker send it. A repeat returns the first row; the same
    key with a different message is a conflict."""
    with transaction.atomic():
        account = _account(account_id, enterprise_id=enterprise_id)
        clean = _clean_template_request(request)
        existing = TemplateSend.objects.filter(account=account, idempotency_key=request.idempotency_key).first()
        if existing is not None:
            same = all(getattr(existing, key) == value for key, value in clean.items())
            if not same:
                raise Conflict(_("this idempotency_key was used for another message"), field="idempotency_key",
                               code="idempotency_mismatch")
            return existing
        row = TemplateSend.objects.create(
            account=account, idempotency_key=request.idempotency_key, customer_id=request.customer_id, **clean
        )
        audit.record(enterprise_id=enterprise_id,
                     actor=actor, action="oa.template.send", target_type="oa_template_send", target_id=row.pk,
                     summary=f"{clean['template_id']} → {clean['openid']}")
        transaction.on_commit(lambda: _enqueue_send(row.pk))
    return row


def _enqueue_send(send_id: int, run_after: datetime | None = None) -> None:
    if run_after is not None and not jobs.get("deliver_oa_template").get_backend().supports_defer:
        return  # picked up by retry_due_sends
    jobs.enqueue("deliver_oa_template", send_id, run_after=run_after)


def backoff(attempt: int) -> timedelta:
    """30 s, 2 min, 8 min, 32 min: retries spread well past a platform hiccup or a quota reset."""
    return timedelta(seconds=30 * 4 ** max(0, attempt - 1))


def deliver_template_message(*, send_id: int) -> str:
    row = TemplateSend.objects.select_related("account").filter(pk=send_id).first()
    if row is None or row.status != SendStatus.PENDING:
        return "skipped"
    if row.next_attempt_at is not None and row.next_attempt_at > now():
        return "not_due"
    # Claim this attempt: a second worker holding the same id finds `attempts` moved and backs off.
    claimed = TemplateSend.objects.filter(pk=row.pk, status=SendStatus.PENDING, attempts=row.attempts).update(
        attempts=F("attempts") + 1, next_attempt_at=now() + timedelta(minutes=5)
    )
    if not claimed:
        return "busy"
    attempt = row.attempts + 1
    try:
        msgid = client_for(row.account).send_template(
            openid=row.openid, template_id=row.template_id, data=row.data, url=row.url,
            miniprogram=row.miniprogram or None, client_msg_id=row.idempotency_key,
        )
    except OaApiError as exc:
        if isinstance(exc, RetryableError) and attempt < TEMPLATE_MAX_ATTEMPTS:
            due = now() + backoff(attempt)
            TemplateSend.objects.filter(pk=row.pk).update(next_attempt_at=due, errcode=exc.errcode,
                                                          error=str(exc)[:255])
            _enqueue_send(row.pk, run_after=due)
            return "retry"
        TemplateSend.objects.filter(pk=row.pk).update(status=SendStatus.FAILED, errcode=exc.errcode,
                                                      error=str(exc)[:255], next_attempt_at=None)
        return "failed"
    TemplateSend.objects.filter(pk=row.pk).update(
        status=SendStatus.SENT, msgid=msgid, sent_at=now(), next_attempt_at=None, errcode=None, error=""
    )
    return "sent"


def retry_due_sends(*, limit: int = 500) -> int:
    """Send the pending rows whose retry time has come (for backends that cannot defer a task)."""
    due = TemplateSend.objects.filter(status=SendStatus.PENDING, next_attempt_at__lte=now()).order_by(
        "next_attempt_at"
    ).values_list("pk", flat=True)[:limit]
    return sum(deliver_template_message(send_id=pk) == "sent" for pk in list(due))


# ---------------------------------------------------------------------------------------------------------------
# OAuth web authorisation


def start_oauth(*, account_id: int, scope: str, redirect_uri: str, next_url: str = "") -> str:
    """Record a single-use `state` and return the authorize URL (parameters in the platform's required order)."""
    account = _account(account_id)
    if scope not in OAUTH_SCOPES:
        raise ValidationFailed(_("scope must be one of %(join)s") % {"join": ', '.join(OAUTH_SCOPES)}, field="scope",
                               code="unknown_scope")
    if not redirect_uri.startswith(("http://", "https://")):
        raise ValidationFailed(_("redirect_uri must be absolute"), field="redirect_uri", code="redirect_uri_absolute")
    if next_url and (not next_url.startswith("/") or next_url.startswith("//")):
        raise ValidationFailed(_("next must be a path on this site"), field="next", code="next_not_local")
    state = secrets.token_hex(16)
    OAuthState.objects.create(account=account, state=state, scope=scope, next_url=next_url[:255])
    return (
        f"{authorize_base(account)}/connect/oauth2/authorize?appid={account.app_id}"
        f"&redirect_uri={quote(redirect_uri, safe='')}&response_type=code&scope={scope}&state={state}"
        "#wechat_redirect"
    )


def prune_oauth_states(*, at: datetime | None = None) -> int:
    """Periodic: delete the states past their lifetime, used or not (a late callback with one is refused as
    unknown). One set-based DELETE; safe to run twice."""
    deleted, _ignored = OAuthState.objects.filter(created_at__lt=(at or now()) - OAUTH_STATE_TTL).delete()
    return deleted


@dataclass(frozen=True)
class OAuthOutcome:
    customer_id: int
    openid: str
    unionid: str
    next_url: str


def complete_oauth(*, account_id: int, code: str, state: str) -> OAuthOutcome:
    account = _account(account_id)
    row = OAuthState.objects.filter(account=account, state=state).first()
    if row is None:
        raise NotFound(_("unknown state"), field="state")
    if now() - row.created_at > OAUTH_STATE_TTL:
        raise ValidationFailed(_("this sign-in link has expired; start again"), field="state", code="expired")
    if not OAuthState.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now()):
        raise Conflict(_("this sign-in was already completed"), field="state", code="used")
    client = client_for(account)
    try:
        token = client.oauth_exchange(code)
        profile = client.sns_userinfo(access_token=token.access_token, openid=token.openid) if (
            token.scope == "snsapi_userinfo"
        ) else None
    except OaApiError as exc:
        raise ValidationFailed(
            _("the platform refused the code (%(errcode)s)") % {"errcode": exc.errcode},
            field="code", code=f"oauth_{exc.errcode}",
        ) from exc
    unionid = token.unionid or (profile.unionid if profile else "")
    with transaction.atomic():
        identities = [IdentityInput(kind="oa_openid", value=token.openid, account=account.app_id)]
        if unionid:
            identities.append(IdentityInput(kind="unionid", value=unionid))
        defaults: dict[str, Any] = {"created_source": CHANNEL, "name": profile.nickname[:64] if profile else ""}
        customer = customer_services.resolve_customer(
            enterprise_id=account.enterprise_id, identities=identities, defaults=defaults
        )
        follower, _created = Follower.objects.get_or_create(account=account, openid=token.openid)
        follower.customer_id = customer.pk
        follower.unionid = unionid or follower.unionid
        follower.save()
        OAuthState.objects.filter(pk=row.pk).update(customer_id=customer.pk)
    return OAuthOutcome(customer_id=customer.pk, openid=token.openid, unionid=unionid, next_url=row.next_url)


# ---------------------------------------------------------------------------------------------------------------
# Full follower sync (user/get + user/info/batchget): see followers.py


def start_follower_sync(*, enterprise_id: int, account_id: int, actor: Actor = None) -> FollowerSync:
    return followers.start_sync(enterprise_id=enterprise_id, account_id=account_id, actor=actor)


def run_follower_sync(*, run_id: int) -> str:
    return followers.run_sync(run_id=run_id)


# ---------------------------------------------------------------------------------------------------------------
# Demo data


DEMO_NAME = "思域示例服务号"
DEMO_KEYWORDS: tuple[dict[str, Any], ...] = (
    {"keyword": "会员", "match": MatchKind.EXACT, "priority": 10, "kind": ReplyKind.NEWS, "articles": [
        {"title": "会员权益一览", "description": "积分、等级、生日礼，一页看懂", "url": "https://example.com/member",
         "pic_url": ""}]},
    {"keyword": "门店", "match": MatchKind.EXACT, "priority": 10, "kind": ReplyKind.TEXT,
     "content": "全国门店地址：https://example.com/stores ，也可以直接回复城市名。"},
    {"keyword": "积分", "match": MatchKind.CONTAINS, "priority": 5, "kind": ReplyKind.TEXT,
     "content": "查积分请点菜单「会员中心 → 我的积分」。"},
    {"keyword": "优惠券", "match": MatchKind.CONTAINS, "priority": 5, "kind": ReplyKind.TEXT,
     "content": "本周优惠券已放在「福利 → 领券中心」，先到先得。"},
    {"keyword": "MENU_SIGN_IN", "match": MatchKind.CLICK, "priority": 0, "kind": ReplyKind.TEXT,
     "content": "签到成功！连续签到 7 天可得额外积分。"},
    {"keyword": "MENU_SERVICE", "match": MatchKind.CLICK, "priority": 0, "kind": ReplyKind.TEXT,
     "content": "客服在线时间 9:00-21:00，直接留言即可。"},
)
DEMO_MENU: list[dict[str, Any]] = [
    {"name": "逛商城", "sub_button": [
        {"type": "miniprogram", "name": "小程序商城", "url": "https://example.com/mall", "appid": "wx5iyudemomp0001",
         "pagepath": "pages/index/index"},
        {"type": "view", "name": "新品上市", "url": "https://example.com/new"},
    ]},
    {"name": "会员中心", "sub_button": [
        {"type": "click", "name": "每日签到", "key": "MENU_SIGN_IN"},
        {"type": "view", "name": "我的积分", "url": "https://example.com/points"},
    ]},
    {"name": "福利", "sub_button": [
        {"type": "view", "name": "领券中心", "url": "https://example.com/coupons"},
        {"type": "click", "name": "联系客服", "key": "MENU_SERVICE"},
    ]},
]
DEMO_SCENES: tuple[dict[str, Any], ...] = (
    {"name": "门店收银台", "scene_str": "store_counter", "permanent": True},
    {"name": "包裹卡", "scene_str": "package_card", "permanent": True},
    {"name": "双11海报", "scene_str": "poster_1111", "permanent": False, "expire_seconds": MAX_TEMPORARY_EXPIRE,
     "reply_text": "欢迎参加双11活动！回复「优惠券」领取专属券。"},
    {"name": "门店 1 号", "scene_id": 1001, "permanent": True},
)


def demo_account_id() -> int | None:
    """The demo Official Account's id (its callback URL is /oa/callback/<id>/), or None before the seed ran."""
    return (
        ChannelAccount.objects.filter(kind=AccountKind.OFFICIAL_ACCOUNT, app_id=demo_accounts.OFFICIAL_ACCOUNT.app_id)
        .values_list("pk", flat=True)
        .first()
    )


def ensure_demo_account(*, enterprise_id: int, base_url: str) -> ChannelAccount:
    """The demo Official Account (credentials shared with the simulator) with replies, a menu and QR scenes.

    Idempotent: run it at every demo start, once the simulator is up, so the simulator (which keeps its state in
    memory) learns the menu and the scenes' tickets again. Platform errors are recorded on the rows, not raised.
    """
    demo = demo_accounts.OFFICIAL_ACCOUNT
    account = connect_account(
        enterprise_id=enterprise_id, name=DEMO_NAME, app_id=demo.app_id, secret=demo.secret, token=demo.token,
        encoding_aes_key=demo.encoding_aes_key, base_url=base_url.rstrip("/"),
    )
    if not FollowReply.objects.filter(account=account).exists():
        set_follow_reply(enterprise_id=enterprise_id, account_id=account.pk, kind=ReplyKind.TEXT,
                         content="欢迎关注思域示例服务号！回复「会员」看会员权益，回复「门店」查门店地址。")
    existing = set(KeywordReply.objects.filter(account=account).values_list("match", "keyword"))
    for rule in DEMO_KEYWORDS:
        if (rule["match"], rule["keyword"]) not in existing:
            create_keyword_reply(enterprise_id=enterprise_id, account_id=account.pk, **rule)
    menu = Menu.objects.filter(account=account).first()
    save_menu(enterprise_id=enterprise_id, account_id=account.pk, buttons=menu.buttons if menu else DEMO_MENU)
    known = set(QrScene.objects.filter(account=account).values_list("scene", flat=True))
    for scene in DEMO_SCENES:
        if str(scene.get("scene_str") or scene.get("scene_id")) not in known:
            create_qr_scene(enterprise_id=enterprise_id, account_id=account.pk, **scene)
    refresh_qr_tickets(account_id=account.pk, force=True)
    return account
