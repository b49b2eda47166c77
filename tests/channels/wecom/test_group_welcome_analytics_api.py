"""Group welcome templates and group analytics over the REST API and in the console: a create sent twice with one
Idempotency-Key is one template on WeCom, refusals carry a code and a field (beside the field in the console), a 10 MB
body is refused, bindings, the analytics page's chart and table, and its Excel export checked cell by cell."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from siyu.channels.wecom.models import CustomerGroup, GroupMembership, GroupWelcome, MemberType
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/api/channels/wecom/group-welcomes"
BODY = {"name": "快闪群欢迎语", "text": "欢迎 %NICKNAME%！",
        "attachment": {"msgtype": "link", "link": {"title": "新人礼", "url": "https://m.example.com/gift"}}}


def _post(api: Api, path: str, body: object, key: str) -> object:
    headers = {**api.headers, "Idempotency-Key": key}
    return api.client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def test_api_create_twice_with_one_key_is_one_template(wecom: Wecom) -> None:
    hq = Api(wecom.org.hq)
    body = {**BODY, "account_id": wecom.account.pk}
    first, second = (_post(hq, PATH, body, "same-key") for _ in range(2))
    assert first.status_code == second.status_code == 201, first.content  # type: ignore[attr-defined]
    assert first.json() == second.json()  # type: ignore[attr-defined]
    made = first.json()  # type: ignore[attr-defined]
    assert (made["status"], made["version"], made["pushed_version"]) == ("active", 1, 1)
    assert list(wecom.platform.corps[CORP_ID].group_welcome_templates) == [made["template_id"]]

    patched = hq.client.patch(f"{PATH}/{made['id']}", json.dumps({"text": "欢迎新朋友"}),
                              content_type="application/json", headers=hq.headers)
    assert patched.status_code == 200 and patched.json()["pushed_version"] == 2, patched.content
    assert wecom.platform.corps[CORP_ID].group_welcome_templates[made["template_id"]].text == "欢迎新朋友"
    assert Api(wecom.org.n1_staff).get(f"{PATH}/{made['id']}").json()["name"] == "快闪群欢迎语"  # everyone reads
    gone = hq.client.delete(f"{PATH}/{made['id']}", headers=hq.headers)
    assert gone.status_code == 204 and wecom.platform.corps[CORP_ID].group_welcome_templates == {}
    assert hq.client.delete(f"{PATH}/{made['id']}", headers=hq.headers).status_code == 404


def test_api_refusals_have_codes_and_write_nothing(wecom: Wecom) -> None:
    hq = Api(wecom.org.hq)
    body = {**BODY, "account_id": wecom.account.pk}
    long_title = hq.post(PATH, {**body, "attachment": {"msgtype": "link", "link": {"title": "标" * 43,
                                                                                    "url": "https://x.cn"}}})
    assert long_title.status_code == 422, long_title.content
    assert (long_title.json()["code"], long_title.json()["field"]) == ("too_long", "attachment.link.title")
    assert hq.post(PATH, {**body, "text": "", "attachment": None}).json()["code"] == "empty"
    assert hq.post(PATH, {**body, "account_id": 999_999}).status_code == 404
    assert Api(wecom.org.n1_manager).post(PATH, body).status_code == 403
    huge = hq.client.post(PATH, b'{"text": "' + b"x" * (10 * 1024 * 1024) + b'"}', content_type="application/json",
                          headers={**hq.headers, "Idempotency-Key": uuid.uuid4().hex})
    assert 400 <= huge.status_code < 500
    assert not GroupWelcome.objects.exists()


def test_api_bindings(wecom: Wecom) -> None:
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="门店群")
    wecom.deliver()
    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    made = Api(wecom.org.hq).post(PATH, {**BODY, "account_id": wecom.account.pk}).json()
    manager = Api(wecom.org.n1_manager)
    path = f"/api/channels/wecom/groups/{group.pk}/welcome"
    put = manager.client.put(path, json.dumps({"welcome_id": made["id"]}), content_type="application/json",
                             headers=manager.headers)
    assert put.status_code == 200 and put.json() == {"welcome_id": made["id"], "name": "快闪群欢迎语",
                                                     "template_id": made["template_id"], "source": "group"}
    assert Api(wecom.org.n1_staff).get(path).json()["welcome_id"] == made["id"]
    assert Api(wecom.org.s1_staff).get(path).status_code == 404  # another store's staff do not see the group
    refused = manager.client.put(path, json.dumps({"welcome_id": 999_999}), content_type="application/json",
                                 headers=manager.headers)
    assert refused.status_code == 404 and refused.json()["field"] == "welcome_id"


def _history(wecom: Wecom) -> CustomerGroup:
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="=一店群")  # a name Excel would run as a formula
    wecom.deliver()
    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    for member, joined, left in [("c1", "2026-12-01 15:59:59", "2026-12-02 16:00:00"),
                                 ("c2", "2026-12-01 16:00:00", None)]:
        GroupMembership.objects.create(group=group, member_id=member, member_type=MemberType.EXTERNAL,
                                       joined_at=datetime.fromisoformat(joined).replace(tzinfo=UTC),
                                       left_at=datetime.fromisoformat(left).replace(tzinfo=UTC) if left else None)
    return group


def test_analytics_api_page_and_export(wecom: Wecom) -> None:
    group = _history(wecom)
    staff = Api(wecom.org.n1_staff)
    found = staff.get("/api/channels/wecom/group-analytics", start="2026-12-01", end="2026-12-03").json()
    assert [(d["day"], d["joins"], d["quits"]) for d in found["days"]] == [
        ("2026-12-01", 1, 0), ("2026-12-02", 1, 0), ("2026-12-03", 0, 1)]
    assert found["rows"] == [{"key": group.pk, "name": "=一店群", "joins": 2, "quits": 1, "net": 1, "members": 1}]
    assert Api(wecom.org.s1_staff).get("/api/channels/wecom/group-analytics", start="2026-12-01",
                                       end="2026-12-03").json()["rows"] == []
    bad = staff.get("/api/channels/wecom/group-analytics", start="2026-12-05", end="2026-12-01")
    assert bad.status_code == 422 and bad.json()["code"] == "bad_range"

    export = staff.get("/api/channels/wecom/group-analytics/export", by="owner", start="2026-12-01",
                       end="2026-12-03")
    assert export.status_code == 200 and export["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(export.content))
    by_day, detail = (list(ws.iter_rows(values_only=True)) for ws in book.worksheets)
    assert [(r[0].date() if isinstance(r[0], datetime) else r[0], *r[1:]) for r in by_day[1:4]] == [
        (date(2026, 12, 1), 1, 0, 1), (date(2026, 12, 2), 1, 0, 1), (date(2026, 12, 3), 0, 1, -1)]
    assert by_day[-1][1:] == (2, 1, 1)
    assert [r[1:5] for r in detail[1:]] == [("n1_staff", 1, 0, 1), ("n1_staff", 1, 0, 1), ("n1_staff", 0, 1, -1)]

    assert wecom.org.n1_staff.user is not None
    wecom.client.force_login(wecom.org.n1_staff.user)
    page = wecom.client.get("/channels/wecom/groups/analytics/", {"start": "2026-12-01", "end": "2026-12-03"})
    html = page.content.decode()
    assert page.status_code == 200 and 'id="group-analytics-chart"' in html and "=一店群" in html
    chart = json.loads(html.split('id="group-analytics-chart-data" type="application/json">')[1].split("</script>")[0])
    assert (chart["joins"], chart["quits"], chart["net"]) == ([1, 1, 0], [0, 0, 1], [1, 1, -1])
    sheet = wecom.client.get("/channels/wecom/groups/analytics/", {"start": "2026-12-01", "end": "2026-12-03",
                                                                     "format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(sheet.content)).worksheets[1].iter_rows(values_only=True))
    assert rows[1][1] == "'=一店群"  # defused
    refused = wecom.client.get("/channels/wecom/groups/analytics/", {"start": "2025-01-01", "end": "2026-12-03"})
    assert "range_too_long" in refused.content.decode() and 'id="group-analytics-chart"' not in refused.content.decode()


def test_console_template_form_shows_refusals_beside_the_field(wecom: Wecom) -> None:
    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    form = {"form_key": "gw-1", "account": wecom.account.pk, "name": "欢迎语", "text": "欢迎",
            "attachment": "link", "att_title": "标" * 43, "att_url": "https://x.cn", "notify": "on"}
    refused = wecom.client.post("/channels/wecom/group-welcomes/new/", form)
    html = refused.content.decode()
    assert refused.status_code == 200 and not GroupWelcome.objects.exists()
    field = html.split('id="field-att_title"')[1].split("</div>")[0]
    assert "too_long" in field
    done = wecom.client.post("/channels/wecom/group-welcomes/new/", {**form, "form_key": "gw-2", "att_title": "新人礼"})
    welcome = GroupWelcome.objects.get()
    assert done.status_code == 302 and welcome.attachment["link"]["title"] == "新人礼"
    page = wecom.client.get(f"/channels/wecom/group-welcomes/{welcome.pk}/").content.decode()
    assert welcome.template_id and welcome.template_id in page
