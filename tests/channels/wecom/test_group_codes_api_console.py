"""Group codes over the REST API and in the console: create, refusals with codes (no 500, no partial write),
scope (a store's staff may read but not create; another store's manager does not see the code), stats, landing-page
scans, the audit rows."""

from __future__ import annotations

import re

import pytest

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom.models import CustomerGroup, GroupCode, GroupCodeSlot
from siyu.core.models import AuditEntry
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _groups(w: Wecom, n: int, owner: str = "n1_staff") -> list[CustomerGroup]:
    chats = [w.platform.create_chat(CORP_ID, owner, name=f"门店群{i + 1}") for i in range(n)]
    w.deliver()
    return [CustomerGroup.objects.get(chat_id=c.chat_id) for c in chats]


def _kpi(html: str, name: str) -> int:
    match = re.search(rf'data-kpi="{name}"><small>[^<]*</small>([\d,]+)', html)
    assert match, name
    return int(match.group(1).replace(",", ""))


def test_api_create_refusals_scope_and_stats(wecom: Wecom) -> None:
    groups = _groups(wecom, 2)
    manager = Api(wecom.org.n1_manager)
    path = "/api/channels/wecom/group-codes"
    body = {"account_id": wecom.account.pk, "name": "北京快闪", "group_ids": [g.pk for g in groups], "cap": 3,
            "state": "bj_flash"}

    too_big = manager.post(path, {**body, "cap": 500})
    assert too_big.status_code == 422 and too_big.json()["code"] == "cap_above_platform_limit", too_big.content
    assert too_big.json()["field"] == "cap"
    assert Api(wecom.org.n1_staff).post(path, body).status_code == 403
    assert not GroupCode.objects.exists() and not GroupCodeSlot.objects.exists()

    created = manager.post(path, body)
    assert created.status_code == 201, created.content
    code = created.json()
    assert (code["status"], code["cap"], code["active_chat_ids"]) == ("active", 3, [g.chat_id for g in groups])
    again = manager.post(path, {**body, "state": "bj_flash2"})
    assert again.status_code == 409 and again.json()["code"] == "group_in_other_code"

    wecom.client.get(f"/channels/wecom/gq/{code['config_id']}/", HTTP_USER_AGENT="phone-a")
    wecom.client.get(f"/channels/wecom/gq/{code['config_id']}/", HTTP_USER_AGENT="phone-a")  # same visitor
    for _ in range(3):
        wecom.platform.join_by_way(CORP_ID, code["config_id"])
        wecom.deliver()
    stats = Api(wecom.org.n1_staff).get(f"{path}/{code['id']}/stats", days=7).json()
    assert (stats["scans"], stats["joins"], stats["quits"], stats["net"]) == (1, 3, 0, 3)
    assert [(g["members"], g["joins"], g["current"], g["full"]) for g in stats["groups"]] == [
        (3, 2, False, True), (2, 1, True, False)]
    assert stats["days"][-1]["joins"] == 3 and stats["open_notices"] == []

    # Staff of another store do not see a code over groups owned by n1 staff.
    assert Api(wecom.org.s1_staff).get(f"{path}/{code['id']}").status_code == 404
    assert Api(wecom.org.s1_staff).get(path).json()["total"] == 0
    assert AuditEntry.objects.filter(action="wecom.group_code.create", target_id=str(code["id"])).count() == 1


def test_api_refuses_groups_of_another_corp_or_enterprise_with_the_row(wecom: Wecom) -> None:
    """Issue 29's bad input: a code over groups of another corp is 422 group_of_other_corp on the row (index), on
    create and on adding groups; a group of another enterprise is not found; nothing is written."""
    ours = _groups(wecom, 2)
    other_corp = channel_services.ensure_account(
        enterprise_id=wecom.org.enterprise.pk, kind=AccountKind.WECOM, name="Other corp", app_id="wwothercorp",
        agent_id="1000003", secret="s", token="t", encoding_aes_key="b" * 43, base_url=wecom.account.base_url)
    foreign = CustomerGroup.objects.create(account=other_corp, chat_id="wr_other_corp", name="别的企业微信的群")
    brand = EnterpriseFactory.create(name="Other", code="other-brand", wecom_corp_id="wwother")
    theirs_account = channel_services.ensure_account(
        enterprise_id=brand.pk, kind=AccountKind.WECOM, name="Theirs", app_id="wwtheirs", agent_id="1000004",
        secret="s", token="t", encoding_aes_key="c" * 43, base_url=wecom.account.base_url)
    theirs = CustomerGroup.objects.create(account=theirs_account, chat_id="wr_theirs", name="别家品牌的群")
    hq = Api(wecom.org.hq)
    path = "/api/channels/wecom/group-codes"
    body = {"account_id": wecom.account.pk, "name": "跨企业", "cap": 100, "state": "cross"}

    mixed = hq.post(path, {**body, "group_ids": [ours[0].pk, foreign.pk]})
    assert mixed.status_code == 422, mixed.content
    assert (mixed.json()["code"], mixed.json()["field"], mixed.json()["index"]) == (
        "group_of_other_corp", "group_ids", 1)
    other_brand = hq.post(path, {**body, "group_ids": [theirs.pk]})
    assert other_brand.status_code == 404 and other_brand.json()["field"] == "group_ids", other_brand.content
    assert "别家品牌的群" not in other_brand.content.decode()
    assert not GroupCode.objects.exists() and not GroupCodeSlot.objects.exists()

    made = hq.post(path, {**body, "group_ids": [ours[0].pk]})
    assert made.status_code == 201, made.content
    added = hq.post(f"{path}/{made.json()['id']}/groups", {"group_ids": [ours[1].pk, foreign.pk]})
    assert added.status_code == 422 and (added.json()["code"], added.json()["index"]) == ("group_of_other_corp", 1)
    assert list(GroupCodeSlot.objects.values_list("group_id", flat=True)) == [ours[0].pk]


def test_console_create_shows_field_errors_then_the_stats_page(wecom: Wecom) -> None:
    groups = _groups(wecom, 3)
    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    page = wecom.client.get("/channels/wecom/group-codes/new/").content.decode()
    assert all(f'value="{g.pk}"' in page for g in groups)
    form = {"form_key": "gc-1", "account": wecom.account.pk, "name": "快闪", "groups": [g.pk for g in groups],
            "cap": 201, "state": "flash"}
    refused = wecom.client.post("/channels/wecom/group-codes/new/", form)
    assert refused.status_code == 200 and "cap_above_platform_limit" in refused.content.decode()
    assert not GroupCode.objects.exists()
    done = wecom.client.post("/channels/wecom/group-codes/new/", {**form, "form_key": "gc-2", "cap": 2})
    code = GroupCode.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/channels/wecom/group-codes/{code.pk}/"
    code.refresh_from_db()
    wecom.platform.join_by_way(CORP_ID, code.config_id)
    wecom.deliver()
    detail = wecom.client.get(done["Location"]).content.decode()
    assert (_kpi(detail, "joins"), _kpi(detail, "net")) == (1, 1)
    assert f'data-group-id="{groups[1].pk}"' in detail and 'data-state="current"' in detail
    listing = wecom.client.get("/channels/wecom/group-codes/").content.decode()
    assert "快闪" in listing
    assert AuditEntry.objects.filter(action="wecom.group_code.create").count() == 1
