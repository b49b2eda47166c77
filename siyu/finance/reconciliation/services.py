"""Reconciling a merchant's day against the WeChat Pay trade bill.

`reconcile_day`:
1. The run row (one per merchant and day) is claimed (a conditional UPDATE, so two workers never run one day at
   once) and committed.
2. Outside any transaction: the tradebill call (signed, its answer verified by the client), then the download
   streamed into a temporary file with its SHA1 computed on the way; a hash that is not the announced one refuses
   the bill (the run says why) and nothing from it is written. NO_STATEMENT_EXIST is an empty bill.
3. In one transaction: the file is parsed as a stream (siyu.channels.wechatpay.bill) and bulk-loaded into the
   staging table (COPY on PostgreSQL, batched executemany on SQLite); a row that is not what the format says or
   rows that do not add up to the summary block roll everything back. Then the matching is four INSERT ... SELECT
   statements against payments and refunds (bill rows missing on our side, amount and status mismatches, ours
   missing in the bill), resolutions carried over from the previous generation, the previous generation deleted,
   and the run's counts written. Re-running a day replaces its results; it never adds to them.

What the bill says against what we have:
- a payment row (交易状态 SUCCESS) against the Payment of that merchant and out_trade_no: missing on our side when
  there is none; an amount mismatch when 订单金额 or the currency differs (what was paid, else what was asked); a
  status mismatch when ours is not paid (or the bill's row is not SUCCESS while ours is paid);
- a refund row (交易状态 REFUND) against the Refund of that payment and out_refund_no: 申请退款金额 and currency;
  the bill's 退款状态 SUCCESS needs ours succeeded, PROCESSING ours processing or succeeded (rows never change
  after issue, so a refund that finished later is fine);
- ours missing in the bill: payments paid (paid_at, the platform's success time) and refunds accepted by the
  platform (created that day, processing or succeeded) in the Shanghai day whose row the bill lacks.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, Any, NoReturn

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_
from django_stubs_ext import StrPromise

from siyu.channels.wechatpay.bill import BillError, BillLine, Summary, TradeBillReader
from siyu.channels.wechatpay.client import BillBadGzip, BillHashMismatch, PayError
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, UpstreamError, ValidationFailed
from siyu.core.timeutil import SHANGHAI, day_bounds, local_day
from siyu.finance import services as payments
from siyu.finance.ledger import require_finance
from siyu.finance.models import (
    Account,
    DifferenceKind,
    EntryKind,
    JournalEntry,
    LedgerTransfer,
    Payment,
    PaymentStatus,
    PayMerchant,
    ReconciliationBillRow,
    ReconciliationDifference,
    ReconciliationRun,
    ReconciliationStatus,
    Refund,
    RefundStatus,
)
from siyu.orders.models import Order
from siyu.org.scope import Scope

BATCH = 10_000
STALE_RUN = timedelta(minutes=30)
BILL_READY_HOUR = 10  # the platform's bills are ready at 09:00 the next day; fetch after 10:00
STAGING_COLUMNS = ("run_id", *BillLine._fields)  # a bill line is a staging row after its run id


class BillRefused(UpstreamError):
    """The platform's bill could not be believed (hash, format, summary): nothing from it was written."""

    def __init__(self, code: str, message: str | StrPromise, *, line: int = 0) -> None:
        super().__init__(message, code=code, field="bill")
        self.line = line


# ---------------------------------------------------------------------------------------------------------------
# The run row


def _run_row(merchant: PayMerchant, bill_date: date) -> ReconciliationRun:
    run = ReconciliationRun.objects.filter(merchant=merchant, bill_date=bill_date).first()
    if run is not None:
        return run
    try:
        with transaction.atomic():
            return ReconciliationRun.objects.create(enterprise_id=merchant.enterprise_id, merchant=merchant,
                                                    bill_date=bill_date, status=ReconciliationStatus.FAILED)
    except IntegrityError:
        return ReconciliationRun.objects.get(merchant=merchant, bill_date=bill_date)


