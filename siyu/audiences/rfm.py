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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from siyu.analytics.engine import CopyEngine
from siyu.analytics.engine.copy import ColumnarCopy, RefreshResult
from siyu.audiences.models import CustomerScore, LifecycleRules, RfmRun
from siyu.core.timeutil import SHANGHAI
from siyu.customers.services import EventInput, append_events

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
    touched = " AND c.id IN (SELECT customer_id FROM _touched)" if touched_only else ""
    return f"""
WITH buys AS (
  SELECT o.customer_id, count(*) AS f, sum(o.paid_fen - o.refunded_fen) AS m, max(o.paid_at) AS last_buy
  FROM orders o
  WHERE o.enterprise_id = ? AND o.paid_at IS NOT NULL AND o.status <> 'refunded' AND o.customer_id IS NOT NULL
    AND o.paid_at >= ? AND o.paid_at <= ?
  GROUP BY o.customer_id
), acts AS (
  SELECT customer_id, max(occurred_at) AS last_act, count(*) FILTER (WHERE occurred_at >= ?) AS engaged
  FROM events WHERE enterprise_id = ? AND name NOT IN ({system}) AND occurred_at <= ?
  GROUP BY customer_id
)
SELECT c.id AS customer_id, c.created_at, b.f, b.m, b.last_buy, a.last_act, COALESCE(a.engaged, 0) AS engaged,
       date_diff('second', b.last_buy, ?) / 86400 AS recency_days
FROM customers c LEFT JOIN buys b ON b.customer_id = c.id LEFT JOIN acts a ON a.customer_id = c.id
WHERE c.enterprise_id = ? AND c.merged_into_id IS NULL{touched}"""


def _base_params(enterprise_id: int, now: datetime, window_days: int) -> list[Any]:
    n = _utc(now)
    return [enterprise_id, n - timedelta(days=window_days), n, n - timedelta(days=90), enterprise_id, n, n,
            enterprise_id]


def quintile_edges(engine: CopyEngine, enterprise_id: int, now: datetime, window_days: int) -> dict[str, list[float]]:
    answer = engine.query(
        f"SELECT quantile_cont(recency_days, 0.2), quantile_cont(recency_days, 0.4), "
        f"quantile_cont(recency_days, 0.6), quantile_cont(recency_days, 0.8), "
        f"quantile_cont(f, 0.2), quantile_cont(f, 0.4), quantile_cont(f, 0.6), quantile_cont(f, 0.8), "
        f"quantile_cont(m, 0.2), quantile_cont(m, 0.4), quantile_cont(m, 0.6), quantile_cont(m, 0.8) "
        f"FROM ({_base_sql(False)}) base WHERE f IS NOT NULL",
        _base_params(enterprise_id, now, window_days))
    row = answer.rows[0] if answer.rows else (None,) * 12
    values = [float(v) if v is not None else 0.0 for v in row]
    return {"r": values[0:4], "f": values[4:8], "m": values[8:12]}


def _score_sql(touched_only: bool) -> str:
    higher = " + ".join("CASE WHEN {col} > ? THEN 1 ELSE 0 END" for _ in range(4))
    lower = " + ".join("CASE WHEN recency_days < ? THEN 1 ELSE 0 END" for _ in range(4))
    return f"""
SELECT s.*, CASE WHEN s.f IS NULL THEN '' ELSE
         CASE WHEN s.rs >= 3 THEN 'H' ELSE 'L' END || CASE WHEN s.fs >= 3 THEN 'H' ELSE 'L' END
         || CASE WHEN s.ms >= 3 THEN 'H' ELSE 'L' END END AS highs,
       CASE WHEN s.f IS NULL AND s.created_at >= ? THEN 'new'
            WHEN s.last_activity >= ? THEN 'active'
            WHEN s.last_activity >= ? THEN 'silent'
            WHEN s.last_activity >= ? THEN 'at_risk'
            ELSE 'churned' END AS base_stage,
       COALESCE(percent_rank() OVER (ORDER BY COALESCE(s.m, 0)), 0) AS pr_spend,
       COALESCE(percent_rank() OVER (ORDER BY s.engaged), 0) AS pr_engaged
FROM (
  SELECT base.*,
         CASE WHEN f IS NULL THEN 0 ELSE 1 + {lower} END AS rs,
         CASE WHEN f IS NULL THEN 0 ELSE 1 + {higher.format(col='f')} END AS fs,
         CASE WHEN f IS NULL THEN 0 ELSE 1 + {higher.format(col='m')} END AS ms,
         GREATEST(COALESCE(last_buy, created_at), COALESCE(last_act, created_at)) AS last_activity
  FROM ({_base_sql(touched_only)}) base
) s"""


