"""The material library through the API and the console: HQ adds, every role reads, a refused upload writes
nothing (no row, no file), usage counts once per key, another brand sees nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from siyu.content.models import ContentUse, Material
from siyu.core.models import AuditEntry
from tests.conftest import Org
from tests.content.conftest import stored_files, token_client
from tests.content.helpers import HTML, MP4, png, png_bomb, upload
from tests.factories import EnterpriseFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _create(api: Client, **fields: object) -> tuple[int, dict[str, object]]:
    response = api.post("/api/content/materials", fields)
    return response.status_code, response.json()


def test_hq_uploads_an_image_with_its_thumbnail_and_dimensions(org: Org, hq_api: Client, _media: Path) -> None:
    status, body = _create(hq_api, kind="image", title="冬季新品海报", stage="new", scenario="product",
                           file=upload("../../新品.png", png(640, 320)))
    assert status == 201, body
    assert (body["kind"], body["width"], body["height"], body["content_type"]) == ("image", 640, 320, "image/png")
    assert body["file_name"] == "新品.png" and body["has_thumbnail"] is True
    material = Material.objects.get()
    assert len(stored_files(_media)) == 2 and material.file.startswith(f"content/{org.enterprise.pk}/")
    assert AuditEntry.objects.filter(action="content.material_create", target_id=str(material.pk)).count() == 1


def test_a_refused_upload_leaves_no_row_and_no_file(hq_api: Client, _media: Path) -> None:
    status, body = _create(hq_api, kind="image", title="伪装", file=upload("photo.png", HTML))
    assert (status, body["code"], body["field"]) == (422, "wrong_type", "file")
    status, body = _create(hq_api, kind="poster", title="炸弹", file=upload("bomb.png", png_bomb()))
    assert (status, body["code"]) == (422, "image_too_large")
    status, body = _create(hq_api, kind="video", title="无文件")
    assert (status, body["field"]) == (422, "file")
    assert Material.objects.count() == 0 and stored_files(_media) == []


def test_kinds_without_a_file_check_their_own_fields(hq_api: Client) -> None:
    assert _create(hq_api, kind="text", title="开场白", text="{customer_name} 您好")[0] == 201
    status, body = _create(hq_api, kind="text", title="坏变量", text="{name} 您好")
    assert (status, body["code"]) == (422, "unknown_variable")
    status, body = _create(hq_api, kind="link", title="活动页", url="javascript:alert(1)")
    assert (status, body["field"]) == (422, "url")
    status, body = _create(hq_api, kind="link", title="活动页", url="https://example.com/a", text="周末活动",
                           file=upload("cover.jpg", png()))
    assert status == 201 and body["has_thumbnail"] is True
    status, body = _create(hq_api, kind="miniprogram", title="商城", mp_appid="wxmall", mp_page="pages/index")
    assert (status, body["field"]) == (422, "mp_page")
    assert _create(hq_api, kind="miniprogram", title="商城", mp_appid="wxmall", mp_page="pages/index.html")[0] == 201
    assert _create(hq_api, kind="video", title="开箱", file=upload("a.mp4", MP4, "video/mp4"))[0] == 201


def test_store_staff_read_but_do_not_write(org: Org, hq_api: Client, staff_api: Client) -> None:
    _status, created = _create(hq_api, kind="text", title="开场白", text="您好")
    assert staff_api.get("/api/content/materials").json()["total"] == 1
    assert staff_api.get(f"/api/content/materials/{created['id']}").status_code == 200
    assert _create(staff_api, kind="text", title="门店自建", text="您好")[0] == 403
    response = staff_api.patch(f"/api/content/materials/{created['id']}", {"title": "改"},
                               content_type="application/json")
    assert response.status_code == 403
    assert staff_api.delete(f"/api/content/materials/{created['id']}").status_code == 403


def test_another_enterprise_sees_nothing(org: Org, hq_api: Client) -> None:
    _status, created = _create(hq_api, kind="text", title="开场白", text="您好")
    other = EnterpriseFactory.create(name="别家", code="other")
    other_api = token_client(StaffFactory.create(enterprise=other, name="别家HQ", role="hq_admin"))
    assert other_api.get("/api/content/materials").json()["total"] == 0
    assert other_api.get(f"/api/content/materials/{created['id']}").status_code == 404


def test_uses_count_once_per_key(org: Org, hq_api: Client, staff_api: Client) -> None:
    _status, created = _create(hq_api, kind="text", title="开场白", text="您好")
    body = {"key": "tap-1", "material_id": created["id"]}
    first = staff_api.post("/api/content/uses", body, content_type="application/json")
    again = staff_api.post("/api/content/uses", body, content_type="application/json")
    assert (first.json(), again.json()) == ({"counted": True}, {"counted": False})
    staff_api.post("/api/content/uses", {**body, "key": "tap-2", "kind": "clicked"}, content_type="application/json")
    got = hq_api.get(f"/api/content/materials/{created['id']}").json()
    assert (got["sent"], got["clicked"], got["converted"]) == (1, 1, 0)
    assert ContentUse.objects.count() == 2


def test_list_filters_and_pages(hq_api: Client) -> None:
    for n in range(5):
        _create(hq_api, kind="text", title=f"开场白{n}", text="您好", scenario="greeting" if n % 2 else "")
    page = hq_api.get("/api/content/materials", {"scenario": "greeting", "page_size": "1"}).json()
    assert (page["total"], len(page["items"])) == (2, 1)
    assert hq_api.get("/api/content/materials", {"colour": "red"}).status_code == 400  # an unknown filter


def test_console_upload_and_file_served_to_store_staff(org: Org, client: Client, _media: Path) -> None:
    assert org.hq.user is not None and org.n1_staff.user is not None
    client.force_login(org.hq.user)
    page = client.get("/content/materials/new/")
    key = page.context["form"]["form_key"].value()
    data = {"form_key": key, "kind": "poster", "title": "店庆海报", "file": upload("店庆.png", png(400, 600))}
    response = client.post("/content/materials/new/", data)
    material = Material.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/content/materials/{material.pk}/"
    data["file"] = upload("店庆.png", png(400, 600))
    assert client.post("/content/materials/new/", data).status_code == 302  # the same form again: created once
    assert Material.objects.count() == 1

    staff = Client()
    staff.force_login(org.n1_staff.user)
    served = staff.get(f"/content/materials/{material.pk}/file/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == png(400, 600)  # type: ignore[attr-defined]
    assert staff.get(f"/content/materials/{material.pk}/thumb/")["Content-Type"] == "image/jpeg"
    assert staff.get(f"/content/materials/{material.pk}/other/").status_code == 404
    assert staff.get("/content/materials/new/").status_code == 403
    listing = staff.get("/content/").content.decode()
    assert "店庆海报" in listing


def test_console_refusal_is_shown_on_the_file_field(org: Org, client: Client) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    key = client.get("/content/materials/new/").context["form"]["form_key"].value()
    response = client.post("/content/materials/new/", {"form_key": key, "kind": "image", "title": "伪装",
                                                       "file": upload("x.png", HTML)})
    assert response.status_code == 422
    assert response.context["form"].errors["file"] and Material.objects.count() == 0


def test_the_pages_speak_chinese_and_english(org: Org, client: Client) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    assert "新建素材" in client.get("/content/").content.decode()
    assert "新建话术" in client.get("/content/scripts/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/content/"})
    assert "New material" in client.get("/content/").content.decode()
