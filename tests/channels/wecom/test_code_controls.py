"""Channel-code controls: the hand-out over a hand-made week of schedules, backups and caps; auto-accept hours pushed
to WeCom and played by the simulator; no welcome for listed nicknames; the API's refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from siyu.channels.wecom import channel_codes, code_controls, schedules
from siyu.channels.wecom.models import ChannelCode, OutboundCall
from siyu.core.errors import DomainError
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api

MON_FRI_9_18 = [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}]
WEEKEND_AND_MON_EVENING = [{"days": [6, 7], "start": "10:00", "end": "16:00"},
                           {"days": [1], "start": "18:00", "end": "22:00"}]
EVERY_DAY_8_23 = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "23:00"}]

A = schedules.Member(staff_id=1, userid="a", sort=0, daily_cap=3, shifts=tuple(MON_FRI_9_18))
B = schedules.Member(staff_id=2, userid="b", sort=1, shifts=tuple(WEEKEND_AND_MON_EVENING))
C = schedules.Member(staff_id=3, userid="c", sort=2, is_backup=True, daily_cap=2, shifts=tuple(EVERY_DAY_8_23))
D = schedules.Member(staff_id=4, userid="d", sort=3, is_backup=True)  # no shifts: always on duty
TEAM = [A, B, C, D]


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall time in the week of Monday 2026-12-07 (day 7 = 2026-12-07), as UTC (Shanghai is UTC+8)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


WEEK = [
    # (when, adds today by staff id, who the code hands out to) — worked out by hand from the shifts above
    (sh(7, 10), {}, ["a"]),                      # Monday morning: A is on shift
    (sh(7, 10), {1: 3}, ["c", "d"]),             # A at the cap of 3, B off on Monday morning: the backups
    (sh(7, 10), {1: 3, 3: 2}, ["d"]),            # C at its cap too: D, the backup with no cap
    (sh(7, 17, 59), {}, ["a"]),                  # the last minute of A's shift
    (sh(7, 18), {}, ["b"]),                      # 18:00: A's shift has ended (end exclusive), B's Monday evening
    (sh(7, 22), {}, ["c", "d"]),                 # 22:00: B is off; C works until 23:00
    (sh(7, 23, 30), {}, ["d"]),                  # only D is on duty late at night
    (sh(8, 9), {}, ["a"]),                       # Tuesday 09:00: A starts
    (sh(12, 9), {}, ["c", "d"]),                 # Saturday 09:00: A does not work weekends, B starts at 10
    (sh(12, 12), {}, ["b"]),                     # Saturday noon: B
    (sh(13, 15, 59), {2: 40}, ["b"]),            # Sunday: B has no cap
    (sh(13, 16), {}, ["c", "d"]),                # Sunday 16:00: B's shift is over
]


@pytest.mark.parametrize(("at", "adds", "expected"), WEEK)
def test_the_hand_out_over_a_hand_made_week(at: datetime, adds: dict[int, int], expected: list[str]) -> None:
    assert schedules.hand_out(TEAM, adds=adds, at=at, round_robin=False) == expected


def test_the_week_is_read_in_shanghai_time() -> None:
    assert sh(7, 10) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert sh(7, 23, 30) == datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    assert datetime(2026, 12, 7, tzinfo=UTC).isoweekday() == 1


def test_round_robin_takes_one_of_the_pool_in_turn() -> None:
    at = sh(12, 9)  # pool: c, d
    assert [schedules.hand_out(TEAM, adds={}, at=at, round_robin=True, cursor=n)[0] for n in range(4)] == [
        "c", "d", "c", "d"]


def test_nobody_on_duty_or_everyone_capped_overflows_to_the_least_loaded() -> None:
    pair = [A, B]
    assert schedules.hand_out(pair, adds={1: 1}, at=sh(8, 20), round_robin=False) == ["b"]  # nobody on duty
    assert schedules.hand_out(pair, adds={1: 3}, at=sh(7, 10), round_robin=False) == ["a"]  # only A on duty, capped


def test_the_console_notation_round_trips() -> None:
    windows = schedules.parse_windows("1-5 09:00-18:00; 6,7 10:00-14:00\n3 20:00-24:00", field="shifts")
    assert windows == [*MON_FRI_9_18, {"days": [6, 7], "start": "10:00", "end": "14:00"},
                       {"days": [3], "start": "20:00", "end": "24:00"}]
    assert schedules.format_windows(windows) == "1-5 09:00-18:00; 6-7 10:00-14:00; 3 20:00-24:00"
    assert schedules.in_windows(windows, sh(9, 23, 59)) and not schedules.in_windows(windows, sh(10, 0))


@pytest.mark.parametrize(("text", "code"), [
    ("8 09:00-10:00", "bad_days"), ("0 09:00-10:00", "bad_days"), ("1 10:00-09:00", "bad_range"),
    ("1 09:00-09:00", "bad_range"), ("1 25:00-26:00", "bad_time"), ("1 9-10", "bad_time"), ("hello", "bad_window"),
])
def test_bad_windows_are_refused_with_a_code(text: str, code: str) -> None:
    with pytest.raises(DomainError) as caught:
        schedules.parse_windows(text, field="shifts")
    assert caught.value.code == code


def test_listed_nicknames_match_whatever_the_width_and_case() -> None:
    names = schedules.clean_nicknames([" Ｐｒｏｂｅ ", "probe", "", "竞品小号"])
    assert names == ["Probe", "竞品小号"]
    assert schedules.welcome_withheld(names, "PROBE") and schedules.welcome_withheld(names, "竞品小号")
    assert not schedules.welcome_withheld(names, "Probe 2") and not schedules.welcome_withheld(names, "")


# ---------------------------------------------------------------------------------------------------------------
# Against the simulator


def _code(w: Wecom, **kw: Any) -> ChannelCode:
    code = channel_codes.create_channel_code(
        scope=Scope.hq(w.org.enterprise.pk), account_id=w.account.pk, name="Store front",
        staff_ids=[w.org.n1_staff.pk], welcome_text="{name}，欢迎光临", state="front", **kw)
    code.refresh_from_db()
    return code


def _controls(w: Wecom, code: ChannelCode, **kw: Any) -> ChannelCode:
    defaults: dict[str, Any] = {
        "members": [code_controls.MemberIn(staff_id=w.org.n1_staff.pk, shifts=MON_FRI_9_18),
                    code_controls.MemberIn(staff_id=w.org.n2_staff.pk, is_backup=True)],
    }
    defaults.update(kw)
    code_controls.set_code_controls(scope=Scope.hq(w.org.enterprise.pk), code_id=code.pk, **defaults)
    code.refresh_from_db()
    return code


@pytest.mark.django_db(transaction=True)
def test_the_contact_way_follows_the_shift_and_the_backup_takes_over(wecom: Wecom) -> None:
    code = _code(wecom)
    _controls(wecom, code)
    channel_codes.rebalance(code, at=sh(7, 10))
    assert wecom.platform.corps[CORP_ID].contact_ways[code.config_id].users == ["n1_staff"]
    assert channel_codes.rebalance_all(at=sh(12, 10)) == 1  # Saturday: n1 is off, the backup takes the code
    assert wecom.platform.corps[CORP_ID].contact_ways[code.config_id].users == ["n2_staff"]
    assert channel_codes.rebalance_all(at=sh(12, 11)) == 0  # nothing changed: nothing pushed
    assert channel_codes.rebalance_all(at=sh(14, 9)) == 1  # Monday 09:00 again
    assert wecom.platform.corps[CORP_ID].contact_ways[code.config_id].users == ["n1_staff"]
    keys = list(OutboundCall.objects.filter(method="update_contact_way").values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys))  # the same hand-out reached twice is pushed twice, under distinct keys


@pytest.mark.django_db(transaction=True)
def test_auto_accept_hours_switch_verification_on_the_platform(wecom: Wecom) -> None:
    code = _code(wecom)
    _controls(wecom, code, members=[code_controls.MemberIn(staff_id=wecom.org.n1_staff.pk)],
              auto_accept_windows=MON_FRI_9_18)
    channel_codes.rebalance_all(at=sh(12, 12))  # Saturday: friend requests wait for the staff member
    way = wecom.platform.corps[CORP_ID].contact_ways[code.config_id]
    code.refresh_from_db()
    assert (way.skip_verify, code.live_skip_verify) == (False, False)
    person = wecom.platform.new_person(CORP_ID, name="周末客人")
    wecom.platform.scan(CORP_ID, code.config_id, contact=person)
    assert wecom.deliver() == [] and wecom.platform.welcomes(CORP_ID) == []
    wecom.platform.accept_request(CORP_ID, "n1_staff", person.external_userid)
    assert wecom.deliver() == [200]
    assert [w.text for w in wecom.platform.welcomes(CORP_ID)] == ["周末客人，欢迎光临"]
    channel_codes.rebalance_all(at=sh(14, 9, 30))  # Monday inside the hours: added at once again
    assert wecom.platform.corps[CORP_ID].contact_ways[code.config_id].skip_verify is True


@pytest.mark.django_db(transaction=True)
def test_a_listed_nickname_gets_no_welcome_and_others_do(wecom: Wecom) -> None:
    code = _code(wecom)
    _controls(wecom, code, members=[code_controls.MemberIn(staff_id=wecom.org.n1_staff.pk)],
              no_welcome_nicknames=["竞品小号", "Probe"])
    for name in ("竞品小号", "PROBE", "王芳"):
        wecom.platform.scan(CORP_ID, code.config_id, contact=wecom.platform.new_person(CORP_ID, name=name))
    assert wecom.deliver() == [200, 200, 200]
    assert [w.text for w in wecom.platform.welcomes(CORP_ID)] == ["王芳，欢迎光临"]
    assert code.members.count() == 1


# ---------------------------------------------------------------------------------------------------------------
# API


def _put(api: Api, code_id: int, body: dict[str, Any]) -> Any:
    return api.client.put(f"/api/channels/wecom/codes/{code_id}/controls", body, content_type="application/json",
                          headers=api.headers)


@pytest.mark.django_db(transaction=True)
def test_the_api_sets_and_reads_controls_and_refuses_bad_input(wecom: Wecom) -> None:
    code = _code(wecom)
    hq, manager, staff = Api(wecom.org.hq), Api(wecom.org.n1_manager), Api(wecom.org.n1_staff)
    good = {"members": [{"staff_id": wecom.org.n1_staff.pk, "daily_cap": 20, "shifts": MON_FRI_9_18},
                        {"staff_id": wecom.org.n1_manager.pk, "is_backup": True}],
            "auto_accept_windows": EVERY_DAY_8_23, "no_welcome_nicknames": ["竞品小号"]}
    assert _put(staff, code.pk, good).status_code == 403
    response = _put(manager, code.pk, good)
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(m["staff_id"], m["is_backup"], m["daily_cap"]) for m in body["members"]] == [
        (wecom.org.n1_staff.pk, False, 20), (wecom.org.n1_manager.pk, True, None)]
    assert body["no_welcome_nicknames"] == ["竞品小号"]
    assert hq.get(f"/api/channels/wecom/codes/{code.pk}/controls").json() == body
    assert _put(manager, code.pk, good).json() == body  # twice: the same answer

    def refused(api: Api, change: dict[str, Any]) -> tuple[int, str, str | None, int | None]:
        r = _put(api, code.pk, {**good, **change})
        j = r.json()
        return r.status_code, j.get("code"), j.get("field"), j.get("index")

    n1 = wecom.org.n1_staff.pk
    assert refused(manager, {"members": [{"staff_id": wecom.org.s1_staff.pk}]})[:3] == (404, "not_found", "staff_ids")
    assert refused(hq, {"members": [{"staff_id": n1}, {"staff_id": n1}]}) == (422, "duplicate", "members", None)
    assert refused(hq, {"members": [{"staff_id": n1, "is_backup": True}]}) == (422, "no_primary", "members", None)
    assert refused(hq, {"members": [{"staff_id": n1, "daily_cap": 0}]}) == (422, "bad_cap", "members", 0)
    bad_shift = [{"staff_id": n1}, {"staff_id": wecom.org.n1_manager.pk,
                                    "shifts": [{"days": [1], "start": "18:00", "end": "09:00"}]}]
    assert refused(hq, {"members": bad_shift}) == (422, "bad_range", "members", 1)
    assert refused(hq, {"auto_accept_windows": [{"days": [9], "start": "09:00", "end": "10:00"}]}) == (
        422, "bad_days", "auto_accept_windows", 0)
    assert refused(hq, {"no_welcome_nicknames": ["x" * 65]}) == (422, "too_long", "no_welcome_nicknames", 0)
    assert hq.get(f"/api/channels/wecom/codes/{code.pk}/controls").json() == body  # nothing half-written


# ---------------------------------------------------------------------------------------------------------------
# Console


def _member_rows(*rows: tuple[int | None, bool, str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"members-TOTAL_FORMS": str(len(rows)), "members-INITIAL_FORMS": "0",
                            "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "100"}
    for i, (staff, backup, cap, shifts) in enumerate(rows):
        data[f"members-{i}-staff"] = "" if staff is None else str(staff)
        data[f"members-{i}-daily_cap"] = cap
        data[f"members-{i}-shifts"] = shifts
        if backup:
            data[f"members-{i}-is_backup"] = "on"
    return data


@pytest.mark.django_db(transaction=True)
def test_the_console_form_saves_controls_and_puts_a_bad_shift_on_its_row(wecom: Wecom) -> None:
    code = _code(wecom)
    path = f"/channels/wecom/codes/{code.pk}/controls/"
    assert wecom.org.n1_staff.user is not None and wecom.org.n1_manager.user is not None
    wecom.client.force_login(wecom.org.n1_staff.user)
    assert wecom.client.get(path).status_code == 403
    wecom.client.force_login(wecom.org.n1_manager.user)
    assert wecom.client.get(path).status_code == 200
    n1, mgr = wecom.org.n1_staff.pk, wecom.org.n1_manager.pk
    bad = wecom.client.post(path, {**_member_rows((n1, False, "", "1-5 09:00-18:00"), (mgr, True, "", "1 18:00-09:00")),
                                   "auto_accept": "", "no_welcome_nicknames": ""})
    assert bad.status_code == 200
    second = bad.content.decode().split('id="member-1"')[1].split("</fieldset>")[0]
    assert "bad_range" in second
    code.refresh_from_db()
    assert code.members.count() == 1 and code.auto_accept_windows == []  # nothing saved
    saved = wecom.client.post(path, {**_member_rows((n1, False, "30", "1-5 09:00-18:00"), (mgr, True, "", ""),
                                                    (None, False, "", "")),
                                     "auto_accept": "1-7 08:00-22:00", "no_welcome_nicknames": "竞品小号\nProbe"})
    assert saved.status_code == 302, saved.content.decode()[:500]
    code.refresh_from_db()
    rows = [(m.staff_id, m.is_backup, m.daily_cap, m.shifts) for m in code.members.order_by("sort")]
    assert rows == [(n1, False, 30, MON_FRI_9_18), (mgr, True, None, [])]
    assert code.auto_accept_windows == [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "22:00"}]
    assert code.no_welcome_nicknames == ["竞品小号", "Probe"] and code.timed
    page = wecom.client.get(f"/channels/wecom/codes/{code.pk}/").content.decode()
    assert "1-5 09:00-18:00" in page and "竞品小号" in page
