"""Supervision: how HQ sees store execution. Staff tasks (journeys' follow-ups, siyu.automation StaffTask) due in the
range by region, store and staff member (done, done on time, overdue), and a staff leaderboard: new contacts,
deletions, customers converted and revenue.

Staff are cut to the viewer's scope (HQ all, a region manager the region's staff, a store manager the store's, staff
themselves); the customers behind the leaderboard to the viewer's customers as on every dashboard. The per-staff
answer (one row per staff member) is summed by store and region here."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from siyu.analytics.dashboards.conversion import _cutoff
from siyu.analytics.dashboards.framework import (
    PAID_STATUSES,
    Board,
    Chart,
    Column,
    Figure,
    Filters,
    Runner,
    Table,
    customer_where,
    marks,
    ratio,
)
from siyu.org import queries as org_queries
from siyu.org.models import Role

LOST_STATUSES = ("deleted_by_customer", "deleted_by_staff")
TOP = 30


def staff_where(filters: Filters, alias: str = "s") -> tuple[str, list[Any]]:
    """The viewer's staff over the copy's `staff` table (as `alias`), cut by the store or region filter."""
    scope = filters.scope
    sql, params = f"{alias}.enterprise_id = ?", [scope.enterprise_id]
    in_region = (f"({alias}.region_id IN ({{m}}) OR {alias}.store_id IN "  # noqa: S608
                 "(SELECT id FROM stores WHERE region_id IN ({m})))")
    if scope.role == Role.REGION_MANAGER:
        ids = sorted(scope.region_ids) or [0]
        sql += " AND " + in_region.format(m=marks(ids))
        params += [*ids, *ids]
    elif scope.role == Role.STORE_MANAGER:
        ids = sorted(scope.store_ids) or [0]
        sql += f" AND {alias}.store_id IN ({marks(ids)})"
        params += ids
    elif not scope.is_hq:
        sql += f" AND {alias}.id = ?"
        params.append(scope.staff_id or 0)
    if filters.store_id is not None:
        sql += f" AND {alias}.store_id = ?"
        params.append(filters.store_id)
    if filters.region_id is not None:
        sql += " AND " + in_region.format(m="?")
        params += [filters.region_id, filters.region_id]
    return sql, params


def _staff_cte(filters: Filters) -> tuple[str, list[Any]]:
    where, params = staff_where(filters)
    return (f"st AS (SELECT s.id, s.store_id, COALESCE(s.region_id, sto.region_id) AS region_id FROM staff s "  # noqa: S608
            f"LEFT JOIN stores sto ON sto.id = s.store_id WHERE {where})"), params


def _tasks_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Per staff member: tasks due in the range, done, done by their due time, overdue (open past due)."""
    cte, params = _staff_cte(filters)
    lo, hi = filters.bounds()
    sql = (f"WITH {cte} SELECT st.id, st.store_id, st.region_id, count(*), "  # noqa: S608
           "SUM(CASE WHEN t.status = 'done' THEN 1 ELSE 0 END), "
           "SUM(CASE WHEN t.status = 'done' AND t.done_at <= t.due_at THEN 1 ELSE 0 END), "
           "SUM(CASE WHEN t.status = 'open' AND t.due_at < ? THEN 1 ELSE 0 END) "
           "FROM st JOIN staff_tasks t ON t.staff_id = st.id WHERE t.due_at >= ? AND t.due_at < ? "
           "GROUP BY st.id, st.store_id, st.region_id")
    return sql, [*params, _cutoff(hi), lo, hi]


