"""A customer's data export as a PDF a person can read: one table per section, in Chinese or English.

Chinese text is set in reportlab's built-in STSong-Light CID font, which PDF readers supply themselves, so no font
file has to exist on the server and the file stays small. Long sections are cut at MAX_ROWS rows in the PDF (the
JSON export next to it holds every row), and each cut says so.
"""

from __future__ import annotations

import io
import json
from typing import Any
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
MAX_ROWS = 500
MAX_CELL = 300
GRID_COLUMNS = 4

pdfmetrics.registerFont(UnicodeCIDFont(FONT))
_BODY = ParagraphStyle("body", fontName=FONT, fontSize=8, leading=10, wordWrap="CJK")
_HEAD = ParagraphStyle("head", fontName=FONT, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
_TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=20, spaceAfter=6)


def _cell(value: Any) -> Paragraph:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = _("yes") if value else _("no")
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL] + "…"
    return Paragraph(escape(text), _BODY)


_GRID = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]


def _tables(rows: list[dict[str, Any]], width: float) -> list[Any]:
    """Up to GRID_COLUMNS fields: one grid, a row per record. More: each record as its own field / value table, so
    no value is squeezed into a column too narrow to read (or to search)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if len(columns) <= GRID_COLUMNS:
        data = [[_cell(col) for col in columns]] + [[_cell(row.get(col)) for col in columns] for row in rows]
        table = Table(data, colWidths=[width / max(len(columns), 1)] * len(columns), repeatRows=1)
        table.setStyle(TableStyle([*_GRID, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7"))]))
        return [table]
    out: list[Any] = []
    for row in rows:
        table = Table([[_cell(col), _cell(row.get(col))] for col in columns], colWidths=[width * 0.3, width * 0.7])
        table.setStyle(TableStyle([*_GRID, ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef2f7"))]))
        out += [table, Spacer(1, 2 * mm)]
    return out


def render(export: dict[str, Any]) -> bytes:
    """The export (siyu.customers.personal_data.export's dict) as PDF bytes."""
    buffer = io.BytesIO()
    title = _("Personal data of customer %(id)s") % {"id": export["customer_id"]}
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm,
                            bottomMargin=12 * mm, title=title)
    width = A4[0] - 24 * mm
    story: list[Any] = [
        Paragraph(escape(title), _TITLE),
        Paragraph(escape(_("Exported at %(at)s. The JSON export holds the same data, every row.")
                         % {"at": export["exported_at"]}), _BODY),
    ]
    if export.get("erased_at"):
        story.append(Paragraph(escape(_("Personal data erased at %(at)s.") % {"at": export["erased_at"]}), _BODY))
    for section in export["sections"].values():
        rows = section["rows"]
        story.append(Paragraph(escape(f"{section['title']} ({len(rows)})"), _HEAD))
        if not rows:
            story.append(Paragraph(escape(_("Nothing held.")), _BODY))
            continue
        story += _tables(rows[:MAX_ROWS], width)
        if len(rows) > MAX_ROWS:
            story.append(Paragraph(escape(_("The first %(n)s of %(total)s rows; the JSON export holds all of them.")
                                          % {"n": MAX_ROWS, "total": len(rows)}), _BODY))
        story.append(Spacer(1, 4 * mm))
    doc.build(story)
    return buffer.getvalue()
