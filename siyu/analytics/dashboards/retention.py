"""Retention: weekly or monthly cohorts (by first add or by first order), with the share of each cohort active (any
customer action) and purchasing (a paid order) in each period after, as heat tables."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils.translation import gettext as _

from siyu.analytics.dashboards.framework import (
    ACTIVITY_EVENTS,
    LOCAL_DAY,
    PAID_STATUSES,
    Board,
    Chart,
    Column,
    Figure,
    Filters,
    Runner,
    Table,
    as_day,
    customer_where,
    marks,
    ratio,
)

COHORTS = ("add", "order")
PERIODS = ("week", "month")
MAX_PERIODS = 26


def _trunc(period: str, col: str) -> str:
    assert period in PERIODS
    return f"date_trunc('{period}', {LOCAL_DAY.format(col=col)})"


def _cohort_sql(filters: Filters, cohort: str, period: str) -> tuple[str, list[Any]]:
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    if cohort == "add":
        sql = (f"SELECT c.id, {_trunc(period, 'c.created_at')} AS cp FROM customers c WHERE {where} "  # noqa: S608
               "AND c.created_at >= ? AND c.created_at < ?")
        return sql, [*params, lo, hi]
    sql = (f"SELECT o.customer_id AS id, {_trunc(period, 'MIN(o.paid_at)')} AS cp FROM orders o "  # noqa: S608
           f"WHERE o.status IN ({marks(PAID_STATUSES)}) AND o.customer_id IN (SELECT c.id FROM customers c "
           f"WHERE {where}) GROUP BY o.customer_id HAVING MIN(o.paid_at) >= ? AND MIN(o.paid_at) < ?")
    return sql, [*PAID_STATUSES, *params, lo, hi]


def _measure_sql(measure: str, period: str) -> tuple[str, list[Any]]:
    if measure == "activity":
        return (f"SELECT DISTINCT e.customer_id AS id, {_trunc(period, 'e.occurred_at')} AS ap FROM events e "  # noqa: S608
                f"WHERE e.name IN ({marks(ACTIVITY_EVENTS)}) AND e.occurred_at >= ? AND e.occurred_at < ? "
                "AND e.customer_id IN (SELECT id FROM cohort)"), list(ACTIVITY_EVENTS)
    return (f"SELECT DISTINCT o.customer_id AS id, {_trunc(period, 'o.paid_at')} AS ap FROM orders o "  # noqa: S608
            f"WHERE o.status IN ({marks(PAID_STATUSES)}) AND o.paid_at >= ? AND o.paid_at < ? "
            "AND o.customer_id IN (SELECT id FROM cohort)"), list(PAID_STATUSES)


def _retention_sql(filters: Filters, cohort: str, period: str, measure: str) -> tuple[str, list[Any]]:
    cohort_sql, cohort_params = _cohort_sql(filters, cohort, period)
    measure_sql, measure_params = _measure_sql(measure, period)
    lo, hi = filters.bounds()
    lo = lo - timedelta(days=31)  # a cohort's week or month may begin before the range
    sql = (f"WITH cohort AS ({cohort_sql}), acts AS ({measure_sql}) "  # noqa: S608
           "SELECT k.cp, NULL AS ap, count(*) FROM cohort k GROUP BY k.cp "
           "UNION ALL SELECT k.cp, a.ap, count(*) FROM cohort k JOIN acts a ON a.id = k.id AND a.ap >= k.cp "
           "GROUP BY k.cp, a.ap")
    return sql, [*cohort_params, *measure_params, lo, hi]


def _offset(period: str, start: date, then: date) -> int:
    if period == "week":
        return (then - start).days // 7
    return (then.year - start.year) * 12 + then.month - start.month


def _heat(filters: Filters, rows: list[tuple[Any, ...]], period: str, key: str, title: str) -> Table:
    sizes: dict[date, int] = {}
    kept: dict[tuple[date, int], int] = {}
    for cp, ap, n in rows:
        start = as_day(cp)
        assert start is not None
        if ap is None:
            sizes[start] = int(n)
        else:
            then = as_day(ap)
            assert then is not None
            kept[(start, _offset(period, start, then))] = int(n)
    last = _offset(period, min(sizes) if sizes else filters.start, filters.end)
    span = min(MAX_PERIODS, last + 1)
    out = [[start.isoformat(), size, *(ratio(kept.get((start, i), 0), size) if i <= _offset(period, start, filters.end)
                                       else None for i in range(span))]
           for start, size in sorted(sizes.items())]
    label = _("Week %(n)s") if period == "week" else _("Month %(n)s")
    columns = (Column("cohort", _("Cohort"), "date"), Column("size", _("Customers")),
               *(Column(f"p{i}", label % {"n": i}, "ratio") for i in range(span)))
    return Table(key, title, columns, out, Chart("heatmap", "cohort", tuple(f"p{i}" for i in range(span))))


def options(filters: Filters) -> tuple[str, str]:
    cohort = filters.option("cohort", "add")
    period = filters.option("period", "week")
    return (cohort if cohort in COHORTS else "add"), (period if period in PERIODS else "week")


def build(filters: Filters, runner: Runner) -> Board:
    cohort, period = options(filters)
    tables = []
    figures = []
    for measure, title in (("activity", _("Active in each period")), ("purchase", _("Purchasing in each period"))):
        sql, params = _retention_sql(filters, cohort, period, measure)
        table = _heat(filters, runner.run(f"retention_{measure}", sql, params).rows, period, measure, title)
        tables.append(table)
        second = [r for r in table.rows if len(r) > 3 and r[3] is not None]
        kept = sum(int(round((r[3] or 0) * r[1])) for r in second)
        figures.append(Figure(f"{measure}_p1", _("%(title)s: period 1") % {"title": title},
                              ratio(kept, sum(int(r[1]) for r in second)), None, "ratio"))
    figures.insert(0, Figure("cohort_size", _("Customers in the cohorts"),
                             sum(int(r[1]) for r in tables[0].rows), None))
    definitions = [
        _("Cohort: customers by the week (Monday) or month of their first add to the pool, or of their first paid "
          "order, within the range (Asia/Shanghai days)."),
        _("Period 0 is the cohort's own week or month; a cell is the share of the cohort active (any customer action) "
          "or purchasing (a paid order) in that period, up to the end of the range."),
    ]
    return Board("retention", _("Retention"), filters, figures, tables, definitions, runner.as_of)