def _cell(highs: str) -> str:
    if not highs:
        return ""
    return CELLS[(highs[0] == "H", highs[1] == "H", highs[2] == "H")]


def _super(row: dict[str, Any], weights: dict[str, float]) -> float:
    f = row["f"] or 0
    parts = {"spend": row["pr_spend"], "repeat": (f - 1) / f if f else 0.0, "engagement": row["pr_engaged"],
             "referrals": 0.0, "paid_member": 0.0}
    total = sum(weights.values()) or 1.0
    return round(100 * sum(weights.get(k, 0) * v for k, v in parts.items()) / total, 1)


def compute(copy: ColumnarCopy, enterprise_id: int, *, now: datetime, rules: LifecycleRules,
            edges: dict[str, list[float]] | None = None, touched_only: bool = False) -> tuple[list[dict[str, Any]],
                                                                                               dict[str, list[float]],
                                                                                               float, float]:
    """Every (or every touched) live customer's scores: (rows, edges, rfm seconds, lifecycle seconds)."""
    engine = CopyEngine(copy)
    started = time.perf_counter()
    edges = edges or quintile_edges(engine, enterprise_id, now, rules.rfm_window_days)
    n = _utc(now)
    stage_params = [n - timedelta(days=rules.new_days), n - timedelta(days=rules.active_days),
                    n - timedelta(days=rules.silent_days), n - timedelta(days=rules.at_risk_days)]
    params = [*stage_params, *edges["r"], *edges["f"], *edges["m"],
              *_base_params(enterprise_id, now, rules.rfm_window_days)]
    answer = engine.query(_score_sql(touched_only), params)
    rfm_s = time.perf_counter() - started
    started = time.perf_counter()
    previous = _previous(engine, enterprise_id, touched_only)
    weights = {**DEFAULT_WEIGHTS, **(rules.super_weights or {})}
    rows = []
    won_back_since = now - timedelta(days=rules.active_days)
    for raw in answer.rows:
        row = dict(zip(answer.columns, raw, strict=True))
        before = previous.get(row["customer_id"])
        stage = row["base_stage"]
        if stage == "active" and before is not None:
            prev_stage, prev_since = before
            if prev_stage in ("churned", "at_risk") or (prev_stage == "won_back" and prev_since is not None
                                                        and prev_since >= won_back_since):
                stage = "won_back"
        row["stage"] = stage
        row["cell"] = _cell(row["highs"])
        row["super_score"] = _super(row, weights)
        rows.append(row)
    return rows, edges, rfm_s, time.perf_counter() - started


def _previous(engine: CopyEngine, enterprise_id: int, touched_only: bool) -> dict[int, tuple[str, datetime | None]]:
    found: dict[int, tuple[str, datetime | None]] = {int(cid): (stage or "", None) for cid, stage in engine.query(
        "SELECT customer_id, stage FROM customer_scores WHERE enterprise_id = ?"
        + (" AND customer_id IN (SELECT customer_id FROM _touched)" if touched_only else ""),
        [enterprise_id]).rows}
    if any(stage == "won_back" for stage, _s in found.values()):
        since = dict(CustomerScore.objects.filter(enterprise_id=enterprise_id, stage="won_back")
                     .values_list("customer_id", "stage_since"))
        for cid, moment in since.items():
            if cid in found:
                found[cid] = ("won_back", moment)
    return found


def _current(enterprise_id: int, ids: list[int]) -> dict[int, CustomerScore]:
    out: dict[int, CustomerScore] = {}
    for start in range(0, len(ids), 5000):
        for score in CustomerScore.objects.filter(customer_id__in=ids[start:start + 5000]):
            out[score.customer_id] = score
    return out


FIELDS = ("recency_days", "frequency", "monetary_fen", "r", "f", "m", "cell", "stage", "super_score")


def _values(row: dict[str, Any]) -> dict[str, Any]:
    return {"recency_days": int(row["recency_days"]) if row["recency_days"] is not None else None,
            "frequency": int(row["f"] or 0), "monetary_fen": int(row["m"] or 0), "r": int(row["rs"]),
            "f": int(row["fs"]), "m": int(row["ms"]), "cell": row["cell"], "stage": row["stage"],
            "super_score": float(row["super_score"])}


