"""Time and peak memory of generating a demo enterprise (tier A: --customers 1000000 --events 20000000).

    siyu bench seed --customers 1000000 --events 20000000
    python bench/seed.py --customers 200000 --events 4000000 [--database-url postgres://.../siyu_bench_seed]

Targets (TARGETS.md): tier A < 5 min, tier B < 60 min, peak memory < 4 GB. The ratios are against those budgets
(below 1.0 is within them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import check_disk, fresh_database, peak_rss_mb, report, setup_django  # noqa: E402

TIER_A_CUSTOMERS = 1_000_000
BUDGET_S = {"tier_a": 300.0, "tier_b": 3600.0}
MEMORY_BUDGET_MB = 4096.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=None, help="default: 20 per customer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/seed.sqlite3")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--force", action="store_true", help="start even when the disk looks too small")
    args = parser.parse_args(argv)
    events = 20 * args.customers if args.events is None else args.events
    if not args.database_url:
        check_disk(args.customers, events, copy=False, force=args.force)
    url = fresh_database("seed", args.database_url)
    setup_django()
    from siyu.core.seed.progress import Progress
    from siyu.seed.runner import seed_enterprise

    progress = Progress(write=(lambda line: None) if args.quiet else (lambda line: print(line, flush=True)), every=5.0)
    started, cpu_started = time.monotonic(), time.process_time()
    result = seed_enterprise(customers=args.customers, events=events, seed=args.seed, code="bench",
                             progress=progress)
    seconds = time.monotonic() - started
    cpu = time.process_time() - cpu_started
    rss = peak_rss_mb()
    tier = "tier_a" if args.customers <= TIER_A_CUSTOMERS else "tier_b"
    # Scale the budget with the size asked for, so a smaller run says how it would extrapolate (linearly).
    budget = BUDGET_S[tier] * (args.customers / (TIER_A_CUSTOMERS if tier == "tier_a" else 10 * TIER_A_CUSTOMERS))
    rows_total = result.customers + result.identities + result.relationships + result.customer_tags + result.events
    rows = [
        ("database", url.split("?")[0]),
        ("customers / events", f"{result.customers:,} / {result.events:,}"),
        ("all rows", f"{rows_total:,}"),
        ("time", f"{seconds:.1f} s (this process's CPU: {cpu:.1f} s; the rest is waiting on disk or other processes)"),
        ("rows per second", f"{rows_total / seconds:,.0f}"),
        *((f"{label} rows/s", f"{rate:,.0f}") for label, rate in result.rates.items()),
        ("peak memory", f"{rss:,.0f} MiB"),
        (f"{tier} budget for this size", f"{budget:.1f} s (linear share of {BUDGET_S[tier]:.0f} s)"),
    ]
    figures = {
        "customers": float(result.customers),
        "events": float(result.events),
        "seed_s": seconds,
        "cpu_s": cpu,
        "rows_per_s": rows_total / seconds,
        "events_per_s": result.rates.get("events", 0.0),
        "peak_rss_mb": rss,
    }
    ratios = {
        f"seed_s_vs_{tier}_budget_s": seconds / budget,
        "peak_rss_mb_vs_budget_mb": rss / MEMORY_BUDGET_MB,
    }
    report("seed", rows, figures, ratios)


if __name__ == "__main__":
    main()
