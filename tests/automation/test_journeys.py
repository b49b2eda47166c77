"""Journeys run on a controllable clock: a welcome series, an abandoned cart with a keyed wait, a goal exit, a live
edit with customers inside, re-entry rules and quiet hours. Expectations are written out by hand from the
definitions (Shanghai is UTC+8: 10:00 there is 02:00 UTC)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from siyu.automation import services
from siyu.automation.models import Enrollment, Timer
from siyu.loyalty.models import PointsLot
from tests.automation.helpers import (
    World,
    abandoned_cart,
    added,
    build_world,
    coupons,
    customer,
    event,
    live,
    paid,
    steps,
    tag_names,
    tasks,
    welcome,
)
from tests.conftest import Org

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


@pytest.fixture
def clock() -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(T0 - timedelta(minutes=5)) as frozen:
        assert isinstance(frozen, FrozenDateTimeFactory)
        yield frozen


@pytest.fixture
def world(org: Org, clock: FrozenDateTimeFactory) -> World:
    built = build_world(org)
    clock.move_to(T0)
    return built


def at(clock: FrozenDateTimeFactory, moment: datetime) -> int:
    """Move the clock and run the worker's tick (scan + due timers) once."""
    clock.move_to(moment)
    return services.tick()


def test_a_welcome_series_tags_and_tasks_on_day_0_1_and_3(world: World, clock: FrozenDateTimeFactory) -> None:
    live(world, "欢迎", welcome(world))
    person = customer(world, "甲", T0)
    added(person, T0)
    at(clock, T0 + timedelta(seconds=2))
    assert steps(person) == [("d0_tag", "done"), ("d0_task", "done")]
    assert tag_names(person) == {"D0"} and tasks(person) == ["打个招呼"]
    at(clock, T0 + timedelta(hours=23, minutes=59))
    assert len(steps(person)) == 2
    at(clock, T0 + timedelta(days=1, seconds=3))  # the wait began at the first tick (T0 + 2 s)
    assert steps(person)[2:] == [("wait1", "done"), ("d1_tag", "done")]
    assert tag_names(person) == {"D0", "D1"}
    at(clock, T0 + timedelta(days=3, seconds=4))
    at(clock, T0 + timedelta(days=3, seconds=9))  # again: nothing doubles
    assert steps(person)[4:] == [("wait3", "done"), ("d3_tag", "done"), ("d3_task", "done")]
    assert tag_names(person) == {"D0", "D1", "D3"} and tasks(person) == ["打个招呼", "回访"]
    assert list(Enrollment.objects.values_list("status", flat=True)) == ["completed"]


def test_abandoned_cart_coupon_only_for_those_who_did_not_pay_that_cart(world: World,
                                                                       clock: FrozenDateTimeFactory) -> None:
    live(world, "弃购", abandoned_cart(world))
    payer, other_cart, silent, quick = (customer(world, n, T0) for n in ("付款", "别的车", "沉默", "秒付"))
    for person, cart in ((payer, "c1"), (other_cart, "c2"), (silent, "c3"), (quick, "c4")):
        event(person, "cart_abandoned", T0, cart_id=cart)
    clock.move_to(T0 + timedelta(seconds=1))
    paid(quick, T0 + timedelta(seconds=1), cart_id="c4")  # paid before the tick even saw the cart
    at(clock, T0 + timedelta(seconds=2))
    clock.move_to(T0 + timedelta(minutes=30))
    paid(payer, T0 + timedelta(minutes=30), cart_id="c1")
    paid(other_cart, T0 + timedelta(minutes=30), cart_id="zz")  # another cart: not the one awaited
    at(clock, T0 + timedelta(minutes=31))
    at(clock, T0 + timedelta(hours=2, seconds=3))
    assert steps(payer) == [("wait_pay", "event"), ("paid", "done")]
    assert steps(quick) == [("wait_pay", "event"), ("paid", "done")]
    assert steps(other_cart) == steps(silent) == [("wait_pay", "timeout"), ("coupon", "done")]
    assert (coupons(payer), coupons(quick), coupons(other_cart), coupons(silent)) == (0, 0, 1, 1)
    at(clock, T0 + timedelta(hours=3))
    assert coupons(silent) == 1
    assert Timer.objects.filter(status="pending").count() == 0


def test_the_goal_takes_a_customer_out_mid_journey(world: World, clock: FrozenDateTimeFactory) -> None:
    live(world, "欢迎", welcome(world, goal=True))
    buyer, browser = customer(world, "买家", T0), customer(world, "逛逛", T0)
    added(buyer, T0)
    added(browser, T0)
    at(clock, T0 + timedelta(seconds=2))
    at(clock, T0 + timedelta(days=1, minutes=1))
    clock.move_to(T0 + timedelta(days=2))
    paid(buyer, T0 + timedelta(days=2))
    at(clock, T0 + timedelta(days=2, seconds=2))
    at(clock, T0 + timedelta(days=4))
    assert steps(buyer) == [("d0_tag", "done"), ("d0_task", "done"), ("wait1", "done"), ("d1_tag", "done"),
                            ("goal", "goal")]
    assert tag_names(buyer) == {"D0", "D1"} and tasks(buyer) == ["打个招呼"]
    assert tag_names(browser) == {"D0", "D1", "D3"}
    assert dict(Enrollment.objects.values_list("customer__name", "status")) == {"买家": "goal", "逛逛": "completed"}


