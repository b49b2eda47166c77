"""Group codes (群活码) against the simulator: the join way on the platform, roll-over to the next group at the cap,
each join counted once (replayed callbacks too), quits and net, the "create a group" notice when all are full, and
the refusals for bad input."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection, transaction

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom import group_codes, queries
from siyu.channels.wecom import groups as groups_service
from siyu.channels.wecom.callbacks import WecomEvent
from siyu.channels.wecom.models import (
    CustomerGroup,
    GroupCode,
    GroupCodeDay,
    GroupCodeJoin,
    GroupCodeNotice,
    GroupCodeSlot,
    GroupCodeStatus,
    OutboundCall,
)
from siyu.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.races import race

pytestmark = pytest.mark.django_db(transaction=True)


def _groups(w: Wecom, n: int, owner: str = "n1_staff") -> list[CustomerGroup]:
    chats = [w.platform.create_chat(CORP_ID, owner, name=f"快闪群{i + 1}") for i in range(n)]
    assert set(w.deliver()) == {200}
    return [CustomerGroup.objects.get(chat_id=c.chat_id) for c in chats]


def _code(w: Wecom, groups: list[CustomerGroup], cap: int | None = 4, **kw: object) -> GroupCode:
    code = group_codes.create_group_code(
        scope=Scope.hq(w.org.enterprise.pk), account_id=w.account.pk, name="双十二快闪",
        group_ids=[g.pk for g in groups], cap=cap, state=str(kw.pop("state", "flash12")), **kw,  # type: ignore[arg-type]
    )
    code.refresh_from_db()
    return code


def _join(w: Wecom, code: GroupCode, n: int) -> list[tuple[str, str]]:
    joined = []
    for _ in range(n):
        joined.append(w.platform.join_by_way(CORP_ID, code.config_id))
        assert w.deliver() == [200]
    return joined


def test_the_code_creates_a_join_way_listing_its_groups_with_its_state_and_qr(wecom: Wecom) -> None:
    groups = _groups(wecom, 3)
    code = _code(wecom, groups)
    assert code.status == GroupCodeStatus.ACTIVE
    way = wecom.platform.corps[CORP_ID].join_ways[code.config_id]
    assert way.chat_id_list == [g.chat_id for g in groups]
    assert (way.state, way.scene, way.auto_create_room) == ("flash12", 2, 0)
    assert code.qr_code == way.qr_code and code.qr_code.endswith(f"/qr/{code.config_id}")
    assert code.current_group_id == groups[0].pk


def test_joins_roll_to_the_next_group_at_the_cap_and_each_join_counts_once(wecom: Wecom) -> None:
    groups = _groups(wecom, 3)
    code = _code(wecom, groups, cap=4)  # the owner and 3 customers fill a group
    joined = _join(wecom, code, 7)
    where = [chat for chat, _ext in joined]
    # Group 1 takes 3 customers; Siyu rolls the way, so the 4th goes to group 2 though the platform would allow 200.
    assert where == [groups[0].chat_id] * 3 + [groups[1].chat_id] * 3 + [groups[2].chat_id]
    code.refresh_from_db()
    assert code.current_group_id == groups[2].pk
    assert wecom.platform.corps[CORP_ID].join_ways[code.config_id].chat_id_list == [groups[2].chat_id]
    assert code.rolls == 2
    assert GroupCodeJoin.objects.filter(code=code).count() == 7
    assert sum(GroupCodeDay.objects.filter(code=code).values_list("joins", flat=True)) == 7

    # The platform re-sends the last join's callback (it did not see our 200): nothing counts twice.
    pending = wecom.platform.emit(wecom.platform.corps[CORP_ID], [
        ("Event", "change_external_chat"), ("ChatId", groups[2].chat_id), ("ChangeType", "update"),
        ("UpdateDetail", "add_member"), ("JoinScene", 3), ("MemChangeCnt", 1), ("MemChangeList", [joined[-1][1]]),
    ])
    assert pending is not None
    wecom.platform.outbox.append(pending)  # the same envelope twice
    assert wecom.deliver() == [200, 200]
    assert GroupCodeJoin.objects.filter(code=code).count() == 7
    assert sum(GroupCodeDay.objects.filter(code=code).values_list("joins", flat=True)) == 7


def test_quits_count_once_and_free_a_seat_the_code_rolls_back_to(wecom: Wecom) -> None:
    groups = _groups(wecom, 2)
    code = _code(wecom, groups, cap=3)
    joined = _join(wecom, code, 3)  # 2 into group 1, then 1 into group 2
    assert [c for c, _e in joined] == [groups[0].chat_id, groups[0].chat_id, groups[1].chat_id]
    quitter = joined[0][1]
    wecom.platform.leave_chat(CORP_ID, groups[0].chat_id, [quitter])
    assert wecom.deliver() == [200]
    code.refresh_from_db()
    assert code.current_group_id == groups[0].pk  # a seat is free in the first group again
    stats = group_codes_stats(wecom, code)
    assert (stats.joins, stats.quits, stats.net) == (3, 1, 2)
    assert [(g.joins, g.quits, g.members) for g in stats.groups] == [(2, 1, 2), (1, 0, 2)]


def test_when_every_group_is_full_staff_are_asked_for_a_new_group_once(wecom: Wecom) -> None:
    groups = _groups(wecom, 2)
    code = _code(wecom, groups, cap=2)
    _join(wecom, code, 2)
    notices = GroupCodeNotice.objects.filter(code=code, resolved_at__isnull=True)
    assert [(n.staff_id, "full" in n.message) for n in notices] == [(wecom.org.n1_staff.pk, True)]
    _join(wecom, code, 2)  # the QR still works (into the last group, under the platform's 200) and asks only once
    assert GroupCodeNotice.objects.filter(code=code).count() == 1
    assert wecom.platform.corps[CORP_ID].join_ways[code.config_id].chat_id_list == [groups[1].chat_id]

    (extra,) = _groups(wecom, 1)
    group_codes.add_groups(scope=Scope.hq(wecom.org.enterprise.pk), code_id=code.pk, group_ids=[extra.pk])
    assert not GroupCodeNotice.objects.filter(code=code, resolved_at__isnull=True).exists()
    assert wecom.platform.corps[CORP_ID].join_ways[code.config_id].chat_id_list == [extra.chat_id]
    assert [c for c, _e in _join(wecom, code, 1)] == [extra.chat_id]


def test_bad_input_is_refused_with_codes_and_writes_nothing(wecom: Wecom) -> None:
    groups = _groups(wecom, 2)
    hq = Scope.hq(wecom.org.enterprise.pk)
    other = channel_services.ensure_account(
        enterprise_id=wecom.org.enterprise.pk, kind=AccountKind.WECOM, name="Other corp", app_id="wwothercorp",
        agent_id="1000003", secret="s", token="t", encoding_aes_key="b" * 43, base_url=wecom.account.base_url,
    )
    foreign = CustomerGroup.objects.create(account=other, chat_id="wr_other_corp", name="别的企业的群")
    cases: list[tuple[dict[str, object], type[Exception], str, str]] = [
        ({"group_ids": [groups[0].pk, foreign.pk]}, ValidationFailed, "group_of_other_corp", "group_ids"),
        ({"cap": 201}, ValidationFailed, "cap_above_platform_limit", "cap"),
        ({"group_ids": []}, ValidationFailed, "groups_required", "group_ids"),
        ({"group_ids": [999_999]}, NotFound, "not_found", "group_ids"),
        ({"state": "带空格 state"}, ValidationFailed, "state_format", "state"),
    ]
    for override, error, code, field in cases:
        kwargs: dict[str, object] = {"scope": hq, "account_id": wecom.account.pk, "name": "码",
                                     "group_ids": [groups[0].pk], "cap": 100, **override}
        with pytest.raises(error) as raised:
            group_codes.create_group_code(**kwargs)  # type: ignore[arg-type]
        assert isinstance(raised.value, DomainError)
        assert (raised.value.code, raised.value.field) == (code, field), override
    assert not GroupCode.objects.exists() and not GroupCodeSlot.objects.exists()

    first = _code(wecom, [groups[0]], cap=10, state="one")
    with pytest.raises(Conflict) as taken:
        _code(wecom, [groups[1], groups[0]], cap=10, state="two")
    assert (taken.value.code, taken.value.index) == ("group_in_other_code", 1)
    assert list(GroupCode.objects.values_list("pk", flat=True)) == [first.pk]


def group_codes_stats(w: Wecom, code: GroupCode) -> queries.GroupCodeStats:
    return queries.group_code_stats(Scope.hq(w.org.enterprise.pk), code.pk, days=7)


@pytest.mark.postgres
def test_two_joins_racing_for_the_last_seat_roll_the_code_once(wecom: Wecom) -> None:
    """Both joins land in the first group (the platform knows nothing of the operator's cap); each callback counts
    its member and re-plans the code under the code's row lock, so the roll happens once, with one update call."""
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")
    groups = _groups(wecom, 2)
    code = _code(wecom, groups, cap=3)
    _join(wecom, code, 1)  # owner + 1: one seat left in the first group
    people = [wecom.platform.new_person(CORP_ID).external_userid for _ in range(2)]
    events = [
        WecomEvent(fields={"Event": "change_external_chat", "ChatId": groups[0].chat_id, "ChangeType": "update",
                           "UpdateDetail": "add_member", "JoinScene": "3", "MemChangeCnt": "1",
                           "CreateTime": str(int(wecom.platform.now()))}, members=(person,))
        for person in people
    ]

    def join(i: int) -> None:
        with transaction.atomic():
            groups_service.on_chat_event(wecom.account, events[i])

    outcomes = race(2, join)
    assert outcomes == Counter({"ok": 2})
    code.refresh_from_db()
    assert (code.rolls, code.current_group_id, code.active_chat_ids) == (1, groups[1].pk, [groups[1].chat_id])
    assert OutboundCall.objects.filter(method="update_join_way").count() == 1
    assert GroupCodeJoin.objects.filter(code=code, group=groups[0]).count() == 3
