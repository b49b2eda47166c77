"""The console pages under /oa/ (HQ only)."""

from __future__ import annotations

import re

import pytest

from simulator import oa as oa_sim
from simulator.state import current
from siyu.channels.official_account import services
from siyu.channels.official_account.models import KeywordReply, Menu, QrScene
from tests.channels.oa.conftest import DEMO, Platform

pytestmark = pytest.mark.django_db


@pytest.fixture
def hq(client, org, account):
    client.force_login(org.hq.user)
    return client


@pytest.mark.parametrize("path", ["/oa/", "/oa/keywords/", "/oa/follow-reply/", "/oa/menu/", "/oa/qr/",
                                  "/oa/templates/", "/oa/callbacks/"])
def test_every_page_renders_for_hq(hq, path: str) -> None:
    response = hq.get(path)
    assert response.status_code == 200
    assert b'name="viewport"' in response.content


def test_store_staff_are_refused(client, org, account) -> None:
    client.force_login(org.n1_staff.user)
    assert client.get("/oa/keywords/").status_code == 403


def test_signed_out_visitors_are_sent_to_login(client, account) -> None:
    response = client.get("/oa/menu/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_keyword_reply_crud(hq, account) -> None:
    created = hq.post("/oa/keywords/", {"account": account.pk, "keyword": "门店", "match": "exact", "priority": "3",
                                        "kind": "text", "content": "地址在此"})
    assert created.status_code == 302
    rule = KeywordReply.objects.get()
    assert (rule.keyword, rule.match, rule.priority, rule.content) == ("门店", "exact", 3, "地址在此")
    assert "门店".encode() in hq.get("/oa/keywords/").content
    edited = hq.post(f"/oa/keywords/{rule.pk}/", {"keyword": "门店", "match": "contains", "priority": "1",
                                                  "kind": "text", "content": "新地址", "is_active": "on"})
    assert edited.status_code == 302
    rule.refresh_from_db()
    assert (rule.match, rule.content) == ("contains", "新地址")
    assert hq.post(f"/oa/keywords/{rule.pk}/delete/").status_code == 302
    assert not KeywordReply.objects.exists()


def test_an_invalid_keyword_form_shows_the_error_and_writes_nothing(hq, account) -> None:
    response = hq.post("/oa/keywords/", {"account": account.pk, "keyword": "", "match": "exact", "kind": "text",
                                         "content": "x"})
    assert response.status_code == 422
    assert b"keyword" in response.content
    assert not KeywordReply.objects.exists()


def test_menu_editor_saves_a_valid_menu_and_points_at_the_bad_slot(hq, account, django_capture_on_commit_callbacks):
    form = {"account": account.pk, "b0_name": "会员", "b0_s0_name": "签到", "b0_s0_type": "click", "b0_s0_key": "SIGN",
            "b2_name": "官网", "b2_type": "view", "b2_url": "https://example.com"}
    with django_capture_on_commit_callbacks(execute=True):
        assert hq.post("/oa/menu/", form).status_code == 302
    menu = Menu.objects.get()
    assert menu.buttons == [
        {"name": "会员", "sub_button": [{"type": "click", "name": "签到", "key": "SIGN"}]},
        {"type": "view", "name": "官网", "url": "https://example.com"},
    ]
    assert current().oa.app(DEMO.app_id).menu == menu.buttons
    bad = dict(form, b2_name="一个很长的菜单名字")
    response = hq.post("/oa/menu/", bad)
    assert response.status_code == 422
    assert b"Button 3" in response.content or "按钮 3".encode() in response.content
    assert Menu.objects.get().version == 1


def test_qr_form_creates_a_temporary_code(hq, account) -> None:
    response = hq.post("/oa/qr/", {"account": account.pk, "name": "海报", "scene": "poster_a", "scene_type": "str",
                                   "expire_days": "7"})
    assert response.status_code == 302
    scene = QrScene.objects.get()
    assert (scene.scene, scene.permanent, scene.expire_seconds) == ("poster_a", False, 7 * 86400)
    assert scene.ticket
    assert hq.get(f"/oa/qr/{scene.pk}/").status_code == 200


def test_callback_log_lists_rejected_and_processed(hq, platform: Platform) -> None:
    platform.follower(openid="oLog")
    platform.push(oa_sim.text_xml(platform.sim_account, "oLog", content="hi"))
    query, body = oa_sim.sign_callback(platform.sim_account, oa_sim.text_xml(platform.sim_account, "oLog",
                                                                               content="x"))
    query["signature"] = "0" * 40
    platform.post_raw(query, body)
    page = hq.get("/oa/callbacks/", {"status": "rejected"})
    assert page.status_code == 200
    assert b"signature mismatch" in page.content
    everything = hq.get("/oa/callbacks/").content.decode()
    assert re.search(r'data-status="processed">[^<]* 1<', everything)
    assert re.search(r'data-status="rejected">[^<]* 1<', everything)


def test_template_form_queues_a_message(hq, account, django_capture_on_commit_callbacks) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oTpl")
    with django_capture_on_commit_callbacks(execute=True):
        response = hq.post("/oa/templates/", {"account": account.pk, "openid": "oTpl",
                                              "template_id": "tpl_points_changed_0001", "idempotency_key": "c-1",
                                              "value_first": "积分到账", "value_keyword1": "+100"})
    assert response.status_code == 302
    assert b"tpl_points_changed_0001" in hq.get("/oa/templates/").content
    assert len(current().oa.app(DEMO.app_id).template_sends) == 1


def test_demo_account_is_idempotent_and_teaches_the_simulator(org, sim, immediate_tasks,
                                                              django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = services.ensure_demo_account(enterprise_id=org.enterprise.pk, base_url=sim.base_url + "/oa")
    with django_capture_on_commit_callbacks(execute=True):
        again = services.ensure_demo_account(enterprise_id=org.enterprise.pk, base_url=sim.base_url + "/oa/")
    assert first.pk == again.pk
    assert KeywordReply.objects.count() == len(services.DEMO_KEYWORDS)
    assert QrScene.objects.count() == len(services.DEMO_SCENES)
    assert QrScene.objects.filter(error="").exclude(ticket="").count() == len(services.DEMO_SCENES)
    sim_app = current().oa.app(DEMO.app_id)
    assert {qr.scene for qr in sim_app.qrcodes.values()} == {"store_counter", "package_card", "poster_1111", "1001"}
    assert sim_app.menu == services.DEMO_MENU
    assert Menu.objects.get().status == "pushed"


@pytest.mark.parametrize("path", ["/oa/templates/", "/oa/callbacks/", "/channels/callbacks/", "/catalog/"])
def test_an_absurd_page_number_is_not_an_error(hq, path: str) -> None:
    assert hq.get(path, {"page": "461168601842738792"}).status_code == 200
    assert hq.get(path, {"page": "2000000"}).status_code == 200
