"""The Official Account's callback wire format: signature checks, the safe-mode envelope, message/event XML and
passive replies. Pure functions over bytes and frozen dataclasses; nothing here touches the database.

XML is parsed with defusedxml: DTDs, entity declarations and external references are refused, so a crafted body
cannot expand entities (billion laughs) or read local files.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element  # noqa: S405 - only the type; parsing goes through defusedxml

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from siyu.channels.common.authenticity import MAX_CALLBACK_BODY
from siyu.channels.common.crypto import CryptoError, MessageCrypto, signature, verify_signature

MAX_BODY_BYTES = MAX_CALLBACK_BODY
SCENE_PREFIX = "qrscene_"
# A passive reply to a user's own message (text, image, voice, video, location, link) carries at most 1 article;
# replies to events (follow, click, scan) carry at most 8. Extra articles are dropped by the platform.
MAX_ARTICLES_TO_MESSAGE = 1
MAX_ARTICLES = 8


class CallbackRejected(Exception):
    """A callback that fails the signature, decryption or parsing. `reason` is stored on the raw log row."""

    def __init__(self, reason: str, *, code: int = 0, signature_ok: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.signature_ok = signature_ok


@dataclass(frozen=True)
class CallbackQuery:
    signature: str = ""
    timestamp: str = ""
    nonce: str = ""
    echostr: str = ""
    encrypt_type: str = ""
    msg_signature: str = ""
    openid: str = ""

    @classmethod
    def from_mapping(cls, params: Mapping[str, str]) -> CallbackQuery:
        return cls(**{name: str(params.get(name, ""))[:1024] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class InboundMessage:
    """One message or event pushed by the platform. Fields absent from the XML are empty strings."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    event: str = ""
    event_key: str = ""
    ticket: str = ""
    content: str = ""
    msg_id: str = ""
    menu_id: str = ""
    status: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_event(self) -> bool:
        return self.msg_type == "event"

    @property
    def event_name(self) -> str:
        """`subscribe`, `unsubscribe`, `SCAN`, `CLICK`, `VIEW`, ... as the platform spells them; msg type otherwise."""
        return self.event if self.is_event else self.msg_type

    @property
    def scene(self) -> str:
        """The QR scene of a follow (EventKey `qrscene_<scene>`) or a scan while following (EventKey `<scene>`)."""
        if self.event == "subscribe" and self.event_key.startswith(SCENE_PREFIX):
            return self.event_key[len(SCENE_PREFIX) :]
        if self.event == "SCAN":
            return self.event_key
        return ""


# ---------------------------------------------------------------------------------------------------------------
# Signatures and the envelope


def check_plain_signature(token: str, query: CallbackQuery) -> bool:
    try:
        verify_signature(query.signature, token, query.timestamp, query.nonce)
    except CryptoError:
        return False
    return True


def _flat_xml(body: bytes) -> dict[str, str]:
    if not body or len(body) > MAX_BODY_BYTES:
        raise CallbackRejected("empty or oversized body", code=44002)
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise CallbackRejected(f"unparseable XML: {exc}"[:200], code=47001) from exc
    return _element_fields(root)


def _element_fields(root: Element) -> dict[str, str]:
    fields: dict[str, str] = {}
    for child in root:
        if len(child):  # nested (ScanCodeInfo, SendLocationInfo, ...): keep the leaves, prefixed
            for leaf in child.iter():
                if leaf is not child and not len(leaf):
                    fields[f"{child.tag}.{leaf.tag}"] = (leaf.text or "").strip()
        else:
            fields[child.tag] = child.text or ""
    return fields


@dataclass(frozen=True)
class Opened:
    """The authenticated message XML and whether it came encrypted (a safe-mode reply is then encrypted too)."""

    plaintext: bytes
    encrypted: bool


PLAIN, COMPATIBLE, SAFE = "plain", "compatible", "safe"


def open_envelope(*, mode: str, crypto: MessageCrypto | None, token: str, query: CallbackQuery, body: bytes) -> Opened:
    """Check the signature the account's configured `mode` calls for and return the message XML.

    The request's own `encrypt_type` plays no part: a client could set it to anything.
    - safe: only an encrypted envelope is accepted, by its msg_signature over the ciphertext; a plaintext post is
      refused whatever it claims.
    - compatible (the platform sends the ciphertext beside a plaintext copy): a body carrying `<Encrypt>` is read
      from the ciphertext only, by its msg_signature; the plaintext fields beside it are never trusted. A body
      without one is taken as in plain mode.
    - plain: the signature over token, timestamp and nonce. It does not cover the body, so what a plaintext post
      is worth rests on the timestamp window and the replay cache: a captured query string carries at most one
      body, within 300 s, and none once the genuine request has been received.
    """
    if mode == SAFE or (mode == COMPATIBLE and b"<Encrypt" in body):
        return Opened(_open_encrypted(crypto=crypto, token=token, query=query, body=body), encrypted=True)
    if not check_plain_signature(token, query):
        raise CallbackRejected("signature mismatch", code=-40001)
    return Opened(body, encrypted=False)