def _claim(run: ReconciliationRun, now: datetime) -> None:
    free = ~Q(status=ReconciliationStatus.RUNNING) | Q(started_at__lt=now - STALE_RUN) | Q(started_at=None)
    claimed = ReconciliationRun.objects.filter(free, pk=run.pk).update(
        status=ReconciliationStatus.RUNNING, started_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        raise Conflict(_("this day is being reconciled right now"), field="bill_date", code="running")


def _finish(run: ReconciliationRun, status: str, code: str = "", detail: str = "") -> None:
    ReconciliationRun.objects.filter(pk=run.pk).update(status=status, error_code=code[:40], error_detail=detail[:255],
                                                       finished_at=timezone.now())


# ---------------------------------------------------------------------------------------------------------------
# Staging


def _staging_rows(run_id: int, reader: TradeBillReader) -> Iterator[tuple[Any, ...]]:
    head = (run_id,)
    for r in reader:
        yield head + r


def _load(run_id: int, rows: Iterator[tuple[Any, ...]]) -> None:
    table = ReconciliationBillRow._meta.db_table
    columns = ", ".join(STAGING_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(STAGING_COLUMNS))})"  # noqa: S608
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


# ---------------------------------------------------------------------------------------------------------------
# Matching (set-based)


_DIFF_COLUMNS = ("enterprise_id, run_id, generation, kind, subject, out_trade_no, out_refund_no, transaction_id, "
                 "payment_id, refund_id, bill_line, bill_fen, our_fen, bill_currency, our_currency, bill_status, "
                 "our_status, bill_time, product, resolution")


def _tables() -> dict[str, str]:
    return {"diff": ReconciliationDifference._meta.db_table, "stage": ReconciliationBillRow._meta.db_table,
            "pay": Payment._meta.db_table, "refund": Refund._meta.db_table}


def _payment_rows_sql(t: dict[str, str]) -> str:
    paid, our_fen = "'" + PaymentStatus.PAID + "'", f"CASE WHEN p.status = '{PaymentStatus.PAID}' " \
                                                    "THEN p.paid_fen ELSE p.amount_fen END"
    return f"""
        INSERT INTO {t['diff']} ({_DIFF_COLUMNS})
        SELECT %s, %s, %s, x.kind, 'P', x.out_trade_no, '', x.transaction_id, x.payment_id, NULL, x.line,
               x.order_fen, x.our_fen, x.currency, COALESCE(x.our_currency, ''), x.trade_state,
               COALESCE(x.our_status, ''), x.traded_at,
               x.product, ''
        FROM (
            SELECT s.*, p.id AS payment_id, {our_fen} AS our_fen, p.currency AS our_currency,
                   p.status AS our_status,
                   CASE
                     WHEN p.id IS NULL THEN '{DifferenceKind.MISSING_OURS}'
                     WHEN s.order_fen <> {our_fen} OR s.currency <> p.currency THEN '{DifferenceKind.AMOUNT_MISMATCH}'
                     WHEN (s.trade_state = 'SUCCESS') <> (p.status = {paid}) THEN '{DifferenceKind.STATUS_MISMATCH}'
                   END AS kind
            FROM {t['stage']} s
            LEFT JOIN {t['pay']} p ON p.merchant_id = %s AND p.out_trade_no = s.out_trade_no
            WHERE s.run_id = %s AND s.subject = 'P'
        ) x
        WHERE x.kind IS NOT NULL
    """  # noqa: S608 - table names from the models, values as parameters


