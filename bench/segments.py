"""Ten realistic segments (tags, behaviour windows, orders, RFM) on the columnar copy, each against (a) the same
segment on the OLTP database through the ORM oracle and (b) hand-written DuckDB SQL on the same copy, in the same run;
plus the RFM + lifecycle recompute and freshness (event written -> dynamic membership changed, at a steady ingest rate).

    siyu bench segments --customers 1000000 --events 20000000
    python bench/segments.py --customers 20000 --events 400000 [--database-url postgres://.../siyu_bench_segments]
    python bench/segments.py --reuse   # keep the database the last run seeded (var/bench/segments.sqlite3)

Figures: segment_<name>_s (best of 3, warm), copy_build_s, rfm_s, lifecycle_s, rfm_persist_s, freshness_p95_s,
peak_mb. Ratios: segment_<name>_vs_oltp (OLTP time / engine time: higher is better, target >= 100) and
segment_<name>_vs_hand (engine time / hand-written time: target <= 1.5).
Targets (TARGETS.md): tier A < 100 ms per segment, RFM + lifecycle < 3 s, freshness p95 < 5 s.
"""

# ruff: noqa: S608 - the hand-written SQL is the baseline itself: ids and bounds of this run, no outside input.
from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DIR, check_disk, fresh_database, peak_rss_mb, report, setup_django  # noqa: E402

CODE = "segbench"


def _seed(args: argparse.Namespace) -> tuple[float, float]:
    """Seed the bench enterprise; returns (seconds, peak MiB of this process so far, i.e. of the seed)."""
    from siyu.core.seed.progress import Progress
    from siyu.seed.runner import seed_enterprise

    progress = Progress(write=lambda line: print(line, flush=True), every=10.0)
    result = seed_enterprise(customers=args.customers, events=args.events, seed=args.seed, code=CODE,
                             progress=progress)
    peak = peak_rss_mb()
    print(f"seeded {result.customers:,} customers, {result.events:,} events in {result.seconds:.0f}s, "
          f"peak {peak:,.0f} MiB", flush=True)
    return result.seconds, peak


def _ids(enterprise_id: int) -> dict[str, Any]:
    from siyu.catalog.models import Category
    from siyu.customers.models import Tag

    tags = {t.name: t.pk for t in Tag.objects.filter(group__enterprise_id=enterprise_id)}
    root = Category.objects.filter(enterprise_id=enterprise_id, parent__isnull=True).order_by("id").first()
    return {"tags": tags, "category": root.pk if root else 1,
            "leaves": list(Category.objects.filter(parent=root).values_list("id", flat=True)) if root else [1]}


