"""Read paths over segments. Every function takes the viewer's Scope.

Who sees which segment: HQ all of the enterprise's; everyone else the enterprise-wide ones (HQ's), their region's
and their store's (a region manager also every store's in the region). Who may change one: HQ any; a region manager
those of the region and its stores; a store manager the store's; store staff none (they read counts of their own
customers). Counts and member lists are always cut to the viewer's own customers, and to the segment owner's scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from siyu.analytics.engine import Engine, get_engine
from siyu.analytics.engine.scope import customer_scope_sql
from siyu.audiences import evaluate
from siyu.audiences.context import owner_scope
from siyu.audiences.models import Segment, SegmentKind, SegmentMembership
from siyu.core.errors import Conflict, NotFound, PermissionDenied
from siyu.customers import queries as customer_queries
from siyu.customers.models import Customer
from siyu.org.models import Role
from siyu.org.scope import Scope

Kinds = SegmentKind
EXPORT_CHUNK = 2000


def segments(scope: Scope) -> QuerySet[Segment]:
    qs = Segment.objects.filter(enterprise_id=scope.enterprise_id).select_related("region", "store")
    if scope.is_hq:
        return qs
    shared = Q(region__isnull=True, store__isnull=True)
    if scope.role == Role.REGION_MANAGER:
        return qs.filter(shared | Q(region_id__in=scope.region_ids) | Q(store__region_id__in=scope.region_ids))
    return qs.filter(shared | Q(region_id__in=scope.region_ids, store__isnull=True) | Q(store_id__in=scope.store_ids))


def get_segment(scope: Scope, segment_id: int) -> Segment:
    found = segments(scope).filter(pk=segment_id).first()
    if found is None:
        raise NotFound(_("segment %(segment_id)s not found") % {"segment_id": segment_id}, field="segment_id")
    return found


def can_edit(scope: Scope, segment: Segment) -> bool:
    if scope.is_hq:
        return True
    if scope.role == Role.REGION_MANAGER:
        if segment.store_id is not None:
            return segment.store is not None and segment.store.region_id in scope.region_ids
        return segment.region_id is not None and segment.region_id in scope.region_ids
    if scope.role == Role.STORE_MANAGER:
        return segment.store_id is not None and segment.store_id in scope.store_ids
    return False


def check_can_edit(scope: Scope, segment: Segment) -> None:
    if not can_edit(scope, segment):
        raise PermissionDenied(_("only HQ and this segment's managers may change it"))


def check_can_create(scope: Scope) -> None:
    if not scope.is_manager:
        raise PermissionDenied(_("store staff read segments; HQ and managers create them"))


def owner_of(segment: Segment) -> Scope:
    return owner_scope(segment.enterprise_id, segment.region_id, segment.store_id)


@dataclass(frozen=True)
class Count:
    count: int
    as_of: datetime | None
    elapsed_ms: float


@dataclass(frozen=True)
class MemberPage:
    items: list[Customer]
    total: int
    page: int
    page_size: int
    as_of: datetime | None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _static_sql(scope: Scope, segment: Segment) -> tuple[str, list[Any]]:
    where, params = customer_scope_sql(scope, "c")
    sql = (f"SELECT c.id FROM customers c WHERE {where} AND c.id IN "  # noqa: S608
           "(SELECT customer_id FROM segment_members WHERE segment_id = ? AND left_at IS NULL)")
    return sql, [*params, segment.pk]


def segment_count(scope: Scope, segment: Segment, *, engine: Engine | None = None) -> Count:
    """How many of the viewer's customers are in the segment now (dynamic: the rule on the copy, fresh to the second;
    static: the frozen members)."""
    engine = engine or get_engine()
    if segment.kind == SegmentKind.STATIC:
        sql, params = _static_sql(scope, segment)
        answer = engine.query(f"SELECT count(*) FROM ({sql}) m", params)  # noqa: S608
        return Count(int(answer.scalar() or 0), answer.as_of, answer.elapsed_ms)
    compiled = evaluate.compile_rule(segment.rule, enterprise_id=segment.enterprise_id, segment_id=segment.pk)
    result = evaluate.count(compiled, [owner_of(segment), scope], engine=engine)
    return Count(result.count, result.as_of, result.elapsed_ms)


def preview_count(scope: Scope, rule: Any, *, owner: Scope | None = None, engine: Engine | None = None) -> Count:
    """The live size of a rule being edited, within the viewer's scope (and the owner's it will be saved with)."""
    compiled = evaluate.compile_rule(rule, enterprise_id=scope.enterprise_id)
    result = evaluate.count(compiled, [s for s in (owner, scope) if s is not None], engine=engine)
    return Count(result.count, result.as_of, result.elapsed_ms)


def rule_member_ids(scope: Scope, rule: Any, *, owner: Scope | None = None, engine: Engine | None = None
                    ) -> list[int]:
    """Every member of a rule within the scopes (to freeze a static segment)."""
    compiled = evaluate.compile_rule(rule, enterprise_id=scope.enterprise_id)
    return evaluate.member_ids(compiled, [s for s in (owner, scope) if s is not None], engine=engine).ids


def _customers_by_id(scope: Scope, ids: list[int]) -> list[Customer]:
    found = {c.pk: c for c in customer_queries.customers(scope).filter(pk__in=ids).select_related("home_store")}
    return [found[i] for i in ids if i in found]


def preview_members(scope: Scope, rule: Any, *, owner: Scope | None = None, limit: int = 20,
                    engine: Engine | None = None) -> MemberPage:
    compiled = evaluate.compile_rule(rule, enterprise_id=scope.enterprise_id)
    result = evaluate.member_ids(compiled, [s for s in (owner, scope) if s is not None], engine=engine,
                                 limit=limit, with_count=True)
    return MemberPage(_customers_by_id(scope, result.ids), result.count, 1, limit, result.as_of)


def _member_ids(scope: Scope, segment: Segment, *, engine: Engine, limit: int | None, offset: int
                ) -> evaluate.Evaluation:
    if segment.kind == SegmentKind.STATIC:
        sql, params = _static_sql(scope, segment)
        text = f"SELECT id, count(*) OVER () FROM ({sql}) m ORDER BY id DESC"  # noqa: S608
        if limit is not None:
            text += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        answer = engine.query(text, params)
        total = int(answer.rows[0][1]) if answer.rows else 0
        return evaluate.Evaluation(total, [int(r[0]) for r in answer.rows], answer.as_of, answer.elapsed_ms)
    compiled = evaluate.compile_rule(segment.rule, enterprise_id=segment.enterprise_id, segment_id=segment.pk)
    return evaluate.member_ids(compiled, [owner_of(segment), scope], engine=engine, limit=limit, offset=offset,
                               with_count=True)


def segment_members(scope: Scope, segment: Segment, *, page: int = 1, page_size: int = 20,
                    engine: Engine | None = None) -> MemberPage:
    engine = engine or get_engine()
    result = _member_ids(scope, segment, engine=engine, limit=page_size, offset=(page - 1) * page_size)
    total = result.count
    if not result.ids and page > 1:
        total = segment_count(scope, segment, engine=engine).count
    return MemberPage(_customers_by_id(scope, result.ids), total, page, page_size, result.as_of)


def export_members(scope: Scope, segment: Segment, *, engine: Engine | None = None) -> Iterator[Customer]:
    """Every member the viewer may see, newest first, loaded from the OLTP database in chunks."""
    result = _member_ids(scope, segment, engine=engine or get_engine(), limit=None, offset=0)
    for start in range(0, len(result.ids), EXPORT_CHUNK):
        yield from _customers_by_id(scope, result.ids[start:start + EXPORT_CHUNK])


def segment_customers(scope: Scope, segment: Segment) -> QuerySet[Customer]:
    """The segment's members now, as the viewer's customers, from the maintained membership in the OLTP database (what
    a bulk action such as a coupon batch freezes: a query, never a list of ids). A dynamic segment whose rule changed
    since its membership was built is refused until the analytics process has built it."""
    if segment.kind == SegmentKind.DYNAMIC and segment.built_revision != segment.revision:
        raise Conflict(_("this segment's members are still being worked out; try again in a moment"),
                       field="segment_id", code="segment_not_built")
    live = SegmentMembership.objects.filter(segment=segment, left_at__isnull=True).values("customer_id")
    return customer_queries.customers(scope).filter(pk__in=live)


def segment_member_ids(scope: Scope, segment_id: int) -> QuerySet[Any]:
    """The ids of a segment's members the viewer may see, as a subquery (the customer list's segment filter and the
    bulk actions on it); a segment outside the viewer's scope is NotFound."""
    return segment_customers(scope, get_segment(scope, segment_id)).values("pk")


