"""Users: the RFM cell distribution (from the latest RFM run's scores), the lifecycle flow between the range's first
and last day (a Sankey), loyalty tiers at the start and the end of the range, and super users.

A customer's lifecycle stage at an instant T is read from the event log: the `to_stage` of their last
`lifecycle_changed` event before T; with none before T, the `from_stage` of their first one after T; with none at
all, their current stage. A customer added after T was not in the pool then. Tiers work the same way over
`tier_changed` events (no event before T and none after: no tier)."""

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

SUPER_SCORE = 80  # a super user: super-user score (0-100) of at least this
TOP_SUPER = 20
NOT_IN_POOL = "not_in_pool"
NO_STAGE = "none"
CELL_ORDER = ("important_value", "important_keep", "important_develop", "important_win_back", "general_value",
              "general_keep", "general_develop", "general_win_back", "")
STAGE_ORDER = ("new", "active", "silent", "at_risk", "churned", "won_back", NO_STAGE, NOT_IN_POOL)


def _stage_at_sql(kind: str, alias: str) -> str:
    """`alias`: per scoped customer, their stage (kind = lifecycle) or tier (kind = tier) at the instant bound to ?."""
    to_key, from_key, event = (("to_stage", "from_stage", "lifecycle_changed") if kind == "lifecycle"
                               else ("to_tier", "from_tier", "tier_changed"))
    # fixed names only; the instants are parameters
    return (
        f"{alias}_b AS (SELECT e.customer_id, arg_max(json_extract_string(e.properties, '$.{to_key}'), "  # noqa: S608
        " e.occurred_at)"
        f" AS st FROM events e WHERE e.name = '{event}' AND e.occurred_at < ? "
        " AND e.customer_id IN (SELECT id FROM sc) GROUP BY e.customer_id), "
        f"{alias}_a AS (SELECT e.customer_id, arg_min(json_extract_string(e.properties, '$.{from_key}'), "
        f" e.occurred_at) AS st FROM events e WHERE e.name = '{event}' AND e.occurred_at >= ? "
        " AND e.customer_id IN (SELECT id FROM sc) GROUP BY e.customer_id)"
    )


def _flow_sql(filters: Filters) -> tuple[str, list[Any]]:
    """(stage at the start, stage at the end, customers) for the scoped customers added before the end."""
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    sql = (
        f"WITH sc AS (SELECT c.id, c.created_at FROM customers c WHERE {where} AND c.created_at < ?), "  # noqa: S608
        f"{_stage_at_sql('lifecycle', 's0')}, {_stage_at_sql('lifecycle', 's1')} "
        f"SELECT CASE WHEN sc.created_at >= ? THEN '{NOT_IN_POOL}' "
        f" ELSE COALESCE(s0_b.st, s0_a.st, NULLIF(cs.stage, ''), '{NO_STAGE}') END AS a, "
        f" COALESCE(s1_b.st, s1_a.st, NULLIF(cs.stage, ''), '{NO_STAGE}') AS b, count(*) "
        "FROM sc LEFT JOIN customer_scores cs ON cs.customer_id = sc.id "
        "LEFT JOIN s0_b ON s0_b.customer_id = sc.id LEFT JOIN s0_a ON s0_a.customer_id = sc.id "
        "LEFT JOIN s1_b ON s1_b.customer_id = sc.id LEFT JOIN s1_a ON s1_a.customer_id = sc.id "
        "GROUP BY 1, 2"
    )
    return sql, [*params, hi, lo, lo, hi, hi, lo]


def _tiers_sql(filters: Filters) -> tuple[str, list[Any]]:
    """(tier at the start, tier at the end, customers)."""
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    sql = (
        f"WITH sc AS (SELECT c.id, c.created_at FROM customers c WHERE {where} AND c.created_at < ?), "  # noqa: S608
        f"{_stage_at_sql('tier', 't0')}, {_stage_at_sql('tier', 't1')} "
        f"SELECT CASE WHEN sc.created_at >= ? THEN '{NOT_IN_POOL}' "
        f" ELSE COALESCE(NULLIF(t0_b.st, ''), NULLIF(t0_a.st, ''), '{NO_STAGE}') END, "
        f" COALESCE(NULLIF(t1_b.st, ''), NULLIF(t1_a.st, ''), '{NO_STAGE}'), count(*) "
        "FROM sc LEFT JOIN t0_b ON t0_b.customer_id = sc.id LEFT JOIN t0_a ON t0_a.customer_id = sc.id "
        "LEFT JOIN t1_b ON t1_b.customer_id = sc.id LEFT JOIN t1_a ON t1_a.customer_id = sc.id GROUP BY 1, 2"
    )
    return sql, [*params, hi, lo, lo, hi, hi, lo]