def _refund_rows_sql(t: dict[str, str]) -> str:
    ok = f"'{RefundStatus.SUCCEEDED}'"
    taken = f"('{RefundStatus.PROCESSING}', '{RefundStatus.SUCCEEDED}')"
    return f"""
        INSERT INTO {t['diff']} ({_DIFF_COLUMNS})
        SELECT %s, %s, %s, x.kind, 'R', x.out_trade_no, x.out_refund_no, x.transaction_id, x.payment_id,
               x.our_refund_id, x.line, x.asked_fen, x.our_fen, x.currency, COALESCE(x.our_currency, ''),
               x.refund_status, COALESCE(x.our_status, ''), x.traded_at, x.product, ''
        FROM (
            SELECT s.*, p.id AS payment_id, r.id AS our_refund_id, r.amount_fen AS our_fen,
                   r.currency AS our_currency, r.status AS our_status,
                   CASE
                     WHEN r.id IS NULL THEN '{DifferenceKind.MISSING_OURS}'
                     WHEN s.asked_fen <> r.amount_fen OR s.currency <> r.currency
                       THEN '{DifferenceKind.AMOUNT_MISMATCH}'
                     WHEN s.refund_status = 'SUCCESS' AND r.status <> {ok} THEN '{DifferenceKind.STATUS_MISMATCH}'
                     WHEN s.refund_status = 'PROCESSING' AND r.status NOT IN {taken}
                       THEN '{DifferenceKind.STATUS_MISMATCH}'
                     WHEN s.refund_status NOT IN ('SUCCESS', 'PROCESSING') AND r.status = {ok}
                       THEN '{DifferenceKind.STATUS_MISMATCH}'
                   END AS kind
            FROM {t['stage']} s
            LEFT JOIN {t['pay']} p ON p.merchant_id = %s AND p.out_trade_no = s.out_trade_no
            LEFT JOIN {t['refund']} r ON r.payment_id = p.id AND r.out_refund_no = s.out_refund_no
            WHERE s.run_id = %s AND s.subject = 'R'
        ) x
        WHERE x.kind IS NOT NULL
    """  # noqa: S608


def _missing_payments_sql(t: dict[str, str]) -> str:
    return f"""
        INSERT INTO {t['diff']} ({_DIFF_COLUMNS})
        SELECT %s, %s, %s, '{DifferenceKind.MISSING_THEIRS}', 'P', p.out_trade_no, '', p.transaction_id, p.id,
               NULL, NULL, NULL, p.paid_fen, '', p.currency, '', p.status, '', '', ''
        FROM {t['pay']} p
        WHERE p.merchant_id = %s AND p.status = '{PaymentStatus.PAID}' AND p.paid_at >= %s AND p.paid_at < %s
          AND NOT EXISTS (SELECT 1 FROM {t['stage']} s
                          WHERE s.run_id = %s AND s.out_trade_no = p.out_trade_no AND s.out_refund_no = '')
    """  # noqa: S608


def _missing_refunds_sql(t: dict[str, str]) -> str:
    return f"""
        INSERT INTO {t['diff']} ({_DIFF_COLUMNS})
        SELECT %s, %s, %s, '{DifferenceKind.MISSING_THEIRS}', 'R', p.out_trade_no, r.out_refund_no,
               p.transaction_id, p.id, r.id, NULL, NULL, r.amount_fen, '', r.currency, '', r.status, '', '', ''
        FROM {t['refund']} r JOIN {t['pay']} p ON p.id = r.payment_id
        WHERE p.merchant_id = %s AND r.status IN ('{RefundStatus.PROCESSING}', '{RefundStatus.SUCCEEDED}')
          AND r.created_at >= %s AND r.created_at < %s
          AND NOT EXISTS (SELECT 1 FROM {t['stage']} s
                          WHERE s.run_id = %s AND s.out_trade_no = p.out_trade_no
                            AND s.out_refund_no = r.out_refund_no)
    """  # noqa: S608


