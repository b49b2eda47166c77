"""The WeCom REST API: channel codes with stats, inheritance, scoping and validation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from siyu.channels.wecom.models import ChannelCode, TransferJob
from siyu.org.models import Staff
from siyu.org.services import create_api_token
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


class Api:
    def __init__(self, staff: Staff) -> None:
        _token, secret = create_api_token(staff=staff, name="test")
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        """A fresh Idempotency-Key per action, as a client sends it (creates that reach WeCom need one)."""
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        return self.client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def _create(api: Api, w: Wecom, **extra: Any) -> Any:
    body = {"account_id": w.account.pk, "name": "Store poster", "staff_ids": [w.org.n1_staff.pk], "state": "poster1",
            "welcome_text": "{name} 您好", "welcome_attachments": [
                {"msgtype": "link", "link": {"title": "新人礼", "url": "https://example.com/gift"}}]}
    body.update(extra)
    return api.post("/api/channels/wecom/codes", body)


def test_a_manager_creates_a_code_and_sees_its_stats_move(wecom: Wecom) -> None:
    api = Api(wecom.org.n1_manager)
    response = _create(api, wecom)
    assert response.status_code == 201, response.content
    code = response.json()
    assert (code["status"], code["state"], code["active_userids"]) == ("active", "poster1", ["n1_staff"])
    wecom.client.get(f"/channels/wecom/qr/{code['config_id']}/")
    wecom.platform.scan(CORP_ID, code["config_id"])
    wecom.deliver()
    stats = api.get(f"/api/channels/wecom/codes/{code['id']}/stats", days=7).json()
    assert (stats["scans"], stats["adds"], stats["deletes"], stats["net"]) == (1, 1, 0, 1)
    assert len(stats["days"]) == 7 and stats["days"][-1]["adds"] == 1
    welcome = wecom.platform.welcomes(CORP_ID)[0]
    assert welcome.attachments == [{"msgtype": "link", "link": {"title": "新人礼", "url": "https://example.com/gift"}}]


def test_store_staff_may_not_create_codes(wecom: Wecom) -> None:
    response = _create(Api(wecom.org.n1_staff), wecom)
    assert response.status_code == 403
    assert ChannelCode.objects.count() == 0


def test_a_bad_state_is_a_field_error_and_nothing_is_written(wecom: Wecom) -> None:
    response = _create(Api(wecom.org.hq), wecom, state="has space")
    assert response.status_code == 422
    assert response.json()["field"] == "state"
    assert ChannelCode.objects.count() == 0


def test_a_duplicate_state_is_a_conflict(wecom: Wecom) -> None:
    api = Api(wecom.org.hq)
    assert _create(api, wecom).status_code == 201
    response = _create(api, wecom)
    assert (response.status_code, response.json()["field"]) == (409, "state")


def test_a_manager_cannot_put_staff_of_another_store_on_a_code(wecom: Wecom) -> None:
    response = _create(Api(wecom.org.n1_manager), wecom, staff_ids=[wecom.org.s1_staff.pk])
    assert (response.status_code, response.json()["field"], response.json()["index"]) == (404, "staff_ids", 0)


def test_a_bad_attachment_names_its_index(wecom: Wecom) -> None:
    response = _create(Api(wecom.org.hq), wecom, welcome_attachments=[
        {"msgtype": "image", "image": {"pic_url": "https://example.com/a.png"}}, {"msgtype": "link", "link": {}}])
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["index"]) == ("welcome_attachments", 1)


def test_codes_are_scoped(wecom: Wecom) -> None:
    assert _create(Api(wecom.org.hq), wecom).status_code == 201
    assert Api(wecom.org.n1_manager).get("/api/channels/wecom/codes").json()["total"] == 1
    assert Api(wecom.org.s1_staff).get("/api/channels/wecom/codes").json()["total"] == 0


def test_inheritance_over_the_api(wecom: Wecom) -> None:
    code = _create(Api(wecom.org.hq), wecom).json()
    wecom.platform.scan(CORP_ID, code["config_id"])
    wecom.deliver()
    api = Api(wecom.org.n1_manager)
    response = api.post("/api/channels/wecom/transfers", {
        "account_id": wecom.account.pk, "kind": "in_service", "handover_id": wecom.org.n1_staff.pk,
        "takeover_id": wecom.org.n2_staff.pk})
    assert response.status_code == 201, response.content
    detail = api.get(f"/api/channels/wecom/transfers/{response.json()['id']}").json()
    assert [i["status"] for i in detail["items"]] == ["waiting"]
    assert Api(wecom.org.s1_staff).get(f"/api/channels/wecom/transfers/{detail['id']}").status_code == 404
    assert TransferJob.objects.count() == 1


def test_the_callback_log_and_outbox_are_for_hq(wecom: Wecom) -> None:
    _create(Api(wecom.org.hq), wecom)
    assert Api(wecom.org.hq).get("/api/channels/wecom/outbox").json()["total"] == 1
    assert Api(wecom.org.n1_manager).get("/api/channels/wecom/outbox").status_code == 403
    assert Api(wecom.org.n1_manager).get("/api/channels/callbacks").status_code == 403
    assert Api(wecom.org.hq).get("/api/channels/callbacks").status_code == 200
