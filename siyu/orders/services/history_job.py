"""POS / offline order history as the console imports it: upload (Excel or CSV) -> column mapping with a preview ->
dry run (the per-row validation report, nothing written) -> a background job, streamed, in batches with a checkpoint.

The rows, as POS systems export them: one per line item, the rows of one receipt adjacent; store code, receipt (POS
order) number, time, member phone or card number, item code and name, quantity, line amount in yuan.

Decided here (docs/member-import.md says it for operators):
- A receipt is imported whole or not at all: a bad row refuses its receipt, and the receipt's other rows are reported
  as `receipt_refused` (never an order missing a line the operator did not see fail).
- The same receipt (store, number) a second time in one file, apart from its first rows, is `duplicate_in_file`.
  Across files and re-uploads the order's idempotency key `pos:<store id>:<number>` (unique per enterprise) makes a
  receipt imported before a duplicate that writes nothing, so importing a file again adds nothing.
- Cells are read the way spreadsheets mangle them (the member sheet's readers): phones turned into numbers, 0- or
  86-prefixed, `="..."` wrapped; times as Excel date-time cells, Excel serials (45292.5 = 2024-01-01 12:00) or text,
  Beijing time; formulas are refused, never evaluated; amounts in yuan to fen exactly.
- Writing reuses the API import's batch writer (`history_import._write`): per batch one query for the receipts
  already imported, one for the buyers' identities, bulk inserts of orders, lines and the order_created /
  order_paid / order_completed events RFM and repurchase read. Each batch commits with its checkpoint and counters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit, sheet_jobs
from siyu.core.audit import Actor
from siyu.core.errors import Conflict
from siyu.core.timeutil import SHANGHAI
from siyu.customers import member_sheet as sheet
from siyu.customers.member_sheet import CellError, Problem
from siyu.orders.models import HistoryImport, HistoryImportError, Order
from siyu.orders.services.history_import import HistoryResult, PosLine, PosOrder, _write
from siyu.org.models import Store
from siyu.org.scope import Scope

TASK = "orders.run_history_import"
BATCH_RECEIPTS = 1000
MAX_BYTES = sheet_jobs.MAX_BYTES
MAX_ERROR_ROWS = sheet_jobs.MAX_ERROR_ROWS
MAX_LINES_PER_RECEIPT = 500

# field -> header names exports use (compared as the member sheet compares them: lower-cased, no spaces/_/-/brackets)
ALIASES: dict[str, tuple[str, ...]] = {
    "store_code": ("门店编码", "门店代码", "店铺编码", "storecode", "store"),
    "order_no": ("小票号", "POS单号", "单号", "订单号", "流水号", "posorderno", "orderno", "receiptno"),
    "time": ("交易时间", "销售时间", "下单时间", "消费时间", "time", "orderedat", "soldat"),
    "phone": ("会员手机号", "手机号", "手机", "phone", "mobile"),
    "card_no": ("会员卡号", "卡号", "cardno", "membercard"),
    "sku_code": ("商品编码", "商品条码", "skucode", "sku"),
    "item": ("商品名称", "品名", "item", "itemname", "name"),
    "quantity": ("数量", "quantity", "qty"),
    "amount": ("实收金额", "金额", "成交金额", "amount", "lineamount"),
}
FIELDS: tuple[str, ...] = tuple(ALIASES)
REQUIRED = ("store_code", "order_no", "time", "amount")
BUYER_FIELDS = ("phone", "card_no")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y%m%d%H%M%S",
                 "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日")
_SERIAL = re.compile(r"\d{1,5}(\.\d+)?")
_EXCEL_EPOCH = datetime(1899, 12, 30)  # noqa: DTZ001 - a wall-clock origin, made Beijing time below

KIND = sheet_jobs.Kind(
    model=HistoryImport, error_model=HistoryImportError, error_fk="history_import", folder="order-history",
    action="orders.history_import", target_type="order_history", task=TASK,
    hq_only=_("only HQ imports order history"), missing=_("no such order history import"),
    counters=("receipts", "orders_created", "duplicates", "matched", "created_customers", "without_customer",
              "error_rows"))

ProgressHook = Callable[[HistoryImport], None]


# ---------------------------------------------------------------------------------------------------------------
# Upload and mapping (the shape every sheet import shares: siyu.core.sheet_jobs)


def suggest_mapping(header: Sequence[str]) -> dict[str, str]:
    return sheet.suggest_mapping(header, ALIASES)


def check_mapping(mapping: Mapping[str, str], header: Sequence[str]) -> dict[str, str]:
    """A field-level reason for each problem with a mapping (empty when it is usable)."""
    problems: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key, column in mapping.items():
        if key not in ALIASES:
            problems[key] = str(_("unknown field %(key)s") % {"key": key})
        elif column not in header:
            problems[key] = str(_("the file has no column %(column)s") % {"column": column})
        elif column in seen:
            problems[key] = str(_("column %(column)s is already mapped to %(other)s")
                                % {"column": column, "other": seen[column]})
        else:
            seen[column] = key
    for key in REQUIRED:
        if key not in mapping:
            problems.setdefault(key, str(_("map a column to this field")))
    if not any(k in mapping for k in BUYER_FIELDS):
        problems.setdefault("phone", str(_("map the member phone or the member card number")))
    return problems


def upload_history_file(*, scope: Scope, stream: IO[bytes] | bytes, filename: str = "",
                        actor: Actor = None) -> HistoryImport:
    """Store the sheet (streamed to disk, hashed on the way), read its header and suggest a mapping. The same file
    uploaded again returns the import it made the first time."""
    imp: HistoryImport = sheet_jobs.upload(KIND, scope=scope, stream=stream, filename=filename, actor=actor,
                                           inspect=sheet.inspect_file, suggest=suggest_mapping)
    return imp


def get_import(*, scope: Scope, import_id: int) -> HistoryImport:
    imp: HistoryImport = sheet_jobs.get(KIND, scope=scope, import_id=import_id)
    return imp


def imports(*, scope: Scope) -> QuerySet[HistoryImport]:
    """The enterprise's order-history imports, newest first (HQ only)."""
    return sheet_jobs.listing(KIND, scope=scope)