def _carry_over_sql(t: dict[str, str]) -> str:
    """The same difference (kind, rows, amounts, statuses) resolved in the previous generation stays resolved."""
    d = t["diff"]
    same = (f"o.run_id = {d}.run_id AND o.generation = %s AND o.resolved_at IS NOT NULL AND o.kind = {d}.kind "
            f"AND o.subject = {d}.subject AND o.out_trade_no = {d}.out_trade_no "
            f"AND o.out_refund_no = {d}.out_refund_no AND COALESCE(o.bill_fen, -1) = COALESCE({d}.bill_fen, -1) "
            f"AND COALESCE(o.our_fen, -1) = COALESCE({d}.our_fen, -1) AND o.bill_status = {d}.bill_status "
            f"AND o.our_status = {d}.our_status")
    pick = f"SELECT {{col}} FROM {d} o WHERE {same} ORDER BY o.id LIMIT 1"  # noqa: S608
    return f"""
        UPDATE {d} SET
            resolved_at = ({pick.format(col='o.resolved_at')}),
            resolved_by_id = ({pick.format(col='o.resolved_by_id')}),
            resolution = ({pick.format(col='o.resolution')})
        WHERE run_id = %s AND generation = %s AND EXISTS (SELECT 1 FROM {d} o WHERE {same})
    """  # noqa: S608


# ---------------------------------------------------------------------------------------------------------------
# Fee and voucher postings from the bill (set-based, once per bill row)
#
# Every bill row carries the platform's service fee (手续费, negative on a refund row: the fee given back). A payment
# row whose 应结订单金额 is below its 订单金额 was partly paid by a voucher the platform does not settle (免充值券,
# funded by the merchant); on a refund row the part of 申请退款金额 above 退款金额 goes back to that voucher, not out
# of the merchant's money. Posted, per row, keyed by the row's own identity (the merchant and its out_trade_no or
# out_refund_no), so a re-run, or the next day's bill, never posts a row twice:
#
#     fee            Dr fees                 Cr platform_clearing   (a negative fee: the two swapped)
#     voucher        Dr promotions_expense   Cr platform_clearing   (payment rows: 订单金额 - 应结订单金额)
#     voucher back   Dr platform_clearing    Cr promotions_expense  (refund rows: 申请退款金额 - 退款金额)
#
# so that, with the payments and refunds themselves, platform clearing holds what the platform will settle. The
# fee is in thousandths of a fen in the bill; it is posted rounded to whole fen (half away from zero).

_FEE_FEN = "(CASE WHEN s.fee_milli < 0 THEN -((500 - s.fee_milli) / 1000) ELSE (s.fee_milli + 500) / 1000 END)"
_VOUCHER_FEN = "(CASE WHEN s.subject = 'P' THEN s.order_fen - s.settle_fen ELSE s.refund_fen - s.asked_fen END)"


@dataclass(frozen=True)
class _Posting:
    kind: str
    prefix: str
    amount: str  # SQL over the staging row `s`: positive debits `debit`, negative swaps the two sides
    debit: str
    credit: str
    memo: str


_POSTINGS = (
    _Posting(EntryKind.FEE, "billfee", _FEE_FEN, Account.FEES, Account.PLATFORM_CLEARING, "WeChat Pay fee (bill)"),
    _Posting(EntryKind.COUPON_SUBSIDY, "billvoucher", _VOUCHER_FEN, Account.PROMOTIONS_EXPENSE,
             Account.PLATFORM_CLEARING, "WeChat Pay voucher not settled (bill)"),
)


def _row_key(prefix: str) -> str:
    """The posting key of a staging row `s` (the merchant id is the first parameter)."""
    return (f"'{prefix}:' || s.subject || ':' || %s || ':' || "
            "CASE WHEN s.subject = 'R' THEN s.out_refund_no ELSE s.out_trade_no END")