def _leaders_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Per staff member: relationships added and deleted in the range, the customers they added in the range who
    paid an order after adding them, and the paid orders in the range of the customers who follow them now."""
    cte, params = _staff_cte(filters)
    where, scope_params = customer_where(filters)
    lo, hi = filters.bounds()
    sql = (
        f"WITH {cte}, "  # noqa: S608
        "rel AS (SELECT r.staff_id, r.customer_id, r.added_at, r.status, r.status_changed_at FROM relationships r "
        f" JOIN customers c ON c.id = r.customer_id WHERE {where} AND r.staff_id IN (SELECT id FROM st)), "
        "po AS (SELECT o.customer_id, o.paid_at, o.paid_fen FROM orders o "
        f" WHERE o.status IN ({marks(PAID_STATUSES)}) AND o.paid_at >= ? AND o.paid_at < ? "
        " AND o.customer_id IN (SELECT customer_id FROM rel)), "
        "added AS (SELECT staff_id, count(*) AS n FROM rel WHERE added_at >= ? AND added_at < ? GROUP BY staff_id), "
        f"lost AS (SELECT staff_id, count(*) AS n FROM rel WHERE status IN ({marks(LOST_STATUSES)}) "
        " AND status_changed_at >= ? AND status_changed_at < ? GROUP BY staff_id), "
        "conv AS (SELECT r.staff_id, count(DISTINCT r.customer_id) AS n FROM rel r JOIN po ON po.customer_id = "
        " r.customer_id AND po.paid_at >= r.added_at WHERE r.added_at >= ? AND r.added_at < ? GROUP BY r.staff_id), "
        "rev AS (SELECT r.staff_id, SUM(po.paid_fen) AS fen, count(*) AS n FROM rel r "
        " JOIN po ON po.customer_id = r.customer_id WHERE r.status = 'active' GROUP BY r.staff_id) "
        "SELECT st.id, st.store_id, st.region_id, COALESCE(added.n, 0), COALESCE(lost.n, 0), COALESCE(conv.n, 0), "
        " COALESCE(rev.fen, 0), COALESCE(rev.n, 0) FROM st LEFT JOIN added ON added.staff_id = st.id "
        "LEFT JOIN lost ON lost.staff_id = st.id LEFT JOIN conv ON conv.staff_id = st.id "
        "LEFT JOIN rev ON rev.staff_id = st.id"
    )
    return sql, [*params, *scope_params, *PAID_STATUSES, lo, hi, lo, hi, *LOST_STATUSES, lo, hi, lo, hi]


def _sum_by(rows: list[tuple[Any, ...]], index: int) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for row in rows:
        bucket = out.setdefault(row[index], [0] * (len(row) - 3))
        for i, v in enumerate(row[3:]):
            bucket[i] += int(v or 0)
    return out


def _task_table(key: str, title: str, first: Column, sums: dict[Any, list[int]], names: dict[Any, str]) -> Table:
    rows = [[names.get(k, f"#{k}" if k is not None else _("none")), n, done, on_time, overdue, ratio(done, n),
             ratio(on_time, n)]
            for k, (n, done, on_time, overdue) in sorted(sums.items(), key=lambda kv: -kv[1][0])][:TOP]
    return Table(key, title, (first, Column("tasks", _("Tasks due")), Column("done", _("Done")),
                              Column("on_time", _("Done on time")), Column("overdue", _("Overdue")),
                              Column("done_rate", _("Completion"), "ratio"),
                              Column("on_time_rate", _("On time"), "ratio")),
                 rows, Chart("bar", first.key, ("done_rate", "on_time_rate")))


def _totals(rows: list[tuple[Any, ...]], width: int) -> list[int]:
    return [sum(int(r[3 + i] or 0) for r in rows) for i in range(width)]


def build(filters: Filters, runner: Runner) -> Board:
    scope = filters.scope
    staff_names = {k: str(v) for k, v in org_queries.staff(scope).values_list("pk", "name")[:5000]}
    store_names = {k: str(v) for k, v in org_queries.stores(scope).values_list("pk", "name")[:5000]}
    region_names = {k: str(v) for k, v in org_queries.regions(scope).values_list("pk", "name")[:1000]}
    tasks_sql, tasks_params = _tasks_sql(filters)
    tasks = runner.run("supervision_tasks", tasks_sql, tasks_params).rows
    prev_sql, prev_params = _tasks_sql(filters.previous())
    prev_tasks = runner.run("supervision_tasks_prev", prev_sql, prev_params).rows
    leaders_sql, leaders_params = _leaders_sql(filters)
    leaders = runner.run("supervision_staff", leaders_sql, leaders_params).rows
    prev_l_sql, prev_l_params = _leaders_sql(filters.previous())
    prev_leaders = runner.run("supervision_staff_prev", prev_l_sql, prev_l_params).rows
    tables = [
        _task_table("tasks_region", _("Tasks by region"), Column("region", _("Region"), "text"),
                    _sum_by(tasks, 2), region_names),
        _task_table("tasks_store", _("Tasks by store"), Column("store", _("Store"), "text"),
                    _sum_by(tasks, 1), store_names),
        _task_table("tasks_staff", _("Tasks by staff"), Column("staff", _("Staff"), "text"),
                    _sum_by(tasks, 0), staff_names),
    ]
    ranked = sorted(leaders, key=lambda r: (-int(r[6] or 0), -int(r[3] or 0), int(r[0])))[:TOP]
    board_rows: list[list[Any]] = [
        [staff_names.get(r[0], f"#{r[0]}"), store_names.get(r[1], "") if r[1] else "", int(r[3]), int(r[4]),
         int(r[5]), ratio(int(r[5]), int(r[3])), int(r[6]), int(r[7])] for r in ranked]
    tables.append(Table("leaderboard", _("Staff leaderboard"),
                        (Column("staff", _("Staff"), "text"), Column("store", _("Store"), "text"),
                         Column("new_contacts", _("New contacts")), Column("deletions", _("Deletions")),
                         Column("converted", _("Converted")), Column("conversion", _("Conversion"), "ratio"),
                         Column("revenue", _("Revenue"), "fen"), Column("orders", _("Orders"))),
                        board_rows, Chart("bar", "staff", ("revenue",))))
    now_t, before_t = _totals(tasks, 4), _totals(prev_tasks, 4)
    now_l, before_l = _totals(leaders, 5), _totals(prev_leaders, 5)
    figures = [
        Figure("tasks", _("Tasks due"), now_t[0], before_t[0]),
        Figure("done_rate", _("Completion"), ratio(now_t[1], now_t[0]), ratio(before_t[1], before_t[0]), "ratio"),
        Figure("on_time_rate", _("Done on time"), ratio(now_t[2], now_t[0]), ratio(before_t[2], before_t[0]),
               "ratio"),
        Figure("overdue", _("Overdue"), now_t[3], before_t[3]),
        Figure("new_contacts", _("New contacts"), now_l[0], before_l[0]),
        Figure("deletions", _("Deletions"), now_l[1], before_l[1]),
        Figure("revenue", _("Revenue of followed customers"), now_l[3], before_l[3], "fen"),
    ]
    definitions = [
        _("Tasks: staff tasks due in the range; done on time: done at or before the due time; overdue: still open "
          "after the due time (counted up to now)."),
        _("New contacts: relationships the staff member added in the range; deletions: relationships deleted (by "
          "the customer or the staff member) in the range."),
        _("Converted: customers they added in the range who paid an order after being added, within the range; "
          "conversion = converted / new contacts."),
        _("Revenue: orders paid in the range by customers who follow the staff member now (a customer who follows "
          "two staff members counts for both)."),
        _("Regions and stores: the staff member's own store and region."),
    ]
    return Board("supervision", _("Supervision"), filters, figures, tables, definitions, runner.as_of)
