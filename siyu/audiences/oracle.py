"""Rules evaluated on the OLTP database through the ORM: the slow path, kept as the oracle the columnar engine is
checked against (tests/audiences/test_engines_agree.py) and as the fallback for one-off checks.

Written independently of sql.py: Django lookups, Exists/aggregate subqueries and annotations, sharing only the
resolved bounds of `Context`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from siyu.audiences import rules as r
from siyu.audiences.context import BUCKET_A, BUCKET_PRIME, Bounds, Context
from siyu.audiences.models import CustomerScore, SegmentMembership
from siyu.channels.official_account.models import Follower
from siyu.channels.wecom.models import GroupMembership
from siyu.customers import queries as customer_queries
from siyu.customers.models import Customer, CustomerTag, Event, Relationship, RelationshipStatus
from siyu.orders.models import Order, OrderLine, OrderStatus
from siyu.org.scope import Scope


def _window(prefix: str, bounds: Bounds) -> Q:
    q = Q()
    if bounds.lo is not None:
        q &= Q(**{f"{prefix}__gte": bounds.lo})
    if bounds.hi is not None:
        q &= Q(**{f"{prefix}__lt": bounds.hi})
    return q


def _count_q(per_customer: QuerySet[Any], count: r.Count, measure: str = "n") -> Q:
    """per_customer: values('customer_id') annotated with `measure`."""
    if count.op == "gte":
        if count.value == 0:
            return Q(pk__isnull=False)
        return Q(pk__in=per_customer.filter(**{f"{measure}__gte": count.value}).values("customer_id"))
    if count.op == "lte":
        return ~Q(pk__in=per_customer.filter(**{f"{measure}__gt": count.value}).values("customer_id"))
    if count.value == 0:
        return ~Q(pk__in=per_customer.values("customer_id"))
    return Q(pk__in=per_customer.filter(**{f"{measure}__exact": count.value}).values("customer_id"))


class Oracle:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def q(self, node: Any) -> Q:
        method: Callable[[Any], Q] = getattr(self, f"_{node.type}")
        return method(node)

    def _group(self, node: r.Group) -> Q:
        out = self.q(node.conditions[0])
        for child in node.conditions[1:]:
            out = (out & self.q(child)) if node.op == "and" else (out | self.q(child))
        return out

    def _not(self, node: r.Not) -> Q:
        # Whatever the inner condition is, "not" is every live customer it does not select (two-valued logic).
        return ~Q(pk__in=Customer.objects.filter(self.q(node.condition)).values("pk"))

    def _gender(self, node: r.Gender) -> Q:
        return Q(gender__in=node.values)

    def _age(self, node: r.Age) -> Q:
        latest, earliest = self.ctx.birthday_bounds(node)
        q = Q(birthday__isnull=False)
        if latest is not None:
            q &= Q(birthday__lte=latest)
        if earliest is not None:
            q &= Q(birthday__gt=earliest)
        return q

    def _region(self, node: r.Region) -> Q:
        if node.op == "in":
            return Q(region__in=node.values)
        out = Q(region__startswith=node.values[0])
        for value in node.values[1:]:
            out |= Q(region__startswith=value)
        return out

    def _home_store(self, node: r.HomeStore) -> Q:
        return Q(home_store_id__in=node.store_ids)

    def _source(self, node: r.Source) -> Q:
        return Q(created_source__in=node.values)

    def _created(self, node: r.Created) -> Q:
        return _window("created_at", self.ctx.bounds(node.window)) & Q(created_at__isnull=False)

    def _reachable(self, node: r.Reachable) -> Q:
        if node.via == "wecom":
            return Q(Exists(Relationship.objects.filter(customer_id=OuterRef("pk"), status=RelationshipStatus.ACTIVE)))
        if node.via == "oa":
            return Q(Exists(Follower.objects.filter(customer_id=OuterRef("pk"), subscribed=True)))
        return ~Q(phone="")

    def _opted_out(self, node: r.OptedOut) -> Q:
        def latest(name: str) -> Subquery:
            return Subquery(Event.objects.filter(customer_id=OuterRef("pk"), name=name).order_by("-occurred_at")
                            .values("occurred_at")[:1])

        opted = Customer.objects.annotate(last_out=latest("opted_out"), last_in=latest("opted_in")).filter(
            Q(last_out__isnull=False) & (Q(last_in__isnull=True) | Q(last_out__gt=F("last_in"))))
        return Q(pk__in=opted.values("pk"))

    def _followed_by(self, node: r.FollowedBy) -> Q:
        rels = Relationship.objects.filter(customer_id=OuterRef("pk"), staff_id__in=node.staff_ids)
        if not node.any_status:
            rels = rels.filter(status=RelationshipStatus.ACTIVE)
        return Q(Exists(rels))

    def _added_via(self, node: r.AddedVia) -> Q:
        return Q(Exists(Relationship.objects.filter(customer_id=OuterRef("pk"), state__in=node.states)))

    def _in_group(self, node: r.InGroup) -> Q:
        return Q(Exists(GroupMembership.objects.filter(customer_id=OuterRef("pk"), group_id__in=node.group_ids,
                                                       left_at__isnull=True)))

    def _tags(self, node: r.Tags) -> Q:
        ids = sorted(set(node.tag_ids))
        if node.match == "all":
            q = Q()
            for tag_id in ids:
                q &= Q(Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag_id=tag_id)))
            return q
        any_tag = Q(Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag_id__in=ids)))
        return ~any_tag if node.match == "none" else any_tag

    # -- behaviour -----------------------------------------------------------------------------------------------

    def _events(self, match: r.EventMatch, bounds: Bounds) -> QuerySet[Event]:
        qs = Event.objects.filter(name=match.name).filter(_window("occurred_at", bounds))
        for index, flt in enumerate(match.where):
            alias = f"p{index}"
            qs = qs.annotate(**{alias: Cast(KT(f"properties__{flt.property}"), TextField())})
            if flt.op == "eq":
                qs = qs.filter(**{alias: str(flt.value)})
            elif flt.op == "in":
                qs = qs.filter(**{f"{alias}__in": [str(v) for v in flt.values or []]})
            else:
                qs = qs.filter(Q(**{f"{alias}__isnull": True}) | ~Q(**{alias: str(flt.value)}))
        return qs

    def _event(self, node: r.Event) -> Q:
        per = self._events(node.event, self.ctx.bounds(node.window)).values("customer_id").annotate(n=Count("id"))
        return _count_q(per, node.count)

    def _event_time(self, node: r.EventTime) -> Q:
        agg = Min("occurred_at") if node.which == "first" else Max("occurred_at")
        per = self._events(node.event, Bounds()).values("customer_id").annotate(t=agg)
        moment = self.ctx.moment(node.at)
        lookup = "t__lt" if node.op == "before" else "t__gte"
        return Q(pk__in=per.filter(**{lookup: moment}).values("customer_id"))

    def _sequence(self, node: r.Sequence) -> Q:
        bounds = self.ctx.bounds(node.window)
        then = self._events(node.then, bounds).filter(
            customer_id=OuterRef("customer_id"), occurred_at__gt=OuterRef("occurred_at"),
            occurred_at__lte=ExpressionWrapper(OuterRef("occurred_at") + Value(timedelta(hours=node.within_hours)),
                                               output_field=DateTimeField()))
        firsts = self._events(node.first, bounds).filter(Exists(then))
        return Q(pk__in=firsts.values("customer_id"))

    # -- orders --------------------------------------------------------------------------------------------------

    def _purchases(self, bounds: Bounds) -> QuerySet[Order]:
        return (Order.objects.filter(paid_at__isnull=False, customer_id__isnull=False)
                .exclude(status=OrderStatus.REFUNDED).filter(_window("paid_at", bounds)))

    def _purchased(self, node: r.Purchased) -> Q:
        lines = Q()
        if node.product_ids:
            lines |= Q(product_id__in=node.product_ids)
        categories = self.ctx.category_ids(node)
        if categories:
            lines |= Q(category_id__in=categories)
        orders = self._purchases(self.ctx.bounds(node.window)).filter(
            Exists(OrderLine.objects.filter(lines, order_id=OuterRef("pk"))))
        return _count_q(orders.values("customer_id").annotate(n=Count("id")), node.count)

    def _order_count(self, node: r.OrderCount) -> Q:
        per = self._purchases(self.ctx.bounds(node.window)).values("customer_id").annotate(n=Count("id"))
        return _count_q(per, node.count)

    def _spend(self, node: r.Spend) -> Q:
        per = self._purchases(self.ctx.bounds(node.window)).values("customer_id").annotate(
            total=Sum(F("paid_fen") - F("refunded_fen")))
        return _count_q(per, r.Count(op=node.op, value=node.value_fen), measure="total")

    def _aov(self, node: r.Aov) -> Q:
        per = self._purchases(self.ctx.bounds(node.window)).values("customer_id").annotate(
            total=Sum(F("paid_fen") - F("refunded_fen")), n=Count("id"))
        lookup = "total__gte" if node.op == "gte" else "total__lte"
        return Q(pk__in=per.filter(**{lookup: F("n") * node.value_fen}).values("customer_id"))

    def _last_order(self, node: r.LastOrder) -> Q:
        per = self._purchases(Bounds()).values("customer_id").annotate(t=Max("paid_at"))
        lookup = "t__lt" if node.op == "before" else "t__gte"
        return Q(pk__in=per.filter(**{lookup: self.ctx.moment(node.at)}).values("customer_id"))

    # -- scores, segments, buckets ---------------------------------------------------------------------------------

    def _rfm_cell(self, node: r.RfmCell) -> Q:
        return Q(pk__in=CustomerScore.objects.filter(cell__in=node.cells).values("customer_id"))

    def _rfm_score(self, node: r.RfmScore) -> Q:
        lookup = {f"{node.dimension}__gte": node.min, f"{node.dimension}__lte": node.max}
        return Q(pk__in=CustomerScore.objects.filter(**lookup).values("customer_id"))

    def _lifecycle(self, node: r.Lifecycle) -> Q:
        return Q(pk__in=CustomerScore.objects.filter(stage__in=node.stages).values("customer_id"))

    def _segment(self, node: r.InSegment) -> Q:
        resolved = self.ctx.segments[node.segment_id]
        if resolved.static or resolved.rule is None:
            return Q(pk__in=SegmentMembership.objects.filter(segment_id=node.segment_id, left_at__isnull=True)
                     .values("customer_id"))
        visible = customer_queries.customers(resolved.owner).values("pk")
        return Q(pk__in=visible) & self.q(resolved.rule.root)

    def _bucket(self, node: r.Bucket) -> Q:
        s1, s2 = self.ctx.bucket_salts(node.salt)
        h1 = ((F("pk") % BUCKET_PRIME) * BUCKET_A + s1) % BUCKET_PRIME
        bucket = ((h1 * h1 + s2) % BUCKET_PRIME) % node.modulus
        ids = Customer.objects.annotate(b=bucket).filter(b__gte=node.low, b__lte=node.high).values("pk")
        return Q(pk__in=ids)


def members(rule: r.Rule, ctx: Context, *, scopes: list[Scope]) -> set[int]:
    qs = customer_queries.customers(scopes[0])
    for scope in scopes[1:]:
        qs = qs.filter(pk__in=customer_queries.customers(scope).values("pk"))
    return set(qs.filter(Oracle(ctx).q(rule.root)).values_list("pk", flat=True))

