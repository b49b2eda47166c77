"""Dynamic membership follows the event log: joins and leaves are written with an event each, history keeps every
stint, and after random streams of changes the incrementally maintained membership equals a full recompute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.analytics.engine.copy import ColumnarCopy
from siyu.audiences import membership, oracle, services
from siyu.audiences.context import resolve
from siyu.audiences.models import Segment, SegmentMembership
from siyu.audiences.queries import owner_of
from siyu.audiences.rules import parse_rule
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, Event
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.factories import CustomerFactory, TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db


def _view(customer: Customer, key: str, *, days_ago: float = 0, path: str = "/promo") -> None:
    customer_services.append_events(enterprise_id=customer.enterprise_id, batch=[customer_services.EventInput(
        name="page_viewed", occurred_at=timezone.now() - timedelta(days=days_ago), idempotency_key=key,
        customer_id=customer.pk, properties={"path": path})])


def _segment(org: Org, rule_root: dict[str, Any], name: str = "seg", store: Any = None) -> Segment:
    scope = Scope.hq(org.enterprise.pk)
    return services.create_segment(scope=scope, name=name, rule={"version": 1, "root": rule_root},
                                   store_id=store.pk if store else None)


def _members(segment: Segment) -> set[int]:
    return set(SegmentMembership.objects.filter(segment=segment, left_at__isnull=True)
               .values_list("customer_id", flat=True))


def _events(name: str, segment: Segment) -> list[int]:
    return sorted(Event.objects.filter(name=name, properties__segment_id=segment.pk)
                  .values_list("customer_id", flat=True))


def test_a_new_event_makes_a_member_join_with_an_event(org: Org, copy: ColumnarCopy) -> None:
    early, late, never = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(3))
    _view(early, "v1", days_ago=1)
    segment = _segment(org, {"type": "event", "event": {"name": "page_viewed"}, "window": {"last_days": 7}})
    copy.build()
    membership.maintain(copy, copy.refresh())
    assert _members(segment) == {early.pk}
    assert _events("segment_entered", segment) == []  # the first build is a baseline, not a change

    _view(late, "v2")
    stats = membership.maintain(copy, copy.refresh())
    assert stats.incremental == 1 and stats.full == 0
    assert _members(segment) == {early.pk, late.pk}
    assert _events("segment_entered", segment) == [late.pk]
    segment.refresh_from_db()
    assert segment.member_count == 2
    assert never.pk not in _members(segment)


def test_a_diff_against_a_lagging_mirror_writes_no_second_stint(org: Org) -> None:
    """The copy's mirror of the memberships can lag a big first build: a diff may then name as joiners customers who
    already have an open stint, or as leavers customers who have none. The OLTP rows decide: nothing is written
    twice, no event repeats, and the other joiners of the same pass still get theirs."""
    old, new, stranger = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(3))
    segment = _segment(org, {"type": "event", "event": {"name": "page_viewed"}, "window": {"last_days": 7}})
    at = timezone.now()
    assert services.apply_membership(segment=segment, entered=[old.pk], left=[], at=at) == 1
    later = at + timedelta(seconds=1)
    moved = services.apply_membership(segment=segment, entered=[old.pk, new.pk], left=[stranger.pk], at=later)
    assert moved == 1  # only `new` joined; `old` is a member already, `stranger` never was
    assert SegmentMembership.objects.filter(segment=segment, customer=old).count() == 1
    assert _members(segment) == {old.pk, new.pk}
    assert _events("segment_entered", segment) == sorted([old.pk, new.pk])  # one each, keyed by the stint
    assert _events("segment_left", segment) == []
    keys = set(Event.objects.filter(name="segment_entered").values_list("idempotency_key", flat=True))
    stints = set(SegmentMembership.objects.filter(segment=segment).values_list("id", flat=True))
    assert keys == {f"segment_entered:{i}" for i in stints}
    entered = Event.objects.get(name="segment_entered", customer=new)
    assert entered.properties == {"segment_id": segment.pk, "segment": segment.name}

    assert services.apply_membership(segment=segment, entered=[], left=[old.pk, stranger.pk],
                                     at=later + timedelta(seconds=1)) == 1
    assert _members(segment) == {new.pk}
    assert _events("segment_left", segment) == [old.pk]


def test_leaving_and_coming_back_keeps_the_history(org: Org, copy: ColumnarCopy) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    tag = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise), name="vip")
    segment = _segment(org, {"type": "tags", "tag_ids": [tag.pk]})
    copy.build()
    membership.maintain(copy, copy.refresh())
    for action in (customer_services.tag_customers, customer_services.untag_customers,
                   customer_services.tag_customers):
        action(enterprise_id=org.enterprise.pk, customer_ids=[customer.pk], tag_ids=[tag.pk])
        membership.maintain(copy, copy.refresh())
    stints = list(SegmentMembership.objects.filter(segment=segment).order_by("id").values_list("left_at", flat=True))
    assert len(stints) == 2 and stints[0] is not None and stints[1] is None
    assert _events("segment_entered", segment) == [customer.pk, customer.pk]
    assert _events("segment_left", segment) == [customer.pk]


def test_time_passing_moves_members_out_on_the_full_pass(org: Org, copy: ColumnarCopy) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    _view(customer, "old", days_ago=6.999)
    segment = _segment(org, {"type": "event", "event": {"name": "page_viewed"}, "window": {"last_days": 7}})
    copy.build()
    membership.maintain(copy, copy.refresh())
    assert _members(segment) == {customer.pk}
    Segment.objects.filter(pk=segment.pk).update(rule={"version": 1, "root": {
        "type": "event", "event": {"name": "page_viewed"}, "window": {"last_days": 6}}})  # as if a day went by
    membership.maintain(copy, copy.refresh(), force_full=True)
    assert _members(segment) == set()
    assert _events("segment_left", segment) == [customer.pk]


def test_a_store_segment_holds_only_that_stores_customers(org: Org, copy: ColumnarCopy) -> None:
    ours = CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_s1)
    theirs = CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_n1)
    for c in (ours, theirs):
        _view(c, f"v{c.pk}")
    segment = _segment(org, {"type": "event", "event": {"name": "page_viewed"}}, store=org.store_s1)
    copy.build()
    membership.maintain(copy, copy.refresh())
    assert _members(segment) == {ours.pk}


def test_a_merge_moves_membership_to_the_survivor(org: Org, copy: ColumnarCopy) -> None:
    survivor = CustomerFactory.create(enterprise=org.enterprise)
    absorbed = CustomerFactory.create(enterprise=org.enterprise)
    _view(absorbed, "a1")
    segment = _segment(org, {"type": "event", "event": {"name": "page_viewed"}})
    copy.build()
    membership.maintain(copy, copy.refresh())
    assert _members(segment) == {absorbed.pk}
    customer_services.merge_customers(survivor=survivor, absorbed=absorbed, reason="test")
    membership.maintain(copy, copy.refresh())
    assert _members(segment) == {survivor.pk}


# ---------------------------------------------------------------------------------------------------------------
# Incremental equals full recompute


class _Rollback(Exception):
    pass


RULES = [
    {"type": "event", "event": {"name": "page_viewed", "where": [{"property": "path", "value": "/promo"}]},
     "count": {"op": "gte", "value": 2}, "window": {"last_days": 30}},
    {"type": "group", "op": "or", "conditions": [
        {"type": "tags", "match": "all", "tag_ids": ["T0", "T1"]},
        {"type": "event", "event": {"name": "check_in"}, "count": {"op": "eq", "value": 1}}]},
    {"type": "not", "condition": {"type": "tags", "tag_ids": ["T0"]}},
    {"type": "group", "op": "and", "conditions": [
        {"type": "event", "event": {"name": "page_viewed"}, "count": {"op": "lte", "value": 2}},
        {"type": "gender", "values": ["female"]}]},
]

steps = st.lists(st.lists(st.one_of(
    st.tuples(st.just("view"), st.integers(0, 5), st.sampled_from(["/promo", "/home"]), st.integers(0, 40)),
    st.tuples(st.just("check_in"), st.integers(0, 5), st.just(""), st.integers(0, 40)),
    st.tuples(st.just("tag"), st.integers(0, 5), st.sampled_from(["T0", "T1"]), st.just(0)),
    st.tuples(st.just("untag"), st.integers(0, 5), st.sampled_from(["T0", "T1"]), st.just(0)),
    st.tuples(st.just("gender"), st.integers(0, 5), st.sampled_from(["male", "female"]), st.just(0)),
    st.tuples(st.just("merge"), st.integers(0, 5), st.just(""), st.integers(0, 5)),
), min_size=1, max_size=5), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(stream=steps)
def test_incremental_membership_equals_full_recompute(org: Org, stream: list[list[tuple[Any, ...]]]) -> None:
    try:
        with transaction.atomic():
            _run_stream(org, stream)
            raise _Rollback
    except _Rollback:
        pass


def _run_stream(org: Org, stream: list[list[tuple[Any, ...]]]) -> None:
    ent = org.enterprise.pk
    people = [CustomerFactory.create(enterprise=org.enterprise, gender="female" if i % 2 else "male")
              for i in range(6)]
    group = TagGroupFactory.create(enterprise=org.enterprise)
    tags = {name: TagFactory.create(group=group, name=name).pk for name in ("T0", "T1")}
    segments = []
    for index, root in enumerate(RULES):
        rule = _with_tags(root, tags)
        segments.append(_segment(org, rule, name=f"s{index}"))
    copy = ColumnarCopy(None, threads=1)
    try:
        copy.build()
        membership.maintain(copy, copy.refresh())
        for n, batch in enumerate(stream):
            for k, (kind, who, value, extra) in enumerate(batch):
                _apply(people, tags, kind, who, value, extra, key=f"{n}.{k}")
            membership.maintain(copy, copy.refresh())  # incremental: only touched customers
        now = timezone.now()
        for segment in segments:
            segment.refresh_from_db()
            rule = parse_rule(segment.rule)
            full = oracle.members(rule, resolve(rule, enterprise_id=ent, now=now, check=False),
                                  scopes=[owner_of(segment)])
            assert _members(segment) == full, (segment.rule, stream)
            assert segment.member_count == len(full)
    finally:
        copy.close()


def _with_tags(node: Any, tags: dict[str, int]) -> Any:
    if isinstance(node, dict):
        out = {k: _with_tags(v, tags) for k, v in node.items()}
        if node.get("type") == "tags":
            out["tag_ids"] = [tags[t] for t in node["tag_ids"]]
        return out
    if isinstance(node, list):
        return [_with_tags(v, tags) for v in node]
    return node


def _apply(people: list[Customer], tags: dict[str, int], kind: str, who: int, value: str, extra: int,
           key: str) -> None:
    customer = Customer.objects.get(pk=people[who].pk)
    if customer.merged_into_id is not None:
        return
    ent = customer.enterprise_id
    if kind in ("view", "check_in"):
        name = "page_viewed" if kind == "view" else "check_in"
        props = {"path": value} if kind == "view" else {}
        customer_services.append_events(enterprise_id=ent, batch=[customer_services.EventInput(
            name=name, occurred_at=timezone.now() - timedelta(days=extra), idempotency_key=f"{key}:{customer.pk}",
            customer_id=customer.pk, properties=props)])
    elif kind == "tag":
        customer_services.tag_customers(enterprise_id=ent, customer_ids=[customer.pk], tag_ids=[tags[value]])
    elif kind == "untag":
        customer_services.untag_customers(enterprise_id=ent, customer_ids=[customer.pk], tag_ids=[tags[value]])
    elif kind == "gender":
        Customer.objects.filter(pk=customer.pk).update(gender=value)  # skips auto_now: the capture still sees it
    elif kind == "merge":
        other = Customer.objects.get(pk=people[extra].pk)
        if other.pk != customer.pk and other.merged_into_id is None:
            customer_services.merge_customers(survivor=customer, absorbed=other, reason="test")
