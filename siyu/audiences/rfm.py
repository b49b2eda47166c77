# ruff: noqa: S608 - SQL text is fixed here; every value is a parameter.
"""RFM tiering, lifecycle stages and super-user scores, computed on the columnar copy in a few set-based queries.

RFM over the enterprise's window (LifecycleRules.rfm_window_days): recency (days since the last paid order), frequency
(paid orders) and monetary (net paid fen) of each buyer. Scores 1-5 by quintile edges of the buyers' values (ties get
the same score; recency: more recent is better). A score of 3 or more is "high"; the three highs name one of the
classic eight cells (important value / keep / develop / win back, general ...). Non-buyers have no cell.

Lifecycle stage from the operator's thresholds: `new` (joined within new_days, no paid order yet), then by the last
activity (paid order or any customer-made event): `active`, `silent`, `at_risk`, `churned`; an `active` customer who
was `at_risk` or `churned` is `won_back` for active_days. Each change is a `lifecycle_changed` event (a customer's
first stage is a baseline, not a change).

Super users: a weighted score (0-100) of percent ranks of spend and engagement (events in 90 days), the repeat share of
orders, referrals and paid membership (0 until those apps exist), explained per customer.

Results go to CustomerScore (only rows that changed) and an RfmRun (distribution, movement matrix against the run
before). Run nightly and on request by the analytics process; incrementally for touched customers' stages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from siyu.analytics.engine import CopyEngine
from siyu.analytics.engine.copy import ColumnarCopy, RefreshResult
from siyu.audiences.models import CustomerScore, LifecycleRules, RfmRun
from siyu.core.staging import staged
from siyu.core.timeutil import SHANGHAI
from siyu.customers.models import Customer
from siyu.customers.services import EventRows, append_events_from

log = logging.getLogger(__name__)

SYSTEM_EVENTS = ("customer_created", "customer_merged", "segment_entered", "segment_left", "lifecycle_changed",
                 "tag_added", "tag_removed", "message_sent")
CELLS = {  # (R high, F high, M high) -> cell
    (True, True, True): "important_value", (False, True, True): "important_keep",
    (True, False, True): "important_develop", (False, False, True): "important_win_back",
    (True, True, False): "general_value", (False, True, False): "general_keep",
    (True, False, False): "general_develop", (False, False, False): "general_win_back",
}
DEFAULT_WEIGHTS = {"spend": 0.4, "repeat": 0.2, "engagement": 0.2, "referrals": 0.1, "paid_member": 0.1}
NIGHTLY_HOUR = 3  # Shanghai


@dataclass
class RunResult:
    run: RfmRun | None
    rfm_s: float
    lifecycle_s: float
    persist_s: float
    changed: int
    stage_changes: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def rules_for(enterprise_id: int) -> LifecycleRules:
    found = LifecycleRules.objects.filter(enterprise_id=enterprise_id).first()
    return found or LifecycleRules(enterprise_id=enterprise_id)


def _utc(moment: datetime) -> datetime:
    from datetime import UTC

    return moment.astimezone(UTC).replace(tzinfo=None)


def _base_sql(touched_only: bool) -> str:
    system = ", ".join(f"'{name}'" for name in SYSTEM_EVENTS)
    touched = " AND {col} IN (SELECT customer_id FROM _touched)" if touched_only else ""
    return f"""
WITH buys AS (
  SELECT o.customer_id, count(*) AS f, sum(o.paid_fen - o.refunded_fen) AS m, max(o.paid_at) AS last_buy
  FROM orders o
  WHERE o.enterprise_id = ? AND o.paid_at IS NOT NULL AND o.status <> 'refunded' AND o.customer_id IS NOT NULL
    AND o.paid_at >= ? AND o.paid_at <= ?{touched.format(col="o.customer_id")}
  GROUP BY o.customer_id
), acts AS (
  SELECT customer_id, max(occurred_at) AS last_act, count(*) FILTER (WHERE occurred_at >= ?) AS engaged
  FROM events WHERE enterprise_id = ? AND name NOT IN ({system}) AND occurred_at >= ? AND occurred_at <= ?
    {touched.format(col="customer_id")}
  GROUP BY customer_id
)
SELECT c.id AS customer_id, c.created_at, b.f, b.m, b.last_buy, a.last_act, COALESCE(a.engaged, 0) AS engaged,
       date_diff('second', b.last_buy, ?) / 86400 AS recency_days