def segments(ids: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(name, rule root, hand-written DuckDB SQL of the members' predicate over customers c, with {now} bounds)."""
    tag = ids["tags"].get("护肤") or next(iter(ids["tags"].values()))
    gold = ids["tags"].get("金卡会员") or tag
    leaves = ", ".join(str(i) for i in ids["leaves"]) or "0"
    buy = "o.paid_at IS NOT NULL AND o.status <> 'refunded'"
    return [
        ("active_browsers",
         {"type": "event", "event": {"name": "page_viewed"}, "count": {"op": "gte", "value": 2},
          "window": {"last_days": 30}},
         "EXISTS (SELECT 1 FROM (SELECT customer_id FROM events WHERE name = 'page_viewed' AND occurred_at >= {d30} "
         "GROUP BY customer_id HAVING count(*) >= 2) e WHERE e.customer_id = c.id)"),
        ("skincare_recent_buyers",
         {"type": "group", "op": "and", "conditions": [
             {"type": "tags", "tag_ids": [tag]},
             {"type": "order_count", "count": {"op": "gte", "value": 1}, "window": {"last_days": 90}}]},
         f"c.id IN (SELECT customer_id FROM customer_tags WHERE tag_id = {tag}) AND c.id IN (SELECT o.customer_id "
         f"FROM orders o WHERE {buy} AND o.paid_at >= {{d90}})"),
        ("viewed_not_bought_7d",
         {"type": "group", "op": "and", "conditions": [
             {"type": "event", "event": {"name": "product_viewed"}, "window": {"last_days": 7}},
             {"type": "order_count", "count": {"op": "eq", "value": 0}, "window": {"last_days": 7}}]},
         f"c.id IN (SELECT customer_id FROM events WHERE name = 'product_viewed' AND occurred_at >= {{d7}}) "
         f"AND c.id NOT IN (SELECT o.customer_id FROM orders o WHERE {buy} AND o.paid_at >= {{d7}} "
         f"AND o.customer_id IS NOT NULL)"),
        ("lapsed_high_value",
         {"type": "rfm_cell", "cells": ["important_win_back", "important_keep"]},
         "c.id IN (SELECT customer_id FROM customer_scores WHERE cell IN ('important_win_back', 'important_keep'))"),
        ("big_recent_spenders",
         {"type": "group", "op": "and", "conditions": [
             {"type": "spend", "op": "gte", "value_fen": 50000, "window": {"last_days": 365}},
             {"type": "last_order", "op": "after", "at": {"days_ago": 60}}]},
         f"c.id IN (SELECT o.customer_id FROM orders o WHERE {buy} AND o.paid_at >= {{d365}} GROUP BY o.customer_id "
         f"HAVING sum(o.paid_fen - o.refunded_fen) >= 50000) AND c.id IN (SELECT o.customer_id FROM orders o "
         f"WHERE {buy} GROUP BY o.customer_id HAVING max(o.paid_at) >= {{d60}})"),
        ("reachable_women_25_40",
         {"type": "group", "op": "and", "conditions": [
             {"type": "gender", "values": ["female"]}, {"type": "reachable", "via": "wecom"},
             {"type": "age", "min": 25, "max": 40}]},
         "c.gender = 'female' AND c.birthday <= {age25} AND c.birthday > {age41} AND c.id IN "
         "(SELECT customer_id FROM relationships WHERE status = 'active')"),
        ("group_joiners_no_order",
         {"type": "group", "op": "and", "conditions": [
             {"type": "event", "event": {"name": "group_joined"}, "window": {"last_days": 90}},
             {"type": "order_count", "count": {"op": "eq", "value": 0}}]},
         f"c.id IN (SELECT customer_id FROM events WHERE name = 'group_joined' AND occurred_at >= {{d90}}) AND "
         f"c.id NOT IN (SELECT o.customer_id FROM orders o WHERE {buy} AND o.customer_id IS NOT NULL)"),
        ("checkin_streak_not_gold",
         {"type": "group", "op": "and", "conditions": [
             {"type": "event", "event": {"name": "check_in"}, "count": {"op": "gte", "value": 5},
              "window": {"last_days": 30}},
             {"type": "tags", "match": "none", "tag_ids": [gold]}]},
         f"c.id IN (SELECT customer_id FROM events WHERE name = 'check_in' AND occurred_at >= {{d30}} "
         f"GROUP BY customer_id HAVING count(*) >= 5) AND c.id NOT IN (SELECT customer_id FROM customer_tags "
         f"WHERE tag_id = {gold})"),
        ("at_risk_reachable",
         {"type": "group", "op": "and", "conditions": [
             {"type": "lifecycle", "stages": ["at_risk", "silent"]}, {"type": "reachable", "via": "wecom"}]},
         "c.id IN (SELECT customer_id FROM customer_scores WHERE stage IN ('at_risk', 'silent')) AND c.id IN "
         "(SELECT customer_id FROM relationships WHERE status = 'active')"),
        ("category_repeaters",
         {"type": "group", "op": "and", "conditions": [
             {"type": "purchased", "category_ids": [ids["category"]], "count": {"op": "gte", "value": 2},
              "window": {"last_days": 180}},
             {"type": "rfm_score", "dimension": "f", "min": 3}]},
         f"c.id IN (SELECT o.customer_id FROM orders o WHERE {buy} AND o.paid_at >= {{d180}} AND o.id IN "
         f"(SELECT order_id FROM order_lines WHERE category_id IN ({leaves})) GROUP BY o.customer_id "
         f"HAVING count(*) >= 2) AND c.id IN (SELECT customer_id FROM customer_scores WHERE f >= 3)"),
    ]


def _best(fn: Any, runs: int = 3) -> tuple[float, Any]:
    fn()  # warm
    best, value = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def _hand_sql(template: str, ent: int, now: Any) -> str:
    from siyu.audiences.context import _years_before
    from siyu.core.timeutil import SHANGHAI

    naive = now.astimezone(UTC).replace(tzinfo=None)
    today = now.astimezone(SHANGHAI).date()
    bounds = {f"d{d}": f"TIMESTAMP '{naive - timedelta(days=d)}'" for d in (7, 30, 60, 90, 180, 365)}
    bounds["age25"] = f"DATE '{_years_before(today, 25)}'"
    bounds["age41"] = f"DATE '{_years_before(today, 41)}'"
    where = template.format(**bounds)
    return f"SELECT count(*) FROM customers c WHERE c.enterprise_id = {ent} AND c.merged_into_id IS NULL AND {where}"


def _wait_built(ent: int, limit_s: float = 900.0) -> float:
    """Seconds until every dynamic segment of the enterprise is built at its current revision."""
    from django.db.models import F

    from siyu.audiences.models import Segment, SegmentKind

    started = time.monotonic()
    while time.monotonic() - started < limit_s and Segment.objects.filter(
            enterprise_id=ent, kind=SegmentKind.DYNAMIC).exclude(built_revision=F("revision")).exists():
        time.sleep(0.5)
    return time.monotonic() - started


def _wait_caught_up(stats: Any, limit_s: float = 600.0) -> float:
    """Seconds until two refreshes in a row of the running loop found no batch limit reached."""
    started = time.monotonic()
    calm, seen = 0, stats.refreshes
    while time.monotonic() - started < limit_s and calm < 2:
        time.sleep(0.2)
        if stats.refreshes != seen:
            seen = stats.refreshes
            calm = calm + 1 if stats.last is not None and not stats.last.more else 0
    return time.monotonic() - started


def _freshness(copy: Any, ent: int, seconds: float, rate: int, company: list[dict[str, Any]]
               ) -> tuple[float, float, int]:
    """Ingest page views at `rate` events/s for `seconds` while the analytics loop runs; the time from each event's
    commit to its customer's segment_entered membership row being visible. Returns (p95, p50, samples).

    `company`: rule roots kept as dynamic segments beside the probe during the run (the ten realistic ones), so every
    refresh re-evaluates them for the touched customers and their periodic full passes fall inside the run, as they
    would in an enterprise with several live segments."""
    from siyu.analytics.engine.loop import LoopStats, run
    from siyu.audiences import services
    from siyu.audiences.models import Segment, SegmentMembership
    from siyu.customers.models import Customer
    from siyu.customers.services import EventInput, ingest_events
    from siyu.org.scope import Scope

    stamp = time.strftime("%Y%m%d%H%M%S")
    path = f"/bench-fresh-{stamp}"
    # Earlier runs' probes and company (a --reuse run keeps the database) would make this run's live set larger.
    Segment.objects.filter(enterprise_id=ent, name__startswith="freshness ").delete()
    for number, root in enumerate(company, 1):
        services.create_segment(scope=Scope.hq(ent), name=f"freshness company {stamp} #{number}",
                                rule={"version": 1, "root": root})
    segment = services.create_segment(scope=Scope.hq(ent), name=f"freshness probe {stamp}", rule={
        "version": 1, "root": {"type": "event", "event": {"name": "page_viewed", "where": [
            {"property": "path", "value": path}]}, "window": {"last_days": 1}}})
    stop, stats = threading.Event(), LoopStats()
    loop = threading.Thread(target=run, args=(copy,), kwargs={"interval": 1.0, "stop": stop, "stats": stats},
                            daemon=True)
    loop.start()
    # The first (baseline) build of the probe and its company: an enterprise's live segments are built before the
    # events this measures arrive, so the stream starts once every one of them is.
    built_in = _wait_built(ent)
    print(f"  freshness: {len(company) + 1} live segments built in {built_in:.1f}s", flush=True)
    # Their first build (and the RFM run before) changed a million rows or more, which the copy then takes in over a
    # few refreshes; the stream measures the steady state, so it starts once a refresh finds nothing left over.
    caught_up = _wait_caught_up(stats)
    print(f"  freshness: the copy took those changes in within {caught_up:.1f}s more", flush=True)
    ids = list(Customer.objects.filter(enterprise_id=ent, merged_into__isnull=True).values_list("id", flat=True))
    random.Random(7).shuffle(ids)
    written: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()

    def watch() -> None:
        last = SegmentMembership.objects.filter(segment=segment).order_by("-id").values_list("id", flat=True).first()
        last = last or 0
        while not (done.is_set() and len(seen) >= len(written)):
            for row_id, cid in SegmentMembership.objects.filter(segment=segment, id__gt=last).values_list(
                    "id", "customer_id"):
                seen.setdefault(cid, time.monotonic())
                last = max(last, row_id)
            if done.is_set() and time.monotonic() - done_at[0] > 20:
                return
            time.sleep(0.05)

    done_at = [0.0]
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    batch, tick = max(1, rate // 10), 0.1
    started = time.monotonic()
    n = 0
    from django.utils import timezone

    while time.monotonic() - started < seconds and n < len(ids):
        chunk = ids[n:n + batch]
        n += len(chunk)
        moment = timezone.now()
        ingest_events(enterprise_id=ent, batch=[EventInput(
            name="page_viewed", occurred_at=moment, idempotency_key=f"fresh:{stamp}:{cid}", customer_id=cid,
            properties={"path": path}) for cid in chunk])
        committed = time.monotonic()
        for cid in chunk:
            written[cid] = committed
        sleep = started + (n / rate) - time.monotonic()
        if sleep > 0:
            time.sleep(min(sleep, tick))
    done_at[0] = time.monotonic()
    done.set()
    watcher.join(timeout=60)
    stop.set()
    loop.join(timeout=60)
    lags = sorted(seen[c] - written[c] for c in written if c in seen)
    missing = len(written) - len(lags)
    if missing:
        print(f"  freshness: {missing} of {len(written)} events had not moved their customer in within 20 s")
        lags += [float("inf")] * missing
    p95 = lags[int(0.95 * (len(lags) - 1))] if lags else float("nan")
    return p95, statistics.median(lags) if lags else float("nan"), len(written)


def main(argv: list[str] | None = None) -> None:  # noqa: C901 - a linear script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=None, help="default: 20 per customer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/segments.sqlite3")
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run seeded")
    parser.add_argument("--rate", type=int, default=1000, help="events/s for the freshness run")
    parser.add_argument("--freshness-seconds", type=float, default=15.0)
    parser.add_argument("--freshness-company", type=int, default=10,
                        help="how many of the ten segments stay live (dynamic) during the freshness run")
    parser.add_argument("--skip-oltp", action="store_true", help="do not time the OLTP oracle (slow at tier A)")
    parser.add_argument("--force", action="store_true", help="start even when the disk looks too small")
    args = parser.parse_args(argv)
    args.events = 20 * args.customers if args.events is None else args.events
    url = args.database_url
    if not args.reuse:
        if not url:  # a PostgreSQL server's disk is its own business
            check_disk(args.customers, args.events, copy=True, force=args.force)
        url = fresh_database("segments", url)
    elif not url:
        import os

        url = f"sqlite:///{BENCH_DIR / 'segments.sqlite3'}"
        os.environ["SIYU_DATABASE_URL"] = url
    setup_django()
    from django.utils import timezone

    from siyu.analytics.engine import CopyEngine
    from siyu.analytics.engine.copy import ColumnarCopy
    from siyu.audiences import evaluate, oracle, rfm
    from siyu.org.models import Enterprise
    from siyu.org.scope import Scope

    seeded: tuple[float, float] | None = None
    if not Enterprise.objects.filter(code=CODE).exists():
        seeded = _seed(args)
    ent = Enterprise.objects.get(code=CODE).pk
    path = BENCH_DIR / "segments.duckdb"
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    copy = ColumnarCopy(path, threads=2)
    before_copy = peak_rss_mb()
    built = copy.build()
    copy_peak = peak_rss_mb()
    print(f"copy built in {built.seconds:.1f}s ({sum(built.inserted.values()):,} rows), peak "
          f"{copy_peak:,.0f} MiB" + (" (the seed's)" if copy_peak <= before_copy else ""), flush=True)
    result = rfm.run_rfm(copy, ent)
    while copy.refresh().more:  # the new scores reach the copy's mirror in batches
        pass
    print(f"rfm {result.rfm_s:.2f}s, lifecycle {result.lifecycle_s:.2f}s, persisted in {result.persist_s:.1f}s",
          flush=True)

    engine = CopyEngine(copy)
    now = timezone.now()
    hq = Scope.hq(ent)
    rows: list[tuple[str, str]] = [("database", url.split("?")[0]), ("copy build", f"{built.seconds:.1f} s")]
    figures: dict[str, float] = {"copy_build_s": built.seconds, "copy_peak_mb": copy_peak, "rfm_s": result.rfm_s,
                                 "lifecycle_s": result.lifecycle_s, "rfm_persist_s": result.persist_s}
    if seeded is not None:
        figures["seed_s"], figures["seed_peak_mb"] = seeded
        rows.append(("seed", f"{seeded[0]:.1f} s, peak {seeded[1]:,.0f} MiB"))
    ratios: dict[str, float] = {}
    for name, root, hand in segments(_ids(ent)):
        compiled = evaluate.compile_rule({"version": 1, "root": root}, enterprise_id=ent, now=now)
        seconds, found = _best(lambda c=compiled: evaluate.count(c, [hq], engine=engine).count)
        hand_text = _hand_sql(hand, ent, now)
        hand_s, hand_count = _best(lambda h=hand_text: engine.query(h).scalar())
        figures[f"segment_{name}_s"] = seconds
        ratios[f"segment_{name}_vs_hand"] = seconds / hand_s if hand_s else float("nan")
        line = f"{seconds * 1000:7.1f} ms  hand {hand_s * 1000:7.1f} ms  {found:,} members"
        if hand_count != found:
            line += f"  (hand-written counted {hand_count:,}!)"
        if not args.skip_oltp:
            started = time.perf_counter()
            oltp = len(oracle.members(compiled.rule, compiled.ctx, scopes=[hq]))
            oltp_s = time.perf_counter() - started
            ratios[f"segment_{name}_vs_oltp"] = oltp_s / seconds if seconds else float("nan")
            line += f"  OLTP {oltp_s:6.2f} s" + ("" if oltp == found else f" (OLTP counted {oltp:,}!)")
        line += f"  peak {peak_rss_mb():,.0f} MiB"
        rows.append((f"segment {name}", line))
        print(f"  {name}: {line}", flush=True)
    rows += [("rfm / lifecycle", f"{result.rfm_s:.2f} s / {result.lifecycle_s:.2f} s "
                                 f"(+{result.persist_s:.1f} s writing {result.changed:,} score rows)")]
    company = [root for _name, root, _hand in segments(_ids(ent))][: args.freshness_company]
    p95, p50, samples = _freshness(copy, ent, args.freshness_seconds, args.rate, company)
    figures["freshness_p95_s"] = p95
    figures["freshness_p50_s"] = p50
    figures["peak_mb"] = peak_rss_mb()
    rows += [("freshness", f"p95 {p95:.2f} s, p50 {p50:.2f} s over {samples:,} events at {args.rate}/s, "
                           f"with {len(company)} other live segments"),
             ("peak memory", f"{figures['peak_mb']:,.0f} MiB")]
    copy.close()
    report("segments", rows, figures, ratios)


if __name__ == "__main__":
    main()