def _post_bill_costs(run: ReconciliationRun, bill_date: date) -> None:
    """Two statements per posting kind: the entries (a row whose key exists already is skipped), then the one
    transfer of each entry just made (an entry without transfers can only be one made here, in this transaction)."""
    entry, transfer = JournalEntry._meta.db_table, LedgerTransfer._meta.db_table
    stage, pay, order = ReconciliationBillRow._meta.db_table, Payment._meta.db_table, Order._meta.db_table
    at = connection.ops.adapt_datetimefield_value(day_bounds(bill_date)[1] - timedelta(seconds=1))
    merchant = str(run.merchant_id)
    with connection.cursor() as cursor:
        for p in _POSTINGS:
            key = _row_key(p.prefix)
            cursor.execute(f"""
                INSERT INTO {entry} (enterprise_id, kind, idempotency_key, currency, memo, order_id, posted_at)
                SELECT %s, %s, {key}, s.currency, %s, p.order_id, %s
                FROM {stage} s LEFT JOIN {pay} p ON p.merchant_id = %s AND p.out_trade_no = s.out_trade_no
                WHERE s.run_id = %s AND {p.amount} <> 0
                ON CONFLICT DO NOTHING
            """, [run.enterprise_id, p.kind, merchant, p.memo, at, run.merchant_id, run.pk])  # noqa: S608
            cursor.execute(f"""
                INSERT INTO {transfer} (entry_id, enterprise_id, debit_account, credit_account, amount_fen, currency,
                                        store_id, staff_id, posted_at)
                SELECT e.id, e.enterprise_id,
                       CASE WHEN {p.amount} > 0 THEN %s ELSE %s END, CASE WHEN {p.amount} > 0 THEN %s ELSE %s END,
                       ABS({p.amount}), e.currency, o.store_id, NULL, e.posted_at
                FROM {stage} s
                JOIN {entry} e ON e.enterprise_id = %s AND e.idempotency_key = {key}
                LEFT JOIN {order} o ON o.id = e.order_id
                WHERE s.run_id = %s AND {p.amount} <> 0
                  AND NOT EXISTS (SELECT 1 FROM {transfer} t WHERE t.entry_id = e.id)
            """, [p.debit, p.credit, p.credit, p.debit, run.enterprise_id, merchant, run.pk])  # noqa: S608


def _bill_cost_totals(run: ReconciliationRun) -> tuple[int, int, int]:
    """(代金券金额, fee posted, voucher posted) over the run's rows, in fen."""
    stage = ReconciliationBillRow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(SUM(s.coupon_fen), 0), COALESCE(SUM({_FEE_FEN}), 0), "  # noqa: S608
                       f"COALESCE(SUM({_VOUCHER_FEN}), 0) FROM {stage} s WHERE s.run_id = %s", [run.pk])
        coupon, fee, voucher = cursor.fetchone()
    return int(coupon), int(fee), int(voucher)


# ---------------------------------------------------------------------------------------------------------------
# Refunds billed the next day
#
# A refund requested just before midnight on day D may appear only in D+1's bill: D shows it as missing in the bill.
# Whichever of the two days is reconciled second resolves D's difference (the system, audited), since the refund is
# then seen in the next day's bill.