def test_a_live_edit_leaves_those_inside_on_their_version(world: World, clock: FrozenDateTimeFactory) -> None:
    journey = live(world, "欢迎", welcome(world))
    before = customer(world, "老", T0)
    added(before, T0)
    at(clock, T0 + timedelta(seconds=2))
    services.edit_journey(scope=world.hq, journey_id=journey.pk, name="欢迎 v2",
                          definition=welcome(world, d1_tag=world.d3))
    clock.move_to(T0 + timedelta(minutes=1))
    after = customer(world, "新", T0 + timedelta(minutes=1))
    added(after, T0 + timedelta(minutes=1))
    at(clock, T0 + timedelta(minutes=1, seconds=2))
    at(clock, T0 + timedelta(days=1, minutes=2))
    assert tag_names(before) == {"D0", "D1"}  # version 1's day-1 tag
    assert tag_names(after) == {"D0", "D3"}  # version 2's
    assert dict(Enrollment.objects.values_list("customer__name", "version__number")) == {"老": 1, "新": 2}


def _short(world: World, mode: str, days: int = 0) -> dict[str, object]:
    return {"entry": {"kind": "event", "event": "wecom_contact_added"}, "reentry": {"mode": mode, "days": days},
            "nodes": [{"id": "w", "kind": "wait", "minutes": 60, "quiet_hours": False},
                      {"id": "tag", "kind": "action", "action": "grant_points", "points": 10}]}


@pytest.mark.parametrize(("mode", "days", "entered"), [
    # adds at 0 h (inside until its wait ends at 1 h), 0.5 h (inside), 3 h (left), 3 days, 9 days
    ("once", 0, 1), ("not_while_inside", 0, 4), ("every_n_days", 7, 2), ("always", 0, 5)])
def test_re_entry_rules(world: World, clock: FrozenDateTimeFactory, mode: str, days: int, entered: int) -> None:
    live(world, mode, _short(world, mode, days))
    person = customer(world, "回头客", T0)
    for offset in (timedelta(0), timedelta(minutes=30), timedelta(hours=3), timedelta(days=3), timedelta(days=9)):
        clock.move_to(T0 + offset)
        added(person, T0 + offset)
        at(clock, T0 + offset + timedelta(seconds=1))
        if offset:  # the waits due meanwhile end before the next add
            at(clock, T0 + offset + timedelta(hours=2))
    assert Enrollment.objects.count() == entered
    assert sum(PointsLot.objects.filter(customer=person).values_list("points", flat=True)) == 10 * entered


def test_a_wait_ending_in_quiet_hours_moves_to_8_in_the_morning(world: World, clock: FrozenDateTimeFactory) -> None:
    evening = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)  # 20:30 Shanghai; a 60-minute wait ends at 21:30
    definition = {"entry": {"kind": "event", "event": "wecom_contact_added"},
                  "nodes": [{"id": "w", "kind": "wait", "minutes": 60},
                            {"id": "tag", "kind": "action", "action": "add_tag", "tag_id": world.d1.pk}]}
    live(world, "晚间", definition)
    person = customer(world, "夜猫", evening)
    clock.move_to(evening)
    added(person, evening)
    at(clock, evening + timedelta(seconds=1))
    assert list(Timer.objects.filter(node="w", kind="step").values_list("due_at", flat=True)) == [
        datetime(2026, 12, 8, 0, 0, tzinfo=UTC)]  # 08:00 Shanghai the next day
    at(clock, datetime(2026, 12, 7, 23, 59, tzinfo=UTC))
    assert tag_names(person) == set()
    at(clock, datetime(2026, 12, 8, 0, 0, 1, tzinfo=UTC))
    assert tag_names(person) == {"D1"}


def test_a_branch_on_a_tag_and_a_task_without_owner_is_skipped(world: World, clock: FrozenDateTimeFactory) -> None:
    definition = {"entry": {"kind": "event", "event": "wecom_contact_added"},
                  "nodes": [{"id": "vip", "kind": "branch", "condition": "has_tag", "tag_id": world.d3.pk,
                             "then": "task", "otherwise": "bye"},
                            {"id": "task", "kind": "action", "action": "create_task", "title": "VIP 回访"},
                            {"id": "bye", "kind": "exit"}]}
    live(world, "分支", definition)
    vip, plain, orphan = customer(world, "V", T0), customer(world, "P", T0), customer(world, "O", T0, staff=False)
    from siyu.customers import services as customer_services  # noqa: PLC0415

    customer_services.tag_customers(enterprise_id=world.enterprise_id, customer_ids=[vip.pk, orphan.pk],
                                    tag_ids=[world.d3.pk])
    for person in (vip, plain, orphan):
        added(person, T0)
    at(clock, T0 + timedelta(seconds=1))
    assert steps(vip) == [("vip", "yes"), ("task", "done"), ("bye", "done")]
    assert steps(plain) == [("vip", "no"), ("bye", "done")]
    assert steps(orphan) == [("vip", "yes"), ("task", "skipped"), ("bye", "done")]
    assert tasks(vip) == ["VIP 回访"] and tasks(orphan) == []


def test_a_merged_away_customer_leaves_and_their_tasks_follow_the_survivor(world: World,
                                                                          clock: FrozenDateTimeFactory) -> None:
    from siyu.customers import services as customer_services  # noqa: PLC0415

    live(world, "欢迎", welcome(world))
    second, survivor = customer(world, "小号", T0), customer(world, "本人", T0)
    added(second, T0)
    at(clock, T0 + timedelta(seconds=1))
    customer_services.merge_customers(survivor=survivor, absorbed=second, reason="same phone")
    at(clock, T0 + timedelta(days=2))
    assert list(Enrollment.objects.values_list("status", flat=True)) == ["exited"]
    assert tasks(survivor) == ["打个招呼"] and tag_names(survivor) == {"D0"}  # no day-1 tag: they had left
