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
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

from siyu.channels.wechatpay.bill import BillError, BillLine, Summary, TradeBillReader
from siyu.channels.wechatpay.client import BillHashMismatch, PayError
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, UpstreamError, ValidationFailed
from siyu.core.timeutil import SHANGHAI, day_bounds, local_day
from siyu.finance import services as payments
from siyu.finance.ledger import require_finance
from siyu.finance.models import (
    DifferenceKind,
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
        ref = client.trade_bill(bill_date)
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
        matched = payment_rows + refund_rows - counts.missing_ours - counts.amount_mismatch - counts.status_mismatch
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationStatus.DONE, generation=generation, hash_value=sha1, bill_bytes=size,
            payment_rows=payment_rows, refund_rows=refund_rows, summary_count=summary.count,
            settle_total_fen=summary.settle_fen, refund_total_fen=summary.refund_fen,
            fee_total_milli=summary.fee_milli, order_total_fen=summary.order_fen, matched_count=matched,
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
                     summary=f"{found.kind} {found.out_trade_no} {found.out_refund_no}: {text}"[:255],
                     changes={"reason": text, "kind": found.kind, "run_id": found.run_id})
    found.refresh_from_db()
    return found
