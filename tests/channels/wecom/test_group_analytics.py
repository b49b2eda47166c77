"""Group analytics against a hand-made join/quit history whose instants sit on Shanghai day boundaries (16:00 UTC is
midnight in Shanghai): joins, quits and net per day and per group, group code and owner, members at the end of the
range, staff members not counted, and each role sees only the groups it may see."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.utils import translation

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom import queries
from siyu.channels.wecom.models import CustomerGroup, GroupCode, GroupCodeSlot, GroupMembership, MemberType
from siyu.core.errors import ValidationFailed
from siyu.org.scope import Scope, scope_for_staff
from tests.conftest import Org
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db

START, END = date(2026, 12, 1), date(2026, 12, 4)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def history(org: Org) -> dict[str, CustomerGroup]:
    account = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="WeCom", app_id="wwanalytics",
        agent_id="1", secret="s", token="t", encoding_aes_key="a" * 43, base_url="http://127.0.0.1:9",
    )
    g = {
        key: CustomerGroup.objects.create(account=account, chat_id=f"wr{key}", name=name, owner=owner)
        for key, name, owner in [
            ("g1", "一店快闪群", org.n1_staff), ("g2", "一店二群", org.n1_staff),
            ("g3", "广州群", org.s1_staff), ("g4", "无主群", None),
        ]
    }
    code = GroupCode.objects.create(enterprise=org.enterprise, account=account, name="双十二群码", state="d12", cap=200)
    GroupCodeSlot.objects.create(code=code, group=g["g1"], sort=0)
    GroupCodeSlot.objects.create(code=code, group=g["g2"], sort=1)
    stints = [
        # group, member, joined (UTC), left (UTC)         Shanghai days
        ("g6", "g1", "m6", "2026-11-30 15:00:00", "2026-12-04 16:00:00"),  # 11-30 .. 12-05: both outside
        ("m1", "g1", "m1", "2026-12-01 15:59:59", "2026-12-03 15:59:00"),  # 12-01 23:59:59 .. 12-03 23:59
        ("m2", "g1", "m2", "2026-12-01 16:00:00", None),                   # 12-02 00:00:00
        ("m3", "g2", "m3", "2026-12-02 03:00:00", "2026-12-02 16:00:00"),  # 12-02 .. 12-03 00:00
        ("m4", "g3", "m4", "2026-12-03 16:30:00", None),                   # 12-04 00:30
        ("m5", "g4", "m5", "2026-12-02 05:00:00", None),                   # 12-02
        ("st", "g1", "n1_staff", "2026-12-02 01:00:00", "2026-12-03 01:00:00"),  # a staff member: not counted
    ]
    for tag, group, member, joined, left in stints:
        GroupMembership.objects.create(
            group=g[group], member_id=member, joined_at=_t(joined), left_at=_t(left) if left else None,
            member_type=MemberType.STAFF if tag == "st" else MemberType.EXTERNAL,
        )
    return g


def _days(result: queries.GroupAnalytics) -> list[tuple[str, int, int, int]]:
    return [(d.day.isoformat(), d.joins, d.quits, d.net) for d in result.days]


def _rows(result: queries.GroupAnalytics) -> list[tuple[str, int, int, int, int]]:
    return [(r.name, r.joins, r.quits, r.net, r.members) for r in result.rows]


def test_per_day_counts_follow_shanghai_midnight(org: Org, history: dict[str, CustomerGroup]) -> None:
    result = queries.group_analytics(Scope.hq(org.enterprise.pk), start=START, end=END)
    assert _days(result) == [
        ("2026-12-01", 1, 0, 1),  # m1 at 23:59:59
        ("2026-12-02", 3, 0, 3),  # m2 at 00:00:00, m3, m5
        ("2026-12-03", 0, 2, -2),  # m3 left at 00:00, m1 at 23:59
        ("2026-12-04", 1, 0, 1),  # m4; m6 left at 12-05 00:00, the day after the range
    ]
    assert (result.joins, result.quits, result.net) == (5, 2, 3)


def test_per_group_with_members_at_the_end_of_the_range(org: Org, history: dict[str, CustomerGroup]) -> None:
    result = queries.group_analytics(Scope.hq(org.enterprise.pk), by="group", start=START, end=END)
    # g1 ends with m2 and m6 (m6 left at the very end instant, so was a member through 12-04)
    assert _rows(result) == [
        ("一店快闪群", 2, 1, 1, 2), ("广州群", 1, 0, 1, 1), ("无主群", 1, 0, 1, 1), ("一店二群", 1, 1, 0, 0),
    ]
    assert [r.key for r in result.rows][0] == history["g1"].pk


def test_per_owner_and_per_group_code(org: Org, history: dict[str, CustomerGroup]) -> None:
    hq = Scope.hq(org.enterprise.pk)
    with translation.override("en"):  # the row of groups without an owner is named in the active language
        by_owner = queries.group_analytics(hq, by="owner", start=START, end=END)
    assert _rows(by_owner) == [(org.n1_staff.name, 3, 2, 1, 2), ("No owner", 1, 0, 1, 1),
                               (org.s1_staff.name, 1, 0, 1, 1)]
    by_code = queries.group_analytics(hq, by="code", start=START, end=END)
    assert _rows(by_code) == [("双十二群码", 3, 2, 1, 2)]
    assert _days(by_code)[1] == ("2026-12-02", 2, 0, 2)  # m5's group is in no code


def test_each_role_sees_its_own_groups(org: Org, history: dict[str, CustomerGroup]) -> None:
    staff = queries.group_analytics(scope_for_staff(org.n1_staff), start=START, end=END)
    assert ({r.name for r in staff.rows}, staff.joins, staff.quits) == ({"一店快闪群", "一店二群"}, 3, 2)
    manager = queries.group_analytics(scope_for_staff(org.n1_manager), start=START, end=END)
    assert (manager.joins, manager.quits) == (3, 2)
    south = queries.group_analytics(scope_for_staff(org.s1_staff), start=START, end=END)
    assert ([r.name for r in south.rows], south.joins) == (["广州群"], 1)
    other = EnterpriseFactory.create(code="other-analytics")
    nothing = queries.group_analytics(Scope.hq(other.pk), start=START, end=END)
    assert (nothing.rows, nothing.joins, nothing.quits) == ([], 0, 0)


def test_cells_for_the_export_and_paging(org: Org, history: dict[str, CustomerGroup]) -> None:
    hq = Scope.hq(org.enterprise.pk)
    cells = queries.group_analytics_cells(hq, by="group", start=START, end=END)
    assert [(c.day.isoformat(), c.name, c.joins, c.quits) for c in cells if c.key == history["g1"].pk] == [
        ("2026-12-01", "一店快闪群", 1, 0), ("2026-12-02", "一店快闪群", 1, 0), ("2026-12-03", "一店快闪群", 0, 1),
    ]
    assert sum(c.joins for c in cells) == 5 and sum(c.quits for c in cells) == 2
    second = queries.group_analytics(hq, by="group", start=START, end=END, page=2, page_size=3)
    assert (second.page, second.pages, second.total_rows, _rows(second)) == (2, 2, 4, [("一店二群", 1, 1, 0, 0)])


@pytest.mark.parametrize(
    ("kw", "code", "field"),
    [
        ({"start": date(2026, 12, 5), "end": date(2026, 12, 4)}, "bad_range", "start"),
        ({"start": date(2025, 12, 1), "end": date(2026, 12, 4)}, "range_too_long", "end"),
        ({"by": "region"}, "unknown_by", "by"),
    ],
)
def test_bad_ranges_are_refused(org: Org, kw: dict[str, object], code: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        queries.group_analytics(Scope.hq(org.enterprise.pk), **kw)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == (code, field)


def test_members_over_time_walk_back_from_the_end(org: Org, history: dict[str, CustomerGroup]) -> None:
    result = queries.group_analytics(Scope.hq(org.enterprise.pk), start=START, end=END)
    # at each Shanghai midnight ending the day, worked out from the stints above by hand:
    # 12-01: m6, m1 · 12-02: m6, m1, m2, m3 (leaves exactly at the end), m5 · 12-03: m6, m2, m5 · 12-04: + m4
    assert [(d.day.isoformat(), d.members) for d in result.days] == [
        ("2026-12-01", 2), ("2026-12-02", 5), ("2026-12-03", 3), ("2026-12-04", 4)]


def test_per_store_of_the_owner(org: Org, history: dict[str, CustomerGroup]) -> None:
    with translation.override("en"):
        by_store = queries.group_analytics(Scope.hq(org.enterprise.pk), by="store", start=START, end=END)
    assert _rows(by_store) == [("Beijing 1", 3, 2, 1, 2), ("Guangzhou 1", 1, 0, 1, 1), ("No store", 1, 0, 1, 1)]


def test_conversion_of_group_members_against_the_others(org: Org, history: dict[str, CustomerGroup]) -> None:
    from siyu.customers import services as customer_services
    from tests.factories import CustomerFactory

    people = {k: CustomerFactory.create(enterprise=org.enterprise, name=k,
                                        home_store=org.store_n1 if k == "c1" else org.store_s1)
              for k in ("c1", "c2", "c3", "c4", "c5")}
    stints = [("c1", "g1", "2026-12-02 02:00:00", None), ("c2", "g3", "2026-11-20 02:00:00", None),
              ("c5", "g1", "2026-11-10 02:00:00", "2026-11-20 02:00:00")]  # c5 left before the range
    for who, group, joined, left in stints:
        GroupMembership.objects.create(group=history[group], member_id=f"wm{who}", customer=people[who],
                                       joined_at=_t(joined), left_at=_t(left) if left else None)
    for who, paid in [("c1", "2026-12-03 04:00:00"), ("c3", "2026-12-01 01:00:00"), ("c4", "2026-11-25 01:00:00"),
                      ("c5", "2026-12-04 10:00:00")]:
        customer_services.record_event(customer=people[who], name="order_paid", idempotency_key=f"paid-{who}",
                                       occurred_at=_t(paid), properties={"order_id": 1, "order_no": f"N{who}",
                                                                         "amount_fen": 9900})
    hq = Scope.hq(org.enterprise.pk)
    found = queries.group_conversion(hq, start=START, end=END)
    assert (found.members.customers, found.members.buyers) == (2, 1)  # c1 bought, c2 did not
    assert (found.non_members.customers, found.non_members.buyers) == (3, 2)  # c3, c5 bought; c4 before the range
    assert [(r.name, r.customers, r.buyers) for r in found.rows] == [("一店快闪群", 1, 1), ("广州群", 1, 0)]
    by_store = queries.group_conversion(hq, by="store", start=START, end=END)
    assert [(r.name, r.customers, r.buyers) for r in by_store.rows] == [("Beijing 1", 1, 1), ("Guangzhou 1", 1, 0)]
    # a store manager of n1 sees their store's customers in their store's groups, and no one else
    mine = queries.group_conversion(scope_for_staff(org.n1_manager), start=START, end=END)
    assert (mine.members.customers, mine.members.buyers, mine.non_members.customers) == (1, 1, 0)
