"""The nightly points jobs over many customers: unlocking pending lots whose return window has passed, and expiring
lots past their date, each set-based (a few statements per enterprise, whatever the number of lots).

Set-up (not measured): --customers customers, each with three lots: one pending whose window has passed (unlocked),
one available and past its expiry, partly spent (expired), one available and valid (left alone). Then:

  (a) baseline: a bare UPDATE touching the same expiring rows (`remaining = remaining`), the floor for any job that
      must visit them;
  (b) `unlock_all`: claim the pending lots, post their value in one entry;
  (c) `expire_all`: claim the expiring lots, INSERT … SELECT an operation and an allocation per lot, empty them,
      post one entry; and a second run, which must find nothing.

Each job's time, its Python heap peak (tracemalloc) and the process's peak RSS are printed; the results are checked
(lots claimed, the liability equal to the lots' value) so a fast wrong answer cannot pass.

    siyu bench points --customers 1000000
    python bench/points.py --customers 100000 [--database-url postgres://.../siyu_bench_points]

Target (TARGETS.md): under 60 s each at tier A (1,000,000 customers).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, peak_rss_mb, report, setup_django  # noqa: E402

BATCH = 20_000


def build(customers: int, now: datetime) -> int:
    """The enterprise, its customers and three lots each, bulk-inserted in batches."""
    from django.db import transaction
    from django.db.models import F, Sum

    from siyu.customers.models import Customer
    from siyu.loyalty.models import LotSource, LotStatus, PointsLot, PointsProgram
    from siyu.org.models import Enterprise

    enterprise = Enterprise.objects.create(name="积分压测")
    PointsProgram.objects.create(enterprise=enterprise, points_per_yuan=1, fen_per_point=1, return_window_days=7,
                                 expiry_days=365)
    made = 0
    while made < customers:
        n = min(BATCH, customers - made)
        with transaction.atomic():
            rows = Customer.objects.bulk_create([Customer(enterprise=enterprise, name=f"c{made + i}", created_at=now)
                                                 for i in range(n)], batch_size=2000)
            lots = []
            for customer in rows:
                i = customer.pk
                lots.append(PointsLot(  # pending, window passed yesterday
                    enterprise=enterprise, customer=customer, source=LotSource.ORDER, key=f"order:{i}", order_id=i,
                    points=100 + i % 50, remaining=100 + i % 50, fen_per_point=1, status=LotStatus.PENDING,
                    earned_at=now - timedelta(days=8), available_at=now - timedelta(days=1),
                    expires_at=now + timedelta(days=364)))
                lots.append(PointsLot(  # available, expired yesterday, partly spent
                    enterprise=enterprise, customer=customer, source=LotSource.ADJUSTMENT, key=f"old:{i}",
                    points=200, remaining=150 + i % 40, fen_per_point=1, status=LotStatus.AVAILABLE,
                    earned_at=now - timedelta(days=400), available_at=now - timedelta(days=366),
                    expires_at=now - timedelta(days=1)))
                lots.append(PointsLot(  # available and valid
                    enterprise=enterprise, customer=customer, source=LotSource.ADJUSTMENT, key=f"new:{i}",
                    points=80, remaining=80, fen_per_point=1, status=LotStatus.AVAILABLE,
                    earned_at=now - timedelta(days=30), available_at=now - timedelta(days=30),
                    expires_at=now + timedelta(days=335)))
            PointsLot.objects.bulk_create(lots, batch_size=3000)
        made += n
    # the seeded available lots as if posted when they were earned, so the books start consistent
    from siyu.finance import ledger
    from siyu.finance.models import Account, EntryKind

    value = PointsLot.objects.filter(enterprise=enterprise, status=LotStatus.AVAILABLE).aggregate(
        v=Sum(F("remaining") * F("fen_per_point")))["v"] or 0
    ledger.post_entry(enterprise_id=enterprise.pk, kind=EntryKind.POINTS, key="bench-seed", currency="CNY",
                      legs=[ledger.Leg(Account.POINTS_EXPENSE, Account.POINTS_LIABILITY, int(value))])
    return int(enterprise.pk)


def timed(job: Callable[[], Any]) -> tuple[Any, float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    result = job()
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, elapsed, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    fresh_database("points", args.database_url or None)
    setup_django()

    from django.db import connection
    from django.db.models import F, Sum
    from django.utils import timezone

    from siyu.finance import queries as finance_queries
    from siyu.finance.models import Account
    from siyu.loyalty import services
    from siyu.loyalty.models import LotStatus, PointsLot, PointsOperation
    from siyu.org.scope import Scope

    now = timezone.now()
    started = time.perf_counter()
    enterprise_id = build(args.customers, now)
    setup_s = time.perf_counter() - started
    expiring = PointsLot.objects.filter(status=LotStatus.AVAILABLE, expires_at__lte=now).aggregate(
        v=Sum("remaining"))

    lots = connection.ops.quote_name(PointsLot._meta.db_table)

    def bare() -> int:
        with connection.cursor() as cursor:
            sql = f"UPDATE {lots} SET remaining = remaining WHERE enterprise_id = %s AND status = %s "  # noqa: S608
            cursor.execute(sql + "AND expires_at <= %s AND remaining > 0", [enterprise_id, LotStatus.AVAILABLE, now])
            return int(cursor.rowcount)

    touched, bare_s, bare_mb = timed(bare)
    unlocked, unlock_s, unlock_mb = timed(lambda: services.unlock_all(now=now))
    unlock_rss = peak_rss_mb()
    expired, expire_s, expire_mb = timed(lambda: services.expire_all(now=now))
    expire_rss = peak_rss_mb()
    again, again_s, _again_mb = timed(lambda: services.expire_all(now=now))

    # the answers, checked
    assert touched == args.customers and unlocked == args.customers and expired == args.customers, (
        touched, unlocked, expired)
    assert again == 0
    assert PointsOperation.objects.filter(kind="expire").aggregate(p=Sum("points"))["p"] == expiring["v"]
    left = PointsLot.objects.filter(status=LotStatus.AVAILABLE).aggregate(
        v=Sum(F("remaining") * F("fen_per_point")))["v"]
    liability = finance_queries.balance(Scope.hq(enterprise_id), Account.POINTS_LIABILITY, currency="CNY")
    assert liability == left, (liability, left)
    rows = [
        ("database", connection.vendor),
        ("customers", f"{args.customers:,}"),
        ("lots", f"{3 * args.customers:,} (set-up {setup_s:.1f} s)"),
        ("bare UPDATE of the expiring lots", f"{bare_s:.2f} s"),
        ("unlock_all", f"{unlock_s:.2f} s, {unlocked:,} lots, heap peak {unlock_mb:.1f} MiB, "
                       f"process RSS {unlock_rss:.0f} MiB"),
        ("expire_all", f"{expire_s:.2f} s, {expired:,} lots, heap peak {expire_mb:.1f} MiB, "
                       f"process RSS {expire_rss:.0f} MiB"),
        ("expire_all again", f"{again_s:.2f} s, {again} lots"),
        ("expiry vs bare UPDATE", f"{expire_s / max(bare_s, 1e-9):.1f}x"),
    ]
    report("points", rows, {
        "unlock_s": unlock_s, "expire_s": expire_s, "expire_again_s": again_s, "bare_update_s": bare_s,
        "unlock_heap_mb": unlock_mb, "expire_heap_mb": expire_mb, "peak_rss_mb": expire_rss,
    }, {"expire_s_vs_bare_update": expire_s / max(bare_s, 1e-9),
        "unlock_s_vs_bare_update": unlock_s / max(bare_s, 1e-9)})


if __name__ == "__main__":
    main()
