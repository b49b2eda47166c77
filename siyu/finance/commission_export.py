"""Monthly statements as an Excel workbook (openpyxl, write-only): a sheet of stores and a sheet of staff, amounts as
numeric cells of yuan (Decimal from integer fen, never through a float) with a two-decimal number format, so Excel
sums them; the fen beside them for machines."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from siyu.finance.commission_queries import LineDetail, StatementRow

MONEY_FORMAT = "#,##0.00"


def yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _money(sheet: WriteOnlyWorksheet, fen: int | None) -> WriteOnlyCell | str:
    if fen is None:
        return ""
    cell = WriteOnlyCell(sheet, value=yuan(fen))
    cell.number_format = MONEY_FORMAT
    return cell


def _header(kind: str) -> list[str]:
    return [kind, _("Currency"), _("Orders"), _("Sales"), _("Refunds"), _("Net sales"), _("Commission"),
            _("Commission given back"), _("Net commission"), "net_sales_fen", "net_commission_fen"]


def _line(sheet: WriteOnlyWorksheet, row: StatementRow) -> list[object]:
    amounts = (row.sales_fen, row.refunds_fen, row.net_sales_fen, row.commission_fen, row.commission_back_fen,
               row.net_commission_fen)
    return [row.name or str(row.id), row.currency, row.orders, *(_money(sheet, fen) for fen in amounts),
            row.net_sales_fen, row.net_commission_fen]


def xlsx_bytes(month: date, *, stores: Iterable[StatementRow] | None, staff: Iterable[StatementRow]) -> bytes:
    book = Workbook(write_only=True)
    if stores is not None:
        sheet = book.create_sheet(title=f"stores {month:%Y-%m}")
        sheet.append([*_header(_("Store")), _("Receivable this month"), _("Settled")])
        for row in stores:
            sheet.append([*_line(sheet, row), _money(sheet, row.receivable_fen or 0), _money(sheet, row.settled_fen)])
    sheet = book.create_sheet(title=f"staff {month:%Y-%m}")
    sheet.append(_header(_("Staff")))
    for row in staff:
        sheet.append(_line(sheet, row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def lines_xlsx_bytes(month: date, title: str, chunks: Iterable[list[LineDetail]]) -> bytes:
    """One statement's lines: each accrual row with its order, line, rule, quantity, sales and commission."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=f"lines {month:%Y-%m}")
    sheet.append([title])
    sheet.append([_("Time"), _("Kind"), _("Order"), _("Line"), _("Rule"), _("Quantity"), _("Currency"), _("Sales"),
                  _("Commission"), "order_id", "order_line_id", "sales_fen", "commission_fen"])
    for chunk in chunks:
        for d in chunk:
            a = d.accrual
            sheet.append([localtime(a.posted_at).strftime("%Y-%m-%d %H:%M:%S"), a.kind, d.order_no, d.line_name,
                          d.rule_name, a.quantity, a.currency, yuan(a.sales_fen), yuan(a.commission_fen),
                          a.order_id, a.order_line_id, a.sales_fen, a.commission_fen])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
