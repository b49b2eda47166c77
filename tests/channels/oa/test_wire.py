"""The wire format on its own: the published sample message, signatures, CDATA, dedupe keys."""

from __future__ import annotations

import hashlib

import pytest
from defusedxml.ElementTree import fromstring
from wechatpy.utils import check_signature

from siyu.channels.official_account import callbacks as wire

# The official text-message sample (被动回复/接收普通消息 doc).
SAMPLE_TEXT = (
    b"<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>"
    b"<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]>"
    b"</Content><MsgId>1234567890123456</MsgId></xml>"
)
SAMPLE_SCENE_FOLLOW = (
    b"<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName>"
    b"<CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
    b"<EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>"
)


def test_the_published_text_sample_parses() -> None:
    message = wire.parse_message(SAMPLE_TEXT)
    assert (message.to_user, message.from_user, message.create_time) == ("toUser", "fromUser", 1348831860)
    assert (message.msg_type, message.content, message.msg_id, message.is_event) == (
        "text", "this is a test", "1234567890123456", False
    )
    assert wire.dedupe_key("wxAPP", message) == "oa:wxAPP:msg:1234567890123456"


def test_a_follow_through_a_qr_code_yields_its_scene() -> None:
    message = wire.parse_message(SAMPLE_SCENE_FOLLOW)
    assert (message.event, message.scene, message.ticket) == ("subscribe", "123123", "TICKET")
    assert wire.dedupe_key("wxAPP", message) == "oa:wxAPP:evt:FromUser:123456789:subscribe:qrscene_123123"


def test_scan_while_following_carries_the_bare_scene() -> None:
    xml = SAMPLE_SCENE_FOLLOW.replace(b"subscribe", b"SCAN").replace(b"qrscene_123123", b"123123")
    assert wire.parse_message(xml).scene == "123123"


def test_the_plain_signature_matches_wechatpy_and_a_hand_computation() -> None:
    token, timestamp, nonce = "siyuDemoOaToken", "1409659589", "263014780"
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324
    assert wire.verification_signature(token, timestamp, nonce) == expected
    check_signature(token, expected, timestamp, nonce)  # raises if wechatpy disagrees
    query = wire.CallbackQuery(signature=expected, timestamp=timestamp, nonce=nonce)
    assert wire.check_plain_signature(token, query)
    assert not wire.check_plain_signature("other", query)


def test_a_reply_survives_a_cdata_terminator_in_the_text() -> None:
    reply = wire.Reply(kind="text", content="a]]>b<c>&")
    xml = wire.render_reply(reply, to_user="o1", from_user="gh", answering_message=True, now=5)
    root = fromstring(xml.encode())
    assert root.findtext("Content") == "a]]>b<c>&"
    assert root.findtext("CreateTime") == "5"


@pytest.mark.parametrize("body", [b"", b"<xml><oops>", b"x" * (wire.MAX_BODY_BYTES + 1)])
def test_unusable_bodies_are_rejected(body: bytes) -> None:
    with pytest.raises(wire.CallbackRejected):
        wire.parse_message(body)


def test_a_message_without_sender_is_rejected() -> None:
    with pytest.raises(wire.CallbackRejected):
        wire.parse_message(b"<xml><MsgType>text</MsgType></xml>")
