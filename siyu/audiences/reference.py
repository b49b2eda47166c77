"""A tiny pure-Python evaluator of rules over an in-memory dataset: the third opinion in the engines-agree tests,
readable enough to check by eye. It covers the profile, tag, behaviour, order and bucket conditions; scores,
relationships and segment references are left to the two database evaluators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from siyu.audiences import rules as r
from siyu.audiences.context import Bounds, Context, bucket_of

SUPPORTED = {"group", "not", "gender", "age", "region", "home_store", "source", "created", "reachable", "tags",
             "event", "event_time", "sequence", "purchased", "order_count", "spend", "aov", "last_order", "bucket"}


def supports(node: Any) -> bool:
    return node.type in SUPPORTED and not (node.type == "reachable" and node.via != "phone")


@dataclass(frozen=True)
class Person:
    id: int
    gender: str = "unknown"
    birthday: date | None = None
    region: str = ""
    home_store_id: int | None = None
    created_source: str = "api"
    created_at: datetime | None = None
    phone: str = ""


@dataclass(frozen=True)
class Happening:
    customer_id: int
    name: str
    occurred_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Purchase:
    id: int
    customer_id: int
    status: str
    paid_at: datetime | None
    paid_fen: int
    refunded_fen: int = 0
    products: tuple[tuple[int, int], ...] = ()  # (product_id, category_id) per line


@dataclass
class Dataset:
    people: list[Person] = field(default_factory=list)
    events: list[Happening] = field(default_factory=list)
    orders: list[Purchase] = field(default_factory=list)
    tags: set[tuple[int, int]] = field(default_factory=set)  # (customer_id, tag_id)


def _inside(moment: datetime | None, bounds: Bounds) -> bool:
    if moment is None:
        return False
    return (bounds.lo is None or moment >= bounds.lo) and (bounds.hi is None or moment < bounds.hi)


def _compare(value: int, count: r.Count) -> bool:
    return {"gte": value >= count.value, "lte": value <= count.value, "eq": value == count.value}[count.op]


def _matches(event: Happening, match: r.EventMatch) -> bool:
    if event.name != match.name:
        return False
    for flt in match.where:
        raw = event.properties.get(flt.property)
        text = None if raw is None else str(raw)
        if flt.op == "eq" and text != str(flt.value):
            return False
        if flt.op == "neq" and text == str(flt.value):
            return False
        if flt.op == "in" and text not in {str(v) for v in flt.values or []}:
            return False
    return True


class Reference:
    def __init__(self, data: Dataset, ctx: Context) -> None:
        self.data = data
        self.ctx = ctx

    def members(self, rule: r.Rule) -> set[int]:
        return {p.id for p in self.data.people if self.test(rule.root, p)}

    def test(self, node: Any, person: Person) -> bool:
        method: Callable[[Any, Person], bool] = getattr(self, f"_{node.type}")
        return method(node, person)

    def _group(self, node: r.Group, p: Person) -> bool:
        results = (self.test(child, p) for child in node.conditions)
        return all(results) if node.op == "and" else any(results)

    def _not(self, node: r.Not, p: Person) -> bool:
        return not self.test(node.condition, p)

    def _gender(self, node: r.Gender, p: Person) -> bool:
        return p.gender in node.values

    def _age(self, node: r.Age, p: Person) -> bool:
        if p.birthday is None:
            return False
        today = self.ctx.today
        age = today.year - p.birthday.year - ((today.month, today.day) < (p.birthday.month, p.birthday.day))
        return (node.min is None or age >= node.min) and (node.max is None or age <= node.max)

    def _region(self, node: r.Region, p: Person) -> bool:
        if node.op == "in":
            return p.region in node.values
        return any(p.region.startswith(v) for v in node.values)

    def _home_store(self, node: r.HomeStore, p: Person) -> bool:
        return p.home_store_id in node.store_ids

    def _source(self, node: r.Source, p: Person) -> bool:
        return p.created_source in node.values

    def _created(self, node: r.Created, p: Person) -> bool:
        return _inside(p.created_at, self.ctx.bounds(node.window))

    def _reachable(self, node: r.Reachable, p: Person) -> bool:
        if node.via != "phone":
            raise NotImplementedError(node.via)
        return p.phone != ""

    def _tags(self, node: r.Tags, p: Person) -> bool:
        held = {tag for cid, tag in self.data.tags if cid == p.id}
        wanted = set(node.tag_ids)
        if node.match == "all":
            return wanted <= held
        return bool(wanted & held) != (node.match == "none")

    def _events(self, p: Person, match: r.EventMatch, bounds: Bounds) -> list[Happening]:
        return [e for e in self.data.events
                if e.customer_id == p.id and _matches(e, match) and _inside(e.occurred_at, bounds)]

    def _event(self, node: r.Event, p: Person) -> bool:
        return _compare(len(self._events(p, node.event, self.ctx.bounds(node.window))), node.count)

    def _event_time(self, node: r.EventTime, p: Person) -> bool:
        times = [e.occurred_at for e in self._events(p, node.event, Bounds())]
        if not times:
            return False
        moment = min(times) if node.which == "first" else max(times)
        at = self.ctx.moment(node.at)
        return moment < at if node.op == "before" else moment >= at

    def _sequence(self, node: r.Sequence, p: Person) -> bool:
        bounds = self.ctx.bounds(node.window)
        gap = timedelta(hours=node.within_hours)
        firsts = self._events(p, node.first, bounds)
        thens = self._events(p, node.then, bounds)
        return any(a.occurred_at < b.occurred_at <= a.occurred_at + gap for a in firsts for b in thens)

    def _purchases(self, p: Person, bounds: Bounds) -> list[Purchase]:
        return [o for o in self.data.orders if o.customer_id == p.id and o.paid_at is not None
                and o.status != "refunded" and _inside(o.paid_at, bounds)]

    def _purchased(self, node: r.Purchased, p: Person) -> bool:
        categories = set(self.ctx.category_ids(node))
        products = set(node.product_ids or [])
        orders = [o for o in self._purchases(p, self.ctx.bounds(node.window))
                  if any(prod in products or cat in categories for prod, cat in o.products)]
        return _compare(len(orders), node.count)

    def _order_count(self, node: r.OrderCount, p: Person) -> bool:
        return _compare(len(self._purchases(p, self.ctx.bounds(node.window))), node.count)

    def _spend(self, node: r.Spend, p: Person) -> bool:
        total = sum(o.paid_fen - o.refunded_fen for o in self._purchases(p, self.ctx.bounds(node.window)))
        return total >= node.value_fen if node.op == "gte" else total <= node.value_fen

    def _aov(self, node: r.Aov, p: Person) -> bool:
        orders = self._purchases(p, self.ctx.bounds(node.window))
        if not orders:
            return False
        total = sum(o.paid_fen - o.refunded_fen for o in orders)
        return total >= node.value_fen * len(orders) if node.op == "gte" else total <= node.value_fen * len(orders)

    def _last_order(self, node: r.LastOrder, p: Person) -> bool:
        orders = self._purchases(p, Bounds())
        if not orders:
            return False
        last = max(o.paid_at for o in orders if o.paid_at is not None)
        at = self.ctx.moment(node.at)
        return last < at if node.op == "before" else last >= at

    def _bucket(self, node: r.Bucket, p: Person) -> bool:
        return node.low <= bucket_of(p.id, node.salt, node.modulus) <= node.high
