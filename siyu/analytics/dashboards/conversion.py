"""Conversion: the AARRR funnel (acquired -> activated -> first order -> repeat -> referred) with step conversion and
the conversion cycle (median time between steps) by cohort month and by source, and a configurable N-step funnel
over any event names with a conversion window per step.

Funnel semantics (ordered): each step counts only customers who reached the previous one, at or after the time they
reached it. A customer who reached step k-1 but not step k while step k's window is still open at the end of the
range (or now, whichever is earlier) is reported as "still in window", not as a drop-off (PostHog counts them as
dropped; its users asked for this)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone
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
    naive_utc,
    ratio,
)

DEFAULT_STEPS = ("product_viewed", "order_created", "order_paid")
DEFAULT_WINDOW_HOURS = 24
MAX_STEPS = 8
MAX_WINDOW_HOURS = 24 * 90
AARRR_KEYS = ("acquired", "activated", "first_order", "repeat", "referred")


def _aarrr_cte(filters: Filters) -> tuple[str, list[Any]]:
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    month = f"date_trunc('month', {LOCAL_DAY.format(col='c.created_at')})"
    sql = (
        f"WITH cohort AS (SELECT c.id, c.created_at AS t1, {month} AS cm, "  # noqa: S608
        f" CAST(c.created_source AS VARCHAR) AS src FROM customers c WHERE {where} "
        " AND c.created_at >= ? AND c.created_at < ?), "
        "act AS (SELECT k.id, MIN(e.occurred_at) AS t2 FROM cohort k JOIN events e ON e.customer_id = k.id "
        f" WHERE e.name IN ({marks(ACTIVITY_EVENTS)}) AND e.occurred_at >= k.t1 AND e.occurred_at < ? GROUP BY k.id), "
        "paid AS (SELECT o.customer_id AS id, o.paid_at, "
        " ROW_NUMBER() OVER (PARTITION BY o.customer_id ORDER BY o.paid_at, o.id) AS k "
        "  FROM orders o JOIN act a ON a.id = o.customer_id "
        f" WHERE o.status IN ({marks(PAID_STATUSES)}) AND o.paid_at >= a.t2 AND o.paid_at < ?), "
        "ref AS (SELECT p.id, MIN(i.occurred_at) AS t5 FROM paid p "
        " JOIN referral_participants rp ON rp.customer_id = p.id "
        " JOIN referral_invitations i ON i.inviter_id = rp.id "
        " WHERE p.k = 2 AND i.status = 'counted' AND i.occurred_at >= p.paid_at AND i.occurred_at < ? GROUP BY p.id), "
        "steps AS (SELECT k.id, k.cm, k.src, k.t1, a.t2, f.paid_at AS t3, r.paid_at AS t4, ref.t5 FROM cohort k "
        " LEFT JOIN act a ON a.id = k.id LEFT JOIN paid f ON f.id = k.id AND f.k = 1 "
        " LEFT JOIN paid r ON r.id = k.id AND r.k = 2 LEFT JOIN ref ON ref.id = k.id) "
    )
    return sql, [*params, lo, hi, *ACTIVITY_EVENTS, hi, *PAID_STATUSES, hi, hi]


def _aarrr_sql(filters: Filters, group: str) -> tuple[str, list[Any]]:
    cte, params = _aarrr_cte(filters)
    medians = ", ".join(f"MEDIAN(date_diff('second', t{i}, t{i + 1}))" for i in range(1, 5))
    sql = (f"{cte}SELECT {group} AS g, count(*), count(t2), count(t3), count(t4), count(t5), {medians} "  # noqa: S608
           "FROM steps GROUP BY 1 ORDER BY 1")
    return sql, params


def _hours(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 3600, 1)


def _aarrr_rows(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    out = []
    for row in rows:
        label = row[0]
        day = as_day(label) if label is not None and not isinstance(label, str) else None
        counts = [int(n) for n in row[1:6]]
        rates = [ratio(counts[i + 1], counts[i]) for i in range(4)]
        out.append([day.strftime("%Y-%m") if day else str(label or _("none")), *counts, *rates,
                    *(_hours(m) for m in row[6:10])])
    return out


def _aarrr_columns(first: Column) -> tuple[Column, ...]:
    names = _step_names()
    return (first, *(Column(k, names[k]) for k in AARRR_KEYS),
            *(Column(f"rate_{k}", _("%(step)s rate") % {"step": names[k]}, "ratio") for k in AARRR_KEYS[1:]),
            *(Column(f"cycle_{k}", _("Hours to %(step)s (median)") % {"step": names[k]}, "hours")
              for k in AARRR_KEYS[1:]))


def _step_names() -> dict[str, str]:
    return {"acquired": _("Acquired"), "activated": _("Activated"), "first_order": _("First order"),
            "repeat": _("Repeat order"), "referred": _("Referred")}


def _aarrr(filters: Filters, runner: Runner) -> tuple[list[Figure], list[Table]]:
    names = _step_names()
    total_sql, total_params = _aarrr_sql(filters, "'all'")
    total = runner.run("conversion_aarrr", total_sql, total_params).rows
    prev_sql, prev_params = _aarrr_sql(filters.previous(), "'all'")
    prev = runner.run("conversion_aarrr_prev", prev_sql, prev_params).rows
    now_counts = [int(n) for n in total[0][1:6]] if total else [0] * 5
    prev_counts = [int(n) for n in prev[0][1:6]] if prev else [0] * 5
    figures = [Figure(k, names[k], now_counts[i], prev_counts[i]) for i, k in enumerate(AARRR_KEYS)]
    funnel = Table("aarrr", _("AARRR funnel"),
                   (Column("step", _("Step"), "text"), Column("customers", _("Customers")),
                    Column("previous", _("Previous period")), Column("rate", _("Step conversion"), "ratio"),
                    Column("cycle", _("Hours from the step before (median)"), "hours")),
                   [[names[k], now_counts[i], prev_counts[i],
                     ratio(now_counts[i], now_counts[i - 1]) if i else None,
                     _hours(total[0][5 + i]) if total and i else None] for i, k in enumerate(AARRR_KEYS)],
                   Chart("funnel", "step", ("customers",)))
    by_month_sql, by_month_params = _aarrr_sql(filters, "cm")
    by_month = Table("aarrr_by_cohort", _("By cohort month"), _aarrr_columns(Column("cohort", _("Cohort"), "text")),
                     _aarrr_rows(runner.run("conversion_aarrr_month", by_month_sql, by_month_params).rows),
                     Chart("bar", "cohort", tuple(f"rate_{k}" for k in AARRR_KEYS[1:])))
    by_source_sql, by_source_params = _aarrr_sql(filters, "src")
    by_source = Table("aarrr_by_source", _("By source"), _aarrr_columns(Column("source", _("Source"), "text")),
                      _aarrr_rows(runner.run("conversion_aarrr_source", by_source_sql, by_source_params).rows),
                      Chart("bar", "source", tuple(f"rate_{k}" for k in AARRR_KEYS[1:])))
    return figures, [funnel, by_month, by_source]


@dataclass(frozen=True)
class FunnelSpec:
    steps: tuple[str, ...]
    windows_h: tuple[int, ...]  # one per step after the first: hours allowed after the step before


def funnel_spec(filters: Filters) -> FunnelSpec:
    steps = tuple(s for s in filters.option("steps", ",".join(DEFAULT_STEPS)).split(",") if s)
    raw = [w for w in filters.option("windows").split(",") if w]
    windows = tuple(int(w) for w in raw) + (DEFAULT_WINDOW_HOURS,) * max(0, len(steps) - 1 - len(raw))
    return FunnelSpec(steps, windows[:max(0, len(steps) - 1)])


def _cutoff(hi: datetime) -> datetime:
    """The end of the range, or now (to the minute, so the answer can be cached) when the range reaches today."""
    return min(hi, naive_utc(timezone.now()).replace(second=0, microsecond=0))


def _funnel_sql(filters: Filters, spec: FunnelSpec) -> tuple[str, list[Any]]:
    where, scope_params = customer_where(filters)
    lo, hi = filters.bounds()
    cutoff = _cutoff(hi)
    ctes = [f"s1 AS (SELECT e.customer_id AS id, MIN(e.occurred_at) AS t FROM events e "  # noqa: S608
            f"WHERE e.name = ? AND e.occurred_at >= ? AND e.occurred_at < ? "
            f"AND e.customer_id IN (SELECT c.id FROM customers c WHERE {where}) GROUP BY e.customer_id)"]
    params: list[Any] = [spec.steps[0], lo, cutoff, *scope_params]
    for k in range(2, len(spec.steps) + 1):
        seconds = int(spec.windows_h[k - 2]) * 3600  # a validated integer, written into the text
        ctes.append(f"s{k} AS (SELECT p.id, MIN(e.occurred_at) AS t FROM s{k - 1} p JOIN events e "  # noqa: S608
                    f"ON e.customer_id = p.id WHERE e.name = ? AND e.occurred_at > p.t "
                    f"AND e.occurred_at <= p.t + INTERVAL {seconds} SECOND AND e.occurred_at < ? GROUP BY p.id)")
        params += [spec.steps[k - 1], cutoff]
    columns = ["(SELECT count(*) FROM s1)"]
    for k in range(2, len(spec.steps) + 1):
        seconds = int(spec.windows_h[k - 2]) * 3600
        columns.append(f"(SELECT count(*) FROM s{k})")  # noqa: S608
        columns.append(f"(SELECT count(*) FROM s{k - 1} p WHERE p.id NOT IN (SELECT id FROM s{k}) "  # noqa: S608
                       f"AND p.t + INTERVAL {seconds} SECOND >= ?)")
        columns.append(f"(SELECT MEDIAN(date_diff('second', p.t, q.t)) FROM s{k - 1} p JOIN s{k} q ON q.id = p.id)")  # noqa: S608
        params.append(cutoff)
    return f"WITH {', '.join(ctes)} SELECT {', '.join(columns)}", params


def _funnel(filters: Filters, runner: Runner) -> Table:
    spec = funnel_spec(filters)
    sql, params = _funnel_sql(filters, spec)
    row = runner.run("conversion_funnel", sql, params).rows[0]
    rows: list[list[Any]] = [[1, spec.steps[0], None, int(row[0]), 0, 0, None, None, None]]
    for k in range(2, len(spec.steps) + 1):
        base = 1 + (k - 2) * 3
        reached, still_open, median = int(row[base]), int(row[base + 1]), row[base + 2]
        entered = rows[-1][3]
        dropped = entered - reached - still_open
        rows.append([k, spec.steps[k - 1], spec.windows_h[k - 2], reached, still_open, dropped,
                     ratio(reached, entered), ratio(reached, entered - still_open), _hours(median)])
    columns = (Column("n", "#", "text"), Column("event", _("Event"), "text"),
               Column("window_h", _("Window (hours)")), Column("reached", _("Reached")),
               Column("in_window", _("Still in window")), Column("dropped", _("Dropped off")),
               Column("rate", _("Conversion from the step before"), "ratio"),
               Column("settled_rate", _("Conversion among closed windows"), "ratio"),
               Column("cycle", _("Hours from the step before (median)"), "hours"))
    return Table("funnel", _("Event funnel"), columns, rows, Chart("funnel", "event", ("reached",)))


def build(filters: Filters, runner: Runner) -> Board:
    figures, tables = _aarrr(filters, runner)
    tables.append(_funnel(filters, runner))
    definitions = [
        _("Acquired: customers added to the pool in the range (their first add), the cohort."),
        _("Activated: their first action after being added (a page or product view, message, check-in, Official "
          "Account follow, scan or menu click, group join, order or coupon use)."),
        _("First order: their first paid order at or after activation; repeat order: their second."),
        _("Referred: they brought a counted invitee of a referral campaign at or after their repeat order."),
        _("Each step is counted up to the end of the range; the conversion cycle is the median time between a step "
          "and the one before, among the customers who reached both."),
        _("Event funnel: customers who did the first event in the range, then each next event after the step before "
          "and within its window. Customers whose window is still open at the end of the range (or now) are shown "
          "as still in window, not as dropped off."),
    ]
    return Board("conversion", _("Conversion"), filters, figures, tables, definitions, runner.as_of)
