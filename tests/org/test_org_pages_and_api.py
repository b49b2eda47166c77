"""The organisation over the API (field-level 422s, nothing half-written) and through the console pages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.org.models import Region, Role, Staff, Store
from siyu.org.services import create_api_token
from tests.api.conftest import Api
from tests.conftest import Org


@pytest.fixture
def api_as(db: None) -> Callable[[Staff], Api]:
    def make(staff: Staff) -> Api:
        _token, secret = create_api_token(staff=staff, name=f"test {staff.name}")
        return Api(secret)

    return make


def test_api_creates_and_edits_with_field_level_errors(org: Org, api_as: Callable[[Staff], Api]) -> None:
    hq = api_as(org.hq)
    created = hq.post("/api/org/regions", {"name": "华东", "code": "east"})
    assert created.status_code == 201
    region_id = created.json()["id"]
    dup = hq.post("/api/org/regions", {"name": "Again", "code": "east"})
    assert (dup.status_code, dup.json()["field"], dup.json()["code"]) == (422, "code", "duplicate")
    store = hq.post("/api/org/stores", {"name": "上海一店", "code": "sh1", "region_id": region_id, "city": "上海",
                                        "opening_state": "preparing", "opened_on": "2027-01-08"})
    assert store.status_code == 201 and store.json()["opening_state"] == "preparing"
    bad = hq.post("/api/org/stores", {"name": "X", "code": "sh2", "region_id": region_id, "opening_state": "soon"})
    assert (bad.status_code, bad.json()["field"]) == (422, "opening_state")
    assert not Store.objects.filter(code="sh2").exists()
    staff = hq.post("/api/org/staff", {"name": "王芳", "role": "store_manager", "store_id": store.json()["id"],
                                       "wecom_userid": "wang.fang", "mobile": "13800138000"})
    assert staff.status_code == 201
    body = staff.json()
    assert (body["role"], body["region_id"], body["mobile"]) == ("store_manager", region_id, "13800138000")
    role = hq.patch(f"/api/org/staff/{body['id']}", {"name": "王芳", "role": "store_staff",
                                                     "store_id": body["store_id"], "wecom_userid": "wang.fang"})
    assert role.status_code == 200 and role.json()["role"] == "store_staff"
    assert AuditEntry.objects.filter(action="staff.role", target_id=str(body["id"])).count() == 1
    left = hq.post(f"/api/org/staff/{body['id']}/left", {"reason": "离职"})
    assert left.status_code == 200 and left.json()["is_active"] is False and left.json()["left_at"]
    listed = hq.get("/api/org/staff", active="false").json()
    assert [s["wecom_userid"] for s in listed["items"]] == ["wang.fang"]
    searched = hq.get("/api/org/stores", q="上海", state="preparing").json()
    assert [s["code"] for s in searched["items"]] == ["sh1"]
    assert hq.get("/api/org/stores", state="nope").json()["field"] == "state"
    assert hq.get("/api/org/regions", q="华").json()["total"] == 1


def test_api_password_is_write_only(org: Org, api_as: Callable[[Staff], Api]) -> None:
    hq = api_as(org.hq)
    response = hq.post(f"/api/org/staff/{org.n1_staff.pk}/password",
                       {"username": "n1.login", "password": "Beijing#2026-one"})
    assert response.status_code == 200
    assert "Beijing#2026-one" not in response.content.decode()
    assert User.objects.get(username="n1.login").check_password("Beijing#2026-one")
    weak = hq.post(f"/api/org/staff/{org.n1_staff.pk}/password", {"username": "n1.login", "password": "123"})
    assert (weak.status_code, weak.json()["field"]) == (422, "password")
    extra = hq.post(f"/api/org/staff/{org.n1_staff.pk}/password",
                    {"username": "n1.login", "password": "Beijing#2026-one", "role": "hq_admin"})
    assert extra.status_code == 422


def test_store_manager_edits_own_store_staff_through_the_api_only(org: Org, api_as: Callable[[Staff], Api]) -> None:
    mgr = api_as(org.n1_manager)
    ok = mgr.patch(f"/api/org/staff/{org.n1_staff.pk}", {"name": "一店导购", "wecom_userid": "n1_staff",
                                                          "store_id": org.store_n1.pk})
    assert ok.status_code == 200 and ok.json()["name"] == "一店导购"
    assert mgr.patch(f"/api/org/staff/{org.n2_staff.pk}", {"name": "x", "store_id": org.store_n1.pk}).status_code == 404
    promote = mgr.patch(f"/api/org/staff/{org.n1_staff.pk}", {"name": "x", "role": "store_manager",
                                                               "store_id": org.store_n1.pk})
    assert promote.status_code == 403
    assert mgr.post("/api/org/regions", {"name": "R", "code": "r"}).status_code == 403
    assert Region.objects.count() == 2


def test_console_pages_edit_mark_left_and_set_password(org: Org, client: Client) -> None:
    client.force_login(org.hq.user)  # type: ignore[arg-type]
    assert client.get("/org/stores/", {"q": "bj"}).status_code == 200
    response = client.post("/org/stores/new/", {"name": "北京三店", "code": "bad code", "region_id": org.north.pk,
                                                "opening_state": "open"})
    assert response.status_code == 200 and 'data-field="code"' in response.content.decode()
    response = client.post("/org/stores/new/", {"name": "北京三店", "code": "bj3", "region_id": org.north.pk,
                                                "opening_state": "preparing", "opened_on": "2027-02-01"})
    assert response.status_code == 302 and Store.objects.get(code="bj3").opening_state == "preparing"
    page = f"/org/staff/{org.n2_staff.pk}/"
    client.post(page, {"action": "password", "username": "tj.guide", "password": "Tianjin#2026-x"})
    assert User.objects.get(username="tj.guide").check_password("Tianjin#2026-x")
    client.post(page, {"action": "left", "reason": "辞职"})
    assert not Staff.objects.get(pk=org.n2_staff.pk).is_active
    assert "left-badge" in client.get(page).content.decode()
    # a store manager edits their own store's staff, and may not open another store's
    client.force_login(org.n1_manager.user)  # type: ignore[arg-type]
    response = client.post(f"/org/staff/{org.n1_staff.pk}/", {"action": "save", "name": "一店导购",
                                                              "role": Role.STORE_STAFF, "store_id": org.store_n1.pk})
    assert response.status_code == 302 and Staff.objects.get(pk=org.n1_staff.pk).name == "一店导购"
    assert client.get(f"/org/staff/{org.s1_staff.pk}/").status_code == 404
    assert client.post(f"/org/staff/{org.n1_staff.pk}/", {"action": "left"}).status_code == 403


def test_console_lists_render_at_phone_width_markup(org: Org, client: Client) -> None:
    """Every list is inside a scrolling table wrapper, as the console's 375 px layout expects."""
    client.force_login(org.hq.user)  # type: ignore[arg-type]
    for path in ("/org/regions/", "/org/stores/", "/org/staff/", "/org/import/"):
        html = client.get(path).content.decode()
        assert 'class="table-wrap"' in html, path


def test_pages_speak_chinese_by_default_and_english_on_request(org: Org, client: Client) -> None:
    client.force_login(org.hq.user)  # type: ignore[arg-type]
    html = client.get("/org/import/").content.decode()
    assert "导入组织架构表" in html and "检查表格" in html
    assert "标记为离职" in client.get(f"/org/staff/{org.n1_staff.pk}/").content.decode()
    client.cookies["django_language"] = "en"
    assert "Import an organisation sheet" in client.get("/org/import/").content.decode()
