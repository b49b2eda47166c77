"""Console pages for the POS order-history import (HQ only), beside the platform imports: upload, column mapping with
a preview, the dry run's per-row report, progress (htmx polling), history, and the report as an Excel download."""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError
from siyu.orders.services import history_job
from siyu.orders.services.history_job import BUYER_FIELDS, FIELDS, REQUIRED

FIELD_LABELS = {
    "store_code": N_("Store code"), "order_no": N_("Receipt number"), "time": N_("Time"),
    "phone": N_("Member phone"), "card_no": N_("Member card number"), "sku_code": N_("Item code"),
    "item": N_("Item name"), "quantity": N_("Quantity"), "amount": N_("Line amount (yuan)"),
}


def _labels() -> dict[str, str]:
    return {key: _(FIELD_LABELS[key]) for key in FIELDS}


def _partial(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


@console_view
def history_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a file to upload.")
        else:
            try:
                imp = history_job.upload_history_file(scope=scope, stream=upload, filename=upload.name or "",
                                                      actor=request.user)
            except GateError:
                raise
            except DomainError as exc:
                error = exc.message
            else:
                return redirect("orders:history", history_id=imp.pk)
    imports = list(history_job.imports(scope=scope)[:50])
    return render(request, "orders/history_list.html", {"imports": imports, "error": error},
                  status=422 if error else 200)


def _context(request: HttpRequest, import_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    imp = history_job.get_import(scope=scope, import_id=import_id)
    labels = _labels()
    editable = imp.status in ("uploaded", "failed") and not imp.checkpoint_row
    total = imp.total_rows or imp.processed_rows
    return {
        "imp": imp, "editable": editable,
        "fields": [(key, labels[key], imp.mapping.get(key, ""), key in REQUIRED or key in BUYER_FIELDS)
                   for key in FIELDS],
        "labels": labels, "errors": list(history_job.error_report(scope=scope, import_id=import_id)[:100]),
        "preview": history_job.preview(scope=scope, import_id=import_id) if editable else [],
        "pct": min(100, int(100 * imp.processed_rows / total)) if total else 0,
        "polling": imp.status in ("queued", "running"),
    }


@console_view
def history_detail(request: HttpRequest, history_id: int) -> HttpResponse:
    context = _context(request, history_id)
    template = "orders/_history_progress.html" if _partial(request) else "orders/history_detail.html"
    return render(request, template, context)


@console_view
@require_POST
def history_action(request: HttpRequest, history_id: int, action: str) -> HttpResponse:
    scope = scope_of(request)
    try:
        if action == "mapping":
            mapping = {key: request.POST.get(f"map_{key}", "") for key in FIELDS}
            history_job.set_mapping(scope=scope, import_id=history_id, mapping=mapping, actor=request.user)
            messages.success(request, _("Mapping saved."))
        elif action == "dry-run":
            report = history_job.dry_run(scope=scope, import_id=history_id, actor=request.user)
            messages.info(request, _("Dry run: %(rows)s rows in %(receipts)s receipts, %(bad)s rows with errors, "
                                     "%(known)s receipts imported before; nothing was imported.")
                          % {"rows": report.total_rows, "receipts": report.receipts, "bad": report.error_rows,
                             "known": report.already_imported})
        elif action == "start":
            history_job.start_history_import(scope=scope, import_id=history_id, actor=request.user)
            messages.success(request, _("The import runs in the background."))
        elif action == "resume":
            history_job.resume_stale_import(scope=scope, import_id=history_id, actor=request.user)
            messages.success(request, _("The import continues from its last checkpoint."))
        else:
            return HttpResponse(status=404)
    except GateError:
        raise
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        label = _labels().get((exc.field or "").removeprefix("mapping."), exc.field or "")
        messages.error(request, f"{label}: {exc.message}" if label else exc.message)
    return redirect("orders:history", history_id=history_id)


@console_view
def history_errors_xlsx(request: HttpRequest, history_id: int) -> HttpResponse:
    """The report as a workbook (write-only mode: rows go straight to the file)."""
    import openpyxl

    scope = scope_of(request)
    rows = history_job.error_report(scope=scope, import_id=history_id)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(_("Errors"))
    sheet.append([_("Row"), _("Column"), _("Value"), _("Problem"), _("Code")])
    labels = _labels()
    for row in rows.iterator(chunk_size=2000):
        value = row.value
        if value[:1] in ("=", "+", "-", "@"):
            value = "'" + value  # shown as text, never run as a formula in the operator's Excel
        sheet.append([row.row_number, labels.get(row.field, row.field), value, row.message, row.code])
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(out.getvalue(),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="order-history-{history_id}-errors.xlsx"'
    return response