def _billed_next_day(run: ReconciliationRun, generation: int, moment: datetime) -> None:
    """`run` has just loaded its rows and differences (its new `generation`, not yet saved on the row)."""
    days = ReconciliationRun.objects.filter(merchant_id=run.merchant_id, bill_date__in=[
        run.bill_date - timedelta(days=1), run.bill_date + timedelta(days=1)]).exclude(generation=0)
    pairs = [((d.pk, d.generation), (run.bill_date, run.pk)) for d in days if d.bill_date < run.bill_date]
    pairs += [((run.pk, generation), (d.bill_date, d.pk)) for d in days if d.bill_date > run.bill_date]
    for (earlier_id, earlier_generation), (later_date, later_id) in pairs:
        billed = ReconciliationBillRow.objects.filter(run_id=later_id, subject="R",
                                                      out_trade_no=OuterRef("out_trade_no"),
                                                      out_refund_no=OuterRef("out_refund_no"))
        found = ReconciliationDifference.objects.filter(
            run_id=earlier_id, generation=earlier_generation, kind=DifferenceKind.MISSING_THEIRS, subject="R",
            resolved_at=None).filter(Exists(billed))
        rows = list(found.values_list("pk", "out_trade_no", "out_refund_no"))
        if not rows:
            continue
        reason = f"billed the next day ({later_date.isoformat()})"
        ReconciliationDifference.objects.filter(pk__in=[pk for pk, _o, _r in rows], resolved_at=None).update(
            resolved_at=moment, resolved_by=None, resolution=reason)
        for pk, out_trade_no, out_refund_no in rows:
            audit.record(enterprise_id=run.enterprise_id, actor=None, action="reconciliation.resolve",
                         target_type="reconciliation_difference", target_id=pk,
                         summary=audit.text(N_("%(kind)s %(trade_no)s %(refund_no)s: %(reason)s"),
                                            kind=audit.label(DifferenceKind.MISSING_THEIRS.label),
                                            trade_no=out_trade_no, refund_no=out_refund_no, reason=reason[:200]),
                         changes={"reason": reason, "kind": DifferenceKind.MISSING_THEIRS, "run_id": earlier_id,
                                  "billed_in_run_id": later_id})


@dataclass(frozen=True)
class Counts:
    missing_ours: int
    missing_theirs: int
    amount_mismatch: int
    status_mismatch: int


def _match(run: ReconciliationRun, generation: int, bill_date: date) -> Counts:
    t = _tables()
    start, end = (connection.ops.adapt_datetimefield_value(x) for x in day_bounds(bill_date))
    head = [run.enterprise_id, run.pk, generation]
    with connection.cursor() as cursor:
        cursor.execute(_payment_rows_sql(t), [*head, run.merchant_id, run.pk])
        cursor.execute(_refund_rows_sql(t), [*head, run.merchant_id, run.pk])
        cursor.execute(_missing_payments_sql(t), [*head, run.merchant_id, start, end, run.pk])
        cursor.execute(_missing_refunds_sql(t), [*head, run.merchant_id, start, end, run.pk])
        if generation > 1:
            cursor.execute(_carry_over_sql(t), [generation - 1] * 3 + [run.pk, generation, generation - 1])
    ReconciliationDifference.objects.filter(run=run).exclude(generation=generation).delete()
    found = dict(ReconciliationDifference.objects.filter(run=run, generation=generation).values_list("kind")
                 .annotate(n=Count("id")).order_by())
    return Counts(missing_ours=found.get(DifferenceKind.MISSING_OURS, 0),
                  missing_theirs=found.get(DifferenceKind.MISSING_THEIRS, 0),
                  amount_mismatch=found.get(DifferenceKind.AMOUNT_MISMATCH, 0),
                  status_mismatch=found.get(DifferenceKind.STATUS_MISMATCH, 0))


# ---------------------------------------------------------------------------------------------------------------
# A day


def _download(merchant: PayMerchant, bill_date: date, into: IO[bytes]) -> str:
    """The bill's SHA1 (checked), or "" when the platform has no statement for the day (an empty bill)."""
    client = payments.pay_client(merchant)
    try:
        ref = client.trade_bill(bill_date, gzip=True)  # smaller on the wire; the SHA1 is over the decompressed bill
    except PayError as exc:
        if exc.platform_code == "NO_STATEMENT_EXIST":
            return ""
        raise
    return client.download_bill(ref, into).sha1


