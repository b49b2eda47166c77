"""The SMS callback endpoint: authenticated before anything else, applied once, never a 500."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from siyu.channels.sms import services
from siyu.channels.sms.models import SmsCallback, SmsMessage, SmsPurpose, SmsStatus
from tests.channels.sms.conftest import URL, customer, post, signed
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def _receipt(message: SmsMessage, status: str = "DELIVRD", **kw: Any) -> dict[str, Any]:
    return {"type": "receipt", "message_id": kw.pop("message_id", "sms00000001"),
            "key": kw.pop("key", f"siyu-sms:{message.pk}"), "phone": message.phone, "status": status,
            "error_code": kw.pop("error_code", ""), "reported_at": "2026-12-07T08:00:00Z", **kw}


@pytest.fixture
def queued(org: Org) -> SmsMessage:
    """A message recorded but whose send has not answered yet (as when a receipt beats the send's own answer)."""
    return SmsMessage.objects.create(enterprise=org.enterprise, key="k1", phone="13800000001", text="hi",
                                     purpose=SmsPurpose.NOTICE)


def test_forged_stale_unsigned_and_oversized_callbacks_are_refused_with_a_reason(client: Client,
                                                                                   queued: SmsMessage) -> None:
    forged = post(client, _receipt(queued), secret="not-the-secret")  # noqa: S106
    assert (forged.status_code, forged.json()["code"]) == (401, "bad_signature")
    stale = post(client, _receipt(queued), ts=int(time.time()) - 301)
    assert (stale.status_code, stale.json()["code"]) == (401, "stale_timestamp")
    future = post(client, _receipt(queued), ts=int(time.time()) + 400)
    assert future.status_code == 401
    unsigned = client.post(URL, data=b'{"type": "receipt"}', content_type="application/json")
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "unsigned")
    big = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    raw, headers = signed(big)
    too_large = client.post(URL, data=raw, content_type="application/json", headers=headers)
    assert (too_large.status_code, too_large.json()["code"]) == (413, "too_large")
    assert client.get(URL).status_code == 405
    queued.refresh_from_db()
    assert queued.status == SmsStatus.QUEUED and SmsCallback.objects.count() == 0


def test_a_signed_but_malformed_body_is_a_400_not_a_500(client: Client, queued: SmsMessage) -> None:
    assert post(client, b"not json").json()["code"] == "bad_json"
    assert post(client, b"[1, 2]").status_code == 400
    assert post(client, _receipt(queued, status="WHATEVER")).status_code == 400
    assert post(client, _receipt(queued, reported_at="yesterday")).status_code == 400
    assert post(client, {"type": "reply", "message_id": "mo1", "phone": "12", "text": "TD",
                         "received_at": "2026-12-07T08:00:00Z"}).status_code == 400


def test_a_replayed_nonce_is_acknowledged_and_applied_once(client: Client, queued: SmsMessage) -> None:
    calls: list[services.ReceiptUpdate] = []
    services.register_receipt_hook(calls.append, name="test.replay")
    try:
        ts = int(time.time())
        first = post(client, _receipt(queued), ts=ts, nonce="abc123")
        again = post(client, _receipt(queued), ts=ts, nonce="abc123")
    finally:
        services._RECEIPT_HOOKS.pop("test.replay")
    assert first.json() == {"code": "OK"} and again.json() == {"code": "OK", "duplicate": True}
    assert SmsCallback.objects.count() == 1
    assert [(c.enterprise_id, c.key, c.status) for c in calls] == [(queued.enterprise_id, "k1", "delivered")]


def test_an_unknown_key_is_ignored_cleanly(client: Client, queued: SmsMessage) -> None:
    for key in ("siyu-sms:999999", "somebody-else", f"siyu-sms:{queued.pk}"):
        body = _receipt(queued, key=key)
        if key == f"siyu-sms:{queued.pk}":
            body["phone"] = "13900000000"  # our key but another number: not ours to believe
        assert post(client, body, nonce=f"n{len(key)}").status_code == 200
    assert list(SmsCallback.objects.values_list("status", flat=True)) == ["ignored"] * 3
    queued.refresh_from_db()
    assert queued.status == SmsStatus.QUEUED


def test_receipts_twice_and_out_of_order_move_the_status_only_up(client: Client, queued: SmsMessage) -> None:
    """A receipt before the send's answer, twice, then a late 'sent', then a contradicting final report."""
    calls: list[tuple[str, str]] = []
    services.register_receipt_hook(lambda u: calls.append((u.key, u.status)), name="test.order")
    try:
        post(client, _receipt(queued), nonce="a1")
        post(client, _receipt(queued), nonce="a2")  # the provider retried with a new nonce
        post(client, _receipt(queued, status="SENT"), nonce="a3")
        post(client, _receipt(queued, status="UNDELIV", error_code="MK:0001"), nonce="a4")
    finally:
        services._RECEIPT_HOOKS.pop("test.order")
    queued.refresh_from_db()
    assert (queued.status, queued.provider_message_id, queued.error) == ("delivered", "sms00000001", "")
    assert calls == [("k1", "delivered")]
    assert SmsCallback.objects.filter(status="processed").count() == 4


def test_a_failing_hook_does_not_undo_the_receipt(client: Client, queued: SmsMessage) -> None:
    def broken(update: services.ReceiptUpdate) -> None:
        raise RuntimeError("campaign app is broken")

    services.register_receipt_hook(broken, name="test.broken")
    try:
        assert post(client, _receipt(queued, status="UNDELIV", error_code="MK:0001")).status_code == 200
    finally:
        services._RECEIPT_HOOKS.pop("test.broken")
    queued.refresh_from_db()
    assert (queued.status, queued.error) == ("failed", "MK:0001")


def test_a_reply_to_a_number_never_texted_is_ignored(client: Client, org: Org) -> None:
    customer(org.enterprise, "13800000009")
    body = {"type": "reply", "message_id": "mo1", "phone": "13800000009", "text": "TD", "reply_to": "",
            "received_at": "2026-12-07T08:00:00Z"}
    assert post(client, body).status_code == 200
    assert SmsCallback.objects.get().status == "ignored"
