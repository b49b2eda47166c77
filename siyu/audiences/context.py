"""What every evaluator of a rule needs besides the rule: the instant it is evaluated at, windows and moments turned
into UTC bounds, categories expanded to their children, segment references resolved, and the semantic checks
(`check_rule`) that say which node of a rule names something that does not exist.

The three evaluators (the columnar engine `sql.py`, the OLTP oracle `oracle.py`, the pure-Python `reference.py`)
share these resolved values and nothing else.
"""

from __future__ import annotations

import typing
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.audiences import rules as r
from siyu.core.errors import ValidationFailed
from siyu.core.timeutil import SHANGHAI, day_bounds
from siyu.org.models import Role
from siyu.org.scope import Scope

BUCKET_PRIME = 2_147_483_647  # 2**31 - 1: h*h stays below 2**62, inside a signed 64-bit integer everywhere
BUCKET_A = 48_271


@dataclass(frozen=True)
class Bounds:
    """lo <= t < hi; None is open."""

    lo: datetime | None = None
    hi: datetime | None = None


@dataclass(frozen=True)
class ResolvedSegment:
    segment_id: int
    static: bool
    rule: r.Rule | None  # a dynamic segment's rule, evaluated in place
    owner: Scope  # whose segment it is: its members are within this scope


@dataclass
class Context:
    enterprise_id: int
    now: datetime
    segments: dict[int, ResolvedSegment] = field(default_factory=dict)
    categories: dict[int, list[int]] = field(default_factory=dict)  # category -> itself and its children

    @cached_property
    def today(self) -> date:
        return self.now.astimezone(SHANGHAI).date()

    def bounds(self, window: r.Window | None) -> Bounds:
        if window is None:
            return Bounds()
        if window.last_days is not None:
            return Bounds(lo=self.now - timedelta(days=window.last_days))
        lo = day_bounds(window.since)[0] if window.since else None
        hi = day_bounds(window.until)[1] if window.until else None
        return Bounds(lo=lo, hi=hi)

    def moment(self, at: r.Moment) -> datetime:
        if at.days_ago is not None:
            return self.now - timedelta(days=at.days_ago)
        assert at.day is not None
        return day_bounds(at.day)[0]

    def birthday_bounds(self, node: r.Age) -> tuple[date | None, date | None]:
        """(latest birthday for age >= min, earliest-exclusive birthday for age <= max): born on or before the first,
        after the second."""
        latest = _years_before(self.today, node.min) if node.min is not None else None
        earliest = _years_before(self.today, node.max + 1) if node.max is not None else None
        return latest, earliest

    def category_ids(self, node: r.Purchased) -> list[int]:
        out: set[int] = set()
        for category in node.category_ids or []:
            out.update(self.categories.get(category, [category]))
        return sorted(out)

    @staticmethod
    def bucket_salts(salt: str) -> tuple[int, int]:
        raw = zlib.crc32(salt.encode())
        return raw % BUCKET_PRIME, zlib.crc32(salt.encode()[::-1] + b"#") % BUCKET_PRIME


def bucket_of(customer_id: int, salt: str, modulus: int) -> int:
    """The reference implementation of the stable bucket (the SQL evaluators spell the same arithmetic)."""
    s1, s2 = Context.bucket_salts(salt)
    h1 = ((customer_id % BUCKET_PRIME) * BUCKET_A + s1) % BUCKET_PRIME
    return ((h1 * h1 + s2) % BUCKET_PRIME) % modulus


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def owner_scope(enterprise_id: int, region_id: int | None, store_id: int | None) -> Scope:
    if store_id is not None:
        return Scope(enterprise_id=enterprise_id, role=Role.STORE_MANAGER, store_ids=frozenset([store_id]),
                     label="segment owner")
    if region_id is not None:
        return Scope(enterprise_id=enterprise_id, role=Role.REGION_MANAGER, region_ids=frozenset([region_id]),
                     label="segment owner")
    return Scope.hq(enterprise_id, label="segment owner")


# ---------------------------------------------------------------------------------------------------------------
# Resolution and semantic checks


def _property_kinds(event_name: str) -> dict[str, str] | None:
    """The properties a filter may name on an event type, and whether each is text or a number."""
    from siyu.customers import events as event_types

    schema = event_types.schema_for(event_name)
    if schema is None:
        return None
    out: dict[str, str] = {}
    for name, info in schema.model_fields.items():
        args = set(typing.get_args(info.annotation)) or {info.annotation}
        args.discard(type(None))
        if args == {str}:
            out[name] = "text"
        elif args == {int}:
            out[name] = "number"
    return out


def _check_event(match: r.EventMatch, path: str) -> None:
    kinds = _property_kinds(match.name)
    if kinds is None:
        raise ValidationFailed(
            _("unknown event type %(name)s") % {"name": repr(match.name)},
            field=f"{path}.name", code="invalid_rule",
        )
    for index, flt in enumerate(match.where):
        where = f"{path}.where[{index}]"
        kind = kinds.get(flt.property)
        if kind is None:
            raise ValidationFailed(
                _("%(name)s has no text or number property %(property)s")
                % {"name": match.name, "property": repr(flt.property)},
                field=f"{where}.property", code="invalid_rule",
            )
        for value in ([flt.value] if flt.values is None else flt.values):
            if kind == "number" and not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
                raise ValidationFailed(
                    _("%(property)s is a number") % {"property": flt.property},
                    field=f"{where}.value", code="invalid_rule",
                )