def _load_and_match(run: ReconciliationRun, file: IO[bytes], sha1: str, size: int) -> ReconciliationRun:
    generation = run.generation + 1
    with transaction.atomic():
        ReconciliationBillRow.objects.filter(run=run).delete()
        summary = Summary()
        payment_rows = refund_rows = 0
        if sha1:
            file.seek(0)
            text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
            reader = TradeBillReader(text, mch_id=run.merchant.mch_id)
            _load(run.pk, _staging_rows(run.pk, reader))
            assert reader.summary is not None
            summary = reader.summary
            payment_rows = ReconciliationBillRow.objects.filter(run=run, subject="P").count()
            refund_rows = summary.count - payment_rows
        counts = _match(run, generation, run.bill_date)
        _post_bill_costs(run, run.bill_date)
        coupon_total, fee_posted, voucher_posted = _bill_cost_totals(run)
        _billed_next_day(run, generation, timezone.now())
        matched = payment_rows + refund_rows - counts.missing_ours - counts.amount_mismatch - counts.status_mismatch
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationStatus.DONE, generation=generation, hash_value=sha1, bill_bytes=size,
            payment_rows=payment_rows, refund_rows=refund_rows, summary_count=summary.count,
            settle_total_fen=summary.settle_fen, refund_total_fen=summary.refund_fen,
            fee_total_milli=summary.fee_milli, order_total_fen=summary.order_fen, matched_count=matched,
            coupon_total_fen=coupon_total, fee_posted_fen=fee_posted, voucher_posted_fen=voucher_posted,
            missing_ours_count=counts.missing_ours, missing_theirs_count=counts.missing_theirs,
            amount_mismatch_count=counts.amount_mismatch, status_mismatch_count=counts.status_mismatch,
            error_code="", error_detail="", finished_at=timezone.now())
    run.refresh_from_db()
    return run


def reconcile_day(*, merchant_id: int, bill_date: date, now: datetime | None = None) -> ReconciliationRun:
    """Download, check, parse and match one merchant's day; raises BillRefused (nothing from the bill written),
    PayError (the platform could not be asked) or Conflict (the day is running elsewhere)."""
    merchant = PayMerchant.objects.get(pk=merchant_id)
    run = _run_row(merchant, bill_date)
    _claim(run, now or timezone.now())
    with tempfile.TemporaryFile() as file:
        try:
            sha1 = _download(merchant, bill_date, file)  # no transaction is open here
            size = file.tell()
            return _load_and_match(run, file, sha1, size)
        except BaseException as exc:
            _refuse(run, exc)


def reconcile_local_bill(*, merchant_id: int, bill_date: date, file: IO[bytes], sha1: str,
                         now: datetime | None = None) -> ReconciliationRun:
    """The same checks and matching over a bill already on disk (downloaded earlier, or the benchmark's): its SHA1
    must be `sha1`, else it is refused with nothing written."""
    merchant = PayMerchant.objects.get(pk=merchant_id)
    run = _run_row(merchant, bill_date)
    _claim(run, now or timezone.now())
    file.seek(0)
    digest = hashlib.sha1()  # noqa: S324 - the platform's published bill hash
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(chunk)
    size = file.tell()
    try:
        if digest.hexdigest() != sha1.lower():
            raise BillHashMismatch(sha1, digest.hexdigest())
        return _load_and_match(run, file, sha1.lower(), size)
    except BaseException as exc:
        _refuse(run, exc)


def _refuse(run: ReconciliationRun, exc: BaseException) -> NoReturn:
    """Record why the run stopped, and raise what the caller should see."""
    if isinstance(exc, BillHashMismatch):
        _finish(run, ReconciliationStatus.REFUSED, "bill_hash_mismatch", exc.message)
        raise BillRefused("bill_hash_mismatch", exc.message) from exc
    if isinstance(exc, BillBadGzip):
        _finish(run, ReconciliationStatus.REFUSED, "bill_bad_gzip", exc.message)
        raise BillRefused("bill_bad_gzip", exc.message) from exc
    if isinstance(exc, BillError):
        _finish(run, ReconciliationStatus.REFUSED, "bill_" + exc.code, str(exc))
        raise BillRefused("bill_" + exc.code, str(exc), line=exc.line) from exc
    if isinstance(exc, UnicodeDecodeError):
        _finish(run, ReconciliationStatus.REFUSED, "bill_not_utf8", "the bill is not UTF-8 text")
        raise BillRefused("bill_not_utf8", _("the bill is not UTF-8 text")) from exc
    if isinstance(exc, DomainError):
        _finish(run, ReconciliationStatus.FAILED, exc.code, exc.message)
        raise exc
    _finish(run, ReconciliationStatus.FAILED, "error", "the run stopped on an unexpected error")
    raise exc


