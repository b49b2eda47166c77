"""Reconciling a large trade bill: a generated ALL bill of --rows rows (payments, about 5% refunds, awkward product
names among them) against as many payments and refunds in the database, in one run:

  (a) baseline: bare `csv.reader` over the same file, backticks stripped (no checks, no amounts, no database);
  (b) the parser alone: `TradeBillReader` (every value checked, yuan to fen exactly, the summary block added up);
  (c) the whole reconciliation: `reconcile_local_bill` (SHA1 of the file, parse, bulk-load into the staging table,
      the set-based matching against payments and refunds, the run's counts), with a few hundred planted
      differences of each kind, whose counts are checked against what was planted.

    siyu bench reconcile --rows 1000000
    python bench/reconcile.py --rows 200000 [--database-url postgres://.../siyu_bench_reconcile]

Targets (TARGETS.md): a 1,000,000-row bill parsed and matched in under 60 s and under 1 GB.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DIR, fresh_database, peak_rss_mb, report, setup_django  # noqa: E402

MCH = "1900009999"
APP = "wxbenchrecon0001"
DAY = date(2026, 11, 20)
NAMES = ["抽纸 6包", '纸巾, 3层 "柔软"', "保温杯\\", "不粘锅 28cm", "洗衣液,2kg"]
HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
          "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
          "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注").split(",")
SUMMARY = ("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,"
           "手续费总金额,订单总金额,申请退款总金额").split(",")


def _yuan(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _fee(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}000"


def amount(i: int) -> int:
    return 100 + (i * 7919) % 50_000


def plan(rows: int) -> dict[str, Any]:
    """Which rows carry a planted difference (every kind a few hundred times, at most 1% of the rows)."""
    stride = 20 * max(rows // 6000, 1)  # a multiple of 20 plus an odd offset: never a payment with a refund
    return {"missing_ours": set(range(3, rows, stride)), "amount": set(range(5, rows, stride)),
            "status": set(range(7, rows, stride)), "missing_theirs": rows // stride + 1}


def write_bill(path: Path, rows: int, planned: dict[str, Any]) -> tuple[int, int]:
    """The bill on disk; returns (payment rows, refund rows). Every 20th payment has a partial refund row."""
    totals = [0, 0, 0, 0]  # settle, refund, fee, asked
    count = refunds = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER)
        start = datetime.combine(DAY, datetime.min.time())
        i = 0
        while count < rows:
            when = (start + timedelta(seconds=(i * 86_399) // max(rows, 1))).strftime("%Y-%m-%d %H:%M:%S")
            fen = amount(i)
            fee = (fen * 6 + 500) // 1000
            writer.writerow(["`" + v for v in (
                when, APP, MCH, "0", "", f"42{i:026d}", f"SYB{i:012d}", "o_bench", "JSAPI", "SUCCESS", "OTHERS",
                "CNY", _yuan(fen), "0.00", "0", "0", "0.00", "0.00", "", "", NAMES[i % len(NAMES)], "",
                _fee(fee), "0.60%", _yuan(fen), "0.00", "")])
            totals[0] += fen
            totals[2] += fee
            count += 1
            if i % 20 == 0:  # (the last payment's refund too, so both sides agree at the end)
                back = fen // 2
                rfee = -((back * 6 + 500) // 1000)
                writer.writerow(["`" + v for v in (
                    when, APP, MCH, "0", "", f"42{i:026d}", f"SYB{i:012d}", "o_bench", "JSAPI", "REFUND", "OTHERS",
                    "CNY", "0.00", "0.00", f"50{i:026d}", f"RB{i:012d}", _yuan(back), "0.00", "ORIGINAL", "SUCCESS",
                    NAMES[i % len(NAMES)], "", _fee(rfee), "0.60%", "0.00", _yuan(back), "")])
                totals[1] += back
                totals[2] += rfee
                totals[3] += back
                count += 1
                refunds += 1
            i += 1
        writer.writerow(SUMMARY)
        writer.writerow(["`" + v for v in (str(count), _yuan(totals[0]), _yuan(totals[1]), "0.00", _fee(totals[2]),
                                           _yuan(totals[0]), _yuan(totals[3]))])
    return count - refunds, refunds


def load_ours(merchant_id: int, enterprise_id: int, payments: int, planned: dict[str, Any]) -> None:
    """Our side, written with plain multi-row inserts (the set-up is not what is measured)."""
    from django.db import connection, transaction

    from siyu.core.timeutil import SHANGHAI
    from siyu.finance.models import Payment, Refund

    pay, ref = Payment._meta.db_table, Refund._meta.db_table
    start = datetime.combine(DAY, datetime.min.time(), tzinfo=SHANGHAI)
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(start + timedelta(days=1))
    cols = ("enterprise_id, merchant_id, order_id, stage, out_trade_no, amount_fen, currency, openid, status, "
            "prepay_id, transaction_id, paid_fen, paid_at, flag_code, flag_detail, created_at, updated_at")
    sql = f"INSERT INTO {pay} ({cols}) VALUES ({', '.join(['%s'] * 17)})"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        batch = []
        extra = [(f"SYX{j:012d}", j) for j in range(planned["missing_theirs"])]  # not in the bill
        rows = [(f"SYB{i:012d}", i) for i in range(payments) if i not in planned["missing_ours"]]
        for no, i in rows + extra:
            planted = no.startswith("SYB")
            fen = amount(i) + (1 if planted and i in planned["amount"] else 0)
            status = "prepaid" if planted and i in planned["status"] else "paid"
            paid_at = adapt(start + timedelta(seconds=(i * 86_399) // max(payments, 1) % 86_399))
            order_id = i + 1 if planted else payments + i + 1
            batch.append((enterprise_id, merchant_id, order_id, "full", no, fen, "CNY", "o_bench", status, "",
                          f"42{i:026d}", fen if status == "paid" else 0, paid_at if status == "paid" else None,
                          "", "", now, now))
            if len(batch) >= 10_000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
        cursor.execute(
            f"INSERT INTO {ref} (enterprise_id, payment_id, after_sale_id, out_refund_no, amount_fen, currency, "  # noqa: S608
            "status, refund_id, detail, created_at, succeeded_at) "
            f"SELECT enterprise_id, id, order_id, 'RB' || SUBSTR(out_trade_no, 4), amount_fen / 2, currency, "
            f"'succeeded', '', '', paid_at, paid_at FROM {pay} "
            f"WHERE merchant_id = %s AND (order_id - 1) %% 20 = 0 AND out_trade_no LIKE 'SYB%%' AND status = 'paid'",
            [merchant_id])


def bare_csv(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    with path.open(encoding="utf-8", newline="") as f:
        for fields in csv.reader(f):
            fields = [v[1:] for v in fields]
            n += 1
    return n, time.perf_counter() - start


def parser_only(path: Path) -> tuple[int, float]:
    from siyu.channels.wechatpay.bill import TradeBillReader

    start = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as f:
        n = sum(1 for _ in TradeBillReader(f, mch_id=MCH))
    return n, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    fresh_database("reconcile", args.database_url or None)
    setup_django()

    from siyu.finance.models import PayMerchant, ReconciliationDifference
    from siyu.finance.reconciliation import services
    from siyu.org.models import Enterprise

    enterprise = Enterprise.objects.create(name="Bench", code="bench-reconcile")
    merchant = PayMerchant.objects.create(enterprise=enterprise, name="bench", mch_id=MCH, app_id=APP,
                                          merchant_serial_no="BENCH", platform_key_id="PUB_KEY_ID_0",
                                          platform_public_key="-", base_url="http://127.0.0.1:9")
    planned = plan(args.rows)
    path = BENCH_DIR / "reconcile-bill.csv"
    t0 = time.perf_counter()
    payment_rows, refund_rows = write_bill(path, args.rows, planned)
    load_ours(merchant.pk, enterprise.pk, payment_rows, planned)
    setup_s = time.perf_counter() - t0
    size_mb = path.stat().st_size / 1024**2
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest() if size_mb < 64 else _sha1(path)  # noqa: S324

    bare_rows, bare_s = bare_csv(path)
    parsed_rows, parse_s = parser_only(path)
    with path.open("rb") as f:
        start = time.perf_counter()
        run = services.reconcile_local_bill(merchant_id=merchant.pk, bill_date=DAY, file=f, sha1=sha1)
        full_s = time.perf_counter() - start
    rows = payment_rows + refund_rows
    expected = {"missing_ours": len([i for i in planned["missing_ours"] if i < payment_rows]),
                "amount_mismatch": len([i for i in planned["amount"] if i < payment_rows]),
                "status_mismatch": len([i for i in planned["status"] if i < payment_rows])}
    found = {k: ReconciliationDifference.objects.filter(run=run, kind=k, subject="P").count() for k in expected}
    ok = found == expected and run.missing_theirs_count == planned["missing_theirs"] and parsed_rows == rows \
        and ReconciliationDifference.objects.filter(run=run, subject="R").count() == 0
    report("reconcile", [
        ("bill rows (payments / refunds)", f"{rows:,} ({payment_rows:,} / {refund_rows:,}), {size_mb:,.1f} MB"),
        ("set-up (bill file + our rows)", f"{setup_s:,.1f} s"),
        ("bare csv.reader", f"{bare_rows / bare_s:,.0f} rows/s ({bare_s:,.2f} s)"),
        ("parser (checked, exact fen)", f"{parsed_rows / parse_s:,.0f} rows/s ({parse_s:,.2f} s)"),
        ("reconcile (hash+parse+load+match)", f"{rows / full_s:,.0f} rows/s ({full_s:,.2f} s)"),
        ("differences found", f"{found}, missing in the bill {run.missing_theirs_count}, matched "
                              f"{run.matched_count:,}"),
        ("planted differences found", "yes" if ok else f"NO (planted {expected})"),
        ("peak memory", f"{peak_rss_mb():,.0f} MB"),
    ], {"rows": rows, "reconcile_s": full_s, "reconcile_rows_per_s": rows / full_s,
        "parse_rows_per_s": parsed_rows / parse_s, "bare_csv_rows_per_s": bare_rows / bare_s,
        "peak_rss_mb": peak_rss_mb(), "bill_mb": size_mb},
        {"reconcile_vs_bare_csv": (rows / full_s) / (bare_rows / bare_s),
         "parse_vs_bare_csv": (parsed_rows / parse_s) / (bare_rows / bare_s)})
    path.unlink(missing_ok=True)
    if not ok:
        raise SystemExit("the planted differences were not all found")


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()  # noqa: S324
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


if __name__ == "__main__":
    main()
