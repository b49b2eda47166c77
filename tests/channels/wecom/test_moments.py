"""Moment tasks (朋友圈) against the simulator: add_moment_task through the outbox, the jobid polled to a moment_id,
the visible range (staff and WeCom tags), the 10-a-minute limit as a "rate limited" state that recovers, field
errors, scoping and the console pages."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from siyu.channels.wecom import housekeeping, moments
from siyu.channels.wecom.client import TerminalError, WecomClient
from siyu.channels.wecom.models import CallStatus, MomentStatus, MomentTask, OutboundCall, TagLink
from siyu.channels.wecom.outbox import MAX_ATTEMPTS
from siyu.core.timeutil import now
from siyu.customers import services as customer_services
from siyu.customers.models import Tag
from siyu.org.models import Staff
from siyu.org.scope import Scope
from siyu.org.services import create_api_token
from tests.channels.wecom.conftest import CORP_ID, SECRET, Wecom
from tests.content.helpers import png

pytestmark = pytest.mark.django_db(transaction=True)

IMAGES = [{"msgtype": "image", "image": {"media_id": f"media{n}"}} for n in range(3)]


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


def _hq(w: Wecom) -> Scope:
    return Scope.hq(w.org.enterprise.pk)


def _linked_tag(w: Wecom, name: str = "VIP") -> tuple[Tag, str]:
    """A Siyu tag linked to a WeCom corp tag (as the tag sync leaves it)."""
    group = w.platform.console_add_tag(CORP_ID, group_name="等级", tag_name=name)
    tag = customer_services.create_tag(
        group=customer_services.create_tag_group(enterprise_id=w.org.enterprise.pk, name=f"等级-{name}"), name=name
    )
    TagLink.objects.create(account=w.account, tag=tag, wecom_tag_id=group.id)
    return tag, group.id


def _fill_the_minute(w: Wecom) -> None:
    other = WecomClient(base_url=w.account.base_url, corp_id=CORP_ID, secret=SECRET)
    for n in range(10):
        other.add_moment_task(text=f"other system {n}")


def _due(call_id: int) -> None:
    OutboundCall.objects.filter(pk=call_id).update(next_attempt_at=now() - timedelta(seconds=1))


def _moment_images(w: Wecom, n: int) -> list[dict[str, Any]]:
    """Images uploaded as moment attachments (media/upload_attachment): the only media_ids a moment takes."""
    client = WecomClient(base_url=w.account.base_url, corp_id=CORP_ID, secret=SECRET)
    return [{"msgtype": "image", "image": {"media_id": client.upload_attachment(
        media_type="image", filename=f"{k}.png", content=png(8 + k, 8), content_type="image/png")}}
        for k in range(n)]


def test_a_moment_is_published_and_its_moment_id_stored(wecom: Wecom) -> None:
    tag, wecom_tag = _linked_tag(wecom)
    images = _moment_images(wecom, 3)
    task = moments.create_moment_task(
        scope=_hq(wecom), account_id=wecom.account.pk, text="春季新品", attachments=images,
        staff_ids=[wecom.org.n1_staff.pk, wecom.org.north_manager.pk], tag_ids=[tag.pk], submit=True,
    )
    task.refresh_from_db()
    assert task.status == MomentStatus.RUNNING and task.jobid
    job = wecom.platform.corps[CORP_ID].moments[task.jobid]
    assert (job["text"], job["attachments"], sorted(job["users"]), job["tags"]) == (
        "春季新品", images, ["n1_staff", "north_mgr"], [wecom_tag]
    )
    assert OutboundCall.objects.get(method="add_moment_task").idempotency_key == f"add_moment_task:{task.pk}:1"

    assert moments.poll_moment_task(task_id=task.pk) == MomentStatus.DONE
    task.refresh_from_db()
    assert task.moment_id == job["moment_id"]
    assert task.invalid_userids == ["north_mgr"]  # not a member of the corp
    assert task.finished_at is not None
    assert moments.poll_moment_task(task_id=task.pk) == MomentStatus.DONE  # safe to run twice


def test_the_ten_a_minute_limit_is_a_rate_limited_state_that_recovers(wecom: Wecom) -> None:
    _fill_the_minute(wecom)
    task = moments.create_moment_task(
        scope=_hq(wecom), account_id=wecom.account.pk, text="限流", staff_ids=[wecom.org.n1_staff.pk], submit=True,
    )
    task.refresh_from_db()
    call = OutboundCall.objects.get(method="add_moment_task")
    assert (task.status, task.errcode, call.status) == (MomentStatus.RATE_LIMITED, 45009, CallStatus.RETRYING)
    assert task.retry_at is not None and task.retry_at == call.next_attempt_at

    wecom.platform.advance(61)
    _due(call.pk)
    figures = housekeeping.sweep()
    assert (figures["calls_requeued"], figures["moments_finished"]) == (1, 1)
    task.refresh_from_db()
    assert (task.status, task.errcode) == (MomentStatus.DONE, 0)
    assert task.moment_id == wecom.platform.corps[CORP_ID].moments[task.jobid]["moment_id"]


def test_still_rate_limited_after_every_retry_fails_and_may_be_submitted_again(wecom: Wecom) -> None:
    _fill_the_minute(wecom)
    task = moments.create_moment_task(
        scope=_hq(wecom), account_id=wecom.account.pk, text="再试", submit=True,
    )
    call = OutboundCall.objects.get(method="add_moment_task")
    OutboundCall.objects.filter(pk=call.pk).update(attempts=MAX_ATTEMPTS - 1)
    _due(call.pk)
    housekeeping.sweep()
    task.refresh_from_db()
    assert (task.status, task.errcode, task.jobid) == (MomentStatus.FAILED, 45009, "")

    wecom.platform.advance(61)
    api = Api(wecom.org.hq)
    again = api.post(f"/api/channels/wecom/moments/{task.pk}/submit", {})
    assert again.status_code == 200, again.content
    assert again.json()["status"] == "running"
    keys = sorted(OutboundCall.objects.filter(method="add_moment_task").values_list("idempotency_key", flat=True))
    assert keys == [f"add_moment_task:{task.pk}:1", f"add_moment_task:{task.pk}:2"]
    done = api.post(f"/api/channels/wecom/moments/{task.pk}/refresh", {}).json()
    assert (done["status"], bool(done["moment_id"])) == ("done", True)
    assert api.post(f"/api/channels/wecom/moments/{task.pk}/submit", {}).status_code == 409


def test_a_moment_still_processing_is_polled_again(wecom: Wecom) -> None:
    wecom.platform.limits.moment_processing_s = 30
    task = moments.create_moment_task(scope=_hq(wecom), account_id=wecom.account.pk, text="稍后", submit=True)
    assert moments.poll_moment_task(task_id=task.pk) == MomentStatus.RUNNING
    task.refresh_from_db()
    assert task.next_poll_at is not None and task.next_poll_at > now()
    assert housekeeping.sweep()["moments_finished"] == 0
    wecom.platform.advance(31)
    MomentTask.objects.filter(pk=task.pk).update(next_poll_at=None)
    assert housekeeping.sweep()["moments_finished"] == 1


def _body(w: Wecom, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"account_id": w.account.pk, "text": "新品", "attachments": IMAGES,
                            "staff_ids": [w.org.n1_staff.pk], "submit": True}
    body.update(extra)
    return body


@pytest.mark.parametrize(("extra", "status", "field", "index"), [
    ({"text": "长" * 2001}, 422, "text", None),
    ({"text": "", "attachments": []}, 422, "text", None),
    ({"attachments": [*IMAGES, {"msgtype": "link", "link": {"url": "https://e.com", "media_id": "m"}}]},
     422, "attachments", None),
    ({"attachments": [{"msgtype": "link", "link": {"title": "no cover", "url": "https://e.com"}}]},
     422, "attachments", 0),
    ({"attachments": [{"msgtype": "video", "video": {"media_id": "v1"}}] * 2}, 422, "attachments", None),
    ({"attachments": [{"msgtype": "miniprogram"}]}, 422, "attachments", 0),
    ({"staff_ids": [999999]}, 404, "staff_ids", 0),
    ({"tag_ids": [999999]}, 404, "tag_ids", 0),
])
def test_bad_moment_input_is_a_field_error(
    wecom: Wecom, extra: dict[str, Any], status: int, field: str, index: int | None
) -> None:
    response = Api(wecom.org.hq).post("/api/channels/wecom/moments", _body(wecom, **extra))
    assert response.status_code == status, response.content
    assert (response.json()["field"], response.json().get("index")) == (field, index)
    assert MomentTask.objects.count() == 0 and OutboundCall.objects.count() == 0


def test_a_tag_not_synced_to_wecom_is_a_field_error(wecom: Wecom) -> None:
    tag = customer_services.create_tag(
        group=customer_services.create_tag_group(enterprise_id=wecom.org.enterprise.pk, name="本地"), name="仅本地"
    )
    response = Api(wecom.org.hq).post("/api/channels/wecom/moments", _body(wecom, tag_ids=[tag.pk]))
    assert (response.status_code, response.json()["field"], response.json()["index"]) == (422, "tag_ids", 0)


def test_moment_scoping(wecom: Wecom) -> None:
    staff_api = Api(wecom.org.n1_staff)
    for_everyone = staff_api.post("/api/channels/wecom/moments", _body(wecom, staff_ids=[]))
    assert (for_everyone.status_code, for_everyone.json()["field"]) == (422, "staff_ids")
    for_other = staff_api.post("/api/channels/wecom/moments", _body(wecom, staff_ids=[wecom.org.s1_staff.pk]))
    assert (for_other.status_code, for_other.json()["field"]) == (403, "staff_ids")
    own = staff_api.post("/api/channels/wecom/moments", _body(wecom))
    assert own.status_code == 201, own.content
    assert Api(wecom.org.s1_staff).get(f"/api/channels/wecom/moments/{own.json()['id']}").status_code == 404
    assert Api(wecom.org.n1_manager).get("/api/channels/wecom/moments").json()["total"] == 1
    hq_all = Api(wecom.org.hq).post("/api/channels/wecom/moments", _body(wecom, staff_ids=[]))
    assert hq_all.status_code == 201
    assert Api(wecom.org.n1_manager).get("/api/channels/wecom/moments").json()["total"] == 1  # HQ's is HQ's


def _login(w: Wecom, staff: Staff) -> None:
    assert staff.user is not None
    w.client.force_login(staff.user)


def test_moment_console_pages_render_for_hq(wecom: Wecom) -> None:
    _login(wecom, wecom.org.hq)
    assert wecom.client.get("/channels/wecom/moments/").status_code == 200
    assert wecom.client.get("/channels/wecom/moments/new/").status_code == 200
    _fill_the_minute(wecom)
    response = wecom.client.post("/channels/wecom/moments/new/", {"form_key": "test-form-1",
        "account": wecom.account.pk, "text": "门店上新", "staff": [wecom.org.n1_staff.pk], "attachment": "image",
        "att_media_id": "media1", "submit_now": "on",
    })
    task = MomentTask.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/channels/wecom/moments/{task.pk}/"
    page = wecom.client.get(response["Location"]).content.decode()
    assert 'id="rate-limited"' in page and 'id="moment-status"' in page
    listing = wecom.client.get("/channels/wecom/moments/").content.decode()
    assert 'data-status-count="rate_limited">' in listing


def test_a_bad_moment_attachment_in_the_console_form_lands_on_its_field(wecom: Wecom) -> None:
    _login(wecom, wecom.org.hq)
    response = wecom.client.post("/channels/wecom/moments/new/", {"form_key": "test-form-2",
        "account": wecom.account.pk, "text": "x", "attachment": "link", "att_url": "https://e.com"})
    assert response.status_code == 200
    assert 'id="field-attachment"' in response.content.decode() and "has-error" in response.content.decode()
    assert MomentTask.objects.count() == 0


@pytest.mark.parametrize(("attachments", "errmsg"), [
    ([IMAGES[0], {"msgtype": "video", "video": {"media_id": "v"}}], "invalid attachments msgtype"),
    ([{"msgtype": "miniprogram", "miniprogram": {"appid": "wx1"}}], "invalid attachments msgtype"),
    ([{"msgtype": "link", "link": {"url": "https://e.com"}}], "invalid link"),
    ([{"msgtype": "link", "link": {"url": "https://e.com", "media_id": "m"}}] * 2, "invalid attachments size"),
    ([{"msgtype": "image", "image": {"media_id": f"m{n}"}} for n in range(10)], "invalid attachments size"),
])
def test_the_simulator_enforces_the_moment_attachment_rules(
    wecom: Wecom, attachments: list[dict[str, Any]], errmsg: str
) -> None:
    client = WecomClient(base_url=wecom.account.base_url, corp_id=CORP_ID, secret=SECRET)
    with pytest.raises(TerminalError) as caught:
        client.add_moment_task(text="x", attachments=attachments)
    assert (caught.value.errcode, caught.value.errmsg) == (40058, errmsg)