def segment_name(scope: Scope, segment_id: int) -> str:
    """A segment's name (NotFound outside the viewer's scope): what a task made from it is labelled with."""
    return get_segment(scope, segment_id).name


def segment_choices(scope: Scope) -> list[tuple[int, str]]:
    """The segments the viewer may see, by name (the customer list's filter; the first 500)."""
    return list(segments(scope).order_by("name", "id").values_list("pk", "name")[:500])


def membership_history(scope: Scope, segment: Segment, *, limit: int = 50) -> list[SegmentMembership]:
    """The latest joins and leaves of the viewer's customers."""
    visible = customer_queries.visible_customer_ids(scope)
    return list(SegmentMembership.objects.filter(segment=segment, customer_id__in=visible)
                .select_related("customer").order_by("-entered_at", "-id")[:limit])


def customer_segments(scope: Scope, customer_id: int) -> list[SegmentMembership]:
    """The segments a visible customer is in now (from the maintained membership)."""
    customer = customer_queries.get_customer(scope, customer_id)
    visible = segments(scope).values("pk")
    return list(SegmentMembership.objects.filter(customer=customer, left_at__isnull=True, segment_id__in=visible)
                .select_related("segment").order_by("-entered_at"))


# ---------------------------------------------------------------------------------------------------------------
# RFM, lifecycle, super users


