"""Group analytics as an Excel workbook (openpyxl, write-only): a sheet of Shanghai days with joins, quits and net,
and a sheet of (day, group | group code | owner) cells, as numbers so Excel sums them. Names that a spreadsheet would
run as a formula are defused."""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from openpyxl import Workbook

from siyu.channels.wecom import queries
from siyu.org.scope import Scope

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def analytics_xlsx(scope: Scope, *, by: str, start: object = None, end: object = None) -> tuple[bytes, str]:
    """(the workbook, a file name)."""
    summary = queries.group_analytics(scope, by=by, start=start, end=end, page_size=1)  # type: ignore[arg-type]
    cells = queries.group_analytics_cells(scope, by=by, start=summary.start, end=summary.end)
    book = Workbook(write_only=True)
    days = book.create_sheet(title=_("By day"))
    days.append([_("Day"), _("Joins"), _("Quits"), _("Net")])
    for d in summary.days:
        days.append([d.day, d.joins, d.quits, d.net])
    days.append([_("Total"), summary.joins, summary.quits, summary.net])
    detail = book.create_sheet(title=str(queries.ANALYTICS_BY[by])[:31])
    detail.append([_("Day"), str(queries.ANALYTICS_BY[by]), _("Joins"), _("Quits"), _("Net"), "id"])
    for c in cells:
        detail.append([c.day, _safe(c.name), c.joins, c.quits, c.net, c.key])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), f"group-analytics-{by}-{summary.start:%Y%m%d}-{summary.end:%Y%m%d}.xlsx"
