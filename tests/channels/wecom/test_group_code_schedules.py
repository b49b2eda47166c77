"""Schedules for group codes: per group of a code, its own cap and the hours it takes joiners (Beijing time). The
roll-over honours both: over a hand-made week as a pure rule, then against the simulator (joins played as signed
callbacks while the clock moves through the week), through the API and the console, with its refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from siyu.channels.wecom import group_codes, housekeeping, schedules
from siyu.channels.wecom.models import CustomerGroup, GroupCode, GroupCodeJoin, GroupCodeSlot, OutboundCall
from siyu.core.errors import DomainError
from siyu.core.models import AuditEntry
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api

WEEKDAYS_9_18 = [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}]
WEEKENDS_10_20 = [{"days": [6, 7], "start": "10:00", "end": "20:00"}]
NIGHTS = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "20:00", "end": "24:00"},
          {"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "02:00"}]  # a night shift is two windows


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    """A Beijing wall time in the week of Monday 2026-12-07 (7 = Monday ... 13 = Sunday, 14 = the next Monday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def seats(members: tuple[int, int, int, int] = (0, 0, 0, 0), *, alive: tuple[bool, ...] = (True,) * 4
          ) -> list[schedules.Seat]:
    """Four groups of one code, in its order: weekdays (cap 3), weekends (cap 50), nights (cap 50), always (cap 200)."""
    return [
        schedules.Seat(group_id=1, chat_id="weekday", members=members[0], cap=3, hours=tuple(WEEKDAYS_9_18),
                       alive=alive[0]),
        schedules.Seat(group_id=2, chat_id="weekend", members=members[1], cap=50, hours=tuple(WEEKENDS_10_20),
                       alive=alive[1]),
        schedules.Seat(group_id=3, chat_id="night", members=members[2], cap=50, hours=tuple(NIGHTS), alive=alive[2]),
        schedules.Seat(group_id=4, chat_id="always", members=members[3], cap=200, alive=alive[3]),
    ]


WEEK: list[tuple[datetime, list[schedules.Seat], list[str], bool]] = [
    # (when, the groups, what the join way lists, every group full) — worked out by hand from the hours above
    (sh(7, 10), seats(), ["weekday", "always"], False),              # Monday morning: the weekday group, and the
    #                                                                  group without hours, in the code's order
    (sh(7, 10), seats((3, 0, 0, 0)), ["always"], False),             # the weekday group holds its 3: full
    (sh(7, 8, 59), seats(), ["always"], False),                      # a minute before its hours
    (sh(7, 17, 59), seats(), ["weekday", "always"], False),          # the last minute of its hours
    (sh(7, 18), seats(), ["always"], False),                         # 18:00: its hours end (the end is exclusive)
    (sh(7, 20), seats(), ["night", "always"], False),                # the night group from 20:00
    (sh(8, 1, 59), seats(), ["night", "always"], False),             # Tuesday 01:59: the night's second window
    (sh(8, 2), seats(), ["always"], False),                          # 02:00: the night is over
    (sh(12, 9, 59), seats(), ["always"], False),                     # Saturday: the weekday group does not open
    (sh(12, 10), seats(), ["weekend", "always"], False),             # the weekend group from 10:00
    (sh(12, 21), seats(), ["night", "always"], False),               # Saturday night
    (sh(13, 12), seats((0, 50, 0, 200)), ["weekday", "night"], False),  # Sunday noon, the open groups in hours
    #                                                                  are full: the groups with room outside
    #                                                                  their hours keep the QR working
    (sh(13, 12), seats((3, 50, 50, 200)), ["always"], True),         # every group full: the last one, and staff
    #                                                                  are asked for a new group
    (sh(13, 12), seats((3, 50, 50, 0), alive=(True, True, True, False)), ["night"], True),  # the last live one
    (sh(14, 9), seats((2, 0, 0, 0)), ["weekday", "always"], False),  # the next Monday: 2 of 3, still open
]


@pytest.mark.parametrize(("at", "groups", "listed", "full"), WEEK)
def test_the_groups_a_code_lists_over_a_hand_made_week(at: datetime, groups: list[schedules.Seat], listed: list[str],
                                                       full: bool) -> None:
    chosen, all_full = schedules.open_seats(groups, at)
    assert ([s.chat_id for s in chosen], all_full) == (listed, full)


def test_the_week_is_read_in_beijing_time() -> None:
    assert sh(7, 10) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert sh(8, 1, 59) == datetime(2026, 12, 7, 17, 59, tzinfo=UTC)  # still Monday in UTC, Tuesday in Beijing


# ---------------------------------------------------------------------------------------------------------------
# Against the simulator


def _groups(w: Wecom, n: int) -> list[CustomerGroup]:
    chats = [w.platform.create_chat(CORP_ID, "n1_staff", name=f"门店群{i + 1}") for i in range(n)]
    assert set(w.deliver()) == {200}
    return [CustomerGroup.objects.get(chat_id=c.chat_id) for c in chats]


def _code(w: Wecom, groups: list[CustomerGroup], cap: int = 100) -> GroupCode:
    code = group_codes.create_group_code(scope=Scope.hq(w.org.enterprise.pk), account_id=w.account.pk, name="门店群码",
                                         group_ids=[g.pk for g in groups], cap=cap, state="store1")
    code.refresh_from_db()
    return code


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Siyu's clock for the roll-over, moved by the test through the week (the callbacks still carry real
    signatures and timestamps)."""
    current = [sh(7, 10)]
    monkeypatch.setattr(group_codes, "now", lambda: current[0])

    def move(to: datetime) -> None:
        current[0] = to

    return move


def _listed(w: Wecom, code: GroupCode) -> list[str]:
    return list(w.platform.corps[CORP_ID].join_ways[code.config_id].chat_id_list)


def _join(w: Wecom, code: GroupCode) -> str:
    chat_id, _ext = w.platform.join_by_way(CORP_ID, code.config_id)
    assert w.deliver() == [200]
    return chat_id


@pytest.mark.django_db(transaction=True)
def test_the_join_way_follows_each_groups_hours_and_cap_through_a_week(
    wecom: Wecom, clock: Callable[[datetime], None]
) -> None:
    weekday, weekend, always = _groups(wecom, 3)
    code = _code(wecom, [weekday, weekend, always])
    group_codes.set_group_schedules(scope=Scope.hq(wecom.org.enterprise.pk), code_id=code.pk, groups=[
        group_codes.GroupScheduleIn(group_id=weekday.pk, cap=3, hours=WEEKDAYS_9_18),  # the owner and 2 customers
        group_codes.GroupScheduleIn(group_id=weekend.pk, hours=WEEKENDS_10_20),
    ])
    code.refresh_from_db()
    assert code.timed
    # Monday 10:00: the weekday group first, the group without hours behind it.
    assert _listed(wecom, code) == [weekday.chat_id, always.chat_id]
    assert _join(wecom, code) == weekday.chat_id
    assert _join(wecom, code) == weekday.chat_id  # its 3rd member: at its own cap, though the code's is 100
    assert _listed(wecom, code) == [always.chat_id]
    assert _join(wecom, code) == always.chat_id

    clock(sh(12, 10))  # Saturday 10:00: the sweep opens the weekend group
    assert housekeeping.sweep()["group_codes_rolled"] == 1
    assert _listed(wecom, code) == [weekend.chat_id, always.chat_id]
    assert group_codes.roll_timed() == 0  # the same minute again: nothing to push
    assert _join(wecom, code) == weekend.chat_id

    clock(sh(12, 20))  # Saturday 20:00: the weekend group closes
    assert group_codes.roll_timed() == 1
    assert _listed(wecom, code) == [always.chat_id]
    assert _join(wecom, code) == always.chat_id

    wecom.platform.leave_chat(CORP_ID, weekday.chat_id, [m for m in wecom.platform.corps[CORP_ID].chats[
        weekday.chat_id].members if m != "n1_staff"][:1])  # a seat frees up in the weekday group, off its hours
    assert wecom.deliver() == [200]
    assert _listed(wecom, code) == [always.chat_id]

    clock(sh(14, 9))  # the next Monday 09:00: the weekday group takes its free seat, then is full again
    assert group_codes.roll_timed() == 1
    assert _listed(wecom, code) == [weekday.chat_id, always.chat_id]
    assert _join(wecom, code) == weekday.chat_id
    assert _listed(wecom, code) == [always.chat_id]

    joins = dict(GroupCodeJoin.objects.filter(code=code).values_list("member_id", "group__chat_id"))
    assert sorted(joins.values()) == sorted([weekday.chat_id] * 3 + [weekend.chat_id] + [always.chat_id] * 2)
    keys = list(OutboundCall.objects.filter(method="update_join_way").values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys))  # each change pushed once, under its own key


@pytest.mark.django_db(transaction=True)
def test_outside_every_groups_hours_the_qr_keeps_working(wecom: Wecom, clock: Callable[[datetime], None]) -> None:
    first, second = _groups(wecom, 2)
    code = _code(wecom, [first, second])
    clock(sh(12, 23))  # Saturday night: neither group is in its hours
    group_codes.set_group_schedules(scope=Scope.hq(wecom.org.enterprise.pk), code_id=code.pk, groups=[
        group_codes.GroupScheduleIn(group_id=first.pk, hours=WEEKDAYS_9_18),
        group_codes.GroupScheduleIn(group_id=second.pk, hours=WEEKENDS_10_20),
    ])
    assert _listed(wecom, code) == [first.chat_id, second.chat_id]
    assert _join(wecom, code) == first.chat_id
    assert not code.notices.exists()  # groups with room: nobody is asked to create one


def _refusal(call: Callable[[], Any]) -> tuple[str, str | None, int | None]:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code, raised.value.field, raised.value.index


@pytest.mark.django_db(transaction=True)
def test_bad_schedules_are_refused_with_codes_and_write_nothing(wecom: Wecom) -> None:
    groups = _groups(wecom, 3)
    code = _code(wecom, groups[:2])
    hq = Scope.hq(wecom.org.enterprise.pk)
    good = group_codes.GroupScheduleIn(group_id=groups[0].pk, cap=50, hours=WEEKDAYS_9_18)
    cases = [
        ([good, group_codes.GroupScheduleIn(group_id=groups[1].pk, cap=201)],
         ("cap_above_platform_limit", "groups", 1)),
        ([group_codes.GroupScheduleIn(group_id=groups[0].pk, cap=1)], ("cap_too_small", "groups", 0)),
        ([good, group_codes.GroupScheduleIn(group_id=groups[2].pk)], ("not_in_code", "groups", 1)),
        ([good, good], ("duplicate", "groups", 1)),
        ([good, group_codes.GroupScheduleIn(group_id=groups[1].pk,
                                            hours=[{"days": [1], "start": "18:00", "end": "09:00"}])],
         ("bad_range", "groups", 1)),
        ([group_codes.GroupScheduleIn(group_id=groups[0].pk, hours=[{"days": [8], "start": "09:00", "end": "10:00"}])],
         ("bad_days", "groups", 0)),
    ]
    for items, expected in cases:
        assert _refusal(lambda items=items: group_codes.set_group_schedules(  # type: ignore[misc]
            scope=hq, code_id=code.pk, groups=items)) == expected
    assert list(GroupCodeSlot.objects.filter(code=code).values_list("cap", "hours")) == [(None, []), (None, [])]
    code.refresh_from_db()
    assert not code.timed
    group_codes.disable_group_code(scope=hq, code_id=code.pk)
    assert _refusal(lambda: group_codes.set_group_schedules(scope=hq, code_id=code.pk, groups=[])) == (
        "disabled", "code_id", None)


# ---------------------------------------------------------------------------------------------------------------
# API and console


def _put(api: Api, code_id: int, body: dict[str, Any]) -> Any:
    return api.client.put(f"/api/channels/wecom/group-codes/{code_id}/schedules", body,
                          content_type="application/json", headers=api.headers)


@pytest.mark.django_db(transaction=True)
def test_the_api_sets_and_reads_schedules_and_refuses_bad_input(wecom: Wecom, clock: Callable[[datetime], None]
                                                                ) -> None:
    first, second = _groups(wecom, 2)
    code = _code(wecom, [first, second])
    hq, manager, staff = Api(wecom.org.hq), Api(wecom.org.n1_manager), Api(wecom.org.n1_staff)
    good = {"groups": [{"group_id": first.pk, "cap": 30, "hours": WEEKDAYS_9_18}, {"group_id": second.pk}]}
    assert _put(staff, code.pk, good).status_code == 403
    response = _put(manager, code.pk, good)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["code_id"], body["cap"], body["timed"]) == (code.pk, 100, True)
    assert [(g["group_id"], g["cap"], g["effective_cap"], g["hours"]) for g in body["groups"]] == [
        (first.pk, 30, 30, WEEKDAYS_9_18), (second.pk, None, 100, [])]
    assert staff.get(f"/api/channels/wecom/group-codes/{code.pk}/schedules").json() == body  # everyone reads
    assert _put(manager, code.pk, good).json() == body  # twice: the same answer
    stats = hq.get(f"/api/channels/wecom/group-codes/{code.pk}/stats").json()
    assert [(g["cap"], g["own_cap"], g["hours"]) for g in stats["groups"]] == [
        (30, 30, WEEKDAYS_9_18), (100, None, [])]

    def refused(change: list[dict[str, Any]]) -> tuple[int, str, str | None, int | None]:
        r = _put(hq, code.pk, {"groups": change})
        j = r.json()
        return r.status_code, j.get("code"), j.get("field"), j.get("index")

    assert refused([{"group_id": first.pk, "cap": 201}]) == (422, "cap_above_platform_limit", "groups", 0)
    assert refused([{"group_id": second.pk}, {"group_id": 999_999}]) == (422, "not_in_code", "groups", 1)
    assert refused([{"group_id": first.pk, "hours": [{"days": [1], "start": "25:00", "end": "26:00"}]}]) == (
        422, "bad_time", "groups", 0)
    assert hq.get(f"/api/channels/wecom/group-codes/{code.pk}/schedules").json() == body  # nothing half-written
    assert AuditEntry.objects.filter(action="wecom.group_code.schedules", target_id=str(code.pk)).count() == 2


def _rows(*rows: tuple[int, str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"groups-TOTAL_FORMS": str(len(rows)), "groups-INITIAL_FORMS": str(len(rows)),
                            "groups-MIN_NUM_FORMS": "0", "groups-MAX_NUM_FORMS": "50"}
    for i, (group_id, cap, hours) in enumerate(rows):
        data[f"groups-{i}-group"] = str(group_id)
        data[f"groups-{i}-cap"] = cap
        data[f"groups-{i}-hours"] = hours
    return data


@pytest.mark.django_db(transaction=True)
def test_the_console_page_saves_schedules_and_puts_a_refusal_on_its_row(wecom: Wecom) -> None:
    first, second = _groups(wecom, 2)
    code = _code(wecom, [first, second])
    path = f"/channels/wecom/group-codes/{code.pk}/schedules/"
    assert wecom.org.n1_staff.user is not None and wecom.org.n1_manager.user is not None
    wecom.client.force_login(wecom.org.n1_staff.user)
    assert wecom.client.get(path).status_code == 403
    wecom.client.force_login(wecom.org.n1_manager.user)
    page = wecom.client.get(path)
    assert page.status_code == 200 and "门店群1" in page.content.decode()

    bad = wecom.client.post(path, _rows((first.pk, "", "1-5 18:00-09:00"), (second.pk, "300", "")))
    assert bad.status_code == 200
    html = bad.content.decode()
    assert "bad_range" in html.split('id="group-schedule-0"')[1].split("</fieldset>")[0]
    capped = wecom.client.post(path, _rows((first.pk, "", "1-5 09:00-18:00"), (second.pk, "300", "")))
    assert "cap_above_platform_limit" in capped.content.decode().split('id="group-schedule-1"')[1].split(
        "</fieldset>")[0]
    assert list(GroupCodeSlot.objects.filter(code=code).values_list("cap", "hours")) == [(None, []), (None, [])]

    saved = wecom.client.post(path, _rows((first.pk, "", "1-5 09:00-18:00"), (second.pk, "120", "6,7 10:00-20:00")))
    assert saved.status_code == 302, saved.content.decode()[:500]
    assert list(GroupCodeSlot.objects.filter(code=code).order_by("sort").values_list("cap", "hours")) == [
        (None, WEEKDAYS_9_18), (120, WEEKENDS_10_20)]
    detail = wecom.client.get(f"/channels/wecom/group-codes/{code.pk}/").content.decode()
    assert "1-5 09:00-18:00" in detail and "6-7 10:00-20:00" in detail
    assert f'href="{path}"' in detail
