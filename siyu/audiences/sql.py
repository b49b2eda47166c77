# ruff: noqa: S608 - SQL text is built from validated rule nodes and fixed table names; every value is a parameter.
"""Rules compiled to SQL over the columnar copy (the fast evaluator).

Every condition becomes a two-valued predicate over the customer row `c`: either a column test wrapped in
COALESCE(..., FALSE), or `c.id [NOT] IN (<customers>)` where the subquery lists customers by a GROUP BY ... HAVING
on one table. That is plain SQL (no DuckDB-only syntax beyond json_extract_string, which sqlglot turns into
ClickHouse's JSONExtractString), so the same text can target ClickHouse; DuckDB turns each IN into a hash semi-join
and reads only the event log's row groups of the named event and window (the copy is ordered by name and time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from siyu.analytics.engine.scope import customer_scope_sql
from siyu.audiences import rules as r
from siyu.audiences.context import BUCKET_A, BUCKET_PRIME, Bounds, Context
from siyu.org.scope import Scope

NET = "sum(o.paid_fen - o.refunded_fen)"
PURCHASE = "o.paid_at IS NOT NULL AND o.status <> 'refunded' AND o.customer_id IS NOT NULL"


@dataclass
class Sql:
    text: str
    params: list[Any] = field(default_factory=list)


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


class Compiler:
    def __init__(self, ctx: Context, *, hoist: bool = False) -> None:
        self.ctx = ctx
        self.params: list[Any] = []
        self.negated = 0  # inside a NOT: NULL must read as FALSE, or NOT NULL would drop the row
        # Grouped customer lists met where only ANDs lead to them become joins (see _hoisted)
        self.hoist = hoist
        self.joins: list[Sql] = []
        self._under_or = 0

    def add(self, *values: Any) -> None:
        self.params.extend(values)

    def condition(self, node: Any) -> str:
        method: Callable[[Any], str] = getattr(self, f"_{node.type}")
        return method(node)

    # -- structure -----------------------------------------------------------------------------------------------

    def _group(self, node: r.Group) -> str:
        alternative = node.op == "or" and len(node.conditions) > 1
        self._under_or += alternative
        try:
            parts = [self.condition(child) for child in node.conditions]
        finally:
            self._under_or -= alternative
        return "(" + f" {node.op.upper()} ".join(parts) + ")"

    def _hoisted(self, mark: int, text: str) -> str:
        """`c.id IN (SELECT customer_id ... GROUP BY customer_id HAVING ...)` reached through ANDs only, as an inner
        join on that list instead (its customer ids are unique, so the join neither adds nor drops rows). DuckDB runs
        the IN as a semi join that probes every customer of the scope against the list; as a join it probes the list
        against the customers (measured 111 ms -> below 100 ms for page views >= 2 in 30 days on tier A)."""
        prefix, grouped = "c.id IN (SELECT customer_id FROM ", " GROUP BY customer_id HAVING "
        if not self.hoist or self.negated or self._under_or or not text.startswith(prefix) or grouped not in text:
            return text
        inner = text[len("c.id IN ("):-1]
        alias = f"_j{len(self.joins)}"
        self.joins.append(Sql(f"JOIN ({inner}) {alias} ON {alias}.customer_id = c.id", self.params[mark:]))
        del self.params[mark:]
        return "TRUE"

    def _not(self, node: r.Not) -> str:
        self.negated += 1
        try:
            return f"(NOT {self.condition(node.condition)})"
        finally:
            self.negated -= 1

    def _sure(self, expr: str) -> str:
        """A column test as two-valued logic. Outside a NOT a NULL already drops the row (as FALSE would), and the
        bare comparison lets DuckDB push the filter into the scan."""
        return f"COALESCE({expr}, FALSE)" if self.negated else expr

    # -- profile -------------------------------------------------------------------------------------------------

    def _in_list(self, column: str, values: list[Any]) -> str:
        self.add(*values)
        return self._sure(f"{column} IN ({_marks(values)})")

    def _gender(self, node: r.Gender) -> str:
        return self._in_list("c.gender", list(node.values))

    def _age(self, node: r.Age) -> str:
        latest, earliest = self.ctx.birthday_bounds(node)
        parts = []
        if latest is not None:
            parts.append("c.birthday <= ?")
            self.add(latest)
        if earliest is not None:
            parts.append("c.birthday > ?")
            self.add(earliest)
        return self._sure(f"({' AND '.join(parts)})")

    def _region(self, node: r.Region) -> str:
        if node.op == "in":
            return self._in_list("c.region", list(node.values))
        parts = []
        for value in node.values:
            parts.append("c.region LIKE ? ESCAPE '\\'")
            self.add(_like_prefix(value))
        return self._sure(f"({' OR '.join(parts)})")

    def _home_store(self, node: r.HomeStore) -> str:
        return self._in_list("c.home_store_id", list(node.store_ids))

    def _source(self, node: r.Source) -> str:
        return self._in_list("c.created_source", list(node.values))

    def _created(self, node: r.Created) -> str:
        return self._sure(f"({self._bounds('c.created_at', self.ctx.bounds(node.window)) or 'TRUE'})")

    def _bounds(self, column: str, bounds: Bounds) -> str:
        parts = []
        if bounds.lo is not None:
            parts.append(f"{column} >= ?")
            self.add(_naive(bounds.lo))
        if bounds.hi is not None:
            parts.append(f"{column} < ?")
            self.add(_naive(bounds.hi))
        return " AND ".join(parts)

    # -- reachability and relationships ----------------------------------------------------------------------------

    def _reachable(self, node: r.Reachable) -> str:
        if node.via == "wecom":
            return "c.id IN (SELECT customer_id FROM relationships WHERE status = 'active')"
        if node.via == "oa":
            return "c.id IN (SELECT customer_id FROM oa_followers WHERE subscribed AND customer_id IS NOT NULL)"
        return self._sure("c.has_phone")

    def _opted_out(self, node: r.OptedOut) -> str:
        return ("c.id IN (SELECT customer_id FROM events WHERE name IN ('opted_out', 'opted_in') "
                "GROUP BY customer_id HAVING max(CASE WHEN name = 'opted_out' THEN occurred_at END) > "
                "COALESCE(max(CASE WHEN name = 'opted_in' THEN occurred_at END), TIMESTAMP '1900-01-01 00:00:00'))")

    def _followed_by(self, node: r.FollowedBy) -> str:
        status = "" if node.any_status else " AND status = 'active'"
        self.add(*node.staff_ids)
        return f"c.id IN (SELECT customer_id FROM relationships WHERE staff_id IN ({_marks(node.staff_ids)}){status})"

    def _added_via(self, node: r.AddedVia) -> str:
        self.add(*node.states)
        return f"c.id IN (SELECT customer_id FROM relationships WHERE state IN ({_marks(node.states)}))"

    def _in_group(self, node: r.InGroup) -> str:
        self.add(*node.group_ids)
        return (f"c.id IN (SELECT customer_id FROM group_members WHERE group_id IN ({_marks(node.group_ids)}) "
                "AND left_at IS NULL AND customer_id IS NOT NULL)")

    def _tags(self, node: r.Tags) -> str:
        ids = sorted(set(node.tag_ids))
        self.add(*ids)
        having = ""
        if node.match == "all":
            having = " GROUP BY customer_id HAVING count(DISTINCT tag_id) = ?"
            self.add(len(ids))
        inner = f"SELECT customer_id FROM customer_tags WHERE tag_id IN ({_marks(ids)}){having}"
        return f"c.id {'NOT IN' if node.match == 'none' else 'IN'} ({inner})"

    # -- behaviour -----------------------------------------------------------------------------------------------

    def _event_filter(self, match: r.EventMatch, alias: str = "") -> str:
        col = f"{alias}." if alias else ""
        parts = [f"{col}name = ?"]
        self.add(match.name)
        for flt in match.where:
            expr = f"json_extract_string({col}properties, '$.{flt.property}')"
            if flt.op == "in":
                values = [str(v) for v in flt.values or []]
                parts.append(f"{expr} IN ({_marks(values)})")
                self.add(*values)
            elif flt.op == "eq":
                parts.append(f"{expr} = ?")
                self.add(str(flt.value))
            else:
                parts.append(f"COALESCE({expr} <> ?, TRUE)")
                self.add(str(flt.value))
        return " AND ".join(parts)

    def _counted(self, source: str, count: r.Count, measure: str = "count(*)") -> str:
        """Customers whose `measure` over `source` (a SELECT ... customer_id ... without GROUP BY) meets `count`."""
        if count.op == "gte":
            if count.value == 0:  # everyone; the source stays in the text so its parameters still line up
                return f"(c.id IN ({source}) OR TRUE)"
            if count.value == 1 and measure == "count(*)":
                return f"c.id IN ({source})"
            self.add(count.value)
            return f"c.id IN ({source} GROUP BY customer_id HAVING {measure} >= ?)"
        if count.op == "lte":
            if count.value == 0 and measure == "count(*)":
                return f"c.id NOT IN ({source})"
            self.add(count.value)
            return f"c.id NOT IN ({source} GROUP BY customer_id HAVING {measure} > ?)"
        if count.value == 0:
            return f"c.id NOT IN ({source})"
        self.add(count.value)
        return f"c.id IN ({source} GROUP BY customer_id HAVING {measure} = ?)"

    def _event_source(self, match: r.EventMatch, bounds: Bounds) -> str:
        where = self._event_filter(match)
        window = self._bounds("occurred_at", bounds)
        return f"SELECT customer_id FROM events WHERE {where}" + (f" AND {window}" if window else "")

    def _event(self, node: r.Event) -> str:
        # the params of the count follow the source's, in text order
        mark = len(self.params)
        source = self._event_source(node.event, self.ctx.bounds(node.window))
        return self._hoisted(mark, self._counted(source, node.count))

    def _event_time(self, node: r.EventTime) -> str:
        source = self._event_source(node.event, Bounds())
        agg = "min" if node.which == "first" else "max"
        self.add(_naive(self.ctx.moment(node.at)))
        op = "<" if node.op == "before" else ">="
        return f"c.id IN ({source} GROUP BY customer_id HAVING {agg}(occurred_at) {op} ?)"

    def _sequence(self, node: r.Sequence) -> str:
        first = self._event_filter(node.first, "a")
        then = self._event_filter(node.then, "b")
        bounds = self.ctx.bounds(node.window)
        window_a = self._bounds("a.occurred_at", bounds)
        window_b = self._bounds("b.occurred_at", bounds)
        extra = "".join(f" AND {w}" for w in (window_a, window_b) if w)
        hours = int(node.within_hours)
        return (f"c.id IN (SELECT a.customer_id FROM events a JOIN events b ON b.customer_id = a.customer_id "
                f"WHERE {first} AND {then} AND b.occurred_at > a.occurred_at "
                f"AND b.occurred_at <= a.occurred_at + INTERVAL {hours} HOUR{extra})")

    # -- orders --------------------------------------------------------------------------------------------------

    def _orders(self, bounds: Bounds) -> str:
        window = self._bounds("o.paid_at", bounds)
        where = PURCHASE + (f" AND {window}" if window else "")
        return f"SELECT o.customer_id AS customer_id FROM orders o WHERE {where}"

    def _purchased(self, node: r.Purchased) -> str:
        bounds = self.ctx.bounds(node.window)
        window = self._bounds("o.paid_at", bounds)
        lines = []
        if node.product_ids:
            lines.append(f"product_id IN ({_marks(node.product_ids)})")
            self.add(*node.product_ids)
        categories = self.ctx.category_ids(node)
        if categories:
            lines.append(f"category_id IN ({_marks(categories)})")
            self.add(*categories)
        where = PURCHASE + (f" AND {window}" if window else "")
        source = (f"SELECT o.customer_id AS customer_id FROM orders o WHERE {where} AND o.id IN "
                  f"(SELECT order_id FROM order_lines WHERE {' OR '.join(lines)})")
        # the window's params were added before the lines', matching the text order
        return self._counted(source, node.count)

    def _order_count(self, node: r.OrderCount) -> str:
        return self._counted(self._orders(self.ctx.bounds(node.window)), node.count)

    def _spend(self, node: r.Spend) -> str:
        source = self._orders(self.ctx.bounds(node.window))
        return self._counted(source, r.Count(op=node.op, value=node.value_fen), measure=NET)

    def _aov(self, node: r.Aov) -> str:
        source = self._orders(self.ctx.bounds(node.window))
        op = ">=" if node.op == "gte" else "<="
        self.add(node.value_fen)
        return f"c.id IN ({source} GROUP BY o.customer_id HAVING {NET} {op} ? * count(*))"

    def _last_order(self, node: r.LastOrder) -> str:
        source = self._orders(Bounds())
        self.add(_naive(self.ctx.moment(node.at)))
        op = "<" if node.op == "before" else ">="
        return f"c.id IN ({source} GROUP BY o.customer_id HAVING max(o.paid_at) {op} ?)"

    # -- scores, segments, buckets ---------------------------------------------------------------------------------

    def _rfm_cell(self, node: r.RfmCell) -> str:
        self.add(*node.cells)
        return f"c.id IN (SELECT customer_id FROM customer_scores WHERE cell IN ({_marks(list(node.cells))}))"

    def _rfm_score(self, node: r.RfmScore) -> str:
        self.add(node.min, node.max)
        return f"c.id IN (SELECT customer_id FROM customer_scores WHERE {node.dimension} BETWEEN ? AND ?)"

    def _lifecycle(self, node: r.Lifecycle) -> str:
        self.add(*node.stages)
        return f"c.id IN (SELECT customer_id FROM customer_scores WHERE stage IN ({_marks(list(node.stages))}))"

    def _segment(self, node: r.InSegment) -> str:
        resolved = self.ctx.segments[node.segment_id]
        if resolved.static or resolved.rule is None:
            self.add(node.segment_id)
            return "c.id IN (SELECT customer_id FROM segment_members WHERE segment_id = ? AND left_at IS NULL)"
        scope_sql, scope_params = customer_scope_sql(resolved.owner, "c")
        self.add(*scope_params)
        inner = self.condition(resolved.rule.root)
        return f"({scope_sql} AND {inner})"

    def _bucket(self, node: r.Bucket) -> str:
        s1, s2 = self.ctx.bucket_salts(node.salt)
        h1 = f"(((c.id % {BUCKET_PRIME}) * {BUCKET_A} + {s1}) % {BUCKET_PRIME})"
        self.add(node.low, node.high)
        return f"(((({h1} * {h1}) + {s2}) % {BUCKET_PRIME}) % {int(node.modulus)} BETWEEN ? AND ?)"


def _naive(moment: Any) -> Any:
    from datetime import UTC

    return moment.astimezone(UTC).replace(tzinfo=None)


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def predicate(rule: r.Rule, ctx: Context) -> Sql:
    compiler = Compiler(ctx)
    text = compiler.condition(rule.root)
    return Sql(text, compiler.params)


def members_sql(rule: r.Rule, ctx: Context, *, scopes: list[Scope], extra: str = "",
                extra_params: list[Any] | None = None) -> Sql:
    """`SELECT c.id FROM customers c [JOIN <grouped list> ...] WHERE <every scope> AND <rule>[ AND extra]`."""
    compiler = Compiler(ctx, hoist=True)
    compiled = Sql(compiler.condition(rule.root), compiler.params)
    joins = "".join(f" {join.text}" for join in compiler.joins)
    where, params = [], [p for join in compiler.joins for p in join.params]
    for scope in scopes:
        text, scope_params = customer_scope_sql(scope, "c")
        where.append(text)
        params += scope_params
    where.append(compiled.text)
    params += compiled.params
    if extra:
        where.append(extra)
        params += extra_params or []
    return Sql(f"SELECT c.id FROM customers c{joins} WHERE " + " AND ".join(where), params)
