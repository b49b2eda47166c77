"""A group welcome template's attachment picked from the material library: content fills WeCom's attachment-source
registry, a poster becomes an image WeCom keeps (media/uploadimg, played by the simulator), a link its card; a text
material, another enterprise's material or both kinds of attachment at once are refused with a code."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from siyu.channels.wecom import attachment_sources
from siyu.channels.wecom.models import GroupWelcome
from siyu.content import services as content_services
from siyu.org.scope import scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api
from tests.content.helpers import png, upload
from tests.factories import EnterpriseFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _material(staff: Any, kind: str, title: str, **kw: Any) -> int:
    image = kw.pop("image", None)
    up = None if image is None else content_services.Upload(upload("poster.png", image), "poster.png", len(image))
    return content_services.create_material(
        scope=scope_for_staff(staff), actor=None, upload=up,
        data=content_services.MaterialInput(kind=kind, title=title, **kw)).pk


def _post(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post("/api/channels/wecom/group-welcomes", json.dumps(body), content_type="application/json",
                           headers={**api.headers, "Idempotency-Key": uuid.uuid4().hex})


def test_content_registers_the_material_library_as_a_source(wecom: Wecom) -> None:
    assert "material" in attachment_sources.names()
    poster = _material(wecom.org.hq, "poster", "双十二海报", image=png())
    _material(wecom.org.hq, "text", "只是文字", text="你好")
    labels = attachment_sources.choices(scope_for_staff(wecom.org.hq), "material")
    assert [pk for pk, _label in labels] == [poster]  # a text material cannot be an attachment: not offered


def test_a_poster_becomes_an_image_wecom_keeps_and_a_link_its_card(wecom: Wecom) -> None:
    api = Api(wecom.org.hq)
    poster = _material(wecom.org.hq, "poster", "双十二海报", image=png())
    response = _post(api, {"account_id": wecom.account.pk, "name": "海报欢迎语", "text": "欢迎 %NICKNAME%",
                           "material_id": poster})
    assert response.status_code == 201, response.content
    welcome = GroupWelcome.objects.get(pk=response.json()["id"])
    url = welcome.attachment["image"]["pic_url"]
    corp = wecom.platform.corps[CORP_ID]
    assert url in corp.images and corp.images[url]["size"] == len(png())  # uploaded once, kept by WeCom
    template = corp.group_welcome_templates[welcome.template_id]
    assert template.attachment == {"image": {"pic_url": url}}

    link = _material(wecom.org.hq, "link", "会员日活动", text="全场8折", url="https://m.example.com/d12")
    response = api.client.patch(f"/api/channels/wecom/group-welcomes/{welcome.pk}",
                                json.dumps({"material_id": link}), content_type="application/json",
                                headers=api.headers)
    assert response.status_code == 200, response.content
    welcome.refresh_from_db()
    assert welcome.attachment == {"msgtype": "link", "link": {
        "title": "会员日活动", "url": "https://m.example.com/d12", "desc": "全场8折"}}
    assert corp.group_welcome_templates[welcome.template_id].attachment["link"]["url"] == "https://m.example.com/d12"


def test_unusable_or_foreign_materials_and_two_attachments_are_refused(wecom: Wecom) -> None:
    api = Api(wecom.org.hq)
    text = _material(wecom.org.hq, "text", "只是文字", text="你好")
    other_ent = EnterpriseFactory.create(code="other-brand", name="Other", wecom_corp_id="wwother")
    stranger = StaffFactory.create(enterprise=other_ent, role="hq_admin", user=UserFactory.create(username="other_hq"))
    foreign = _material(stranger, "link", "别家", url="https://other.example.com/")
    base = {"account_id": wecom.account.pk, "name": "x", "text": "hi"}

    def refused(extra: dict[str, Any]) -> tuple[int, str, str]:
        r = _post(api, {**base, **extra})
        assert "code" in r.json(), r.content
        return r.status_code, r.json()["code"], r.json()["field"]

    assert refused({"material_id": text}) == (422, "material_kind", "material_id")
    assert refused({"material_id": foreign}) == (404, "not_found", "material_id")
    assert refused({"material_id": text, "attachment": {"msgtype": "link", "link": {
        "title": "t", "url": "https://a.example.com/"}}}) == (422, "attachment_and_material", "material_id")
    assert GroupWelcome.objects.count() == 0