def reconcile_for(*, scope: Scope, merchant_id: int, bill_date: date, actor: Actor = None,
                  now: datetime | None = None) -> ReconciliationRun:
    """HQ finance runs (or re-runs) a day by hand: audited; the day must be over."""
    require_finance(scope)
    if not PayMerchant.objects.filter(pk=merchant_id, enterprise_id=scope.enterprise_id).exists():
        raise NotFound(_("merchant %(merchant_id)s not found") % {"merchant_id": merchant_id}, field="merchant_id")
    today = local_day(now or timezone.now())
    if bill_date > today:
        raise ValidationFailed(_("the day has not happened yet"), field="bill_date", code="future_day")
    if bill_date < today - timedelta(days=92):
        raise ValidationFailed(_("the platform keeps bills for three months"), field="bill_date", code="too_old")
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="reconciliation.run",
                 target_type="pay_merchant", target_id=merchant_id, summary=f"{bill_date.isoformat()}")
    return reconcile_day(merchant_id=merchant_id, bill_date=bill_date, now=now)


def reconcile_due(*, now: datetime | None = None) -> int:
    """The daily job (ticked hourly): yesterday (Shanghai) for every active merchant once the bill is ready and the
    day is not done yet; a refused or failed day is tried again on the next tick. Returns the days completed."""
    moment = now or timezone.now()
    local = moment.astimezone(SHANGHAI)
    if local.hour < BILL_READY_HOUR:
        return 0
    day = local.date() - timedelta(days=1)
    done_ids = set(ReconciliationRun.objects.filter(bill_date=day, status=ReconciliationStatus.DONE)
                   .values_list("merchant_id", flat=True))
    completed = 0
    for merchant_id in PayMerchant.objects.filter(is_active=True).exclude(pk__in=done_ids).values_list("pk",
                                                                                                        flat=True):
        try:
            reconcile_day(merchant_id=merchant_id, bill_date=day, now=moment)
            completed += 1
        except DomainError:
            continue  # recorded on the run; tried again next tick
    return completed


# ---------------------------------------------------------------------------------------------------------------
# Resolving a difference


def resolve_difference(*, scope: Scope, difference_id: int, reason: str, actor: Actor = None,
                       now: datetime | None = None) -> ReconciliationDifference:
    require_finance(scope)
    text = (reason or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed(_("say why (1-200 characters)"), field="reason", code="required")
    found = ReconciliationDifference.objects.filter(pk=difference_id, enterprise_id=scope.enterprise_id).first()
    if found is None:
        raise NotFound(
            _("difference %(difference_id)s not found") % {"difference_id": difference_id},
            field="difference_id",
        )
    moment = now or timezone.now()
    with transaction.atomic():
        moved = ReconciliationDifference.objects.filter(pk=found.pk, resolved_at=None).update(
            resolved_at=moment, resolved_by=audit.user_of(actor), resolution=text)
        if moved != 1:
            raise Conflict(_("this difference is already resolved"), field="difference_id", code="already_resolved")
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="reconciliation.resolve",
                     target_type="reconciliation_difference", target_id=found.pk,
                     summary=audit.text(N_("%(kind)s %(trade_no)s %(refund_no)s: %(reason)s"),
                                        kind=audit.label(DifferenceKind(found.kind).label), trade_no=found.out_trade_no,
                                        refund_no=found.out_refund_no, reason=text[:200]),
                     changes={"reason": text, "kind": found.kind, "run_id": found.run_id})
    found.refresh_from_db()
    return found
