"""Group SOP against the simulator: the time rule's occurrences (Shanghai), one run per occurrence through the group
mass-send path with owner reminders, per-group results, missed runs, the API's refusals and who may do what."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator.wecom import Chat
from siyu.channels.wecom import group_sop, group_tags, mass_sends, queries
from siyu.channels.wecom.group_sop import Rule
from siyu.channels.wecom.models import (
    CustomerGroup,
    GroupSop,
    GroupSopRun,
    MassSendSender,
    OutboundCall,
    RecipientStatus,
    SopRunStatus,
)
from siyu.core.errors import DomainError
from siyu.org.scope import Scope, scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api

SH = ZoneInfo("Asia/Shanghai")


def sh(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH).astimezone(UTC)


# ---------------------------------------------------------------------------------------------------------------
# The time rule (hand-made expectations; 2026-12-07 is a Monday)


def test_a_once_rule_fires_once_on_its_day() -> None:
    rule = Rule(repeat="once", time_of_day=time(20, 0), start_date=date(2026, 12, 9))
    assert group_sop.next_occurrence(rule, after=sh(2026, 12, 7, 8)) == datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
    assert group_sop.next_occurrence(rule, after=sh(2026, 12, 9, 20)) is None


def test_a_daily_rule_fires_every_day_until_its_end() -> None:
    rule = Rule(repeat="daily", time_of_day=time(8, 30), start_date=date(2026, 12, 7), end_date=date(2026, 12, 8))
    first = group_sop.next_occurrence(rule, after=sh(2026, 12, 6, 23))
    assert first == datetime(2026, 12, 7, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai is 00:30 UTC
    second = group_sop.next_occurrence(rule, after=first)
    assert second == datetime(2026, 12, 8, 0, 30, tzinfo=UTC)
    assert group_sop.next_occurrence(rule, after=second) is None


def test_a_weekly_rule_fires_on_its_weekdays_across_the_utc_date_line() -> None:
    rule = Rule(repeat="weekly", time_of_day=time(7, 0), start_date=date(2026, 12, 1), weekdays=(3, 6))
    found, at = [], sh(2026, 12, 7, 0)
    for _n in range(3):
        nxt = group_sop.next_occurrence(rule, after=at)
        assert nxt is not None
        found.append(nxt.astimezone(SH).strftime("%a %d %H:%M"))
        at = nxt
    assert found == ["Wed 09 07:00", "Sat 12 07:00", "Wed 16 07:00"]
    # 07:00 Wednesday in Shanghai is 23:00 Tuesday UTC
    assert group_sop.next_occurrence(rule, after=sh(2026, 12, 7, 0)) == datetime(2026, 12, 8, 23, tzinfo=UTC)


@pytest.mark.parametrize(("kw", "code"), [
    ({"repeat": "hourly"}, "unknown_repeat"),
    ({"repeat": "weekly", "weekdays": []}, "bad_days"),
    ({"repeat": "weekly", "weekdays": [8]}, "bad_days"),
    ({"repeat": "daily", "end_date": date(2026, 12, 1)}, "bad_range"),
    ({"repeat": "once", "start_date": date(2026, 12, 1)}, "no_future_occurrence"),
])
def test_bad_rules_are_refused_with_a_code(kw: dict[str, Any], code: str) -> None:
    args: dict[str, Any] = {"repeat": "once", "time_of_day": time(9), "start_date": date(2026, 12, 8)}
    args.update(kw)
    with pytest.raises(DomainError) as caught:
        group_sop.clean_rule(**args, at=sh(2026, 12, 7, 10))
    assert caught.value.code == code


# ---------------------------------------------------------------------------------------------------------------
# Running against the simulator


pytestmark_db = pytest.mark.django_db(transaction=True)


def _chats(w: Wecom) -> tuple[Chat, Chat, Chat]:
    a = w.platform.create_chat(CORP_ID, "n1_staff", name="快闪群一")
    b = w.platform.create_chat(CORP_ID, "n2_staff", name="快闪群二")
    c = w.platform.create_chat(CORP_ID, "n1_staff", name="门店群")
    w.deliver()
    return a, b, c


def _tag(w: Wecom, *chats: Chat) -> int:
    hq = Scope.hq(w.org.enterprise.pk)
    tag = group_tags.create_group_tag(scope=hq, name="快闪群")
    for chat in chats:
        group = CustomerGroup.objects.get(chat_id=chat.chat_id)
        group_tags.set_group_tags(scope=hq, group_id=group.pk, tag_ids=[tag.pk])
    return tag.pk


def _sop(w: Wecom, tag_id: int | None, **kw: Any) -> GroupSop:
    args: dict[str, Any] = {"scope": Scope.hq(w.org.enterprise.pk), "account_id": w.account.pk, "name": "早安",
                            "group_tag_id": tag_id, "text": "早安！今日秒杀 10 点开始", "repeat": "daily",
                            "time_of_day": time(9, 0), "start_date": date(2026, 12, 1)}
    args.update(kw)
    return group_sop.create_group_sop(**args)


@pytestmark_db
def test_an_occurrence_sends_to_the_tagged_groups_once_and_reminds_each_owner(wecom: Wecom) -> None:
    a, b, _c = _chats(wecom)
    sop = _sop(wecom, _tag(wecom, a, b))
    occurrence = sop.next_run_at
    assert occurrence is not None and occurrence.astimezone(SH).time() == time(9, 0)
    assert group_sop.run_due(at=occurrence) == 1
    assert group_sop.run_due(at=occurrence) == 0  # run twice: nothing more
    run = GroupSopRun.objects.get(sop=sop)
    assert run.status == SopRunStatus.DONE and run.occurrence == occurrence
    sop.refresh_from_db()
    assert sop.next_run_at is not None and (sop.next_run_at - occurrence).total_seconds() == 86400

    corp = wecom.platform.corps[CORP_ID]
    senders = MassSendSender.objects.filter(mass_send__in=run.mass_sends.all())
    assert sorted(corp.messages[s.msgid].recipients[0] for s in senders) == sorted([a.chat_id, b.chat_id])
    assert sorted((m["touser"], m["content"]) for m in corp.app_messages) == [
        (["n1_staff"], "【社群SOP】早安：一条群发消息待您在企业微信确认，将发往您的1个群。"),
        (["n2_staff"], "【社群SOP】早安：一条群发消息待您在企业微信确认，将发往您的1个群。"),
    ]
    # n1 confirms, n2 does not: the per-group results say so
    n1 = senders.get(userid="n1_staff")
    wecom.platform.confirm_mass_send(CORP_ID, n1.msgid)
    for send_id in run.mass_sends.values_list("id", flat=True):
        mass_sends.poll_mass_send(mass_send_id=send_id)
    results = {r.group_name: r.status for r in queries.group_sop_run_results(Scope.hq(wecom.org.enterprise.pk),
                                                                              run.pk)}
    assert results == {"快闪群一": RecipientStatus.SENT, "快闪群二": RecipientStatus.NOT_SENT}
    # a store manager of store n1 sees only the group of their team
    mine = queries.group_sop_run_results(scope_for_staff(wecom.org.n1_manager), run.pk)
    assert [r.group_name for r in mine] == ["快闪群一"]


@pytestmark_db
def test_a_reminder_only_sop_sends_the_text_to_the_owners_and_no_mass_send(wecom: Wecom) -> None:
    a, _b, c = _chats(wecom)
    sop = _sop(wecom, _tag(wecom, a, c), send_messages=False, text="晚上八点群内抽奖，请提前预告")
    group_sop.run_due(at=sop.next_run_at)
    run = GroupSopRun.objects.get(sop=sop)
    assert run.mass_sends.count() == 0 and not OutboundCall.objects.filter(method="add_msg_template").exists()
    assert [(m["touser"], m["content"]) for m in wecom.platform.corps[CORP_ID].app_messages] == [
        (["n1_staff"], "【社群SOP】早安：请在您的2个群发送以下内容：\n晚上八点群内抽奖，请提前预告")]
    statuses = {r.status for r in queries.group_sop_run_results(Scope.hq(wecom.org.enterprise.pk), run.pk)}
    assert statuses == {"reminded"}


@pytestmark_db
def test_a_late_occurrence_is_missed_and_an_empty_set_sends_nothing(wecom: Wecom) -> None:
    a, _b, _c = _chats(wecom)
    sop = _sop(wecom, _tag(wecom, a))
    first = sop.next_run_at
    assert first is not None
    group_sop.run_due(at=first.replace(hour=(first.hour + 3) % 24))  # three hours late: the worker was down
    run = GroupSopRun.objects.get(sop=sop)
    assert run.status == SopRunStatus.MISSED and not wecom.platform.corps[CORP_ID].app_messages
    sop.refresh_from_db()
    assert sop.next_run_at is not None and sop.next_run_at > first

    hq = Scope.hq(wecom.org.enterprise.pk)
    empty_tag = group_tags.create_group_tag(scope=hq, name="空标签")
    empty = _sop(wecom, empty_tag.pk, name="无群")
    group_sop.run_due(at=empty.next_run_at)
    assert GroupSopRun.objects.get(sop=empty).status == SopRunStatus.EMPTY


@pytestmark_db
def test_a_group_code_set_follows_the_codes_groups(wecom: Wecom) -> None:
    from siyu.channels.wecom import group_codes

    a, b, c = _chats(wecom)
    hq = Scope.hq(wecom.org.enterprise.pk)
    ids = [CustomerGroup.objects.get(chat_id=x.chat_id).pk for x in (a, c)]
    code = group_codes.create_group_code(scope=hq, account_id=wecom.account.pk, name="门店码", group_ids=ids, cap=200)
    sop = _sop(wecom, None, group_code_id=code.pk, group_tag_id=None)
    group_sop.run_due(at=sop.next_run_at)
    run = GroupSopRun.objects.get(sop=sop)
    assert sorted(run.group_ids) == sorted(ids) and run.owner_ids == [wecom.org.n1_staff.pk]


# ---------------------------------------------------------------------------------------------------------------
# API


def _post(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post("/api/channels/wecom/group-sops", json.dumps(body), content_type="application/json",
                           headers={**api.headers, "Idempotency-Key": uuid.uuid4().hex})


@pytestmark_db
def test_the_api_schedules_changes_pauses_and_refuses(wecom: Wecom) -> None:
    a, _b, _c = _chats(wecom)
    tag_id = _tag(wecom, a)
    hq, manager = Api(wecom.org.hq), Api(wecom.org.n1_manager)
    body = {"account_id": wecom.account.pk, "name": "周末预告", "group_tag_id": tag_id, "text": "周末见",
            "repeat": "weekly", "weekdays": [5], "time_of_day": "18:00", "start_date": "2026-12-01"}
    assert _post(manager, body).status_code == 403
    response = _post(hq, body)
    assert response.status_code == 201, response.content
    sop = response.json()
    assert datetime.fromisoformat(sop["next_run_at"]).astimezone(SH).isoweekday() == 5
    patch = hq.client.patch(f"/api/channels/wecom/group-sops/{sop['id']}", json.dumps({"is_active": False}),
                            content_type="application/json", headers=hq.headers)
    assert patch.status_code == 200 and patch.json()["next_run_at"] is None
    assert manager.get(f"/api/channels/wecom/group-sops/{sop['id']}").json()["name"] == "周末预告"

    def refused(change: dict[str, Any]) -> tuple[int, str, str]:
        r = _post(hq, {**body, **change})
        assert "code" in r.json(), r.content
        return r.status_code, r.json()["code"], r.json().get("field")

    assert refused({"group_code_id": 1}) == (422, "group_tag_or_code", "group_tag_id")
    assert refused({"group_tag_id": None}) == (422, "group_tag_or_code", "group_tag_id")
    assert refused({"group_tag_id": 99999}) == (404, "not_found", "group_tag_id")
    assert refused({"weekdays": []}) == (422, "bad_days", "weekdays")
    assert refused({"repeat": "once", "start_date": "2026-01-01"}) == (422, "no_future_occurrence", "start_date")
    assert refused({"text": "", "attachments": []}) == (422, "empty", "text")
    assert refused({"send_messages": False, "remind_owners": False}) == (422, "nothing_to_do", "send_messages")
    # 4200 bytes: over the mass send's 4000
    assert refused({"text": "字" * 1400}) == (422, "text_length", "text")
    assert GroupSop.objects.count() == 1
    # the SOP's group tag cannot be deleted under it
    gone = hq.client.delete(f"/api/channels/wecom/group-tags/{tag_id}", headers=hq.headers)
    assert (gone.status_code, gone.json()["code"]) == (409, "in_use")


@pytestmark_db
def test_hq_schedules_a_sop_in_the_console_and_others_read_it(wecom: Wecom) -> None:
    a, _b, _c = _chats(wecom)
    tag_id = _tag(wecom, a)
    assert wecom.org.hq.user is not None and wecom.org.n1_manager.user is not None
    wecom.client.force_login(wecom.org.n1_manager.user)
    assert wecom.client.post("/channels/wecom/group-sops/", {"name": "x"}).status_code == 403
    wecom.client.force_login(wecom.org.hq.user)
    form = {"form_key": "sop-1", "account": wecom.account.pk, "name": "周五预告", "group_tag": tag_id,
            "text": "周末见", "send_messages": "on", "repeat": "weekly", "time_of_day": "18:00",
            "start_date": "2026-12-01"}
    no_days = wecom.client.post("/channels/wecom/group-sops/", form)
    assert no_days.status_code == 200 and "bad_days" in no_days.content.decode()
    created = wecom.client.post("/channels/wecom/group-sops/", {**form, "form_key": "sop-2", "weekdays": ["5"]})
    assert created.status_code == 302
    sop = GroupSop.objects.get()
    assert (sop.repeat, sop.weekdays, sop.send_messages, sop.remind_owners) == ("weekly", [5], True, False)
    group_sop.run_due(at=sop.next_run_at)
    run = GroupSopRun.objects.get(sop=sop)
    wecom.client.force_login(wecom.org.n1_manager.user)
    page = wecom.client.get(f"/channels/wecom/group-sop-runs/{run.pk}/").content.decode()
    assert "快闪群一" in page and wecom.client.get(f"/channels/wecom/group-sops/{sop.pk}/").status_code == 200


@pytestmark_db
def test_group_admins_are_kept_from_the_platform_and_shown(wecom: Wecom) -> None:
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="有管理员的群")
    chat.admins = ["n2_staff", "outsider9"]
    wecom.deliver()
    group = CustomerGroup.objects.get(chat_id=chat.chat_id)
    assert group.admin_userids == ["n2_staff", "outsider9"]
    assert queries.group_admin_names(Scope.hq(wecom.org.enterprise.pk), group) == [wecom.org.n2_staff.name,
                                                                                    "outsider9"]
    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    page = wecom.client.get(f"/channels/wecom/groups/{group.pk}/").content.decode()
    assert wecom.org.n2_staff.name in page.split('id="group-admins"')[1].split("</span>")[0]