@dataclass
class _Known:
    enterprise_id: int

    @cached_property
    def hq(self) -> Scope:
        return Scope.hq(self.enterprise_id, label="rule check")

    def missing(self, kind: str, ids: list[int]) -> list[int]:
        wanted = set(ids)
        return sorted(wanted - set(self._query(kind).filter(id__in=wanted).values_list("id", flat=True)))

    def _query(self, kind: str) -> Any:
        from siyu.catalog import queries as catalog_queries
        from siyu.channels.wecom import queries as wecom_queries
        from siyu.customers import queries as customer_queries
        from siyu.org import queries as org_queries

        return {
            "tag": lambda: customer_queries.tags(self.hq),
            "store": lambda: org_queries.stores(self.hq),
            "staff": lambda: org_queries.staff(self.hq),
            "group": lambda: wecom_queries.groups(self.hq),
            "product": lambda: catalog_queries.products(self.hq),
            "category": lambda: catalog_queries.categories(self.hq),
        }[kind]()


_ID_FIELDS: dict[type, list[tuple[str, str]]] = {
    r.HomeStore: [("store_ids", "store")],
    r.FollowedBy: [("staff_ids", "staff")],
    r.InGroup: [("group_ids", "group")],
    r.Tags: [("tag_ids", "tag")],
    r.Purchased: [("product_ids", "product"), ("category_ids", "category")],
}


def _check_node(node: Any, path: str, known: _Known) -> None:
    from siyu.customers.queries import Channels

    for attr, kind in _ID_FIELDS.get(type(node), []):
        ids = getattr(node, attr) or []
        absent = known.missing(kind, ids)
        if absent:
            raise ValidationFailed(
                _("unknown %(kind)s %(value)s") % {"kind": kind, "value": absent[0]},
                field=f"{path}.{attr}", code="invalid_rule",
            )
    if isinstance(node, r.Source):
        bad = [v for v in node.values if v not in Channels.values]
        if bad:
            raise ValidationFailed(
                _("unknown source %(value)s") % {"value": repr(bad[0])},
                field=f"{path}.values", code="invalid_rule",
            )
    if isinstance(node, r.Event | r.EventTime):
        _check_event(node.event, f"{path}.event")
    if isinstance(node, r.Sequence):
        _check_event(node.first, f"{path}.first")
        _check_event(node.then, f"{path}.then")
    if isinstance(node, r.RfmScore) and node.min > node.max:
        raise ValidationFailed(_("min is above max"), field=f"{path}.min", code="invalid_rule")


def resolve(rule: r.Rule, *, enterprise_id: int, now: datetime, segment_id: int | None = None,
            check: bool = True) -> Context:
    """Check what the rule names and resolve it for evaluation at `now`. `segment_id`: the segment being saved (a
    rule may not refer to it, directly or through others)."""
    ctx = Context(enterprise_id=enterprise_id, now=now)
    known = _Known(enterprise_id)
    _resolve_rule(rule, ctx, known, "$", stack=[segment_id] if segment_id else [], check=check)
    return ctx


def _resolve_rule(rule: r.Rule, ctx: Context, known: _Known, prefix: str, *, stack: list[int], check: bool) -> None:
    from siyu.audiences.models import Segment, SegmentKind

    for path, node in r.walk(rule.root, f"{prefix}.root" if prefix != "$" else "$.root"):
        if check:
            _check_node(node, path, known)
        if isinstance(node, r.Purchased) and node.category_ids:
            for category, children in _children(enterprise_id=ctx.enterprise_id, ids=node.category_ids).items():
                ctx.categories[category] = children
        if not isinstance(node, r.InSegment):
            continue
        if node.segment_id in stack:
            raise ValidationFailed(_("a segment cannot include itself"), field=f"{path}.segment_id",
                                   code="invalid_rule")
        if len(stack) >= 4:
            raise ValidationFailed(_("segments refer to segments at most 4 deep"), field=f"{path}.segment_id",
                                   code="invalid_rule")
        found = Segment.objects.filter(pk=node.segment_id, enterprise_id=ctx.enterprise_id).first()
        if found is None:
            raise ValidationFailed(
                _("unknown segment %(segment_id)s") % {"segment_id": node.segment_id},
                field=f"{path}.segment_id", code="invalid_rule",
            )
        owner = owner_scope(ctx.enterprise_id, found.region_id, found.store_id)
        if found.kind == SegmentKind.STATIC:
            ctx.segments[found.pk] = ResolvedSegment(found.pk, True, None, owner)
            continue
        inner = r.parse_rule(found.rule)
        ctx.segments[found.pk] = ResolvedSegment(found.pk, False, inner, owner)
        _resolve_rule(inner, ctx, known, f"{path}[segment {found.pk}]", stack=[*stack, found.pk], check=False)


def _children(*, enterprise_id: int, ids: list[int]) -> dict[int, list[int]]:
    from siyu.catalog import queries as catalog_queries

    categories = catalog_queries.categories(Scope.hq(enterprise_id, label="rule"))
    out = {category: [category] for category in ids}
    for child, parent in categories.filter(parent_id__in=ids).values_list("id", "parent_id"):
        out[parent].append(child)
    return out
