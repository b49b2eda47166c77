"""Console pages of the dashboards: one page per dashboard (figures, a chart with its table for each table, the
definitions), filtered through htmx (the board re-renders in place and its charts are drawn again), and an Excel
export of its tables. Everything is read through siyu.analytics.queries, cut to the viewer's scope."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from openpyxl import Workbook

from siyu.analytics import queries, services
from siyu.analytics.dashboards.framework import Board, Column, board_dict
from siyu.analytics.engine import EngineUnavailable
from siyu.console.access import scope_of
from siyu.console.labels import event_label
from siyu.console.views import console_view
from siyu.core.errors import ValidationFailed
from siyu.core.money import Money, parse_yuan
from siyu.core.timeutil import SHANGHAI
from siyu.org import queries as org_queries
from siyu.org.scope import Scope


def show(value: Any, unit: str) -> str:
    """A cell as the page shows it: fen as yuan, ratios as percentages, hours with one decimal."""
    if value is None:
        return "–"
    if unit == "fen":
        return Money(int(value)).display()
    if unit == "ratio":
        return f"{float(value) * 100:.1f}%"
    if unit == "hours":
        return f"{float(value):.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _value_labels() -> dict[str, str]:
    """Codes the dashboards put in their text columns: lifecycle stages (and the flow's two ends outside them),
    product roles."""
    return {"new": _("New"), "active": _("Active"), "silent": _("Silent"), "at_risk": _("At risk"),
            "churned": _("Churned"), "won_back": _("Won back"),
            "not_in_pool": _("Added during the range"), "none": _("None"),
            "traffic": _("Traffic driver"), "profit": _("Profit maker"), "image": _("Image builder")}


def _label(value: Any, column: Column, channels: dict[str, str]) -> Any:
    """Event names, channel values, stages and roles as the operator reads them (the API keeps the codes)."""
    if column.key == "event" and isinstance(value, str):
        return event_label(value)
    if column.key in ("source", "channel") and isinstance(value, str):
        return channels.get(value, value)
    if column.key in ("from", "to", "stage", "role") and isinstance(value, str):
        return _value_labels().get(value, value)
    return value


def _change(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 100:+.1f}%"


def _board_context(board: Board) -> dict[str, Any]:
    channels = dict(queries.channel_choices())
    return {
        "board": board,
        "figures": [{"key": f.key, "label": f.label, "value": show(f.value, f.unit),
                     "previous": show(f.previous, f.unit), "change": _change(f.change),
                     "down": f.change is not None and f.change < 0} for f in board.figures],
        "tables": [{"key": t.key, "title": t.title, "note": t.note, "chart": t.chart is not None,
                    "columns": t.columns,
                    "rows": [[(show(_label(v, c, channels), c.unit), c.unit not in ("text", "date"))
                              for v, c in zip(row, t.columns, strict=True)]
                             for row in t.rows]}
                   for t in board.tables],
        "as_of": board.as_of.replace(tzinfo=SHANGHAI if board.as_of.tzinfo is None else board.as_of.tzinfo)
        .astimezone(SHANGHAI) if board.as_of else None,
        "data": _chart_data(board, channels),
    }


def _chart_data(board: Board, channels: dict[str, str]) -> dict[str, Any]:
    data = board_dict(board)
    for shown, table in zip(data["tables"], board.tables, strict=True):
        shown["rows"] = [[_label(v, c, channels) for v, c in zip(row, table.columns, strict=True)]
                         for row in shown["rows"]]
    return data


def _choices(scope: Scope) -> dict[str, Any]:
    return {
        "channels": queries.channel_choices(),
        "stores": list(org_queries.stores(scope).order_by("code").values_list("pk", "name")[:500]),
        "regions": (list(org_queries.regions(scope).order_by("code").values_list("pk", "name")[:200])
                    if scope.is_hq else []),
    }


def _tabs() -> list[tuple[str, str, str]]:
    return [(key, str(label), reverse(f"analytics:{key}")) for key, label in queries.titles().items()]


def dashboard_page(request: HttpRequest, name: str) -> HttpResponse:
    scope = scope_of(request)
    context: dict[str, Any] = {"name": name, "tabs": _tabs(), "q": request.GET, **_choices(scope),
                               "query": request.GET.urlencode(), "page_url": reverse(f"analytics:{name}"),
                               "export_url": reverse(f"analytics:{name}_export"), "is_hq": scope.is_hq}
    status = 200
    try:
        board = queries.dashboard(scope, name, request.GET)
        context.update(_board_context(board))
        context["filters"] = board.filters
    except ValidationFailed as exc:
        context["error"] = str(exc)
        status = 422
    except EngineUnavailable as exc:
        context["error"] = str(exc)
        status = 503
    headers = request.headers
    partial = headers.get("HX-Request") == "true" and headers.get("HX-History-Restore-Request") != "true"
    template = "analytics/_board.html" if partial else "analytics/dashboard.html"
    return render(request, template, context, status=status)


def _cell(value: Any, column: Column) -> Any:
    if value is None:
        return None
    if column.unit == "fen":
        return Decimal(int(value)) / 100
    return value


def dashboard_export(request: HttpRequest, name: str) -> HttpResponse:
    """Every table of the dashboard as one sheet each (money in yuan, ratios as fractions)."""
    scope = scope_of(request)
    board = queries.dashboard(scope, name, request.GET)
    book = Workbook(write_only=True)
    for table in board.tables:
        sheet = book.create_sheet(title=str(table.title)[:31].replace("/", "-"))
        sheet.append([str(c.label) + (" (¥)" if c.unit == "fen" else "") for c in table.columns])
        for row in table.rows:
            sheet.append([_cell(v, c) for v, c in zip(row, table.columns, strict=True)])
    out = BytesIO()
    book.save(out)
    f = board.filters
    response = HttpResponse(out.getvalue(),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{name}-{f.start:%Y%m%d}-{f.end:%Y%m%d}.xlsx"'
    return response


# One view pair for every dashboard: the name comes from the route's own kwargs (`path(..., {"name": ...})`), never
# from the URL, so it is not a parameter a caller (or the tenancy walk) could fill with a row id.
@console_view
def page(request: HttpRequest, name: str) -> HttpResponse:
    return dashboard_page(request, name)


@console_view
def export(request: HttpRequest, name: str) -> HttpResponse:
    return dashboard_export(request, name)


def _cost_form(request: HttpRequest) -> dict[str, Any]:
    return {k: request.POST.get(k, "")[:200] for k in ("day", "channel", "code_state", "amount", "note")}


def _record(request: HttpRequest, scope: Scope, form: dict[str, str]) -> None:
    try:
        day = date.fromisoformat(form["day"].strip())
    except ValueError as exc:
        raise ValidationFailed(_("Give the day as YYYY-MM-DD."), field="day", code="date_format") from exc
    try:
        amount = parse_yuan(form["amount"])
    except ValueError as exc:
        raise ValidationFailed(_("Give the amount in yuan, e.g. 1200.50."), field="amount", code="amount") from exc
    services.record_cost(scope=scope, day=day, channel=form["channel"], code_state=form["code_state"],
                         amount_fen=amount.fen, note=form["note"], actor=request.user)


@console_view
def costs(request: HttpRequest) -> HttpResponse:
    """HQ's acquisition costs: the latest entries and a form to add one (the traffic dashboard divides them by the
    customers each source brought)."""
    scope = scope_of(request)
    rows = queries.acquisition_costs(scope)
    form: dict[str, Any] = {}
    error, status = "", 200
    if request.method == "POST":
        form = _cost_form(request)
        try:
            _record(request, scope, form)
        except ValidationFailed as exc:
            error, status = f"{exc.field}: {exc.message}" if exc.field else exc.message, 422
        else:
            messages.success(request, _("Cost saved."))
            return redirect("analytics:costs")
    names = dict(queries.channel_choices())
    return render(request, "analytics/costs.html", {
        "tabs": _tabs(), "name": "costs", "channels": queries.channel_choices(), "form": form, "error": error,
        "rows": [{"day": c.day, "source": names.get(c.channel, c.channel) if c.channel else c.code_state,
                  "kind": _("channel") if c.channel else _("channel code"), "amount": Money(c.amount_fen).display(),
                  "note": c.note} for c in rows]}, status=status)