def error_report(*, import_id: int, scope: Scope | None = None) -> QuerySet[HistoryImportError]:
    """The rows an import refused, in sheet order. `scope` None is the command line (trusted)."""
    return sheet_jobs.error_report(KIND, import_id=import_id, scope=scope)


def _editable(imp: HistoryImport) -> bool:
    return sheet_jobs.editable(imp)


def set_mapping(*, scope: Scope, import_id: int, mapping: Mapping[str, str], actor: Actor = None) -> HistoryImport:
    imp: HistoryImport = sheet_jobs.set_mapping(KIND, scope=scope, import_id=import_id, mapping=mapping,
                                                check=check_mapping, actor=actor)
    return imp


# ---------------------------------------------------------------------------------------------------------------
# Cells and rows


def moment(value: Any, *, now: datetime) -> datetime:
    """A receipt's time, Beijing time: an Excel date-time cell, an Excel serial (whole days plus the fraction of a
    day), or text in the usual formats."""
    if isinstance(value, datetime):
        found = value.astimezone(SHANGHAI) if value.tzinfo else value.replace(tzinfo=SHANGHAI)
    elif isinstance(value, date):
        found = datetime(value.year, value.month, value.day, tzinfo=SHANGHAI)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found = _serial(float(value))
    else:
        raw = sheet.text(value)
        if not raw:
            raise CellError("missing_time", _("the time is missing"))
        found = _serial(float(raw)) if _SERIAL.fullmatch(raw) else _parse_time(raw)
    if found > now:
        raise CellError("future_time", _("the time is in the future"))
    if found.year < 1990:
        raise CellError("invalid_time", _("the time is before 1990"))
    return found


def _serial(number: float) -> datetime:
    if not 1 <= number < 2958466:
        raise CellError("invalid_time", _("not a date and time"))
    seconds = round(number * 86400)
    return (_EXCEL_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=SHANGHAI)


def _parse_time(raw: str) -> datetime:
    for fmt in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(raw, fmt)  # noqa: DTZ007 - POS exports are Beijing time
        except ValueError:
            continue
        return parsed.replace(tzinfo=SHANGHAI)
    raise CellError("invalid_time", _("not a date and time (use 2024-01-31 14:05)"))


