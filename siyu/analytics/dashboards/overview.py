"""Overview: the pool over time by channel, new and lost contacts, active customers, GMV, orders, AOV, conversion and
repurchase rates, each beside the previous period's value."""

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
from siyu.customers.models import Channel

LOST_STATUSES = ("deleted_by_customer", "deleted_by_staff")


def _pool_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Customers in the pool before the range, and those added on each Shanghai day of it, by channel."""
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    day = LOCAL_DAY.format(col="c.created_at")
    sql = (f"SELECT CASE WHEN c.created_at < ? THEN NULL ELSE {day} END AS d, "  # noqa: S608
           "CAST(c.created_source AS VARCHAR) AS ch, count(*) AS n "
           f"FROM customers c WHERE {where} AND c.created_at < ? GROUP BY 1, 2")
    return sql, [lo, *params, hi]


def _totals_sql(filters: Filters) -> tuple[str, list[Any]]:
    """One row: new contacts, lost contacts, active customers, orders, GMV, buyers, repeat buyers in the range."""
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    scoped = f"SELECT c.id FROM customers c WHERE {where}"  # noqa: S608
    sql = (
        f"WITH scoped AS ({scoped}), "  # noqa: S608
        "rel AS (SELECT "
        " SUM(CASE WHEN r.added_at >= ? AND r.added_at < ? THEN 1 ELSE 0 END) AS added, "
        f" SUM(CASE WHEN r.status IN ({marks(LOST_STATUSES)}) AND r.status_changed_at >= ? "
        "  AND r.status_changed_at < ? THEN 1 ELSE 0 END) AS lost "
        " FROM relationships r WHERE r.customer_id IN (SELECT id FROM scoped)), "
        # grouped first, then joined to the scope: the grouped ids are unique (docs/analytics.md, physical design)
        "act AS (SELECT count(*) AS active FROM (SELECT e.customer_id FROM events e "
        f" WHERE e.name IN ({marks(ACTIVITY_EVENTS)}) AND e.occurred_at >= ? AND e.occurred_at < ? "
        " GROUP BY e.customer_id) a JOIN scoped s ON s.id = a.customer_id), "
        "per AS (SELECT g.* FROM (SELECT o.customer_id, count(*) AS n, SUM(o.paid_fen) AS fen FROM orders o "
        f" WHERE o.status IN ({marks(PAID_STATUSES)}) AND o.paid_at >= ? AND o.paid_at < ? "
        " GROUP BY o.customer_id) g JOIN scoped s ON s.id = g.customer_id), "
        "buy AS (SELECT SUM(n) AS orders, SUM(fen) AS gmv, count(*) AS buyers, "
        " SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) AS repeaters FROM per) "
        "SELECT rel.added, rel.lost, act.active, buy.orders, buy.gmv, buy.buyers, buy.repeaters "
        "FROM rel CROSS JOIN act CROSS JOIN buy"
    )
    return sql, [*params, lo, hi, *LOST_STATUSES, lo, hi, *ACTIVITY_EVENTS, lo, hi, *PAID_STATUSES, lo, hi]


def _daily_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Per Shanghai day of the range: orders, GMV and buyers."""
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    day = LOCAL_DAY.format(col="o.paid_at")
    sql = (f"SELECT {day} AS d, count(*) AS orders, SUM(o.paid_fen) AS gmv, count(DISTINCT o.customer_id) AS buyers "  # noqa: S608
           f"FROM orders o WHERE o.status IN ({marks(PAID_STATUSES)}) AND o.paid_at >= ? AND o.paid_at < ? "
           f"AND o.customer_id IN (SELECT c.id FROM customers c WHERE {where}) GROUP BY 1 ORDER BY 1")
    return sql, [*PAID_STATUSES, lo, hi, *params]


def _totals(runner: Runner, filters: Filters, suffix: str) -> dict[str, int]:
    sql, params = _totals_sql(filters)
    row = runner.run(f"overview_totals{suffix}", sql, params).rows[0]
    keys = ("added", "lost", "active", "orders", "gmv", "buyers", "repeaters")
    return {k: int(v or 0) for k, v in zip(keys, row, strict=True)}


