"""What an export holds: the header and typed rows of a customer or order filter, and the writers that stream them
to a CSV or an Excel file with bounded memory (keyset chunks of the scoped query; openpyxl in write-only mode).

Money is a number of yuan (Decimal, two places), never "¥149.50" text; times are Shanghai local; a phone is what
the requester's scope may see (siyu.customers.privacy); text that a spreadsheet would run as a formula is defused."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.errors import ValidationFailed
from siyu.customers import privacy
from siyu.customers import queries as customer_queries
from siyu.orders import queries as order_queries
from siyu.org.scope import Scope

CHUNK = 2000
XLSX_MAX_ROWS = 1_048_576  # Excel's row limit; a longer export continues on a new sheet


def yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / 100).quantize(Decimal("0.01"))


def local(moment: datetime | None) -> datetime | None:
    return None if moment is None else timezone.localtime(moment).replace(tzinfo=None, microsecond=0)


def keyset(qs: QuerySet[Any], chunk: int = CHUNK) -> Iterator[Any]:
    """Every row of `qs`, newest id first, one bounded query per chunk (no server-side cursor, no OFFSET)."""
    qs = qs.order_by("-id")
    last: int | None = None
    while True:
        page = list((qs if last is None else qs.filter(id__lt=last))[:chunk])
        yield from page
        if len(page) < chunk:
            return
        last = page[-1].pk


# ---------------------------------------------------------------------------------------------------------------
# Filters (a JSON object on the job) and the rows they select


def _coerce(field: dataclasses.Field[Any], value: Any) -> Any:
    kind = str(field.type)
    if value in (None, ""):
        return field.default
    try:
        if "tuple" in kind:
            values = value if isinstance(value, list | tuple) else str(value).split(",")
            return tuple(int(v) for v in values)
        if "date" in kind:
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if "int" in kind:
            if isinstance(value, bool):
                raise ValueError
            return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(
            _("filter %(name)s has a bad value") % {"name": field.name},
            field=f"filters.{field.name}",
            code="filter_bad_value",
        ) from None
    return str(value)[:128]


def build_filter(kind: str, raw: dict[str, Any]) -> Any:
    cls = customer_queries.CustomerFilter if kind == "customers" else order_queries.OrderFilter
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValidationFailed(_("unknown filter %(value)s") % {"value": unknown[0]}, field=f"filters.{unknown[0]}",
                               code="unknown_filter")
    return cls(**{name: _coerce(fields[name], value) for name, value in raw.items()})


def filter_json(flt: Any) -> dict[str, Any]:
    """A filter dataclass as the JSON the job keeps: only the fields that are set, dates as ISO strings."""
    out: dict[str, Any] = {}
    defaults = {f.name: f.default for f in dataclasses.fields(flt)}
    for name, value in dataclasses.asdict(flt).items():
        if value in ("", None, ()) or value == defaults.get(name):
            continue
        out[name] = value.isoformat() if isinstance(value, date) else list(value) if isinstance(value, tuple) else value
    return out


@dataclasses.dataclass(frozen=True)
class Sheet:
    header: list[str]
    money_columns: frozenset[int]
    rows: Iterator[list[Any]]


def customer_sheet(scope: Scope, flt: customer_queries.CustomerFilter) -> tuple[QuerySet[Any], Callable[[], Sheet]]:
    qs = customer_queries.filtered_customers(scope, flt)

    def rows() -> Iterator[list[Any]]:
        for c in keyset(qs):
            yield [c.pk, c.name, privacy.phone_for(scope, c.phone), c.get_gender_display(), c.region,
                   c.get_created_source_display(), c.home_store.name if c.home_store else "",
                   "|".join(ct.tag.name for ct in c.customer_tags.all()), local(c.created_at)]

    header = [_("ID"), _("Name"), _("Phone"), _("Gender"), _("Region"), _("Source channel"), _("Home store"),
              _("Tags"), _("Created")]
    return qs, lambda: Sheet(header, frozenset(), rows())


def order_sheet(scope: Scope, flt: order_queries.OrderFilter) -> tuple[QuerySet[Any], Callable[[], Sheet]]:
    qs = order_queries.filtered_orders(scope, flt)

    def rows() -> Iterator[list[Any]]:
        for o in keyset(qs):
            yield [o.order_no, local(o.created_at), order_queries.label("status", o.status),
                   order_queries.label("source", o.source), o.platform, o.external_order_no, o.customer_id,
                   o.customer.name if o.customer else "",
                   privacy.phone_for(scope, o.customer.phone) if o.customer else "",
                   o.store.name if o.store else "", o.staff.name if o.staff else "", o.campaign, o.channel_state,
                   yuan(o.list_total_fen), yuan(o.list_total_fen - o.amount_fen + o.shipping_fen),
                   yuan(o.shipping_fen), yuan(o.amount_fen), yuan(o.paid_fen), yuan(o.refunded_fen)]

    header = [_("Order number"), _("Created"), _("Status"), _("Source"), _("Platform"), _("Platform order number"),
              _("Customer ID"), _("Customer"), _("Phone"), _("Store"), _("Staff"), _("Campaign"), _("Channel code"),
              _("List total"), _("Discounts"), _("Shipping"), _("Payable"), _("Paid"), _("Refunded")]
    return qs, lambda: Sheet(header, frozenset(range(13, 19)), rows())


def sheet_for(scope: Scope, kind: str, filters: dict[str, Any]) -> tuple[QuerySet[Any], Callable[[], Sheet]]:
    flt = build_filter(kind, filters)
    return customer_sheet(scope, flt) if kind == "customers" else order_sheet(scope, flt)


# ---------------------------------------------------------------------------------------------------------------
# Writers


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_cell(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return _text(value)


def write_csv(sheet: Sheet, out: IO[str], progress: Callable[[int], None]) -> int:
    writer = csv.writer(out)
    out.write("\ufeff")  # Excel opens UTF-8 with its Chinese intact
    writer.writerow(sheet.header)
    count = 0
    for row in sheet.rows:
        writer.writerow([_csv_cell(value) for value in row])
        count += 1
        if count % CHUNK == 0:
            progress(count)
    return count


def write_xlsx(sheet: Sheet, path: Path, progress: Callable[[int], None]) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    ws = book.create_sheet()
    ws.append(sheet.header)
    in_sheet, count = 1, 0
    for row in sheet.rows:
        if in_sheet >= XLSX_MAX_ROWS:
            ws = book.create_sheet()
            ws.append(sheet.header)
            in_sheet = 1
        cells: list[Any] = []
        for index, value in enumerate(row):
            if index in sheet.money_columns and value is not None:
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "0.00"
                cells.append(cell)
            elif isinstance(value, datetime):
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "yyyy-mm-dd hh:mm"
                cells.append(cell)
            elif isinstance(value, str):
                cells.append(_text(value))
            else:
                cells.append(value)
        ws.append(cells)
        in_sheet += 1
        count += 1
        if count % CHUNK == 0:
            progress(count)
    book.save(str(path))
    return count