def _open_encrypted(*, crypto: MessageCrypto | None, token: str, query: CallbackQuery, body: bytes) -> bytes:
    if crypto is None:
        raise CallbackRejected("the account has no EncodingAESKey for encrypted callbacks", code=-40004)
    ciphertext = _flat_xml(body).get("Encrypt", "") if b"<Encrypt" in body else ""
    if not ciphertext:
        raise CallbackRejected("plaintext callback refused: the account takes encrypted callbacks only", code=-40001)
    try:
        verify_signature(query.msg_signature, token, query.timestamp, query.nonce, ciphertext)
    except CryptoError as exc:
        raise CallbackRejected("msg_signature mismatch", code=exc.code) from exc
    try:
        return crypto.decrypt(ciphertext)
    except CryptoError as exc:
        raise CallbackRejected(str(exc), code=exc.code, signature_ok=True) from exc


def parse_message(plaintext: bytes) -> InboundMessage:
    fields = _flat_xml(plaintext)
    try:
        create_time = int(fields.get("CreateTime", "0") or 0)
    except ValueError as exc:
        raise CallbackRejected("CreateTime is not an integer", code=47001, signature_ok=True) from exc
    msg_type = fields.get("MsgType", "")
    if not msg_type or not fields.get("FromUserName"):
        raise CallbackRejected("MsgType or FromUserName missing", code=47001, signature_ok=True)
    return InboundMessage(
        to_user=fields.get("ToUserName", ""),
        from_user=fields["FromUserName"],
        create_time=create_time,
        msg_type=msg_type,
        event=fields.get("Event", ""),
        event_key=fields.get("EventKey", ""),
        ticket=fields.get("Ticket", ""),
        content=fields.get("Content", ""),
        msg_id=fields.get("MsgId", "") or fields.get("MsgID", ""),
        menu_id=fields.get("MenuId", ""),
        status=fields.get("Status", ""),
        fields=fields,
    )


def dedupe_key(app_id: str, message: InboundMessage) -> str:
    """Messages dedupe by MsgId; events by sender + CreateTime + event (+ key), as the platform documents.

    TEMPLATESENDJOBFINISH carries the MsgID of the send it reports on, so it dedupes as an event, not a message.
    """
    if message.msg_id and not message.is_event:
        return f"oa:{app_id}:msg:{message.msg_id}"[:191]
    parts = [app_id, "evt", message.from_user, str(message.create_time), message.event_name, message.event_key]
    if message.msg_id:
        parts.append(message.msg_id)
    return ("oa:" + ":".join(parts))[:191]


# ---------------------------------------------------------------------------------------------------------------
# Passive replies


@dataclass(frozen=True)
class Article:
    title: str
    description: str = ""
    pic_url: str = ""
    url: str = ""


@dataclass(frozen=True)
class Reply:
    kind: str  # "text" | "news"
    content: str = ""
    articles: tuple[Article, ...] = ()


def cdata(value: str) -> str:
    """A CDATA section that survives a `]]>` inside the value (split across two sections)."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_reply(
    reply: Reply, *, to_user: str, from_user: str, answering_message: bool, now: int | None = None
) -> str:
    created = int(time.time()) if now is None else now
    head = (
        f"<ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
    )
    if reply.kind == "news":
        limit = MAX_ARTICLES_TO_MESSAGE if answering_message else MAX_ARTICLES
        items = "".join(_article_xml(article) for article in reply.articles[:limit])
        count = min(len(reply.articles), limit)
        return (
            f"<xml>{head}<MsgType>{cdata('news')}</MsgType><ArticleCount>{count}</ArticleCount>"
            f"<Articles>{items}</Articles></xml>"
        )
    return f"<xml>{head}<MsgType>{cdata('text')}</MsgType><Content>{cdata(reply.content)}</Content></xml>"


def _article_xml(article: Article) -> str:
    return (
        f"<item><Title>{cdata(article.title)}</Title><Description>{cdata(article.description)}</Description>"
        f"<PicUrl>{cdata(article.pic_url)}</PicUrl><Url>{cdata(article.url)}</Url></item>"
    )


def seal_reply(crypto: MessageCrypto, reply_xml: str, *, timestamp: str, nonce: str) -> str:
    """Safe mode: the reply travels encrypted, signed over token, timestamp, nonce and the ciphertext."""
    return crypto.encrypted_reply(reply_xml, timestamp, nonce)


def articles_from(raw: Sequence[Mapping[str, str]]) -> tuple[Article, ...]:
    return tuple(
        Article(
            title=str(item.get("title", "")),
            description=str(item.get("description", "")),
            pic_url=str(item.get("pic_url", "")),
            url=str(item.get("url", "")),
        )
        for item in raw
    )


def verification_signature(token: str, timestamp: str, nonce: str) -> str:
    """What the platform sends as `signature` (exposed for the simulator and tests)."""
    return signature(token, timestamp, nonce)
