"""The batch runner gives exactly what the per-customer reference runner (`services.run_timer`, one enrollment per
transaction) gives: the same step rows, tags, points, coupons and end states, over a hand-made group in which
customers take both arms of a tag branch, some already hold the tag an action adds (or lack the one it removes),
a stable random split sends them both ways, and one reaches the goal mid-way. The chunks are made tiny (3, and 2
where a per-customer action is reachable) so the group is cut, and customers are parked before a second action.

The same timeline runs twice on the same data, each run rolled back afterwards; hand-counted facts are checked too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from siyu.automation import services
from siyu.automation.models import Enrollment, Journey, Step, Timer
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, CustomerTag
from siyu.loyalty.models import PointsLot
from siyu.promotions.models import Coupon
from tests.automation.helpers import World, build_world, customer, event, live, paid
from tests.conftest import Org

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
NAMES = [f"c{n}" for n in range(10)]


def _definition(world: World) -> dict[str, Any]:
    return {
        "entry": {"kind": "event", "event": "wecom_contact_added"}, "goal": {"event": "order_paid"},
        "nodes": [
            {"id": "tag_a", "kind": "action", "action": "add_tag", "tag_id": world.d0.pk},
            {"id": "br", "kind": "branch", "condition": "has_tag", "tag_id": world.d1.pk, "then": "pts",
             "otherwise": "tag_d3"},
            {"id": "pts", "kind": "action", "action": "grant_points", "points": 10},
            {"id": "cpn", "kind": "action", "action": "issue_coupon", "coupon_template_id": world.template.pk,
             "next": "w"},
            {"id": "tag_d3", "kind": "action", "action": "add_tag", "tag_id": world.d3.pk},
            {"id": "w", "kind": "wait", "minutes": 60, "quiet_hours": False},
            {"id": "looked", "kind": "branch", "condition": "event_since_entry", "event": "page_viewed",
             "then": "split", "otherwise": "split"},
            {"id": "split", "kind": "branch", "condition": "random", "percent": 50, "then": "tag_d1",
             "otherwise": "untag"},
            {"id": "tag_d1", "kind": "action", "action": "add_tag", "tag_id": world.d1.pk, "next": "done"},
            {"id": "untag", "kind": "action", "action": "remove_tag", "tag_id": world.d0.pk},
            {"id": "done", "kind": "exit"},
        ]}


def _batched(enterprise_id: int, now: datetime) -> None:
    services.scan(enterprise_id=enterprise_id, now=now)
    services.process_due(now=now)


def _reference(enterprise_id: int, now: datetime) -> None:
    services.scan(enterprise_id=enterprise_id, now=now)
    while True:
        token, ids = services.claim_due(now=now)
        if not ids:
            return
        for timer_id in ids:
            services.run_timer(timer_id=timer_id, token=token, now=now)


def _run(world: World, people: dict[str, Customer], drive: Callable[[int, datetime], None]) -> dict[str, Any]:
    """The timeline (entry, a page view, a payment half-way, the wait's end), then what it left; rolled back."""
    names = {p.pk: n for n, p in people.items()}
    with transaction.atomic():
        for person in people.values():
            event(person, "wecom_contact_added", T0, state="")
        drive(world.enterprise_id, T0 + timedelta(seconds=2))
        event(people["c8"], "page_viewed", T0 + timedelta(minutes=10), path="/mall")
        paid(people["c4"], T0 + timedelta(minutes=30))
        drive(world.enterprise_id, T0 + timedelta(minutes=30, seconds=1))
        drive(world.enterprise_id, T0 + timedelta(minutes=62))
        drive(world.enterprise_id, T0 + timedelta(minutes=63))  # again: nothing moves, nothing doubles
        rows = Step.objects.order_by("id").values_list("enrollment__customer_id", "node", "kind", "outcome", "code",
                                                       "at")
        outcome = {
            "steps": sorted((names[c], node, kind, out, code, at) for c, node, kind, out, code, at in rows),
            "paths": {n: [(node, out) for c, node, _k, out, _c, _a in rows if c == p.pk] for n, p in people.items()},
            "tags": {n: sorted(CustomerTag.objects.filter(customer=p).values_list("tag__name", flat=True))
                     for n, p in people.items()},
            "points": {n: sum(PointsLot.objects.filter(customer=p).values_list("points", flat=True))
                       for n, p in people.items()},
            "coupons": {n: Coupon.objects.filter(customer=p).count() for n, p in people.items()},
            "status": {names[c]: s for c, s in Enrollment.objects.values_list("customer_id", "status")},
            "pending": Timer.objects.exclude(status="done").count(),
        }
        transaction.set_rollback(True)
    return outcome


def test_a_batched_run_gives_the_steps_and_tags_of_the_per_customer_run(org: Org, monkeypatch: Any) -> None:
    world = build_world(org)
    live(world, "批量", _definition(world))
    people = {n: customer(world, n, T0 - timedelta(days=1)) for n in NAMES}
    holding = {"c1": [world.d0], "c5": [world.d0], "c2": [world.d1], "c3": [world.d1, world.d3],
               "c7": [world.d1], "c6": [world.d3]}
    for name, tags in holding.items():
        customer_services.tag_customers(enterprise_id=world.enterprise_id, customer_ids=[people[name].pk],
                                        tag_ids=[t.pk for t in tags])
    monkeypatch.setattr(services, "GROUP_MAX", 3)
    monkeypatch.setattr(services, "EFFECT_MAX", 2)
    batched = _run(world, people, _batched)
    reference = _run(world, people, _reference)
    assert batched == reference

    # and by hand: the D1 holders (c2, c3, c7) take the points-and-coupon arm, the others the D3 arm; c4 pays
    # half-way through the wait and leaves there; only c8 viewed a page; the split is the stable bucket
    assert not Enrollment.objects.exists()  # both runs rolled back
    vip = {"c2", "c3", "c7"}
    assert {n for n, p in batched["points"].items() if p} == vip and set(batched["points"].values()) == {0, 10}
    assert batched["coupons"] == {n: int(n in vip) for n in NAMES}
    assert batched["paths"]["c4"] == [("tag_a", "done"), ("br", "no"), ("tag_d3", "done"), ("goal", "goal")]
    assert batched["status"] == {n: "goal" if n == "c4" else "exited" for n in NAMES}
    assert batched["pending"] == 0
    journey = Journey.objects.get()
    for name in set(NAMES) - {"c4"}:
        path = batched["paths"][name]
        arm = [("pts", "done"), ("cpn", "done")] if name in vip else [("tag_d3", "done")]
        lucky = services.bucket(journey.pk, people[name].pk) < 50
        assert path == [("tag_a", "done"), ("br", "yes" if name in vip else "no"), *arm, ("w", "done"),
                        ("looked", "yes" if name == "c8" else "no"), ("split", "yes" if lucky else "no"),
                        ("tag_d1" if lucky else "untag", "done"), ("done", "done")], name
        held = {t.name for t in holding.get(name, [])}
        expected = (held | {"D0"} | ({"D3"} if name not in vip else set()) | ({"D1"} if lucky else set())) - (
            set() if lucky else {"D0"})
        assert set(batched["tags"][name]) == expected, name
    assert batched["tags"]["c4"] == ["D0", "D3"]
