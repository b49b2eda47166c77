"""Calendar moments with images, a video or a link: materials are checked when the plan is saved (field-level codes),
uploaded through the outbox as moment attachments when the plan falls due (once, keyed), then the moment task is
created with the media_ids, which the simulator checks against what was uploaded. Engagement (who posted, comments,
likes per member) is read back from the simulator and counted per member."""

from __future__ import annotations

import io
import struct
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.test import Client
from PIL import Image

from siyu.channels.wecom.models import OutboundCall
from siyu.content import queries, services
from siyu.content.models import MomentPlan
from siyu.core.errors import ValidationFailed
from siyu.core.timeutil import now
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.content.helpers import MP4, jpeg, png
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _material(scope: Scope, kind: str, title: str, content: bytes | None = None, name: str = "a.png",
              content_type: str = "image/png", **extra: Any) -> int:
    up = None
    if content is not None:
        up = services.Upload(stream=io.BytesIO(content), name=name, size=len(content))
    return services.create_material(scope=scope, data=services.MaterialInput(kind=kind, title=title, **extra),
                                    upload=up).pk


def _mp4_of(seconds: int) -> bytes:
    """An MP4 whose movie header (mvhd, version 0) says `seconds` at timescale 1000."""
    mvhd_body = b"\x00\x00\x00\x00" + struct.pack(">IIII", 0, 0, 1000, seconds * 1000) + b"\x00" * 80
    mvhd = struct.pack(">I", 8 + len(mvhd_body)) + b"mvhd" + mvhd_body
    moov = struct.pack(">I", 8 + len(mvhd)) + b"moov" + mvhd
    return MP4 + moov


