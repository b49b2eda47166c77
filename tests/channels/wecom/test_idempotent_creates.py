"""WeCom creates that reach the platform (a mass send, a moment, a channel code's contact way, an inheritance) need an
Idempotency-Key: a repeat returns the first answer and queues nothing again; the same key with another body is a 409;
no key is a 400 naming the header."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from siyu.channels.wecom.models import ChannelCode, MassSend, MomentTask, OutboundCall, TransferJob
from siyu.org.models import Staff
from siyu.org.services import create_api_token
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)

LINK = {"msgtype": "link", "link": {"title": "新品上市", "url": "https://example.com/new"}}
IMAGE = {"msgtype": "image", "image": {"media_id": "MEDIA_1"}}


class Api:
    def __init__(self, staff: Staff) -> None:
        _token, secret = create_api_token(staff=staff, name="keys")
        self.client = Client()
        self.auth = {"Authorization": f"Bearer {secret}"}

    def post(self, path: str, body: Any, key: str | None) -> Any:
        headers = {**self.auth, **({"Idempotency-Key": key} if key is not None else {})}
        return self.client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def _customer(w: Wecom) -> int:
    code = Api(w.org.hq).post("/api/channels/wecom/codes", {
        "account_id": w.account.pk, "name": "c", "staff_ids": [w.org.n1_staff.pk], "state": "k1"}, "code-setup").json()
    w.platform.scan(CORP_ID, code["config_id"])
    w.deliver()
    from siyu.customers.models import Customer

    return Customer.objects.get().pk


CASES: list[tuple[str, Callable[[Wecom], dict[str, Any]], Callable[[], int]]] = [
    ("/api/channels/wecom/mass-sends", lambda w: {
        "account_id": w.account.pk, "sender_ids": [w.org.n1_staff.pk], "customer_ids": [_customer(w)],
        "text": "你好", "attachments": [LINK], "submit": True}, MassSend.objects.count),
    ("/api/channels/wecom/moments", lambda w: {
        "account_id": w.account.pk, "text": "新品", "attachments": [IMAGE], "staff_ids": [w.org.n1_staff.pk],
        "submit": True}, MomentTask.objects.count),
    ("/api/channels/wecom/codes", lambda w: {
        "account_id": w.account.pk, "name": "poster", "staff_ids": [w.org.n1_staff.pk]}, ChannelCode.objects.count),
    ("/api/channels/wecom/transfers", lambda w: {
        "account_id": w.account.pk, "kind": "in_service", "handover_id": w.org.n1_staff.pk,
        "takeover_id": w.org.n2_staff.pk, "customer_ids": [_customer(w)]}, TransferJob.objects.count),
]


@pytest.mark.parametrize(("path", "body_of", "count"), CASES, ids=["mass-send", "moment", "code", "transfer"])
def test_a_create_reaching_wecom_is_answered_once_per_key(
    wecom: Wecom, path: str, body_of: Callable[[Wecom], dict[str, Any]], count: Callable[[], int]
) -> None:
    body = body_of(wecom)
    before, calls_before = count(), OutboundCall.objects.count()
    api = Api(wecom.org.hq)

    missing = api.post(path, body, None)
    assert missing.status_code == 400, missing.content
    assert (missing.json()["code"], missing.json()["field"]) == ("idempotency_key_required", "Idempotency-Key")
    assert count() == before

    first = api.post(path, body, "op-42")
    again = api.post(path, body, "op-42")

    assert first.status_code == again.status_code == 201, first.content
    assert again.json() == first.json()
    assert count() == before + 1
    queued = OutboundCall.objects.count() - calls_before
    assert queued >= 1  # the platform call is queued once, not once per request

    reused = api.post(path, {**body, "account_id": wecom.account.pk, "text": "另一条"} if "text" in body
                      else {**body, "name": "another"} if "name" in body else {**body, "message": "hi"}, "op-42")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert count() == before + 1 and OutboundCall.objects.count() - calls_before == queued


def test_keys_belong_to_their_staff_member(wecom: Wecom) -> None:
    """Another operator choosing the same key creates their own."""
    body = {"account_id": wecom.account.pk, "name": "poster", "staff_ids": [wecom.org.n1_staff.pk]}
    mine = Api(wecom.org.hq).post("/api/channels/wecom/codes", body, "k")
    theirs = Api(wecom.org.n1_manager).post("/api/channels/wecom/codes", body, "k")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
