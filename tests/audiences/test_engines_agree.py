"""The columnar engine, the OLTP oracle and the pure-Python reference agree on random rules over random small
datasets (hypothesis): each example writes its customers, tags, events and orders, builds a copy, and compares the
three member sets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.customers.models import Tag
from tests.audiences.data import add_event, add_order, add_tag, evaluate_three, write_people
from tests.conftest import Org
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
EVENTS = ["page_viewed", "product_viewed", "check_in"]
PATHS = ["/a", "/b"]
PRODUCTS = [(101, 201), (102, 202), (103, 201)]  # (product, leaf category)


class _Rollback(Exception):
    pass


people = st.lists(st.fixed_dictionaries({
    "gender": st.sampled_from(["male", "female", "unknown"]),
    "birthday": st.one_of(st.none(), st.dates(date(1950, 1, 1), date(2010, 12, 31))),
    "region": st.sampled_from(["江苏省南京市", "江苏省苏州市", "上海市", ""]),
    "store": st.sampled_from([None, "n1", "s1"]),
    "created_source": st.sampled_from(["wecom", "api", "store"]),
    "created_days": st.integers(0, 400),
    "phone": st.sampled_from(["", "13800000000"]),
}), min_size=1, max_size=7)
events = st.lists(st.tuples(st.integers(0, 6), st.sampled_from(EVENTS), st.integers(0, 24 * 120),
                            st.sampled_from(PATHS)), max_size=16)
orders = st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["paid", "completed", "refunded", "pending_payment"]),
                            st.integers(0, 24 * 200), st.integers(100, 30000), st.integers(0, 100),
                            st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=2)), max_size=8)
tag_links = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2)), max_size=10)

windows = st.one_of(st.none(), st.builds(lambda d: {"last_days": d}, st.integers(1, 150)),
                    st.builds(lambda a, b: {"since": str(min(a, b)), "until": str(max(a, b))},
                              st.dates(date(2026, 1, 1), date(2026, 6, 15)),
                              st.dates(date(2026, 1, 1), date(2026, 6, 15))))
counts = st.builds(lambda op, v: {"op": op, "value": v}, st.sampled_from(["gte", "lte", "eq"]), st.integers(0, 3))


def _event_match(name: str, path: str | None) -> dict[str, Any]:
    where = [{"property": "path", "value": path}] if path and name == "page_viewed" else []
    return {"name": name, "where": where}


leaves = st.one_of(
    st.builds(lambda v: {"type": "gender", "values": v}, st.lists(st.sampled_from(["male", "female", "unknown"]),
                                                                    min_size=1, max_size=2, unique=True)),
    st.builds(lambda lo, span: {"type": "age", "min": lo, "max": lo + span}, st.integers(10, 70), st.integers(0, 30)),
    st.builds(lambda op, v: {"type": "region", "op": op, "values": [v]}, st.sampled_from(["in", "prefix"]),
              st.sampled_from(["江苏省", "上海市", "江苏省南京市"])),
    st.builds(lambda w: {"type": "created", "window": w or {"last_days": 30}}, windows),
    st.just({"type": "reachable", "via": "phone"}),
    st.builds(lambda m, t: {"type": "tags", "match": m, "tag_ids": t}, st.sampled_from(["any", "all", "none"]),
              st.lists(st.integers(0, 2), min_size=1, max_size=2, unique=True)),
    st.builds(lambda n, p, c, w: {"type": "event", "event": _event_match(n, p), "count": c,
                                  **({"window": w} if w else {})},
              st.sampled_from(EVENTS), st.sampled_from([None, *PATHS]), counts, windows),
    st.builds(lambda n, which, op, d: {"type": "event_time", "event": {"name": n}, "which": which, "op": op,
                                       "at": {"days_ago": d}},
              st.sampled_from(EVENTS), st.sampled_from(["first", "last"]), st.sampled_from(["before", "after"]),
              st.integers(0, 120)),
    st.builds(lambda a, b, h, w: {"type": "sequence", "first": {"name": a}, "then": {"name": b}, "within_hours": h,
                                  **({"window": w} if w else {})},
              st.sampled_from(EVENTS), st.sampled_from(EVENTS), st.integers(1, 24 * 30), windows),
    st.builds(lambda p, c, w: {"type": "purchased", "product_ids": [p], "count": c, **({"window": w} if w else {})},
              st.sampled_from([101, 102, 103]), counts, windows),
    st.builds(lambda c, w: {"type": "order_count", "count": c, **({"window": w} if w else {})}, counts, windows),
    st.builds(lambda op, v, w: {"type": "spend", "op": op, "value_fen": v, **({"window": w} if w else {})},
              st.sampled_from(["gte", "lte"]), st.integers(0, 40000), windows),
    st.builds(lambda op, v: {"type": "aov", "op": op, "value_fen": v}, st.sampled_from(["gte", "lte"]),
              st.integers(0, 20000)),
    st.builds(lambda op, d: {"type": "last_order", "op": op, "at": {"days_ago": d}},
              st.sampled_from(["before", "after"]), st.integers(0, 200)),
    st.builds(lambda lo, span: {"type": "bucket", "salt": "s", "modulus": 10, "low": lo, "high": min(9, lo + span)},
              st.integers(0, 9), st.integers(0, 5)),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda op, cs: {"type": "group", "op": op, "conditions": cs}, st.sampled_from(["and", "or"]),
                  st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"type": "not", "condition": c}, inner),
    ),
    max_leaves=5,
)


def _tag_ids(node: Any, tags: list[int]) -> Any:
    if isinstance(node, dict):
        out = {k: _tag_ids(v, tags) for k, v in node.items()}
        if node.get("type") == "tags":
            out["tag_ids"] = [tags[i] for i in node["tag_ids"]]
        return out
    if isinstance(node, list):
        return [_tag_ids(v, tags) for v in node]
    return node


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(people=people, events=events, orders=orders, tag_links=tag_links, condition=conditions)
def test_random_rules_agree_on_random_data(org: Org, people: list[dict[str, Any]], events: list[Any],
                                           orders: list[Any], tag_links: list[Any], condition: Any) -> None:
    try:
        with transaction.atomic():
            _example(org, people, events, orders, tag_links, condition)
            raise _Rollback
    except _Rollback:
        pass


def _example(org: Org, people: list[dict[str, Any]], events: list[Any], orders: list[Any],
             tag_links: list[Any], condition: Any) -> None:
    ent = org.enterprise.pk
    stores = {"n1": org.store_n1, "s1": org.store_s1, None: None}
    written = write_people(ent, {
        f"c{i}": {"gender": p["gender"], "birthday": p["birthday"], "region": p["region"],
                  "home_store": stores[p["store"]], "created_source": p["created_source"],
                  "created_at": NOW - timedelta(days=p["created_days"], hours=3), "phone": p["phone"]}
        for i, p in enumerate(people)})
    group = TagGroupFactory.create(enterprise=org.enterprise)
    tags: list[int] = [TagFactory.create(group=group, name=f"t{i}").pk for i in range(3)]
    for who, tag in {(w % len(people), t) for w, t in tag_links}:
        add_tag(written, f"c{who}", tags[tag])
    for who, name, hours_ago, path in events:
        props = {"path": path} if name == "page_viewed" else ({"product_id": 1} if name == "product_viewed" else {})
        add_event(written, ent, f"c{who % len(people)}", name, NOW - timedelta(hours=hours_ago, minutes=7), **props)
    for who, status, hours_ago, paid, refund_share, lines in orders:
        paid_at = None if status == "pending_payment" else NOW - timedelta(hours=hours_ago, minutes=11)
        refunded = paid if status == "refunded" else paid * refund_share // 400
        add_order(written, ent, f"c{who % len(people)}", status=status, paid_at=paid_at,
                  paid_fen=paid if paid_at else 0, refunded_fen=refunded if paid_at else 0, lines=tuple(lines))
    rule = {"version": 1, "root": _tag_ids(condition, tags)}
    got = evaluate_three(rule, enterprise_id=ent, now=NOW, data=written.data, check=False)
    assert got.engine == got.oracle, (rule, written.names(got.engine), written.names(got.oracle))
    if got.reference is not None:
        assert got.engine == got.reference, (rule, written.names(got.engine), written.names(got.reference))
    assert Tag.objects.filter(pk__in=tags).count() == 3
