"""The console pages: create a code in the form, watch its stats move, and every page renders for HQ."""

from __future__ import annotations

import re

import pytest

from siyu.channels.wecom.models import ChannelCode
from siyu.org.models import Staff
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


def _login(w: Wecom, staff: Staff) -> None:
    assert staff.user is not None
    w.client.force_login(staff.user)


def _kpi(html: str, name: str) -> int:
    match = re.search(rf'data-kpi="{name}"><small>[^<]*</small>([\d,]+)', html)
    assert match, name
    return int(match.group(1).replace(",", ""))


def test_hq_creates_a_code_in_the_console_and_sees_its_stats_move(wecom: Wecom) -> None:
    _login(wecom, wecom.org.hq)
    form = wecom.client.get("/channels/wecom/codes/new/")
    assert form.status_code == 200
    response = wecom.client.post("/channels/wecom/codes/new/", {"form_key": "test-form-1",
        "account": wecom.account.pk, "name": "门店海报", "staff": [wecom.org.n1_staff.pk], "assign_mode": "all",
        "state": "poster", "welcome_text": "{name}，欢迎", "attachment": "link", "att_title": "礼包",
        "att_url": "https://example.com/g",
    })
    code = ChannelCode.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/channels/wecom/codes/{code.pk}/"
    page = wecom.client.get(response["Location"]).content.decode()
    assert (_kpi(page, "scans"), _kpi(page, "adds")) == (0, 0)

    wecom.client.get(f"/channels/wecom/qr/{code.config_id}/")
    wecom.platform.scan(CORP_ID, code.config_id)
    wecom.deliver()
    partial = wecom.client.get(f"/channels/wecom/codes/{code.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert (_kpi(partial, "scans"), _kpi(partial, "adds"), _kpi(partial, "net")) == (1, 1, 1)
    assert "<html" not in partial


def test_a_form_error_from_the_service_is_shown_on_the_field(wecom: Wecom) -> None:
    _login(wecom, wecom.org.hq)
    response = wecom.client.post("/channels/wecom/codes/new/", {"form_key": "test-form-2",
        "account": wecom.account.pk, "name": "x", "staff": [], "assign_mode": "all"})
    assert response.status_code == 200
    assert 'id="field-staff"' in response.content.decode()
    assert ChannelCode.objects.count() == 0


def test_store_staff_cannot_open_the_new_code_form(wecom: Wecom) -> None:
    _login(wecom, wecom.org.n1_staff)
    assert wecom.client.get("/channels/wecom/codes/new/").status_code == 403


@pytest.mark.parametrize("path", [
    "/channels/", "/channels/callbacks/", "/channels/wecom/codes/", "/channels/wecom/groups/",
    "/channels/wecom/transfers/", "/channels/wecom/outbox/",
])
def test_pages_render_for_hq(wecom: Wecom, path: str) -> None:
    _login(wecom, wecom.org.hq)
    assert wecom.client.get(path).status_code == 200


def test_group_and_transfer_pages_after_activity(wecom: Wecom) -> None:
    _login(wecom, wecom.org.hq)
    wecom.client.post("/channels/wecom/codes/new/", {"form_key": "test-form-3",
        "account": wecom.account.pk, "name": "c", "staff": [wecom.org.n1_staff.pk], "assign_mode": "all"})
    code = ChannelCode.objects.get()
    follow = wecom.platform.scan(CORP_ID, code.config_id)
    wecom.deliver()
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="老客群", members=[follow.external_userid])
    wecom.deliver()
    groups = wecom.client.get("/channels/wecom/groups/").content.decode()
    assert "老客群" in groups
    from siyu.channels.wecom.models import CustomerGroup

    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    assert wecom.client.get(f"/channels/wecom/groups/{group.pk}/").status_code == 200
    response = wecom.client.post("/channels/wecom/transfers/", {"form_key": "test-form-4",
        "account": wecom.account.pk, "kind": "in_service", "handover": wecom.org.n1_staff.pk,
        "takeover": wecom.org.n2_staff.pk, "message": ""})
    assert response.status_code == 302
    detail = wecom.client.get(response["Location"]).content.decode()
    assert "n1_staff" in detail and "n2_staff" in detail


def test_a_double_submit_of_the_new_code_form_creates_one_code(wecom: Wecom) -> None:
    _login(wecom, wecom.org.hq)
    page = wecom.client.get("/channels/wecom/codes/new/").content.decode()
    key = re.search(r'name="form_key" value="([0-9a-f]{32})"', page)
    assert key, "the form carries a key made when it was shown"
    fields = {"form_key": key.group(1), "account": wecom.account.pk, "name": "门店海报",
              "staff": [wecom.org.n1_staff.pk], "assign_mode": "all", "state": "poster2"}
    first = wecom.client.post("/channels/wecom/codes/new/", fields)
    second = wecom.client.post("/channels/wecom/codes/new/", fields)
    code = ChannelCode.objects.get()
    assert first["Location"] == second["Location"] == f"/channels/wecom/codes/{code.pk}/"
    other = wecom.client.post("/channels/wecom/codes/new/", {**fields, "name": "另一张"})
    assert other.status_code == 200 and ChannelCode.objects.count() == 1
    assert "此表单已用其他内容提交过" in other.content.decode()