def persist(enterprise_id: int, rows: list[dict[str, Any]], *, now: datetime, run: RfmRun | None,
            tag: str, keep_super: bool = False) -> tuple[int, int]:
    """Write the rows that changed and a lifecycle_changed event per stage change. Returns (changed, stage changes)."""
    current = _current(enterprise_id, [int(r["customer_id"]) for r in rows])
    create, update, events = [], [], []
    for row in rows:
        cid = int(row["customer_id"])
        values = _values(row)
        score = current.get(cid)
        if keep_super and score is not None:  # percent ranks need everyone: only a full run moves them
            values.pop("super_score")
        if score is None:
            create.append(CustomerScore(customer_id=cid, enterprise_id=enterprise_id, run=run, stage_since=now,
                                        **values))
            continue
        if all(getattr(score, k) == v for k, v in values.items()):
            continue
        if score.stage and score.stage != values["stage"]:
            events.append(EventInput(
                name="lifecycle_changed", occurred_at=now, customer_id=cid,
                idempotency_key=f"lifecycle_changed:{tag}:{cid}:{values['stage']}",
                properties={"from_stage": score.stage, "to_stage": values["stage"]}))
            score.stage_since = now
        for k, v in values.items():
            setattr(score, k, v)
        score.run = run
        update.append(score)
    with transaction.atomic():
        CustomerScore.objects.bulk_create(create, batch_size=2000)
        CustomerScore.objects.bulk_update(update, [*FIELDS, "run", "stage_since", "updated_at"], batch_size=2000)
        for start in range(0, len(events), 5000):
            append_events(enterprise_id=enterprise_id, batch=events[start:start + 5000])
    return len(create) + len(update), len(events)


def _distribution(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        out[row[key] or "none"] = out.get(row[key] or "none", 0) + 1
    return out


def _movement(enterprise_id: int, rows: list[dict[str, Any]], key: str, before: dict[int, tuple[str, str]],
              index: int) -> dict[str, dict[str, int]]:
    matrix: dict[str, dict[str, int]] = {}
    for row in rows:
        old = before.get(int(row["customer_id"]), ("", ""))[index] or "none"
        new = row[key] or "none"
        matrix.setdefault(old, {})[new] = matrix.setdefault(old, {}).get(new, 0) + 1
    return matrix


def run_rfm(copy: ColumnarCopy, enterprise_id: int, *, now: datetime | None = None, trigger: str = "manual",
            run: RfmRun | None = None) -> RunResult:
    """A full RFM + lifecycle + super-user run for one enterprise."""
    now = now or timezone.now()
    rules = rules_for(enterprise_id)
    rows, edges, rfm_s, lifecycle_s = compute(copy, enterprise_id, now=now, rules=rules)
    before = {cid: (cell, stage) for cid, cell, stage in
              CustomerScore.objects.filter(enterprise_id=enterprise_id).values_list("customer_id", "cell", "stage")}
    run = run or RfmRun(enterprise_id=enterprise_id, trigger=trigger)
    run.as_of, run.window_days, run.customers = now, rules.rfm_window_days, len(rows)
    run.buyers = sum(1 for r in rows if r["f"])
    run.edges = edges
    run.cells = _distribution(rows, "cell")
    run.stages = _distribution(rows, "stage")
    run.movement = _movement(enterprise_id, rows, "cell", before, 0)
    run.stage_movement = _movement(enterprise_id, rows, "stage", before, 1)
    run.status, run.seconds = "running", rfm_s + lifecycle_s
    run.save()
    started = time.perf_counter()
    changed, stage_changes = persist(enterprise_id, rows, now=now, run=run, tag=f"run{run.pk}")
    run.status = "done"
    run.save(update_fields=["status"])
    return RunResult(run, rfm_s, lifecycle_s, time.perf_counter() - started, changed, stage_changes)


def update_touched_stages(copy: ColumnarCopy, enterprise_id: int, *, now: datetime | None = None) -> int:
    """Between runs: the touched customers' stages (and scores) again, with the last run's quintile edges."""
    last = RfmRun.objects.filter(enterprise_id=enterprise_id, status="done").order_by("-as_of").first()
    if last is None:
        return 0
    now = now or timezone.now()
    rows, _edges, _r, _l = compute(copy, enterprise_id, now=now, rules=rules_for(enterprise_id),
                                   edges=last.edges or None, touched_only=True)
    minute = now.strftime("%Y%m%d%H%M")
    return persist(enterprise_id, rows, now=now, run=last, tag=f"live{minute}", keep_super=True)[1]


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
        elif len(result.touched):
            update_touched_stages(copy, enterprise_id, now=now)
