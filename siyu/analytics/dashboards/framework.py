"""The dashboards' shared machinery: the filters every dashboard takes (a range of Shanghai days, the viewer's scope,
channel, store or region), the previous period of the same length, and a small cache of answers per (query, params).

Every dashboard is a set of named SQL queries on the analytics engine, written in DuckDB's dialect without DuckDB-only
functions (`CAST(ts + INTERVAL 8 HOUR AS DATE)` for a Shanghai day, `date_trunc`, `date_diff`, `MEDIAN`, `CASE`), so
sqlglot translates them to ClickHouse unchanged (tests/analytics/test_dashboards_translate.py). Shanghai has no
daylight saving time, so +8 hours is exactly its wall clock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings

from siyu.analytics.engine import Answer, Engine, get_engine
from siyu.analytics.engine.scope import customer_scope_sql
from siyu.core.timeutil import day_bounds
from siyu.org.scope import Scope

LOCAL_DAY = "CAST({col} + INTERVAL 8 HOUR AS DATE)"  # a naive UTC timestamp's Shanghai calendar day
CACHE_ENTRIES = 512

# Customer actions that make a customer "active" (system events such as tags, segments and sends are not theirs).
ACTIVITY_EVENTS = (
    "page_viewed", "product_viewed", "message_received", "check_in", "oa_menu_clicked", "oa_scanned",
    "oa_followed", "group_joined", "order_created", "order_paid", "coupon_used",
)
# Order states that mean the customer paid (a later refund does not undo the order; its refunded_fen says how much).
PAID_STATUSES = ("deposit_paid", "paid", "shipped", "picked_up", "completed", "refunded")


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Filters:
    """What a dashboard is asked for: the Shanghai days [start, end] (inclusive), the viewer's scope and optional cuts
    by the channel a customer came from, their home store or their home store's region."""

    scope: Scope
    start: date
    end: date
    channel: str = ""
    store_id: int | None = None
    region_id: int | None = None
    options: tuple[tuple[str, str], ...] = ()  # a dashboard's own settings (funnel steps, cohort kind), validated

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """The naive UTC instants [start, end) of the range, as the copy stores times."""
        return naive_utc(day_bounds(self.start)[0]), naive_utc(day_bounds(self.end)[1])

    def previous(self) -> Filters:
        """The period of the same length just before."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def option(self, key: str, default: str = "") -> str:
        return dict(self.options).get(key, default)


def customer_where(filters: Filters, alias: str = "c") -> tuple[str, list[Any]]:
    """The viewer's customers (siyu.analytics.engine.scope) cut by the filters, as a predicate over `customers`."""
    where, params = customer_scope_sql(filters.scope, alias)
    if filters.channel:
        where += f" AND {alias}.created_source = ?"
        params.append(filters.channel)
    if filters.store_id is not None:
        where += f" AND {alias}.home_store_id = ?"
        params.append(filters.store_id)
    if filters.region_id is not None:
        where += f" AND {alias}.home_store_id IN (SELECT id FROM stores WHERE region_id = ?)"  # noqa: S608
        params.append(filters.region_id)
    return where, params


def as_day(value: Any) -> date | None:
    """A DATE from the engine (a date in process, an ISO string through the analytics process)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


# ---------------------------------------------------------------------------------------------------------------
# The answers cache: per (query name, SQL, parameters), for SIYU_DASHBOARD_CACHE_TTL seconds. An answer keeps its own
# `as_of`, so a cached figure still says how fresh it is.

_cache: OrderedDict[tuple[Any, ...], tuple[float, Answer]] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _ttl() -> float:
    return float(getattr(settings, "SIYU_DASHBOARD_CACHE_TTL", 30.0))


@dataclass
class Runner:
    """Runs a dashboard's named queries (through the cache) and remembers the oldest `as_of` among them."""

    engine: Engine | None = None
    as_of: datetime | None = None
    hits: int = 0
    misses: int = 0
    names: list[str] = field(default_factory=list)

    def run(self, name: str, sql: str, params: Sequence[Any]) -> Answer:
        key = (name, sql, tuple(params))
        ttl = _ttl()
        now = time.monotonic()
        answer: Answer | None = None
        if ttl > 0:
            with _lock:
                found = _cache.get(key)
                if found is not None and now - found[0] <= ttl:
                    answer = found[1]
                    _cache.move_to_end(key)
        if answer is None:
            answer = (self.engine or get_engine()).query(sql, list(params))
            self.misses += 1
            if ttl > 0:
                with _lock:
                    _cache[key] = (now, answer)
                    while len(_cache) > CACHE_ENTRIES:
                        _cache.popitem(last=False)
        else:
            self.hits += 1
        self.names.append(name)
        if answer.as_of is not None and (self.as_of is None or answer.as_of < self.as_of):
            self.as_of = answer.as_of
        return answer


# ---------------------------------------------------------------------------------------------------------------
# What a dashboard answers: figures with their previous period, and tables (each drawn as a chart above it).


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float | int | None
    previous: float | int | None
    unit: str = "count"  # count | fen | ratio | hours

    @property
    def change(self) -> float | None:
        """Relative change against the previous period (None when there is nothing to compare with)."""
        if self.value is None or self.previous in (None, 0):
            return None
        assert self.previous is not None
        return (float(self.value) - float(self.previous)) / abs(float(self.previous))


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str = "count"  # count | fen | ratio | hours | text | date


@dataclass(frozen=True)
class Chart:
    kind: str  # line | bar | heatmap | funnel
    x: str  # the column on the x axis (heatmap: the rows' column)
    series: tuple[str, ...] = ()  # the value columns drawn (heatmap: the value columns, one per x position)
    stack: bool = False


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: list[list[Any]]
    chart: Chart | None = None
    note: str = ""


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    filters: Filters
    figures: list[Figure]
    tables: list[Table]
    definitions: list[str]
    as_of: datetime | None
    queries: int = 0
    cached: int = 0


def ratio(part: float | int | None, whole: float | int | None) -> float | None:
    if part is None or not whole:
        return None
    return float(part) / float(whole)


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def board_dict(board: Board) -> dict[str, Any]:
    """A dashboard as JSON (the API's answer and the page's chart data). Money stays integer fen."""
    f = board.filters
    return {
        "name": board.name,
        "title": str(board.title),
        "filters": {"start": f.start.isoformat(), "end": f.end.isoformat(), "channel": f.channel,
                    "store": f.store_id, "region": f.region_id, **dict(f.options)},
        "previous": {"start": f.previous().start.isoformat(), "end": f.previous().end.isoformat()},
        "fresh_as_of": board.as_of.isoformat() if board.as_of else None,
        "queries": board.queries,
        "cached": board.cached,
        "figures": [{"key": x.key, "label": str(x.label), "unit": x.unit, "value": x.value, "previous": x.previous,
                     "change": x.change} for x in board.figures],
        "tables": [{"key": t.key, "title": str(t.title), "note": t.note,
                    "columns": [{"key": c.key, "label": str(c.label), "unit": c.unit} for c in t.columns],
                    "rows": [[_plain(v) for v in row] for row in t.rows],
                    "chart": None if t.chart is None else {"kind": t.chart.kind, "x": t.chart.x,
                                                           "series": list(t.chart.series), "stack": t.chart.stack}}
                   for t in board.tables],
        "definitions": [str(d) for d in board.definitions],
    }
