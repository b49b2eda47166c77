"""Parametric QR codes: temporary vs permanent, the documented limits, and follows/scans per scene per day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulator import oa as oa_sim
from simulator.state import current
from siyu.channels.official_account import queries, services
from siyu.channels.official_account.models import QrScene
from siyu.core.errors import Conflict, ValidationFailed
from siyu.core.timeutil import local_day, now
from siyu.customers.models import CustomerTag
from siyu.org.scope import Scope
from tests.channels.oa.conftest import DEMO, Platform
from tests.factories import TagGroupFactory

pytestmark = pytest.mark.django_db


def test_a_temporary_code_gets_a_ticket_that_expires(account, org) -> None:
    before = now()
    scene = services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=account.pk, name="海报",
                                     permanent=False, scene_str="poster_1111", expire_seconds=7 * 86400)
    assert scene.error == ""
    sim_qr = current().oa.app(DEMO.app_id).qrcodes[scene.ticket]
    assert (sim_qr.scene, sim_qr.numeric, sim_qr.permanent) == ("poster_1111", False, False)
    assert scene.url.startswith("http://weixin.qq.com/q/")
    assert scene.expires_at is not None
    assert before + timedelta(days=7) <= scene.expires_at <= now() + timedelta(days=7)


def test_a_permanent_numeric_code_never_expires(account, org) -> None:
    scene = services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=account.pk, name="门店 1",
                                     permanent=True, scene_id=100000)
    sim_qr = current().oa.app(DEMO.app_id).qrcodes[scene.ticket]
    assert (sim_qr.scene, sim_qr.numeric, sim_qr.permanent, sim_qr.expires_at) == ("100000", True, True, None)
    assert scene.expires_at is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"permanent": True, "scene_id": 100001}, "scene_id"),  # permanent ids are 1-100000
        ({"permanent": False, "scene_id": 0}, "scene_id"),
        ({"permanent": False, "scene_id": 2**32}, "scene_id"),  # 32-bit
        ({"permanent": False, "scene_str": "x" * 65}, "scene_str"),
        ({"permanent": False, "scene_str": "ok", "expire_seconds": 2_592_001}, "expire_seconds"),
        ({"permanent": True, "scene_str": "ok", "expire_seconds": 60}, "expire_seconds"),
        ({"permanent": True, "scene_str": "ok", "scene_id": 5}, "scene_id"),
        ({"permanent": True}, "scene_id"),
    ],
)
def test_scene_limits_are_checked_before_anything_is_written(account, org, kwargs, field) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=account.pk, name="n", **kwargs)
    assert caught.value.field == field
    assert not QrScene.objects.exists()
    assert current().oa.app(DEMO.app_id).qrcodes == {}


def test_a_temporary_code_may_last_exactly_thirty_days(account, org) -> None:
    scene = services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=account.pk, name="n",
                                     permanent=False, scene_id=4294967295, expire_seconds=2_592_000)
    assert current().oa.app(DEMO.app_id).qrcodes[scene.ticket].scene == "4294967295"


def test_a_scene_is_unique_per_account(account, org) -> None:
    services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=account.pk, name="a", permanent=True,
                             scene_str="dup")
    with pytest.raises(Conflict):
        services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=account.pk, name="b", permanent=True,
                                 scene_str="dup")


def test_follows_and_scans_are_counted_per_scene_per_day_and_tag_the_customer(platform: Platform, org) -> None:
    tag = TagGroupFactory.create(enterprise=org.enterprise, name="来源").tags.create(name="门店扫码")
    services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=platform.account.pk, name="门店",
                             permanent=True, scene_str="store", tag_ids=[tag.pk])
    services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=platform.account.pk, name="海报",
                             permanent=True, scene_str="poster")
    sim = platform.sim_account
    for n in range(3):
        platform.follower(openid=f"oStore{n}")
        platform.push(oa_sim.subscribe_xml(sim, f"oStore{n}", scene="store", ticket="t"))
    platform.push(oa_sim.scan_xml(sim, "oStore0", scene="store", ticket="t"))
    query, body = oa_sim.sign_callback(sim, oa_sim.scan_xml(sim, "oStore1", scene="poster", ticket="t", at=1000))
    platform.post_raw(query, body)
    platform.post_raw(query, body)  # replay: counted once
    rows = {row.scene.scene: row for row in queries.qr_scenes(Scope.hq(org.enterprise.pk), platform.account.pk)}
    assert (rows["store"].follows, rows["store"].scans) == (3, 1)
    assert (rows["poster"].follows, rows["poster"].scans) == (0, 1)
    store = rows["store"].scene
    days = queries.scene_daily(Scope.hq(org.enterprise.pk), store.pk, days=7)
    assert [d.day for d in days][-1] == local_day(now())
    assert (days[-1].follows, days[-1].scans) == (3, 1)
    assert sum(d.follows for d in days[:-1]) == 0
    assert CustomerTag.objects.filter(tag=tag).count() == 3


def test_store_staff_cannot_read_qr_stats(account, org) -> None:
    from siyu.core.errors import PermissionDenied
    from siyu.org.scope import scope_for_staff

    with pytest.raises(PermissionDenied):
        queries.qr_scenes(scope_for_staff(org.n1_staff), account.pk)


def test_showqrcode_serves_an_image_for_a_known_ticket(account, org, sim) -> None:
    import httpx

    scene = services.create_qr_scene(enterprise_id=org.enterprise.pk, account_id=account.pk, name="n",
                                     permanent=True, scene_str="img")
    row = queries.qr_scenes(Scope.hq(org.enterprise.pk), account.pk)[0]
    assert row.scene.pk == scene.pk
    response = httpx.get(row.image_url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
