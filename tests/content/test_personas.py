"""Staff personas: staff set their own, managers their team's; HQ's checklist counts complete personas per store."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.content import queries, services
from siyu.content.models import StaffPersona
from siyu.core.errors import NotFound, ValidationFailed
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.content.helpers import HTML, png, upload

pytestmark = pytest.mark.django_db


def _complete(org: Org, staff_id: int) -> None:
    services.save_persona(scope=scope_for_staff(org.hq), staff_id=staff_id, nickname="小美", signature="护肤顾问",
                          persona_type="expert", avatar=services.Upload(upload("a.png", png()), "a.png", None))


def test_the_checklist_counts_complete_personas_per_store(org: Org) -> None:
    _complete(org, org.n1_staff.pk)
    services.save_persona(scope=scope_for_staff(org.n1_manager), staff_id=org.n1_manager.pk, nickname="店长老王",
                          signature="", persona_type="shop_owner")
    rows = {c.store: (c.staff, c.complete) for c in queries.persona_checklist(scope_for_staff(org.hq))}
    assert rows == {"—": (2, 0), "Beijing 1": (2, 1), "Tianjin 1": (1, 0), "Guangzhou 1": (1, 0)}
    # what each store lacks, item by item: Beijing 1 has n1_staff complete and n1_mgr with a nickname and a type
    lacking = {c.store: (c.no_nickname, c.no_avatar, c.no_signature, c.no_type)
               for c in queries.persona_checklist(scope_for_staff(org.hq))}
    assert lacking["Beijing 1"] == (0, 1, 1, 0) and lacking["Tianjin 1"] == (1, 1, 1, 1)
    mine = {r.staff.pk: r.missing for r in queries.personas(scope_for_staff(org.n1_manager))}
    assert mine == {org.n1_manager.pk: ["avatar", "signature"], org.n1_staff.pk: []}


def test_staff_edit_only_their_own(org: Org) -> None:
    staff = scope_for_staff(org.n1_staff)
    services.save_persona(scope=staff, staff_id=org.n1_staff.pk, nickname="小美", signature="", persona_type="")
    with pytest.raises(NotFound):
        services.save_persona(scope=staff, staff_id=org.n2_staff.pk, nickname="冒名", signature="", persona_type="")
    with pytest.raises(ValidationFailed) as refused:
        services.save_persona(scope=staff, staff_id=org.n1_staff.pk, nickname="小美", signature="", persona_type="",
                              avatar=services.Upload(upload("a.png", HTML), "a.png", None))
    assert refused.value.field == "avatar"
    assert list(StaffPersona.objects.values_list("staff_id", "nickname")) == [(org.n1_staff.pk, "小美")]


def test_the_pages(org: Org, client: Client) -> None:
    assert org.n1_staff.user is not None
    client.force_login(org.n1_staff.user)
    response = client.post(f"/content/personas/{org.n1_staff.pk}/", {
        "nickname": "小美", "signature": "您的护肤顾问", "persona_type": "expert", "avatar": upload("a.png", png())})
    assert response.status_code == 302
    assert client.get(f"/content/personas/{org.n1_staff.pk}/avatar/")["Content-Type"] == "image/jpeg"
    assert client.get(f"/content/personas/{org.n2_staff.pk}/").status_code == 404
    assert "小美" in client.get("/content/personas/").content.decode()


def test_the_audit_workbook_has_a_row_per_staff_member_in_scope(org: Org, client: Client) -> None:
    import io

    from openpyxl import load_workbook

    _complete(org, org.n1_staff.pk)
    assert org.n1_manager.user is not None
    client.force_login(org.n1_manager.user)
    response = client.get("/content/personas/export/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxml")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "门店"
    by_staff = {r[1]: r for r in rows[1:]}
    assert set(by_staff) == {org.n1_manager.name, org.n1_staff.name}  # the manager's store only
    assert by_staff[org.n1_staff.name][2:7] == ("小美", "是", "护肤顾问", "专家", "是")
    assert by_staff[org.n1_manager.name][6] == "否"
