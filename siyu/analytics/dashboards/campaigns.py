"""Campaigns and journeys: each campaign's reach, sends, deliveries, conversions and revenue (and, for HQ, ROI against
the campaign's cost), by campaign, variant, channel, staff and store; participation by hour of the day (peak times);
journey node funnels.

Counted over the deliveries planned in the range (siyu.messaging Delivery rows of the viewer's customers, holdouts,
exclusions and cancellations left out): sent = sent, delivered or confirmed by staff; delivered = delivered or
confirmed; converted = deliveries credited with an order (last touch, siyu.messaging Conversion) and revenue their
orders' amounts. The deliveries record no read or click, so neither is shown. Journeys: enrollments that entered in
the range and, per node, how many of them reached it."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from siyu.analytics.dashboards.framework import (
    Board,
    Chart,
    Column,
    Figure,
    Filters,
    Runner,
    Table,
    customer_where,
    ratio,
)

DIMENSIONS = ("campaign", "variant", "channel", "staff", "store")
TOP = 30


def _base_cte(filters: Filters) -> tuple[str, list[Any]]:
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    sql = (
        "d AS (SELECT dl.id, dl.campaign_id, dl.variant, dl.channel, dl.staff_id, c.home_store_id AS store, "  # noqa: S608
        " CASE WHEN dl.status IN ('sent', 'delivered', 'confirmed') THEN 1 ELSE 0 END AS sent, "
        " CASE WHEN dl.status IN ('delivered', 'confirmed') THEN 1 ELSE 0 END AS delivered, dl.sent_at "
        f" FROM deliveries dl JOIN customers c ON c.id = dl.customer_id WHERE {where} "
        " AND dl.created_at >= ? AND dl.created_at < ? AND dl.status NOT IN ('excluded', 'holdout', 'cancelled')), "
        "cv AS (SELECT x.delivery_id, count(*) AS orders, SUM(x.revenue_fen) AS fen FROM campaign_conversions x "
        " WHERE x.touch = 'last' AND x.delivery_id IN (SELECT id FROM d) GROUP BY x.delivery_id)"
    )
    return sql, [*params, lo, hi]


def _by_sql(filters: Filters) -> tuple[str, list[Any]]:
    """One row per (dimension, key): reach, sent, delivered, converted, orders, revenue."""
    cte, params = _base_cte(filters)
    measures = ("count(*), SUM(d.sent), SUM(d.delivered), count(cv.delivery_id), SUM(COALESCE(cv.orders, 0)), "
                "SUM(COALESCE(cv.fen, 0))")
    keys = {"campaign": "CAST(d.campaign_id AS VARCHAR)", "variant": "d.variant", "channel": "d.channel",
            "staff": "CAST(d.staff_id AS VARCHAR)", "store": "CAST(d.store AS VARCHAR)"}
    parts = [f"SELECT '{dim}' AS dim, {keys[dim]} AS k, {measures} FROM d "  # noqa: S608
             f"LEFT JOIN cv ON cv.delivery_id = d.id GROUP BY 1, 2" for dim in DIMENSIONS]
    return f"WITH {cte} " + " UNION ALL ".join(parts), params


def _hours_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Per Shanghai hour of the day: deliveries sent, and attributed orders paid."""
    cte, params = _base_cte(filters)
    sql = (f"WITH {cte} SELECT 's' AS kind, EXTRACT(HOUR FROM d.sent_at + INTERVAL 8 HOUR) AS h, count(*) FROM d "  # noqa: S608
           "WHERE d.sent_at IS NOT NULL GROUP BY 1, 2 UNION ALL "
           "SELECT 'o', EXTRACT(HOUR FROM x.paid_at + INTERVAL 8 HOUR), count(*) FROM campaign_conversions x "
           "WHERE x.touch = 'last' AND x.delivery_id IN (SELECT id FROM d) GROUP BY 1, 2")
    return sql, params


