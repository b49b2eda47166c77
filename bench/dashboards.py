"""The dashboards (all of siyu.analytics.queries.DASHBOARDS, or --only some) on the columnar copy, cold and warm,
against the same SQL on the OLTP database in the same run.

    siyu bench dashboards --customers 1000000 --events 20000000
    python bench/dashboards.py --customers 20000 --events 400000 \
        [--database-url postgres://.../siyu_bench_dashboards]
    python bench/dashboards.py --reuse   # keep the database the last run seeded (var/bench/dashboards.sqlite3)

Figures: dashboard_<name>_cold_s (its first run after the copy is built, the answers cache empty),
dashboard_<name>_warm_s (best of --repeat, the answers cache off), dashboard_<name>_cached_s (answered from the
dashboards' cache), copy_build_s, peak_mb.
Ratios: dashboard_<name>_vs_oltp (the same queries translated by sqlglot and run on the OLTP database / warm engine
time: higher is better, target >= 100). The dashboards' SQL is DuckDB's dialect, which sqlglot
translates to PostgreSQL (and ClickHouse) but not to SQLite (no INTERVAL arithmetic, no percentile aggregate), so the
OLTP baseline runs on PostgreSQL only; on SQLite the ratio is left out and the table says so.
Targets (TARGETS.md): each dashboard < 300 ms warm at tier A, < 2 s at tier B.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DIR, check_disk, fresh_database, peak_rss_mb, report, setup_django  # noqa: E402

CODE = "dashbench"


class Recording:
    """An engine that remembers the SQL and parameters it ran (to run the same on the OLTP database)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, list[Any]]] = []

    def query(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.calls.append((sql, list(params)))
        return self.inner.query(sql, params)


def _oltp_sql(sql: str) -> str:
    """A dashboard query in PostgreSQL's dialect over the OLTP tables."""
    import sqlglot
    from sqlglot import exp

    from siyu.analytics.engine.tables import tables

    names = {spec.name: spec.db_table for spec in tables()}
    tree = sqlglot.parse_one(sql, read="duckdb")
    for table in tree.find_all(exp.Table):
        if table.name in names and not table.args.get("db"):
            table.set("this", exp.to_identifier(names[table.name]))
    return tree.sql(dialect="postgres")


def _time_oltp(calls: list[tuple[str, list[Any]]]) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for sql, params in calls:
            cursor.execute(_oltp_sql(sql), params)
            cursor.fetchall()
    return time.perf_counter() - started


def _run(name: str, engine: Any, scope: Any, params: dict[str, str]) -> float:
    from siyu.analytics import queries

    started = time.perf_counter()
    queries.dashboard(scope, name, params, engine=engine)
    return time.perf_counter() - started


def _seed(args: argparse.Namespace) -> None:
    from siyu.core.seed.progress import Progress
    from siyu.seed.runner import seed_enterprise

    progress = Progress(write=lambda line: print(line, flush=True), every=10.0)
    result = seed_enterprise(customers=args.customers, events=args.events, seed=args.seed, code=CODE,
                             progress=progress)
    print(f"seeded {result.customers:,} customers, {result.events:,} events in {result.seconds:.0f}s", flush=True)


def _database(args: argparse.Namespace) -> str:
    url: str | None = args.database_url
    if not args.reuse:
        if not url:
            check_disk(args.customers, args.events, copy=True, force=args.force)
        return fresh_database("dashboards", url)
    import os

    url = url or f"sqlite:///{BENCH_DIR / 'dashboards.sqlite3'}"
    os.environ["SIYU_DATABASE_URL"] = url  # the database the last run seeded, never the worktree's own
    return url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=None, help="default: 20 per customer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=30, help="the dashboards' range: the last N days")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/dashboards.sqlite3")
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run seeded")
    parser.add_argument("--force", action="store_true", help="start even when the disk looks too small")
    parser.add_argument("--only", default="", help="comma-separated dashboard names (default: all)")
    args = parser.parse_args(argv)
    args.events = 20 * args.customers if args.events is None else args.events
    url = _database(args)
    setup_django()
    from datetime import timedelta

    from django.conf import settings
    from django.db import DatabaseError, connection

    from siyu.analytics import queries
    from siyu.analytics.dashboards.framework import clear_cache
    from siyu.analytics.engine import CopyEngine
    from siyu.analytics.engine.copy import ColumnarCopy
    from siyu.core.timeutil import local_day, now
    from siyu.org.models import Enterprise
    from siyu.org.scope import Scope

    if not Enterprise.objects.filter(code=CODE).exists():
        _seed(args)
    scope = Scope.hq(Enterprise.objects.get(code=CODE).pk)
    path = BENCH_DIR / "dashboards.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)  # a PostgreSQL run creates no SQLite file there first
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    copy = ColumnarCopy(path, threads=2, capture_changes=False)
    built = copy.build()
    end = local_day(now())
    params = {"start": (end - timedelta(days=args.days - 1)).isoformat(), "end": end.isoformat()}
    on_postgres = connection.vendor == "postgresql"
    rows: list[tuple[str, str]] = [("database", url.split("?")[0]), ("range", f"{params['start']} .. {params['end']}"),
                                   ("copy build", f"{built.seconds:.1f} s")]
    figures: dict[str, float] = {"copy_build_s": built.seconds}
    ratios: dict[str, float] = {}
    names = [n for n in args.only.split(",") if n] or queries.names()
    for name in names:
        settings.SIYU_DASHBOARD_CACHE_TTL = 0
        clear_cache()
        recording = Recording(CopyEngine(copy))
        cold = _run(name, recording, scope, params)
        warm = min(_run(name, CopyEngine(copy), scope, params) for _ in range(args.repeat))
        settings.SIYU_DASHBOARD_CACHE_TTL = 600
        _run(name, CopyEngine(copy), scope, params)
        cached = _run(name, CopyEngine(copy), scope, params)
        figures |= {f"dashboard_{name}_cold_s": cold, f"dashboard_{name}_warm_s": warm,
                    f"dashboard_{name}_cached_s": cached}
        line = (f"cold {cold * 1000:8.1f} ms  warm {warm * 1000:8.1f} ms  cached {cached * 1000:6.2f} ms  "
                f"{len(recording.calls)} queries")
        if on_postgres:
            try:
                oltp = _time_oltp(recording.calls)
            except DatabaseError as exc:  # e.g. arg_max over JSON: sqlglot has no PostgreSQL spelling for it
                line += f"  OLTP: not translatable to PostgreSQL ({str(exc).splitlines()[0][:80]})"
            else:
                ratios[f"dashboard_{name}_vs_oltp"] = oltp / warm if warm else float("nan")
                line += f"  OLTP {oltp:7.2f} s ({oltp / warm:,.0f}x)"
        else:
            line += "  OLTP: PostgreSQL only (sqlglot cannot write these queries for SQLite)"
        line += f"  peak {peak_rss_mb():,.0f} MiB"
        rows.append((f"dashboard {name}", line))
        print(f"  {name}: {line}", flush=True)
    figures["peak_mb"] = peak_rss_mb()
    rows.append(("peak memory", f"{figures['peak_mb']:,.0f} MiB"))
    copy.close()
    report("dashboards", rows, figures, ratios)


if __name__ == "__main__":
    main()