def _sim(wecom: Wecom, path: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{wecom.server.base_url}/wecom/_sim/{path}", json=body, timeout=5)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_images_are_uploaded_once_then_the_task_carries_their_media_ids(wecom: Wecom) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    small = _material(hq, "image", "新品图", png(64, 48))
    big = _material(hq, "poster", "大海报", jpeg(1600, 1200), name="big.jpg", content_type="image/jpeg")
    plan = services.plan_moment(scope=hq, planned_at=now() - timedelta(minutes=1), text="周末上新",
                                attachments=[small, big])
    assert services.run_due_moments() == 1
    assert services.run_due_moments() == 0
    plan.refresh_from_db()
    assert plan.status == "created"
    corp = wecom.platform.corps[CORP_ID]
    uploads = [m for m in corp.media.values() if m.get("attachment_type") == 1]
    assert len(uploads) == 2  # once each, however often the scheduler ran
    job = next(iter(corp.moments.values()))
    media_ids = [a["image"]["media_id"] for a in job["attachments"]]
    assert [a["msgtype"] for a in job["attachments"]] == ["image", "image"]
    # in the plan's order: the small PNG as it is, the 1600×1200 poster scaled under 1,555,200 pixels as a JPEG
    first, second = (corp.media[m] for m in media_ids)
    assert Image.open(io.BytesIO(first["data"])).size == (64, 48)
    with Image.open(io.BytesIO(second["data"])) as scaled:
        assert scaled.format == "JPEG"
        width, height = scaled.size
    assert width * height <= 1_555_200 and abs(width / height - 4 / 3) < 0.01 and width == 1440
    assert OutboundCall.objects.filter(method="upload_attachment", status="done").count() == 2
    # each material counts one use "sent" for the moment, however often the scheduler ran
    assert {m.pk: m.sent for m in queries.search_materials(hq, queries.MaterialFilter()).items} == {  # type: ignore[attr-defined]
        small: 1, big: 1}


def test_a_link_goes_with_its_cover_and_a_title_cut_to_64_bytes(wecom: Wecom, settings: Any) -> None:
    settings.SIYU_PUBLIC_URL = "https://scrm.example.com"
    hq = Scope.hq(wecom.org.enterprise.pk)
    title = "冬季新品" * 8  # 32 characters, 96 bytes
    link = _material(hq, "link", title, png(300, 200), url="https://shop.example.com/winter")
    services.plan_moment(scope=hq, planned_at=now() - timedelta(minutes=1), text="", attachments=[link])
    assert services.run_due_moments() == 1
    job = next(iter(wecom.platform.corps[CORP_ID].moments.values()))
    body = job["attachments"][0]["link"]
    assert body["title"] == "冬季新品" * 5 + "冬"  # 21 characters = 63 bytes: no character cut in half
    assert body["url"].startswith("https://scrm.example.com/l/")
    assert wecom.platform.corps[CORP_ID].media[body["media_id"]]["type"] == "image"


def test_a_video_over_30_seconds_and_mixed_or_foreign_attachments_are_refused(wecom: Wecom) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    image = _material(hq, "image", "图", png())
    video = _material(hq, "video", "短片", _mp4_of(12), name="v.mp4", content_type="video/mp4")
    long_video = _material(hq, "video", "长片", _mp4_of(31), name="l.mp4", content_type="video/mp4")
    card = _material(hq, "miniprogram", "小程序", None, mp_appid="wx123", mp_page="pages/index.html")
    archived = _material(hq, "image", "旧图", png(10, 10))
    services.archive_material(scope=hq, material_id=archived)
    other = EnterpriseFactory.create(name="别家", code="other")
    foreign = _material(Scope.hq(other.pk), "image", "别家的图", png())
    cases = [
        ([image] * 1 + [_material(hq, "image", f"图{n}", png(8 + n, 8)) for n in range(9)], None, "too_many_images"),
        ([image, video], None, "mixed_attachments"),
        ([video, video], 1, "duplicate_attachment"),
        ([long_video], 0, "video_too_long"),
        ([card], 0, "kind_not_allowed"),
        ([image, archived], 1, "material_deleted"),
        ([foreign], 0, "unknown_material"),
    ]
    for ids, index, code in cases:
        with pytest.raises(ValidationFailed) as caught:
            services.plan_moment(scope=hq, planned_at=now(), text="x", attachments=ids)
        assert (caught.value.field, caught.value.index, caught.value.code) == ("attachments", index, code)
    assert MomentPlan.objects.count() == 0
    ok = services.plan_moment(scope=hq, planned_at=now() - timedelta(minutes=1), text="短片", attachments=[video])
    assert services.run_due_moments() == 1
    job = next(iter(wecom.platform.corps[CORP_ID].moments.values()))
    assert job["attachments"][0]["msgtype"] == "video"
    assert MomentPlan.objects.get(pk=ok.pk).status == "created"


def test_a_material_deleted_before_the_plan_is_due_fails_the_plan_visibly(wecom: Wecom) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    image = _material(hq, "image", "图", png())
    plan = services.plan_moment(scope=hq, planned_at=now() + timedelta(hours=1), text="稍后", attachments=[image])
    services.archive_material(scope=hq, material_id=image)
    assert services.run_due_moments(at=now() + timedelta(hours=2)) == 0
    plan.refresh_from_db()
    assert plan.status == "failed" and plan.error
    assert wecom.platform.corps[CORP_ID].moments == {} and not OutboundCall.objects.filter(
        method="upload_attachment").exists()


def test_the_simulator_refuses_media_it_did_not_take_for_moments(wecom: Wecom) -> None:
    from siyu.channels.wecom.provider import client_for

    client = client_for(wecom.account)
    temp = client.upload_media(kind="image", filename="a.png", content=png(), content_type="image/png")
    with pytest.raises(Exception, match="40007"):
        client.add_moment_task(text="x", attachments=[{"msgtype": "image", "image": {"media_id": temp}}])
    with pytest.raises(Exception, match="40009"):
        client.upload_attachment(media_type="image", filename="big.png", content=png(1500, 1100),
                                 content_type="image/png")


def test_engagement_per_member_is_read_and_counted(wecom: Wecom) -> None:
    org = wecom.org
    hq = Scope.hq(org.enterprise.pk)
    plan = services.plan_moment(scope=hq, planned_at=now() - timedelta(minutes=1), text="门店活动",
                                store_id=org.store_n1.pk)
    assert services.run_due_moments() == 1
    from siyu.channels.wecom import moments as wecom_moments

    plan.refresh_from_db()
    assert plan.moment_task is not None
    wecom_moments.poll_moment_task(task_id=plan.moment_task.pk)
    plan.refresh_from_db()
    moment_id = plan.moment_task.moment_id
    assert moment_id
    # n1_staff posts and gets 2 comments and 3 likes; n1_mgr has not posted yet
    _sim(wecom, "moment_publish", moment_id=moment_id, userid="n1_staff")
    for kind, by in (("comment", "n1_mgr"), ("comment", "hq"), ("like", "n1_mgr"), ("like", "hq"),
                     ("like", "n2_staff")):
        _sim(wecom, "moment_react", moment_id=moment_id, userid="n1_staff", kind=kind, by_userid=by)
    assert services.refresh_moments_engagement() == 1
    assert services.refresh_moments_engagement() == 1  # read again: replaced, not added
    api = Client()
    assert org.hq.user is not None
    api.force_login(org.hq.user)
    found = api.get(f"/api/content/moments/{plan.pk}/engagement").json()
    assert (found["posted"], found["comments"], found["likes"]) == (1, 2, 3)
    rows = {row["userid"]: (row["published"], row["comments"], row["likes"]) for row in found["staff"]}
    assert rows == {"n1_staff": (True, 2, 3), "n1_mgr": (False, 0, 0)}
    page = api.get(f"/content/moments/{plan.pk}/").content.decode()
    assert 'data-userid="n1_staff"' in page and 'data-userid="n1_mgr"' in page
    # a store member sees only their own row
    assert org.n1_staff.user is not None
    staff = Client()
    staff.force_login(org.n1_staff.user)
    own = staff.get(f"/api/content/moments/{plan.pk}/engagement").json()
    assert [row["userid"] for row in own["staff"]] == ["n1_staff"]
    assert staff.post(f"/content/moments/{plan.pk}/refresh/").status_code == 403


def test_the_api_plans_with_attachments_and_refuses_with_the_field(wecom: Wecom) -> None:
    org = wecom.org
    assert org.hq.user is not None
    api = Client()
    api.force_login(org.hq.user)
    hq = Scope.hq(org.enterprise.pk)
    image = _material(hq, "image", "图", png())
    when = (now() + timedelta(days=1)).isoformat()
    made = api.post("/api/content/moments", {"planned_at": when, "text": "", "attachments": [image]},
                    content_type="application/json", HTTP_IDEMPOTENCY_KEY="m-1")
    assert made.status_code == 201 and made.json()["attachments"] == [image]
    bad = api.post("/api/content/moments", {"planned_at": when, "text": "x", "attachments": [image, 999999]},
                   content_type="application/json", HTTP_IDEMPOTENCY_KEY="m-2")
    assert bad.status_code == 422
    body = bad.json()
    assert (body.get("code"), body.get("field"), body.get("index")) == ("unknown_material", "attachments", 1)
    assert MomentPlan.objects.count() == 1


def test_the_console_plans_with_attachments_and_shows_the_post(wecom: Wecom) -> None:
    org = wecom.org
    assert org.hq.user is not None
    hq = Scope.hq(org.enterprise.pk)
    image = _material(hq, "image", "新品主图", png())
    card = _material(hq, "miniprogram", "小程序卡片", None, mp_appid="wx123", mp_page="pages/index.html")
    client = Client()
    client.force_login(org.hq.user)
    page = client.get("/content/moments/")
    choices = [value for value, _label in page.context["form"].fields["attachments"].choices]
    assert image in choices and card not in choices  # the picker offers only what a moment can carry
    key = page.context["form"]["form_key"].value()
    when = (now() + timedelta(days=1)).astimezone().strftime("%Y-%m-%dT10:00")
    response = client.post("/content/moments/", {"form_key": key, "planned_at": when, "text": "",
                                                  "attachments": [str(image)]})
    assert response.status_code == 302
    plan = MomentPlan.objects.get()
    assert plan.attachments == [image] and plan.text == ""
    detail = client.get(f"/content/moments/{plan.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'data-material-id="{image}"' in detail and "新品主图" in detail and "尚未从企业微信读取" in detail


def test_an_upload_the_platform_refuses_fails_the_plan_with_its_reason(wecom: Wecom) -> None:
    wecom.platform.limits.attachment_image_max_bytes = 100  # a stricter platform than Siyu's own checks
    hq = Scope.hq(wecom.org.enterprise.pk)
    image = _material(hq, "image", "图", png(64, 48))
    plan = services.plan_moment(scope=hq, planned_at=now() - timedelta(minutes=1), text="x", attachments=[image])
    assert services.run_due_moments() == 0
    plan.refresh_from_db()
    assert plan.status == "failed" and "40009" in plan.error
    assert wecom.platform.corps[CORP_ID].moments == {}  # no moment task without its media
    assert services.run_due_moments() == 0 and OutboundCall.objects.filter(method="upload_attachment").count() == 1