def _rfm_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Per RFM cell: customers, their average monetary value, and super users among them."""
    where, params = customer_where(filters)
    sql = (f"SELECT COALESCE(s.cell, ''), count(*), SUM(s.monetary_fen), "  # noqa: S608
           "SUM(CASE WHEN s.super_score >= ? THEN 1 ELSE 0 END), SUM(s.frequency) "
           f"FROM customer_scores s JOIN customers c ON c.id = s.customer_id WHERE {where} GROUP BY 1")
    return sql, [SUPER_SCORE, *params]


def _super_sql(filters: Filters) -> tuple[str, list[Any]]:
    where, params = customer_where(filters)
    sql = (f"SELECT s.customer_id, s.super_score, s.frequency, s.monetary_fen, s.recency_days, "  # noqa: S608
           "COALESCE(s.cell, ''), COALESCE(s.stage, '') "
           f"FROM customer_scores s JOIN customers c ON c.id = s.customer_id WHERE {where} AND s.super_score >= ? "
           f"ORDER BY s.super_score DESC, s.customer_id LIMIT {TOP_SUPER}")
    return sql, [*params, SUPER_SCORE]


def _rank(order: tuple[str, ...], value: str) -> tuple[int, str]:
    return (order.index(value) if value in order else len(order), value)


def _flow_table(key: str, title: str, rows: list[tuple[Any, ...]], order: tuple[str, ...],
                names: tuple[str, str]) -> Table:
    out: list[list[Any]] = sorted(([str(a), str(b), int(n)] for a, b, n in rows),
                                  key=lambda r: (_rank(order, str(r[0])), _rank(order, str(r[1]))))
    columns = (Column("from", names[0], "text"), Column("to", names[1], "text"), Column("customers", _("Customers")))
    return Table(key, title, columns, out, Chart("sankey", "from", ("to", "customers")))


def _side(rows: list[list[Any]], index: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        out[row[index]] = out.get(row[index], 0) + int(row[2])
    return out


def build(filters: Filters, runner: Runner) -> Board:
    flow_sql, flow_params = _flow_sql(filters)
    flow = _flow_table("lifecycle", _("Lifecycle flow"), runner.run("users_lifecycle", flow_sql, flow_params).rows,
                       STAGE_ORDER, (_("Stage at the start"), _("Stage at the end")))
    tiers_sql, tiers_params = _tiers_sql(filters)
    tiers = _flow_table("tiers", _("Tiers"), runner.run("users_tiers", tiers_sql, tiers_params).rows, (),
                        (_("Tier at the start"), _("Tier at the end")))
    rfm_sql, rfm_params = _rfm_sql(filters)
    rfm_rows = runner.run("users_rfm", rfm_sql, rfm_params).rows
    scored = sum(int(r[1]) for r in rfm_rows)
    rfm = Table("rfm", _("RFM cells"),
                (Column("cell", _("Cell"), "text"), Column("customers", _("Customers")),
                 Column("share", _("Share"), "ratio"), Column("avg_monetary", _("Average spend"), "fen"),
                 Column("avg_frequency", _("Average orders"), "number"), Column("super", _("Super users"))),
                [[str(cell) or _("no purchase"), int(n), ratio(int(n), scored), int(m or 0) // int(n) if n else 0,
                  round(int(f or 0) / int(n), 2) if n else None, int(s or 0)]
                 for cell, n, m, s, f in sorted(rfm_rows, key=lambda r: _rank(CELL_ORDER, str(r[0])))],
                Chart("bar", "cell", ("customers",)))
    super_sql, super_params = _super_sql(filters)
    supers = Table("super_users", _("Super users"),
                   (Column("customer", _("Customer"), "text"), Column("score", _("Super-user score"), "number"),
                    Column("orders", _("Orders")), Column("spend", _("Spend"), "fen"),
                    Column("recency_days", _("Days since last order")), Column("cell", _("Cell"), "text"),
                    Column("stage", _("Stage"), "text")),
                   [[f"#{r[0]}", float(r[1]), int(r[2] or 0), int(r[3] or 0), r[4], str(r[5]), str(r[6])]
                    for r in runner.run("users_super", super_sql, super_params).rows])
    start, end = _side(flow.rows, 0), _side(flow.rows, 1)
    in_pool_start = sum(n for k, n in start.items() if k != NOT_IN_POOL)
    moved = sum(int(r[2]) for r in flow.rows if r[0] != r[1] and r[0] != NOT_IN_POOL)
    won = sum(int(r[2]) for r in flow.rows if r[0] in ("at_risk", "churned") and r[1] in ("active", "won_back"))
    figures = [
        Figure("customers", _("Customers at the end"), sum(end.values()), in_pool_start),
        Figure("active", _("Active at the end"), end.get("active", 0) + end.get("won_back", 0),
               start.get("active", 0) + start.get("won_back", 0)),
        Figure("churned", _("Churned at the end"), end.get("churned", 0), start.get("churned", 0)),
        Figure("moved", _("Changed stage in the range"), moved, None),
        Figure("won_back", _("Won back in the range"), won, None),
        Figure("super_users", _("Super users"), sum(int(r[3] or 0) for r in rfm_rows), None),
    ]
    definitions = [
        _("Stage at the start / end: a customer's lifecycle stage at 00:00 of the first day and at 24:00 of the last "
          "(Asia/Shanghai), read from their stage changes; 'not_in_pool': added during the range."),
        _("Figures in the previous-period place are those at the start of the range."),
        _("RFM cells and super users: the latest RFM run's scores of the customers you see (a cell is empty for a "
          "customer without a paid order in the RFM window)."),
        _("Super user: a super-user score of 80 or more (spend, repeat share, engagement, referrals, paid "
          "membership)."),
        _("Tiers: a customer's loyalty tier at the start and at the end of the range, from their tier changes."),
    ]
    return Board("users", _("Users"), filters, figures, [flow, rfm, tiers, supers], definitions, runner.as_of)
