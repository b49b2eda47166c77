"""The callback URL: verification, signature checks, raw storage first, replay protection."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from simulator.wecom import ContactWayState, PendingCallback
from siyu.channels.common.crypto import MessageCrypto
from siyu.channels.models import CallbackStatus, InboundCallback
from siyu.channels.wecom.models import ChannelCode
from siyu.customers.models import Customer
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, TOKEN, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


def _url(w: Wecom, **params: str) -> str:
    return f"/channels/wecom/callback/{w.account.pk}/?{urlencode(params)}"


def _crypto() -> MessageCrypto:
    return MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)


def test_url_verification_answers_the_plain_echostr(wecom: Wecom) -> None:
    crypto = _crypto()
    echostr = crypto.encrypt("4075181314397890557")
    ts = str(int(time.time()))
    sig = crypto.sign(ts, "846958211", echostr)
    url = _url(wecom, msg_signature=sig, timestamp=ts, nonce="846958211", echostr=echostr)
    response = wecom.client.get(url)
    assert response.status_code == 200
    assert response.content == b"4075181314397890557"
    assert response["Content-Type"].startswith("text/plain")


def test_url_verification_with_a_wrong_signature_is_refused_and_logged(wecom: Wecom) -> None:
    echostr = _crypto().encrypt("123")
    response = wecom.client.get(_url(wecom, msg_signature="0" * 40, timestamp="1", nonce="2", echostr=echostr))
    assert response.status_code == 403
    assert b"123" not in response.content
    row = InboundCallback.objects.get(event="verify_url")
    assert (row.status, row.signature_ok) == (CallbackStatus.REJECTED, False)


def _add_callback(w: Wecom) -> PendingCallback:
    ChannelCode.objects.create(enterprise=w.org.enterprise, account=w.account, name="x", state="s1")
    w.platform.corps[CORP_ID].contact_ways["cfg1"] = ContactWayState("cfg1", 2, 2, ["n1_staff"], "s1")
    w.platform.scan(CORP_ID, "cfg1")
    [pending] = w.platform.take_outbox()
    return pending


def test_a_forged_signature_is_rejected_stored_and_not_processed(wecom: Wecom) -> None:
    pending = _add_callback(wecom)
    params = {**pending.params, "msg_signature": "f" * 40}
    forged = PendingCallback(pending.url, params, pending.body, pending.plaintext)
    assert wecom.post(forged) == 403
    row = InboundCallback.objects.get()
    assert (row.status, row.signature_ok, row.plaintext) == (CallbackStatus.REJECTED, False, "")
    assert row.body == pending.body.decode()
    assert row.error.startswith("-40001")
    assert Customer.objects.count() == 0


def test_a_body_encrypted_for_another_corp_is_rejected(wecom: Wecom) -> None:
    other = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id="wwsomeoneelse")
    ciphertext = other.encrypt("<xml><Event>change_external_contact</Event></xml>")
    body = f"<xml><ToUserName><![CDATA[wwsomeoneelse]]></ToUserName><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    params = {"msg_signature": other.sign("1", "2", ciphertext), "timestamp": "1", "nonce": "2"}
    response = wecom.client.post(_url(wecom, **params), data=body.encode(), content_type="text/xml")
    assert response.status_code == 400
    row = InboundCallback.objects.get()
    assert (row.status, row.signature_ok) == (CallbackStatus.REJECTED, True)
    assert row.error.startswith("-40005")


def test_a_replayed_callback_is_stored_as_duplicate_and_processed_once(wecom: Wecom) -> None:
    pending = _add_callback(wecom)
    assert wecom.post(pending) == 200
    # the same event pushed anew: re-encrypted with another nonce and timestamp
    crypto = _crypto()
    ciphertext = crypto.encrypt(pending.plaintext)
    body = pending.body.decode().split("<Encrypt>")[0] + f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    ts = str(int(time.time()) + 1)
    params = {"msg_signature": crypto.sign(ts, "777", ciphertext), "timestamp": ts, "nonce": "777"}
    assert wecom.post(PendingCallback(pending.url, params, body.encode(), pending.plaintext)) == 200
    assert wecom.post(pending) == 200  # the very same request again: acknowledged, not stored a second time
    statuses = sorted(InboundCallback.objects.values_list("status", flat=True))
    assert statuses == [CallbackStatus.DUPLICATE, CallbackStatus.PROCESSED]
    assert Customer.objects.count() == 1
    assert len(wecom.platform.welcomes(CORP_ID)) == 0  # no welcome text configured on this code


def test_the_ack_is_an_empty_200(wecom: Wecom) -> None:
    pending = _add_callback(wecom)
    path = pending.url.split("testserver")[1]
    response = wecom.client.post(f"{path}?{urlencode(pending.params)}", data=pending.body, content_type="text/xml")
    assert (response.status_code, response.content) == (200, b"")


def test_an_unknown_account_is_404_and_logged(wecom: Wecom) -> None:
    response = wecom.client.post("/channels/wecom/callback/999999/?msg_signature=x", data=b"<xml/>",
                                 content_type="text/xml")
    assert response.status_code == 404
    assert InboundCallback.objects.get().status == CallbackStatus.REJECTED


def test_malformed_xml_with_entities_is_rejected_without_expanding_them(wecom: Wecom) -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
    response = wecom.client.post(_url(wecom, msg_signature="x", timestamp="1", nonce="2"), data=bomb,
                                 content_type="text/xml")
    assert response.status_code in (400, 403)
    assert InboundCallback.objects.get().status == CallbackStatus.REJECTED


def test_a_forged_body_full_of_nul_bytes_is_refused_and_logged(wecom: Wecom) -> None:
    body = b"<xml><Encrypt>\x00\x00garbage\x00</Encrypt></xml>"
    response = wecom.client.post(_url(wecom, msg_signature="0" * 40, timestamp="1", nonce="\x002"), data=body,
                                 content_type="text/xml")
    assert response.status_code in (400, 403)
    row = InboundCallback.objects.get()
    assert row.status == CallbackStatus.REJECTED
    assert "\x00" not in row.body and "\ufffd" in row.body