def _figures(now: dict[str, int], before: dict[str, int], pool: tuple[int, int]) -> list[Figure]:
    def aov(t: dict[str, int]) -> int | None:
        return t["gmv"] // t["orders"] if t["orders"] else None

    return [
        Figure("pool", _("Pool size at the end"), pool[0], pool[1]),
        Figure("new_contacts", _("New contacts"), now["added"], before["added"]),
        Figure("lost_contacts", _("Lost contacts"), now["lost"], before["lost"]),
        Figure("active", _("Active customers"), now["active"], before["active"]),
        Figure("gmv", _("GMV"), now["gmv"], before["gmv"], "fen"),
        Figure("orders", _("Orders"), now["orders"], before["orders"]),
        Figure("aov", _("Average order value"), aov(now), aov(before), "fen"),
        Figure("conversion", _("Conversion rate"), ratio(now["buyers"], now["active"]),
               ratio(before["buyers"], before["active"]), "ratio"),
        Figure("repurchase", _("Repurchase rate"), ratio(now["repeaters"], now["buyers"]),
               ratio(before["repeaters"], before["buyers"]), "ratio"),
    ]


def _pool_table(rows: list[tuple[Any, ...]], filters: Filters) -> tuple[Table, int]:
    base: dict[str, int] = {}
    added: dict[tuple[date, str], int] = {}
    for day, channel, n in rows:
        ch = str(channel or "")
        day = as_day(day)
        if day is None:
            base[ch] = base.get(ch, 0) + int(n)
        else:
            added[(day, ch)] = added.get((day, ch), 0) + int(n)
    channels = sorted(set(base) | {ch for _d, ch in added})
    running = dict(base)
    out: list[list[Any]] = []
    for offset in range(filters.days):
        day = filters.start + timedelta(days=offset)
        for ch in channels:
            running[ch] = running.get(ch, 0) + added.get((day, ch), 0)
        out.append([day.isoformat(), *(running.get(ch, 0) for ch in channels), sum(running.values())])
    names = {str(value): str(label) for value, label in Channel.choices}
    columns = (Column("day", _("Day"), "date"),
               *(Column(f"ch_{ch or 'none'}", names.get(ch, ch) if ch else _("none")) for ch in channels),
               Column("total", _("Total")))
    table = Table("pool", _("Pool size by channel"), columns, out,
                  Chart("line", "day", tuple(c.key for c in columns[1:-1]), stack=True))
    return table, sum(running.values())


def build(filters: Filters, runner: Runner) -> Board:
    before = filters.previous()
    pool_sql, pool_params = _pool_sql(filters)
    pool, pool_end = _pool_table(runner.run("overview_pool", pool_sql, pool_params).rows, filters)
    prev_sql, prev_params = _pool_sql(before)
    _prev_table, prev_end = _pool_table(runner.run("overview_pool_prev", prev_sql, prev_params).rows, before)
    now_totals = _totals(runner, filters, "")
    before_totals = _totals(runner, before, "_prev")
    daily_sql, daily_params = _daily_sql(filters)
    by_day = {as_day(row[0]): row for row in runner.run("overview_daily", daily_sql, daily_params).rows}
    sales = []
    for offset in range(filters.days):
        day = filters.start + timedelta(days=offset)
        found = by_day.get(day)
        orders, gmv, buyers = (int(found[1]), int(found[2] or 0), int(found[3])) if found else (0, 0, 0)
        sales.append([day.isoformat(), orders, gmv, buyers, gmv // orders if orders else 0])
    sales_table = Table("sales", _("Orders and GMV by day"),
                        (Column("day", _("Day"), "date"), Column("orders", _("Orders")), Column("gmv", _("GMV"), "fen"),
                         Column("buyers", _("Buyers")), Column("aov", _("Average order value"), "fen")),
                        sales, Chart("bar", "day", ("gmv",)))
    definitions = [
        _("Pool size: customers (not merged away) added by the end of each day, by the channel they came from."),
        _("New contacts: staff relationships added in the range; lost contacts: relationships deleted by the "
          "customer or the staff member in the range."),
        _("Active customers: customers with at least one action in the range (page or product view, message, "
          "check-in, Official Account follow, scan or menu click, group join, order, coupon use)."),
        _("GMV: the amount paid for orders paid in the range (refunds are not subtracted); AOV: GMV / orders."),
        _("Conversion rate: buyers / active customers; repurchase rate: buyers with two or more paid orders in the "
          "range / buyers."),
        _("Days are Asia/Shanghai calendar days; the previous period is the same number of days just before."),
    ]
    return Board("overview", _("Overview"), filters, _figures(now_totals, before_totals, (pool_end, prev_end)),
                 [pool, sales_table], definitions, runner.as_of)