FROM customers c LEFT JOIN buys b ON b.customer_id = c.id LEFT JOIN acts a ON a.customer_id = c.id
WHERE c.enterprise_id = ? AND c.merged_into_id IS NULL{touched.format(col="c.id")}"""


def _base_params(enterprise_id: int, now: datetime, window_days: int, horizon_days: int = 90) -> list[Any]:
    """horizon_days: how far back activity can still change a stage (older activity leaves a customer churned
    whatever it was), so the event log is read only that far (its row groups are ordered by time)."""
    n = _utc(now)
    return [enterprise_id, n - timedelta(days=window_days), n, n - timedelta(days=90), enterprise_id,
            n - timedelta(days=max(90, horizon_days)), n, n, enterprise_id]


def quintile_edges(copy: ColumnarCopy, enterprise_id: int, now: datetime, window_days: int, horizon_days: int = 90
                   ) -> dict[str, list[float]]:
    answer = CopyEngine(copy).query(
        f"SELECT quantile_cont(recency_days, 0.2), quantile_cont(recency_days, 0.4), "
        f"quantile_cont(recency_days, 0.6), quantile_cont(recency_days, 0.8), "
        f"quantile_cont(f, 0.2), quantile_cont(f, 0.4), quantile_cont(f, 0.6), quantile_cont(f, 0.8), "
        f"quantile_cont(m, 0.2), quantile_cont(m, 0.4), quantile_cont(m, 0.6), quantile_cont(m, 0.8) "
        f"FROM ({_base_sql(False)}) base WHERE f IS NOT NULL",
        _base_params(enterprise_id, now, window_days, horizon_days))
    row = answer.rows[0] if answer.rows else (None,) * 12
    values = [float(v) if v is not None else 0.0 for v in row]
    return {"r": values[0:4], "f": values[4:8], "m": values[8:12]}


def _cells_sql() -> str:
    cases = " ".join(
        f"WHEN (rs >= 3) = {str(r).upper()} AND (fs >= 3) = {str(f).upper()} AND (ms >= 3) = {str(m).upper()} "
        f"THEN '{cell}'" for (r, f, m), cell in CELLS.items())
    return f"CASE WHEN f IS NULL THEN '' {cases} END"


def _scores_sql(touched_only: bool) -> str:
    """The RFM scores, cell and super-user score of every (touched) live customer: one row each."""
    higher = " + ".join("CASE WHEN {col} > ? THEN 1 ELSE 0 END" for _ in range(4))
    lower = " + ".join("CASE WHEN recency_days < ? THEN 1 ELSE 0 END" for _ in range(4))
    return f"""
SELECT s.customer_id, s.created_at, s.f, s.m, s.recency_days, s.rs, s.fs, s.ms, s.last_activity,
       {_cells_sql()} AS cell,
       round(100 * (? * COALESCE(percent_rank() OVER (ORDER BY COALESCE(s.m, 0)), 0)
                    + ? * CASE WHEN COALESCE(s.f, 0) > 0 THEN (s.f - 1) / s.f ELSE 0 END
                    + ? * COALESCE(percent_rank() OVER (ORDER BY s.engaged), 0)) / ?, 1) AS super_score
FROM (
  SELECT base.*,
         CASE WHEN f IS NULL THEN 0 ELSE 1 + {lower} END AS rs,
         CASE WHEN f IS NULL THEN 0 ELSE 1 + {higher.format(col='f')} END AS fs,
         CASE WHEN f IS NULL THEN 0 ELSE 1 + {higher.format(col='m')} END AS ms,
         GREATEST(COALESCE(last_buy, created_at), COALESCE(last_act, created_at)) AS last_activity
  FROM ({_base_sql(touched_only)}) base
) s"""


STAGE_SQL = """
SELECT r.customer_id,
       CASE WHEN r.f IS NULL AND r.created_at >= ? THEN 'new'
            WHEN r.last_activity >= ? THEN
                 CASE WHEN p.stage IN ('churned', 'at_risk') OR (p.stage = 'won_back' AND p.stage_since >= ?)
                      THEN 'won_back' ELSE 'active' END
            WHEN r.last_activity >= ? THEN 'silent'
            WHEN r.last_activity >= ? THEN 'at_risk'
            ELSE 'churned' END AS stage