@dataclass(frozen=True)
class RfmOverview:
    run: Any
    cells: list[tuple[str, int]]
    stages: list[tuple[str, int]]
    as_of: datetime | None


def latest_run(scope: Scope) -> Any:
    from siyu.audiences.models import RfmRun

    return RfmRun.objects.filter(enterprise_id=scope.enterprise_id, status="done").order_by("-as_of", "-id").first()


def pending_run(scope: Scope) -> Any:
    from siyu.audiences.models import RfmRun

    return RfmRun.objects.filter(enterprise_id=scope.enterprise_id, status__in=["requested", "running"]).first()


def rfm_overview(scope: Scope, *, engine: Engine | None = None) -> RfmOverview:
    """The latest scores' distribution over the viewer's customers (cells and stages)."""
    engine = engine or get_engine()
    where, params = customer_scope_sql(scope, "c")
    base = f"FROM customer_scores s JOIN customers c ON c.id = s.customer_id WHERE {where}"  # noqa: S608
    cells = engine.query(f"SELECT s.cell, count(*) {base} GROUP BY s.cell ORDER BY 2 DESC", params)  # noqa: S608
    stages = engine.query(f"SELECT s.stage, count(*) {base} GROUP BY s.stage ORDER BY 2 DESC", params)  # noqa: S608
    return RfmOverview(latest_run(scope), [(str(k or "none"), int(n)) for k, n in cells.rows],
                       [(str(k or "none"), int(n)) for k, n in stages.rows], cells.as_of)


@dataclass(frozen=True)
class SuperUser:
    customer: Customer
    score: float
    frequency: int
    monetary_fen: int
    recency_days: int | None
    cell: str
    stage: str


def super_users(scope: Scope, *, limit: int = 50, engine: Engine | None = None) -> list[SuperUser]:
    engine = engine or get_engine()
    where, params = customer_scope_sql(scope, "c")
    answer = engine.query(
        f"SELECT s.customer_id, s.super_score, s.frequency, s.monetary_fen, s.recency_days, s.cell, s.stage "  # noqa: S608
        f"FROM customer_scores s JOIN customers c ON c.id = s.customer_id WHERE {where} "
        f"ORDER BY s.super_score DESC, s.customer_id LIMIT ?", [*params, limit])
    people = {c.pk: c for c in _customers_by_id(scope, [int(r[0]) for r in answer.rows])}
    return [SuperUser(people[int(r[0])], float(r[1]), int(r[2] or 0), int(r[3] or 0),
                      int(r[4]) if r[4] is not None else None, str(r[5] or ""), str(r[6] or ""))
            for r in answer.rows if int(r[0]) in people]


def customer_score(scope: Scope, customer_id: int) -> Any:
    """A visible customer's RFM, lifecycle stage and super-user score (None before the first run)."""
    from siyu.audiences.models import CustomerScore

    customer = customer_queries.get_customer(scope, customer_id)
    return CustomerScore.objects.filter(customer=customer).first()


def lifecycle_rules(scope: Scope) -> Any:
    from siyu.audiences.rfm import rules_for

    return rules_for(scope.enterprise_id)
