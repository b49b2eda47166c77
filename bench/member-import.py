"""Member import: a member sheet of N rows (CSV, as a POS member system exports it) imported through the product's
member import, against a bare bulk insert of the same rows in the same run:

  (a) baseline: csv.reader over the file and the driver's bulk path (COPY on PostgreSQL, executemany on SQLite) of
      Customer + phone Identity rows, 5,000 per transaction (no ORM, no validation, no identity matching, no
      profile, tags or events);
  (b) the import: `member_import.upload_member_file` (hash, sniff, encoding), then `run_member_import` (every row
      validated, identities matched set-based, new customers and identities, imported profiles, tags,
      `customer_created` and `member_imported` events, checkpoint per batch). 2% of the sheet's phones already
      belong to customers (they are merged into, not created), 0.5% of the rows are bad.

Each phase runs in its own child process, so its peak memory is its own (bounded: the sheet is streamed).

    siyu bench member-import --rows 1000000
    python bench/member-import.py --rows 100000 [--database-url postgres://.../siyu_bench_members]

Target (TARGETS.md): 1,000,000 rows < 3 min on 2 cores, memory bounded.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DIR, fresh_database, report, setup_django  # noqa: E402

HEADER = ["手机号", "姓名", "性别", "生日", "门店编码", "积分", "会员等级", "标签", "unionid", "首次消费日期",
          "最近消费日期", "累计消费金额"]
TIERS = ("普卡", "银卡", "金卡", "钻石卡")
TAGS = ("老客", "高价值", "母婴", "美妆", "")
STORES = 20


def phone_of(i: int) -> str:
    return f"13{i % 10}{i:08d}"[-11:]


def write_sheet(rows: int) -> Path:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"members-{rows}.csv"
    if path.exists():
        return path
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            phone = phone_of(i)
            if i % 200 == 7:
                phone = "1.38001E+10"  # 0.5% bad: Excel lost the digits
            writer.writerow([
                phone, f"会员{i}", "女" if i % 3 else "男", f"{1960 + i % 45}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                f"s{i % STORES:02d}", i % 5000, TIERS[i % 4], TAGS[i % 5], f"o6_{i:012d}" if i % 4 == 0 else "",
                f"20{10 + i % 10}-03-01", f"2024-{1 + i % 12:02d}-15", f"{i % 100000}.{i % 100:02d}",
            ])
    return path


def _enterprise(name: str) -> tuple[int, list[int]]:
    from siyu.org.models import Enterprise, Region, Store

    ent = Enterprise.objects.create(name=name, code=name)
    region = Region.objects.create(enterprise=ent, name="全国", code="all")
    stores = Store.objects.bulk_create([Store(enterprise=ent, region=region, name=f"门店{i}", code=f"s{i:02d}")
                                        for i in range(STORES)])
    return ent.pk, [s.pk for s in stores]


def baseline(path: Path, conn: Any) -> None:
    """A bare bulk insert of the same rows into the same tables: csv.reader, then the driver's own bulk path (COPY on
    PostgreSQL, one prepared INSERT run by executemany on SQLite) for Customer and its phone Identity, 5,000 rows per
    transaction. No ORM objects, no validation, no matching: the floor the import is measured against."""
    setup_django(migrate=False)
    from django.db import connection, transaction
    from django.utils import timezone

    enterprise_id, store_ids = _enterprise("baseline")
    started = time.perf_counter()
    when = connection.ops.adapt_datetimefield_value(timezone.now())
    pg = connection.vendor == "postgresql"
    customer_cols = ("id, enterprise_id, name, gender, phone, region, created_source, home_store_id, created_at, "
                     "updated_at")
    identity_cols = "enterprise_id, customer_id, kind, value, account, created_at"
    rows = 0
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch: list[list[str]] = []

        def flush() -> None:
            with transaction.atomic(), connection.cursor() as wrapper:
                cursor = wrapper.cursor  # the DB-API cursor underneath Django's
                if pg:
                    cursor.execute("SELECT nextval(pg_get_serial_sequence('customers_customer', 'id')) "
                                   "FROM generate_series(1, %s)", [len(batch)])
                    ids = [r[0] for r in cursor.fetchall()]
                else:
                    cursor.execute("SELECT COALESCE(MAX(id), 0) FROM customers_customer")
                    top = int(cursor.fetchone()[0])
                    ids = list(range(top + 1, top + 1 + len(batch)))
                customers = [(cid, enterprise_id, r[1], "unknown", r[0][:20], "", "import", store_ids[int(r[4][1:])],
                              when, when) for cid, r in zip(ids, batch, strict=True)]
                identities = [(enterprise_id, c[0], "phone", c[4], "", when) for c in customers
                              if c[4].isdigit()]  # the sheet's spoilt phones (all alike) would clash
                if pg:
                    with cursor.copy(f"COPY customers_customer ({customer_cols}) FROM STDIN") as copy:
                        for customer in customers:
                            copy.write_row(customer)
                    with cursor.copy(f"COPY customers_identity ({identity_cols}) FROM STDIN") as copy:
                        for identity in identities:
                            copy.write_row(identity)
                else:
                    cursor.executemany(f"INSERT INTO customers_customer ({customer_cols}) "  # noqa: S608
                                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", customers)
                    cursor.executemany(f"INSERT INTO customers_identity ({identity_cols}) "  # noqa: S608
                                       "VALUES (?, ?, ?, ?, ?, ?)", identities)

        for row in reader:
            batch.append(row)
            rows += 1
            if len(batch) == 5000:
                flush()
                batch = []
        if batch:
            flush()
    conn.send({"rows": rows, "seconds": time.perf_counter() - started,
               "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def product(path: Path, existing_every: int, conn: Any) -> None:
    setup_django(migrate=False)
    from siyu.customers import member_import
    from siyu.customers.models import Customer, Identity, MemberImport
    from siyu.org.scope import Scope

    enterprise_id, _stores = _enterprise("import")
    # customers the brand already has (from a channel): every Nth phone of the sheet
    known = [Customer(enterprise_id=enterprise_id, name="", phone=phone_of(i), created_source="wecom",
                      created_at=time_now()) for i in range(0, rows_in(path), existing_every) if i % 200 != 7]
    Customer.objects.bulk_create(known, batch_size=5000)
    Identity.objects.bulk_create([Identity(enterprise_id=enterprise_id, customer_id=c.pk, kind="phone",
                                           value=c.phone) for c in known], batch_size=5000)
    scope = Scope.hq(enterprise_id, label="bench")
    started = time.perf_counter()
    with path.open("rb") as fh:
        imp = member_import.upload_member_file(scope=scope, stream=fh, filename=path.name)
    uploaded = time.perf_counter() - started
    member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)
    member_import.run_member_import(import_id=imp.pk)
    seconds = time.perf_counter() - started
    done = MemberImport.objects.get(pk=imp.pk)
    conn.send({"rows": done.processed_rows, "seconds": seconds, "upload_s": uploaded,
               "created": done.created_customers, "merged": done.merged_customers, "errors": done.errors,
               "known": len(known), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def time_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def rows_in(path: Path) -> int:
    return int(path.stem.split("-")[1])


def _child(target: Any, *args: Any) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(target=target, args=(*args, child))
    proc.start()
    child.close()  # so a child that dies ends recv() instead of leaving it waiting
    try:
        result: dict[str, Any] = parent.recv()
    except EOFError:
        result = {}
    proc.join()
    if proc.exitcode or not result:
        raise SystemExit(f"{target.__name__} exited with {proc.exitcode}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing-every", type=int, default=50, help="every Nth phone is an existing customer")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    sheet = write_sheet(args.rows)
    url = fresh_database("member-import", args.database_url)
    setup_django()
    from django.db import connections

    connections.close_all()
    base = _child(baseline, sheet)
    mine = _child(product, sheet, args.existing_every)
    base_rate = base["rows"] / base["seconds"]
    rate = mine["rows"] / mine["seconds"]
    report("member-import", [
        ("database", url.split("://")[0]),
        ("rows", f"{mine['rows']:,} ({sheet.stat().st_size / 1e6:.0f} MB CSV)"),
        ("baseline: bulk insert", f"{base['seconds']:.1f} s, {base_rate:,.0f} rows/s, peak {base['peak_mb']:.0f} MB"),
        ("member import", f"{mine['seconds']:.1f} s, {rate:,.0f} rows/s, peak {mine['peak_mb']:.0f} MB"),
        ("  of which upload", f"{mine['upload_s']:.1f} s (hash, sniff, encoding)"),
        ("  outcome", f"{mine['created']:,} new, {mine['merged']:,} merged (of {mine['known']:,} known), "
                      f"{mine['errors']:,} rows with errors"),
        ("import / baseline", f"{rate / base_rate:.2f}"),
    ], {
        "rows": mine["rows"], "import_s": mine["seconds"], "import_rows_per_s": rate,
        "import_peak_mb": mine["peak_mb"], "baseline_s": base["seconds"], "baseline_rows_per_s": base_rate,
        "baseline_peak_mb": base["peak_mb"],
    }, {"import_rows_per_s_vs_bulk_insert": rate / base_rate})


if __name__ == "__main__":
    main()