FROM _rfm_scores r LEFT JOIN customer_scores p ON p.customer_id = r.customer_id"""

CHANGED_SQL = """
SELECT r.customer_id, CAST(r.recency_days AS BIGINT), COALESCE(r.f, 0), COALESCE(r.m, 0), r.rs, r.fs, r.ms, r.cell,
       l.stage, r.super_score, p.stage AS before_stage
FROM _rfm_scores r JOIN _rfm_stages l ON l.customer_id = r.customer_id
LEFT JOIN customer_scores p ON p.customer_id = r.customer_id
WHERE p.customer_id IS NULL OR p.recency_days IS DISTINCT FROM CAST(r.recency_days AS BIGINT)
   OR p.frequency <> COALESCE(r.f, 0) OR p.monetary_fen <> COALESCE(r.m, 0) OR p.r <> r.rs OR p.f <> r.fs
   OR p.m <> r.ms OR p.cell <> r.cell OR p.stage <> l.stage{super_check}"""


@dataclass
class Computed:
    edges: dict[str, list[float]]
    rfm_s: float
    lifecycle_s: float
    changed: list[tuple[Any, ...]]
    cells: dict[str, int]
    stages: dict[str, int]
    movement: dict[str, dict[str, int]]
    stage_movement: dict[str, dict[str, int]]
    customers: int
    buyers: int


def compute(copy: ColumnarCopy, enterprise_id: int, *, now: datetime, rules: LifecycleRules,
            edges: dict[str, list[float]] | None = None, touched_only: bool = False) -> Computed:
    """Scores and stages of every (or every touched) live customer computed inside DuckDB (tables _rfm_scores and
    _rfm_stages on the copy's writer connection); only the rows that differ from the stored scores come out."""
    started = time.perf_counter()
    edges = edges or quintile_edges(copy, enterprise_id, now, rules.rfm_window_days, rules.at_risk_days + 1)
    weights = {**DEFAULT_WEIGHTS, **(rules.super_weights or {})}
    total = sum(weights.values()) or 1.0
    params = [weights["spend"], weights["repeat"], weights["engagement"], total,
              *edges["r"], *edges["f"], *edges["m"],
              *_base_params(enterprise_id, now, rules.rfm_window_days, rules.at_risk_days + 1)]
    copy.write(f"CREATE OR REPLACE TABLE _rfm_scores AS {_scores_sql(touched_only)}", params)
    rfm_s = time.perf_counter() - started
    started = time.perf_counter()
    n = _utc(now)
    copy.write(f"CREATE OR REPLACE TABLE _rfm_stages AS {STAGE_SQL}", [
        n - timedelta(days=rules.new_days), n - timedelta(days=rules.active_days),
        n - timedelta(days=rules.active_days), n - timedelta(days=rules.silent_days),
        n - timedelta(days=rules.at_risk_days)])
    lifecycle_s = time.perf_counter() - started
    super_check = "" if touched_only else " OR p.super_score <> r.super_score"
    changed = copy.fetch(CHANGED_SQL.format(super_check=super_check))
    counts = copy.fetch("SELECT r.cell, l.stage, COALESCE(p.cell, 'none'), COALESCE(p.stage, 'none'), "
                        "r.f IS NOT NULL, count(*) FROM _rfm_scores r JOIN _rfm_stages l USING (customer_id) "
                        "LEFT JOIN customer_scores p ON p.customer_id = r.customer_id GROUP BY ALL")
    out = Computed(edges, rfm_s, lifecycle_s, changed, {}, {}, {}, {}, 0, 0)
    for cell, stage, before_cell, before_stage, bought, n_rows in counts:
        cell, before_cell = cell or "none", before_cell or "none"
        out.cells[cell] = out.cells.get(cell, 0) + n_rows
        out.stages[stage] = out.stages.get(stage, 0) + n_rows
        out.movement.setdefault(before_cell, {})[cell] = out.movement.get(before_cell, {}).get(cell, 0) + n_rows
        moves = out.stage_movement.setdefault(before_stage or "none", {})
        moves[stage] = moves.get(stage, 0) + n_rows
        out.customers += n_rows
        out.buyers += n_rows if bought else 0
    return out


FIELDS = ("recency_days", "frequency", "monetary_fen", "r", "f", "m", "cell", "stage", "super_score")


PERSIST_CHUNK = 100_000
STAGED = ("customer_id", *FIELDS)


def persist(enterprise_id: int, rows: list[tuple[Any, ...]], *, now: datetime, run: RfmRun | None,
            tag: str, keep_super: bool = False) -> tuple[int, int]:
    """Write the rows that changed (checked again against the OLTP rows, the copy's mirror may lag) and a
    lifecycle_changed event per stage change. Returns (rows written, stage changes).

    Set-based: each chunk is staged in a temporary table and applied with one event INSERT … SELECT, one UPDATE … FROM
    and one INSERT … SELECT, so a million scores cost a few statements, not a million objects."""
    written = changes = 0
    for start in range(0, len(rows), PERSIST_CHUNK):
        w, c = _persist_chunk(enterprise_id, rows[start:start + PERSIST_CHUNK], now=now, run=run, tag=tag,
                              keep_super=keep_super)
        written, changes = written + w, changes + c
    return written, changes


def _staged_values(rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield (int(row[0]), None if row[1] is None else int(row[1]), int(row[2]), int(row[3]), int(row[4]),
               int(row[5]), int(row[6]), row[7] or "", row[8], float(row[9]))


def _persist_chunk(enterprise_id: int, rows: list[tuple[Any, ...]], *, now: datetime, run: RfmRun | None,
                   tag: str, keep_super: bool) -> tuple[int, int]:
    connection = connections["default"]
    qn = connection.ops.quote_name
    scores, customers = qn(CustomerScore._meta.db_table), qn(Customer._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(now)
    run_id = run.pk if run is not None else None
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    compared = [f for f in FIELDS if not (keep_super and f == "super_score")]
    changed = " OR ".join(f"s.{qn(f)} {differs} n.{qn(f)}" for f in compared)
    with transaction.atomic(), staged("siyu_rfm_stage", CustomerScore._meta.db_table, STAGED,
                                      _staged_values(rows)) as stage:
        # Names below are the models' tables and columns; every value is a parameter.
        events = append_events_from(enterprise_id=enterprise_id, name="lifecycle_changed", rows=EventRows(
            source=f"(SELECT n.customer_id, s.stage AS from_stage, n.stage AS to_stage, %s AS at, "  # noqa: S608
                   f"CAST(%s AS VARCHAR(80)) AS prefix FROM {stage} n JOIN {scores} s "
                   f"ON s.customer_id = n.customer_id WHERE s.stage <> '' AND s.stage <> n.stage) x",
            params=(at, f"lifecycle_changed:{tag}:"), customer="x.customer_id", occurred_at="x.at",
            key="x.prefix || CAST(x.customer_id AS VARCHAR(20)) || ':' || x.to_stage",
            properties=(("from_stage", "x.from_stage"), ("to_stage", "x.to_stage"))))
        with connection.cursor() as cursor:
            sets = ", ".join(f"{qn(f)} = n.{qn(f)}" for f in compared)
            cursor.execute(
                f"UPDATE {scores} AS s SET {sets}, run_id = %s, updated_at = %s, "  # noqa: S608
                f"stage_since = CASE WHEN s.stage <> '' AND s.stage <> n.stage THEN %s ELSE s.stage_since END "
                f"FROM {stage} n WHERE s.customer_id = n.customer_id AND ({changed})",
                [run_id, at, at])
            updated = max(0, cursor.rowcount)
            cols = ", ".join(qn(f) for f in FIELDS)
            cursor.execute(
                f"INSERT INTO {scores} (customer_id, enterprise_id, run_id, stage_since, updated_at, {cols}) "  # noqa: S608
                f"SELECT n.customer_id, %s, %s, %s, %s, {', '.join(f'n.{qn(f)}' for f in FIELDS)} FROM {stage} n "
                f"WHERE NOT EXISTS (SELECT 1 FROM {scores} s WHERE s.customer_id = n.customer_id) "
                f"AND EXISTS (SELECT 1 FROM {customers} c WHERE c.id = n.customer_id AND c.enterprise_id = %s)",
                [enterprise_id, run_id, at, at, enterprise_id])
            created = max(0, cursor.rowcount)
    return created + updated, events


def run_rfm(copy: ColumnarCopy, enterprise_id: int, *, now: datetime | None = None, trigger: str = "manual",
            run: RfmRun | None = None) -> RunResult:
    """A full RFM + lifecycle + super-user run for one enterprise."""
    now = now or timezone.now()
    rules = rules_for(enterprise_id)
    computed = compute(copy, enterprise_id, now=now, rules=rules)
    run = run or RfmRun(enterprise_id=enterprise_id, trigger=trigger)
    run.as_of, run.window_days = now, rules.rfm_window_days
    run.customers, run.buyers, run.edges = computed.customers, computed.buyers, computed.edges
    run.cells, run.stages = computed.cells, computed.stages
    run.movement, run.stage_movement = computed.movement, computed.stage_movement
    run.status, run.seconds = "running", computed.rfm_s + computed.lifecycle_s
    run.save()
    started = time.perf_counter()
    changed, stage_changes = persist(enterprise_id, computed.changed, now=now, run=run, tag=f"run{run.pk}")
    run.status = "done"
    run.save(update_fields=["status"])
    return RunResult(run, computed.rfm_s, computed.lifecycle_s, time.perf_counter() - started, changed,
                     stage_changes)


TOUCHED_EVERY_S = 5.0
_last_touched: dict[int, float] = {}


def update_touched_stages(copy: ColumnarCopy, enterprise_id: int, *, now: datetime | None = None) -> int:
    """Between runs: the touched customers' stages (and scores) again, with the last run's quintile edges."""
    last = RfmRun.objects.filter(enterprise_id=enterprise_id, status="done").order_by("-as_of").first()
    if last is None:
        return 0
    now = now or timezone.now()
    computed = compute(copy, enterprise_id, now=now, rules=rules_for(enterprise_id), edges=last.edges or None,
                       touched_only=True)
    minute = now.strftime("%Y%m%d%H%M")
    return persist(enterprise_id, computed.changed, now=now, run=last, tag=f"live{minute}", keep_super=True)[1]


def _due_nightly(enterprise_id: int, now: datetime) -> bool:
    local = now.astimezone(SHANGHAI)
    if local.hour < NIGHTLY_HOUR:
        return False
    start = local.replace(hour=NIGHTLY_HOUR, minute=0, second=0, microsecond=0)
    return not RfmRun.objects.filter(enterprise_id=enterprise_id, as_of__gte=start, status="done").exists()


def after_refresh(copy: ColumnarCopy, result: RefreshResult) -> None:
    """The loop hook: requested runs first, then the nightly one, then touched customers' stages."""
    from siyu.customers.models import Customer
    from siyu.org.models import Enterprise

    now = timezone.now()
    for requested in RfmRun.objects.filter(status="requested").order_by("id")[:5]:
        run_rfm(copy, requested.enterprise_id, now=now, trigger="manual", run=requested)
    for enterprise_id in Enterprise.objects.values_list("id", flat=True):
        first = not RfmRun.objects.filter(enterprise_id=enterprise_id).exists()
        if first and not Customer.objects.filter(enterprise_id=enterprise_id).exists():
            continue
        if first or _due_nightly(enterprise_id, now):
            run_rfm(copy, enterprise_id, now=now, trigger="first" if first else "nightly")
        elif len(result.touched) and time.monotonic() - _last_touched.get(enterprise_id, 0.0) > TOUCHED_EVERY_S:
            _last_touched[enterprise_id] = time.monotonic()
            update_touched_stages(copy, enterprise_id, now=now)