def _journeys_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Per journey: enrollments entered in the range, and per node the enrollments among them that reached it."""
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    sql = (
        "WITH en AS (SELECT e.id, e.journey_id FROM enrollments e JOIN customers c ON c.id = e.customer_id "  # noqa: S608
        f" WHERE {where} AND e.entered_at >= ? AND e.entered_at < ?) "
        "SELECT en.journey_id, CAST(j.name AS VARCHAR), '' AS node, NULL AS first_at, count(*) FROM en "
        "LEFT JOIN journeys j ON j.id = en.journey_id GROUP BY 1, 2 UNION ALL "
        "SELECT en.journey_id, CAST(j.name AS VARCHAR), s.node, MIN(s.at), count(DISTINCT s.enrollment_id) "
        "FROM en JOIN journey_steps s ON s.enrollment_id = en.id LEFT JOIN journeys j ON j.id = en.journey_id "
        "GROUP BY 1, 2, 3"
    )
    return sql, [*params, lo, hi]


def _campaign_names(filters: Filters, runner: Runner) -> dict[str, tuple[str, int]]:
    rows = runner.run("campaigns_names", "SELECT id, CAST(name AS VARCHAR), cost_fen FROM campaigns "
                      "WHERE enterprise_id = ?", [filters.scope.enterprise_id]).rows
    return {str(r[0]): (str(r[1] or f"#{r[0]}"), int(r[2] or 0)) for r in rows}


def _measures(reach: int, sent: int, delivered: int, converted: int, orders: int, fen: int) -> list[Any]:
    return [reach, sent, delivered, converted, ratio(converted, delivered or sent), orders, fen]


def _columns() -> tuple[Column, ...]:
    return (Column("reach", _("Reach")), Column("sent", _("Sent")), Column("delivered", _("Delivered")),
            Column("converted", _("Converted")), Column("conversion", _("Conversion"), "ratio"),
            Column("orders", _("Orders")), Column("revenue", _("Revenue"), "fen"))


def _dimension_tables(rows: list[tuple[Any, ...]], names: dict[str, tuple[str, int]], hq: bool,
                      labels: dict[str, dict[str, str]]) -> list[Table]:
    grouped: dict[str, list[tuple[Any, ...]]] = {d: [] for d in DIMENSIONS}
    for row in rows:
        grouped[str(row[0])].append(row)
    titles = {"campaign": _("By campaign"), "variant": _("By variant"), "channel": _("By channel"),
              "staff": _("By staff"), "store": _("By store")}
    tables = []
    for dim in DIMENSIONS:
        out = []
        for row in sorted(grouped[dim], key=lambda r: (-int(r[7] or 0), -int(r[2] or 0), str(r[1])))[:TOP]:
            key = "" if row[1] is None else str(row[1])
            values = _measures(*(int(v or 0) for v in row[2:8]))
            if dim == "campaign":
                name, cost = names.get(key, (f"#{key}", 0))
                extra = [cost, ratio(values[6] - cost, cost)] if hq else []
                out.append([name, *values, *extra])
            else:
                out.append([labels.get(dim, {}).get(key, key or _("none")), *values])
        columns: tuple[Column, ...] = (Column(dim, titles[dim], "text"), *_columns())
        if dim == "campaign" and hq:
            columns += (Column("cost", _("Cost"), "fen"), Column("roi", _("ROI"), "ratio"))
        tables.append(Table(f"by_{dim}", titles[dim], columns, out,
                            Chart("bar", dim, ("sent", "converted") if dim != "campaign" else ("revenue",))))
    return tables


def _hours_table(rows: list[tuple[Any, ...]]) -> Table:
    sent = {int(r[1]): int(r[2]) for r in rows if r[0] == "s" and r[1] is not None}
    orders = {int(r[1]): int(r[2]) for r in rows if r[0] == "o" and r[1] is not None}
    return Table("hours", _("Participation by hour"),
                 (Column("hour", _("Hour"), "text"), Column("sent", _("Sent")), Column("orders", _("Orders"))),
                 [[f"{h:02d}:00", sent.get(h, 0), orders.get(h, 0)] for h in range(24)],
                 Chart("bar", "hour", ("sent", "orders")), _("Asia/Shanghai hours."))


def _journeys_table(rows: list[tuple[Any, ...]]) -> Table:
    entered = {int(r[0]): int(r[4]) for r in rows if r[2] == ""}
    nodes = sorted((r for r in rows if r[2] != ""), key=lambda r: (int(r[0]), str(r[3]), str(r[2])))
    out: list[list[Any]] = [[f"{r[1] or '#' + str(r[0])} · {r[2]}", str(r[1] or f"#{r[0]}"), str(r[2]), int(r[4]),
            ratio(int(r[4]), entered.get(int(r[0]), 0))] for r in nodes]
    out = [[f"{r[1] or '#' + str(r[0])} · " + _("entered"), str(r[1] or f"#{r[0]}"), "", int(r[4]), 1.0]
           for r in rows if r[2] == ""] + out
    out.sort(key=lambda row: (str(row[1]), row[2] != "", -int(row[3])))
    return Table("journeys", _("Journey node funnels"),
                 (Column("step", _("Step"), "text"), Column("journey", _("Journey"), "text"),
                  Column("node", _("Node"), "text"), Column("enrollments", _("Enrollments")),
                  Column("share", _("Share of entered"), "ratio")),
                 out[:200], Chart("bar", "step", ("enrollments",)))


def _totals(rows: list[tuple[Any, ...]]) -> list[int]:
    return [sum(int(r[i] or 0) for r in rows if r[0] == "campaign") for i in range(2, 8)]


def build(filters: Filters, runner: Runner) -> Board:
    from siyu.org import queries as org_queries

    names = _campaign_names(filters, runner)
    by_sql, by_params = _by_sql(filters)
    rows = runner.run("campaigns_by", by_sql, by_params).rows
    prev_sql, prev_params = _by_sql(filters.previous())
    prev_rows = runner.run("campaigns_by_prev", prev_sql, prev_params).rows
    labels = {"staff": {str(k): str(v) for k, v in org_queries.staff(filters.scope).values_list("pk", "name")[:5000]},
              "store": {str(k): str(v) for k, v in org_queries.stores(filters.scope).values_list("pk", "name")[:5000]}}
    tables = _dimension_tables(rows, names, filters.scope.is_hq, labels)
    hours_sql, hours_params = _hours_sql(filters)
    tables.append(_hours_table(runner.run("campaigns_hours", hours_sql, hours_params).rows))
    journeys_sql, journeys_params = _journeys_sql(filters)
    tables.append(_journeys_table(runner.run("campaigns_journeys", journeys_sql, journeys_params).rows))
    now, before = _totals(rows), _totals(prev_rows)
    figures = [
        Figure("reach", _("Reach"), now[0], before[0]),
        Figure("sent", _("Sent"), now[1], before[1]),
        Figure("delivered", _("Delivered"), now[2], before[2]),
        Figure("converted", _("Converted"), now[3], before[3]),
        Figure("conversion", _("Conversion"), ratio(now[3], now[2] or now[1]), ratio(before[3], before[2] or before[1]),
               "ratio"),
        Figure("revenue", _("Revenue"), now[5], before[5], "fen"),
    ]
    definitions = [
        _("Reach: deliveries planned in the range for the customers you see (holdouts, exclusions and cancellations "
          "left out); sent: sent, delivered or confirmed by staff; delivered: delivered or confirmed."),
        _("Converted: deliveries credited with a paid order (last touch within the campaign's attribution window); "
          "revenue: those orders' amounts; conversion = converted / delivered (or sent where nothing reports "
          "delivery). Reads and clicks are not recorded by the channels, so they are not shown."),
        _("ROI (HQ): (revenue − the campaign's cost) / cost."),
        _("Participation by hour: deliveries sent and attributed orders paid, by Asia/Shanghai hour of the day."),
        _("Journey node funnels: enrollments that entered a journey in the range and how many reached each node."),
    ]
    return Board("campaigns", _("Campaigns"), filters, figures, tables, definitions, runner.as_of)
