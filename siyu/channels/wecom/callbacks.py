"""Parsing WeCom callbacks: the encrypted envelope, the decrypted event, and the key that makes a replay a no-op.

XML is parsed with defusedxml (no entities, no external references). Every field is treated as optional, as the
platform's own captures show fields present or absent between versions (wecom-callbacks.md §5).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError  # noqa: S405 - types only; parsing goes through defusedxml

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from siyu.channels.common.crypto import PARSE_ERROR, CryptoError

# Fields that make one event distinct from another (besides Event and CreateTime).
IDENTITY_FIELDS = (
    "ChangeType",
    "UserID",
    "ExternalUserID",
    "ChatId",
    "Id",
    "TagType",
    "UpdateDetail",
    "Source",
    "FailReason",
    "State",
    "WelcomeCode",
    "MemChangeList",
    "CurMemVer",
)


@dataclass(frozen=True)
class Envelope:
    to_user: str
    agent_id: str
    encrypt: str


@dataclass(frozen=True)
class WecomEvent:
    fields: Mapping[str, str]
    members: tuple[str, ...] = ()

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    @property
    def event(self) -> str:
        return self.get("Event") or self.get("InfoType") or self.get("MsgType")

    @property
    def change_type(self) -> str:
        return self.get("ChangeType")

    @property
    def create_time(self) -> int:
        raw = self.get("CreateTime") or self.get("TimeStamp")
        return int(raw) if raw.isdigit() else 0

    @property
    def name(self) -> str:
        """`event/change_type` as stored on the raw log row."""
        return f"{self.event}/{self.change_type}".strip("/")[:64]


def _parse(raw: bytes | str) -> Element:
    try:
        root = SafeET.fromstring(raw)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise CryptoError(PARSE_ERROR, f"XML: {exc}") from exc
    if root.tag != "xml":
        raise CryptoError(PARSE_ERROR, f"unexpected root <{root.tag}>")
    return root


def parse_envelope(body: bytes) -> Envelope:
    root = _parse(body)
    encrypt = (root.findtext("Encrypt") or "").strip()
    if not encrypt:
        raise CryptoError(PARSE_ERROR, "no <Encrypt> in the body")
    return Envelope(
        to_user=(root.findtext("ToUserName") or "").strip(),
        agent_id=(root.findtext("AgentID") or "").strip(),
        encrypt=encrypt,
    )


def parse_event(plaintext: bytes | str) -> WecomEvent:
    root = _parse(plaintext)
    fields: dict[str, str] = {}
    members: tuple[str, ...] = ()
    for child in root:
        if child.tag == "MemChangeList":
            members = tuple((item.text or "").strip() for item in child.findall("Item"))
            fields["MemChangeList"] = ",".join(members)
        else:
            fields[child.tag] = (child.text or "").strip()
    return WecomEvent(fields=fields, members=members)


def dedupe_key(account_id: int, event: WecomEvent) -> str:
    """MsgId when the message has one; otherwise the event's identifying fields and CreateTime.

    The platform documents FromUserName + CreateTime for events, but every customer-contact event comes from "sys",
    so two customers adding staff in the same second would collide: the key also covers who and what changed.
    """
    msg_id = event.get("MsgId")
    if msg_id:
        return f"wecom:{account_id}:msg:{msg_id}"
    parts = [event.event, str(event.create_time)] + [f"{f}={event.get(f)}" for f in IDENTITY_FIELDS if event.get(f)]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"wecom:{account_id}:ev:{digest}"