def _quantity(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    raw = sheet.text(value) if not isinstance(value, int) or isinstance(value, bool) else str(value)
    if not raw:
        return 1
    if raw.endswith(".0"):
        raw = raw[:-2]
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise CellError("invalid_quantity", _("the quantity is a whole number from 1 to 100000"))
    return int(raw)


def _bounded(limit: int, code: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        out = sheet.text(value)
        if len(out) > limit:
            raise CellError(code, _("at most %(limit)s characters") % {"limit": limit})
        return out

    return parse


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "store_code": _bounded(64, "unknown_store"), "order_no": _bounded(64, "invalid_order_no"),
    "phone": sheet.phone, "card_no": _bounded(64, "invalid_card"), "sku_code": _bounded(64, "invalid_sku"),
    "item": _bounded(200, "invalid_item"), "quantity": _quantity, "amount": sheet.yuan_to_fen,
}


@dataclass
class Row:
    """One sheet row read through the mapping: its receipt's key as written (so a bad row still groups with its
    receipt), its values, and its problems."""

    row_number: int
    key: tuple[str, str]
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_row(row_number: int, cells: Sequence[Any], where: Mapping[str, int], stores: Mapping[str, int],
             now: datetime) -> Row:
    def cell(key: str) -> Any:
        index = where.get(key)
        return cells[index] if index is not None and index < len(cells) else None

    row = Row(row_number, (_loose(cell("store_code")), _loose(cell("order_no"))))
    for key, parse in _PARSERS.items():
        if key not in where:
            continue
        try:
            row.values[key] = parse(cell(key))
        except CellError as exc:
            row.problems.append(Problem(key, exc.code, str(exc), sheet._shown(cell(key))))
    if "time" in where:
        try:
            row.values["time"] = moment(cell("time"), now=now)
        except CellError as exc:
            row.problems.append(Problem("time", exc.code, str(exc), sheet._shown(cell("time"))))
    _check_required(row, stores, cell)
    return row


def _loose(value: Any) -> str:
    try:
        return sheet.text(value)
    except CellError:
        return sheet._shown(value)


def _check_required(row: Row, stores: Mapping[str, int], cell: Callable[[str], Any]) -> None:
    failed = {p.field for p in row.problems}
    code = row.values.get("store_code", "")
    if "store_code" not in failed:
        if not code:
            row.problems.append(Problem("store_code", "missing_store", str(_("the store code is missing"))))
        elif code not in stores:
            row.problems.append(Problem("store_code", "unknown_store", str(_("no store has this code")), code))
        else:
            row.values["store_id"] = stores[code]
    if "order_no" not in failed and not row.values.get("order_no"):
        row.problems.append(Problem("order_no", "missing_order_no", str(_("the receipt number is missing"))))
    if "amount" not in failed and row.values.get("amount") is None:
        row.problems.append(Problem("amount", "missing_amount", str(_("the amount is missing"))))


@dataclass
class Receipt:
    rows: list[Row]

    @property
    def first_row(self) -> int:
        return self.rows[0].row_number

    @property
    def last_row(self) -> int:
        return self.rows[-1].row_number

    @property
    def bad(self) -> bool:
        return any(r.problems for r in self.rows)

    def order(self) -> PosOrder:
        head = self.rows[0].values
        lines = [PosLine(name=(r.values.get("item") or r.values.get("sku_code") or "POS")[:200],
                         sku_code=r.values.get("sku_code", ""), quantity=r.values.get("quantity", 1),
                         amount_fen=r.values["amount"]) for r in self.rows]
        return PosOrder(row_number=self.first_row, store_id=head["store_id"], order_no=head["order_no"],
                        ordered_at=head["time"], phone=head.get("phone", ""), card_no=head.get("card_no", ""),
                        lines=lines)


def _data_rows(imp: HistoryImport) -> Iterator[tuple[int, list[Any]]]:
    return sheet.data_rows(Path(imp.path), imp.file_format, imp.encoding)


def _stores(enterprise_id: int) -> dict[str, int]:
    return dict(Store.objects.filter(enterprise_id=enterprise_id).values_list("code", "id"))


def _receipts(imp: HistoryImport, now: datetime) -> Iterator[Receipt]:
    """The file's receipts in order, each marked with its problems (a bad row refuses its receipt; a receipt seen
    earlier in the file is a duplicate). Streamed: only the current receipt and the keys seen (as 64-bit hashes) are
    held."""
    sheet_jobs.require_mapping(check_mapping, imp.mapping, imp.header)
    where = sheet.positions(imp.mapping, imp.header)
    stores = _stores(imp.enterprise_id)
    seen: set[int] = set()
    current: list[Row] = []
    for row_number, cells in _data_rows(imp):
        row = read_row(row_number, cells, where, stores, now)
        if current and row.key != current[0].key:
            yield _finish(current, seen)
            current = []
        elif len(current) >= MAX_LINES_PER_RECEIPT:  # bounded memory: the receipt is refused, whole
            for held in current:
                held.problems.append(Problem("order_no", "too_many_lines", str(
                    _("a receipt has at most %(n)s lines") % {"n": MAX_LINES_PER_RECEIPT}), row.key[1]))
            yield _finish(current, seen)
            current = []
        current.append(row)
    if current:
        yield _finish(current, seen)


def _finish(rows: list[Row], seen: set[int]) -> Receipt:
    receipt = Receipt(rows)
    marker = hash(rows[0].key)
    if not receipt.bad and marker in seen:
        for row in rows:
            row.problems.append(Problem("order_no", "duplicate_in_file",
                                        str(_("an earlier receipt of this file has the same store and number")),
                                        rows[0].key[1]))
        return receipt
    seen.add(marker)
    if receipt.bad:
        bad_rows = ", ".join(str(r.row_number) for r in rows if r.problems)
        for row in rows:
            if not row.problems:
                row.problems.append(Problem("", "receipt_refused",
                                            str(_("row %(rows)s of this receipt has an error: the receipt is not "
                                                  "imported") % {"rows": bad_rows})))
    return receipt


def _problems(receipts: Sequence[Receipt]) -> Iterator[tuple[int, Problem]]:
    return ((r.row_number, p) for receipt in receipts for r in receipt.rows for p in r.problems)


def _error_rows(imp: HistoryImport, receipts: Sequence[Receipt]) -> list[HistoryImportError]:
    return sheet_jobs.error_rows(KIND, imp.pk, _problems(receipts))


PreviewRow = sheet.PreviewRow


def preview(*, scope: Scope, import_id: int, limit: int = 10) -> list[PreviewRow]:
    """The first rows as the mapping reads them, with each row's own problems."""
    imp = get_import(scope=scope, import_id=import_id)
    where = sheet.positions(imp.mapping, imp.header)
    stores = _stores(imp.enterprise_id)
    now = timezone.now()
    out: list[PreviewRow] = []
    for row_number, cells in _data_rows(imp):
        shown = {key: sheet._shown(cells[i] if i < len(cells) else None) for key, i in where.items()}
        out.append(PreviewRow(row_number, shown, read_row(row_number, cells, where, stores, now).problems))
        if len(out) >= limit:
            break
    return out


# ---------------------------------------------------------------------------------------------------------------
# Dry run


@dataclass
class DryRun:
    total_rows: int = 0
    receipts: int = 0
    error_rows: int = 0
    already_imported: int = 0


def _known_keys(enterprise_id: int, keys: Sequence[str]) -> int:
    return Order.objects.filter(enterprise_id=enterprise_id, idempotency_key__in=list(keys)).count()


def dry_run(*, scope: Scope, import_id: int, actor: Actor = None) -> DryRun:
    """Check every row and count the receipts imported before; replace the report; write nothing else."""
    imp = get_import(scope=scope, import_id=import_id)
    if not _editable(imp):
        raise Conflict(_("the import has started; run the dry run before it"), field="import_id", code="started")
    report = DryRun()
    sheet_jobs.clear_report(KIND, imp.pk)
    errors = sheet_jobs.Report(KIND, imp.pk)
    keys: list[str] = []
    for receipt in _receipts(imp, timezone.now()):
        report.total_rows += len(receipt.rows)
        report.receipts += 1
        if receipt.bad:
            report.error_rows += len(receipt.rows)
            errors.add(len(receipt.rows), _problems([receipt]))
        else:
            keys.append(receipt.order().key)
        if len(keys) >= BATCH_RECEIPTS:
            report.already_imported += _known_keys(imp.enterprise_id, keys)
            keys = []
    errors.flush()
    report.already_imported += _known_keys(imp.enterprise_id, keys) if keys else 0
    HistoryImport.objects.filter(pk=imp.pk).update(total_rows=report.total_rows, receipts=report.receipts,
                                                   error_rows=report.error_rows, duplicates=report.already_imported)
    audit.record(enterprise_id=imp.enterprise_id, actor=actor, action="orders.history_import.dry_run",
                 target_type="order_history", target_id=imp.pk,
                 summary=audit.text(N_("%(rows)s rows, %(receipts)s receipts, %(errors)s rows with errors"),
                                    rows=report.total_rows, receipts=report.receipts, errors=report.error_rows))
    return report


# ---------------------------------------------------------------------------------------------------------------
# The job


def start_history_import(*, scope: Scope, import_id: int, actor: Actor = None, enqueue: bool = True) -> HistoryImport:
    """Queue the import (or re-queue one that failed: it continues from its checkpoint). Starting a queued, running
    or finished import changes nothing."""
    imp: HistoryImport = sheet_jobs.start(KIND, scope=scope, import_id=import_id, check=check_mapping, actor=actor,
                                          enqueue=enqueue)
    return imp


def resume_stale_import(*, scope: Scope, import_id: int, actor: Actor = None) -> HistoryImport:
    """A job whose worker died stays "running": put it back in the queue (it continues from its checkpoint)."""
    imp: HistoryImport = sheet_jobs.resume_stale(KIND, scope=scope, import_id=import_id, check=check_mapping,
                                                 actor=actor)
    return imp


def _batches(receipts: Iterator[Receipt], skip_to: int) -> Iterator[list[Receipt]]:
    return sheet_jobs.batches(receipts, skip_to=skip_to, size=BATCH_RECEIPTS, last_row=lambda r: r.last_row)


def run_history_import(*, import_id: int, progress: ProgressHook | None = None,
                       after_batch: Callable[[int], None] | None = None) -> str:
    """Process a queued import batch by batch, each batch one transaction with its checkpoint and counters (the
    console reads them). `after_batch(k)` runs after batch k commits (tests crash there)."""
    def work(imp: HistoryImport) -> None:
        parts = _batches(_receipts(imp, timezone.now()), imp.checkpoint_row)
        sheet_jobs.run_batches(imp, parts, lambda batch: _commit_batch(imp, batch), progress, after_batch)

    imp = sheet_jobs.run(KIND, import_id=import_id, work=work, done={})
    if imp is None:
        return "skipped"
    audit.record(enterprise_id=imp.enterprise_id, actor=imp.created_by, action="orders.history_import.done",
                 target_type="order_history", target_id=imp.pk,
                 summary=audit.text(N_("%(orders)s orders, %(duplicates)s already there, %(errors)s rows refused"),
                                    orders=imp.orders_created, duplicates=imp.duplicates, errors=imp.error_rows))
    return "done"


def _commit_batch(imp: HistoryImport, batch: Sequence[Receipt]) -> None:
    good = [receipt.order() for receipt in batch if not receipt.bad]
    bad = [receipt for receipt in batch if receipt.bad]
    result = HistoryResult()
    with transaction.atomic():
        HistoryImportError.objects.bulk_create(_error_rows(imp, bad), ignore_conflicts=True)
        if good:
            _write(imp.enterprise_id, good, result)
        HistoryImport.objects.filter(pk=imp.pk).update(
            checkpoint_row=batch[-1].last_row, processed_rows=F("processed_rows") + sum(len(r.rows) for r in batch),
            receipts=F("receipts") + len(batch), orders_created=F("orders_created") + result.orders,
            duplicates=F("duplicates") + result.duplicates, matched=F("matched") + result.matched,
            created_customers=F("created_customers") + result.created_customers,
            without_customer=F("without_customer") + result.without_customer,
            error_rows=F("error_rows") + sum(len(r.rows) for r in bad))
