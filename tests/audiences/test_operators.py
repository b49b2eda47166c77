"""Every operator of the rule language against members worked out by hand on a hand-made dataset, evaluated three ways:
the columnar engine, the OLTP oracle and (for the conditions it covers) the pure-Python reference.

The evaluation instant is 2026-06-15 12:00 Shanghai (04:00 UTC). Five customers:
  ann  female, born 1990-06-15 (36 today), 江苏省南京市, home n1, came via wecom 14 days ago, has a phone
  bob  male,   born 1990-06-16 (35, birthday tomorrow), 江苏省苏州市, home n2, official_account, 500 days ago
  cai  unknown gender, no birthday, 上海市, home s1, miniprogram, 1 day ago, has a phone
  dan  male,   born 2000-01-01 (26), no region, no home store, store, 800 days ago
  eve  female, born 1960-02-29 (66), 广东省深圳市, home s1, api, 31 days ago
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from siyu.audiences.models import CustomerScore, Segment, SegmentMembership
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.official_account.models import Follower
from siyu.channels.wecom.models import CustomerGroup, GroupMembership
from siyu.customers.models import Relationship
from siyu.org.scope import Scope
from tests.audiences.data import Written, add_event, add_order, add_tag, evaluate_three, write_people
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)


@dataclass
class World:
    w: Written
    ids: dict[str, int]
    org: Org


@pytest.fixture
def world(org: Org) -> World:
    ent = org.enterprise.pk
    w = write_people(ent, {
        "ann": {"gender": "female", "birthday": date(1990, 6, 15), "region": "江苏省南京市",
                "home_store": org.store_n1, "created_source": "wecom", "created_at": NOW - 14 * D,
                "phone": "13800000001"},
        "bob": {"gender": "male", "birthday": date(1990, 6, 16), "region": "江苏省苏州市", "home_store": org.store_n2,
                "created_source": "official_account", "created_at": NOW - 500 * D},
        "cai": {"gender": "unknown", "region": "上海市", "home_store": org.store_s1, "created_source": "miniprogram",
                "created_at": NOW - D, "phone": "13800000003"},
        "dan": {"gender": "male", "birthday": date(2000, 1, 1), "created_source": "store", "created_at": NOW - 800 * D},
        "eve": {"gender": "female", "birthday": date(1960, 2, 29), "region": "广东省深圳市", "home_store": org.store_s1,
                "created_source": "api", "created_at": NOW - 31 * D},
    })
    ids: dict[str, int] = {}
    group = TagGroupFactory.create(enterprise=org.enterprise, name="兴趣")
    for name in ("coffee", "tea", "vip"):
        ids[name] = TagFactory.create(group=group, name=name).pk
    for who, tag in (("ann", "coffee"), ("bob", "coffee"), ("ann", "tea"), ("cai", "tea"), ("eve", "vip")):
        add_tag(w, who, ids[tag])

    Relationship.objects.create(customer_id=w.ids["ann"], staff=org.n1_staff, added_at=NOW - 10 * D, state="poster1")
    Relationship.objects.create(customer_id=w.ids["bob"], staff=org.n1_staff, added_at=NOW - 90 * D,
                                status="deleted_by_customer")
    Relationship.objects.create(customer_id=w.ids["cai"], staff=org.s1_staff, added_at=NOW - D, state="store_qr")

    for who, at, props in (("ann", NOW - D, {"path": "/promo"}), ("ann", NOW - 2 * D, {"path": "/promo"}),
                           ("ann", NOW - 40 * D, {"path": "/promo"}), ("bob", NOW - 5 * D, {"path": "/home"}),
                           ("cai", NOW - 20 * D, {"path": "/promo"})):
        add_event(w, ent, who, "page_viewed", at, **props)
    add_event(w, ent, "ann", "product_viewed", NOW - 3 * D, product_id=7)
    add_event(w, ent, "bob", "product_viewed", NOW - 10 * H, product_id=7)
    add_event(w, ent, "bob", "order_paid", NOW - 8 * H, order_id=1, amount_fen=20000)
    add_event(w, ent, "eve", "product_viewed", NOW - 100 * D, product_id=8)
    add_event(w, ent, "eve", "opted_out", NOW - 10 * D)
    add_event(w, ent, "dan", "opted_out", NOW - 20 * D)
    add_event(w, ent, "dan", "opted_in", NOW - 5 * D)

    hq = Scope.hq(ent)
    root = leaf(hq, "家居", "厨房")
    l1 = root
    l2 = leaf(hq, "家居", "卫浴")
    ids["R"], ids["L1"], ids["L2"] = int(l1.parent_id or 0), l1.pk, l2.pk
    ids["p7"] = product(hq, "锅", sku("P7", 100), category=l1).pk
    ids["p8"] = product(hq, "毛巾", sku("P8", 100), category=l2).pk
    ids["p9"] = product(hq, "铲", sku("P9", 100), category=l1).pk
    p7, p8, p9 = (ids["p7"], l1.pk), (ids["p8"], l2.pk), (ids["p9"], l1.pk)
    add_order(w, ent, "ann", status="completed", paid_at=NOW - 5 * D, paid_fen=10000, lines=(p7,))
    add_order(w, ent, "ann", status="completed", paid_at=NOW - 100 * D, paid_fen=5000, lines=(p8,))
    add_order(w, ent, "ann", status="pending_payment", paid_at=None, paid_fen=0, lines=(p7,))
    add_order(w, ent, "bob", status="paid", paid_at=NOW - 8 * H, paid_fen=20000, lines=(p7,))
    add_order(w, ent, "cai", status="refunded", paid_at=NOW - 40 * D, paid_fen=3000, refunded_fen=3000, lines=(p9,))
    add_order(w, ent, "eve", status="completed", paid_at=NOW - 400 * D, paid_fen=8000, lines=(p8,))
    add_order(w, ent, "eve", status="completed", paid_at=NOW - 2 * D, paid_fen=2000, refunded_fen=500, lines=(p9,))

    wecom = ChannelAccount.objects.create(enterprise=org.enterprise, kind=AccountKind.WECOM, name="企微",
                                          app_id="wwopstest", callback_token="t")
    oa = ChannelAccount.objects.create(enterprise=org.enterprise, kind=AccountKind.OFFICIAL_ACCOUNT, name="公众号",
                                       app_id="wxopstest", callback_token="t")
    chat = CustomerGroup.objects.create(account=wecom, chat_id="wr1", name="群")
    ids["G1"] = chat.pk
    GroupMembership.objects.create(group=chat, member_id="e1", customer_id=w.ids["ann"], joined_at=NOW - 9 * D)
    GroupMembership.objects.create(group=chat, member_id="e2", customer_id=w.ids["bob"], joined_at=NOW - 9 * D,
                                   left_at=NOW - 2 * D)
    Follower.objects.create(account=oa, openid="o1", customer_id=w.ids["cai"], subscribed=True)
    Follower.objects.create(account=oa, openid="o2", customer_id=w.ids["dan"], subscribed=False)

    CustomerScore.objects.create(customer_id=w.ids["ann"], enterprise=org.enterprise, r=5, f=4, m=5,
                                 cell="important_value", stage="active")
    CustomerScore.objects.create(customer_id=w.ids["bob"], enterprise=org.enterprise, r=5, f=1, m=5,
                                 cell="general_develop", stage="new")
    static = Segment.objects.create(enterprise=org.enterprise, name="名单", kind="static", rule={})
    for who, left in (("cai", None), ("dan", None), ("eve", NOW - D)):
        SegmentMembership.objects.create(segment=static, customer_id=w.ids[who], entered_at=NOW - 3 * D, left_at=left)
    dynamic = Segment.objects.create(enterprise=org.enterprise, name="南区女性", store=org.store_s1,
                                     rule={"version": 1, "root": {"type": "gender", "values": ["female"]}})
    ids["static"], ids["dynamic"] = static.pk, dynamic.pk
    return World(w, ids, org)


def _ev(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": "event", "event": {"name": name, "where": kw.pop("where", [])}, **kw}


CASES: list[tuple[str, Any, set[str]]] = [
    ("gender", lambda i: {"type": "gender", "values": ["female"]}, {"ann", "eve"}),
    ("gender several", lambda i: {"type": "gender", "values": ["male", "unknown"]}, {"bob", "cai", "dan"}),
    ("age min (birthday today counts)", lambda i: {"type": "age", "min": 36}, {"ann", "eve"}),
    ("age max (birthday tomorrow)", lambda i: {"type": "age", "max": 35}, {"bob", "dan"}),
    ("age range", lambda i: {"type": "age", "min": 30, "max": 40}, {"ann", "bob"}),
    ("region in", lambda i: {"type": "region", "values": ["上海市"]}, {"cai"}),
    ("region prefix", lambda i: {"type": "region", "op": "prefix", "values": ["江苏省"]}, {"ann", "bob"}),
    ("home store", lambda i: {"type": "home_store", "store_ids": [i["s1"]]}, {"cai", "eve"}),
    ("source", lambda i: {"type": "source", "values": ["wecom", "store"]}, {"ann", "dan"}),
    ("created last days", lambda i: {"type": "created", "window": {"last_days": 30}}, {"ann", "cai"}),
    ("created between dates", lambda i: {"type": "created", "window": {"since": "2026-06-14", "until": "2026-06-15"}},
     {"cai"}),
    ("reachable phone", lambda i: {"type": "reachable", "via": "phone"}, {"ann", "cai"}),
    ("reachable wecom (active relationship)", lambda i: {"type": "reachable", "via": "wecom"}, {"ann", "cai"}),
    ("reachable oa (subscribed follower)", lambda i: {"type": "reachable", "via": "oa"}, {"cai"}),
    ("opted out (latest opt event)", lambda i: {"type": "opted_out"}, {"eve"}),
    ("followed by (active)", lambda i: {"type": "followed_by", "staff_ids": [i["n1_staff"]]}, {"ann"}),
    ("followed by (any status)", lambda i: {"type": "followed_by", "staff_ids": [i["n1_staff"]], "any_status": True},
     {"ann", "bob"}),
    ("added via channel code", lambda i: {"type": "added_via", "states": ["poster1"]}, {"ann"}),
    ("in group now", lambda i: {"type": "in_group", "group_ids": [i["G1"]]}, {"ann"}),
    ("tags any", lambda i: {"type": "tags", "match": "any", "tag_ids": [i["coffee"]]}, {"ann", "bob"}),
    ("tags all", lambda i: {"type": "tags", "match": "all", "tag_ids": [i["coffee"], i["tea"]]}, {"ann"}),
    ("tags none", lambda i: {"type": "tags", "match": "none", "tag_ids": [i["coffee"], i["tea"]]}, {"dan", "eve"}),
    ("did at least twice in 30 days", lambda i: _ev("page_viewed", count={"op": "gte", "value": 2},
                                                    window={"last_days": 30}), {"ann"}),
    ("did with a property, all time", lambda i: _ev("page_viewed", where=[{"property": "path", "value": "/promo"}]),
     {"ann", "cai"}),
    ("did not do in 30 days", lambda i: _ev("page_viewed", count={"op": "eq", "value": 0}, window={"last_days": 30}),
     {"dan", "eve"}),
    ("at most once in 30 days", lambda i: _ev("page_viewed", count={"op": "lte", "value": 1},
                                              window={"last_days": 30}), {"bob", "cai", "dan", "eve"}),
    ("at least zero times is everyone", lambda i: _ev("page_viewed", count={"op": "gte", "value": 0},
                                                      window={"last_days": 30}), {"ann", "bob", "cai", "dan", "eve"}),
    ("exactly twice all time", lambda i: _ev("page_viewed", count={"op": "eq", "value": 3}), {"ann"}),
    ("property not equal", lambda i: _ev("page_viewed", where=[{"property": "path", "op": "neq", "value": "/promo"}]),
     {"bob"}),
    ("number property in", lambda i: _ev("product_viewed", where=[{"property": "product_id", "op": "in",
                                                                    "values": [7]}]), {"ann", "bob"}),
    ("first time before", lambda i: {"type": "event_time", "event": {"name": "page_viewed"}, "which": "first",
                                     "op": "before", "at": {"days_ago": 30}}, {"ann"}),
    ("last time after", lambda i: {"type": "event_time", "event": {"name": "page_viewed"}, "which": "last",
                                   "op": "after", "at": {"days_ago": 3}}, {"ann"}),
    ("A then B within T", lambda i: {"type": "sequence", "first": {"name": "product_viewed"},
                                     "then": {"name": "order_paid"}, "within_hours": 24}, {"bob"}),
    ("bought a product", lambda i: {"type": "purchased", "product_ids": [i["p7"]]}, {"ann", "bob"}),
    ("bought a parent category twice", lambda i: {"type": "purchased", "category_ids": [i["R"]],
                                                  "count": {"op": "gte", "value": 2}}, {"ann", "eve"}),
    ("bought a category in a window", lambda i: {"type": "purchased", "category_ids": [i["L2"]],
                                                 "window": {"last_days": 365}}, {"ann"}),
    ("no paid order (refunded ones do not count)", lambda i: {"type": "order_count",
                                                             "count": {"op": "eq", "value": 0}}, {"cai", "dan"}),
    ("spent at least", lambda i: {"type": "spend", "op": "gte", "value_fen": 15000}, {"ann", "bob"}),
    ("spent at most (non-buyers too, net of refunds)", lambda i: {"type": "spend", "op": "lte", "value_fen": 9500},
     {"cai", "dan", "eve"}),
    ("average order value", lambda i: {"type": "aov", "op": "gte", "value_fen": 7500}, {"ann", "bob"}),
    ("last order after", lambda i: {"type": "last_order", "op": "after", "at": {"days_ago": 3}}, {"bob", "eve"}),
    ("last order before", lambda i: {"type": "last_order", "op": "before", "at": {"days_ago": 3}}, {"ann"}),
    ("rfm cell", lambda i: {"type": "rfm_cell", "cells": ["important_value"]}, {"ann"}),
    ("rfm score min", lambda i: {"type": "rfm_score", "dimension": "r", "min": 5}, {"ann", "bob"}),
    ("rfm score max", lambda i: {"type": "rfm_score", "dimension": "f", "max": 2}, {"bob"}),
    ("lifecycle stage", lambda i: {"type": "lifecycle", "stages": ["new"]}, {"bob"}),
    ("static segment (current members only)", lambda i: {"type": "segment", "segment_id": i["static"]},
     {"cai", "dan"}),
    ("dynamic segment within its owner's store", lambda i: {"type": "segment", "segment_id": i["dynamic"]}, {"eve"}),
    ("or group", lambda i: {"type": "group", "op": "or", "conditions": [
        {"type": "gender", "values": ["male"]}, {"type": "tags", "tag_ids": [i["vip"]]}]}, {"bob", "dan", "eve"}),
    ("not", lambda i: {"type": "not", "condition": {"type": "reachable", "via": "phone"}}, {"bob", "dan", "eve"}),
    ("nested and / not", lambda i: {"type": "group", "op": "and", "conditions": [
        {"type": "region", "op": "prefix", "values": ["江苏省"]},
        {"type": "not", "condition": _ev("product_viewed", window={"last_days": 1})}]}, {"ann"}),
]


@pytest.mark.parametrize(("label", "make", "expected"), CASES, ids=[c[0] for c in CASES])
def test_operator(world: World, label: str, make: Any, expected: set[str]) -> None:
    ids = {**world.ids, "s1": world.org.store_s1.pk, "n1_staff": world.org.n1_staff.pk}
    rule = {"version": 1, "root": make(ids)}
    got = evaluate_three(rule, enterprise_id=world.org.enterprise.pk, now=NOW, data=world.w.data)
    assert world.w.names(got.engine) == expected, "columnar engine"
    assert world.w.names(got.oracle) == expected, "OLTP oracle"
    if got.reference is not None:
        assert world.w.names(got.reference) == expected, "reference"


def test_buckets_split_everyone_into_disjoint_stable_parts(world: World) -> None:
    from siyu.audiences.context import bucket_of

    ent = world.org.enterprise.pk
    halves = [evaluate_three({"root": {"type": "bucket", "salt": "holdout-1", "modulus": 10, "low": low,
                                       "high": high}}, enterprise_id=ent, now=NOW, data=world.w.data)
              for low, high in ((0, 4), (5, 9))]
    everyone = set(world.w.ids.values())
    for half in halves:
        assert half.engine == half.oracle == half.reference
    assert halves[0].engine | halves[1].engine == everyone
    assert halves[0].engine & halves[1].engine == set()
    # the arithmetic by hand for one id: h1 = (id*48271 + s1) mod p, bucket = (h1*h1 + s2) mod p mod 10
    import zlib

    p = 2**31 - 1
    cid = world.w.ids["ann"]
    s1, s2 = zlib.crc32(b"holdout-1") % p, zlib.crc32(b"1-tuodloh#") % p
    h1 = (cid * 48271 + s1) % p
    assert bucket_of(cid, "holdout-1", 10) == ((h1 * h1 + s2) % p) % 10
    assert (cid in halves[0].engine) == (((h1 * h1 + s2) % p) % 10 <= 4)


def test_a_scope_limits_the_members(world: World) -> None:
    from siyu.org.scope import scope_for_staff

    rule = {"root": {"type": "gender", "values": ["female", "male", "unknown"]}}
    n1 = evaluate_three(rule, enterprise_id=world.org.enterprise.pk, now=NOW,
                        scope=scope_for_staff(world.org.n1_manager))
    # the n1 store: ann (home n1, follows n1 staff) and bob (a lost relationship with n1 staff still counts)
    assert world.w.names(n1.engine) == world.w.names(n1.oracle) == {"ann", "bob"}
    staff = evaluate_three(rule, enterprise_id=world.org.enterprise.pk, now=NOW,
                           scope=scope_for_staff(world.org.s1_staff))
    assert world.w.names(staff.engine) == world.w.names(staff.oracle) == {"cai"}
    assert timezone.now()
