"""Console pages for the POS order-history import (HQ only), beside the platform imports: upload, column mapping with
a preview, the dry run's per-row report, progress (htmx polling), history, and the report as an Excel download; the
shape every sheet import shares is `siyu.console.sheet_imports`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from siyu.console.sheet_imports import Service, SheetImportPages
from siyu.console.views import console_view
from siyu.orders.services import history_job
from siyu.orders.services.history_job import BUYER_FIELDS, FIELDS, REQUIRED

FIELD_LABELS = {
    "store_code": N_("Store code"), "order_no": N_("Receipt number"), "time": N_("Time"),
    "phone": N_("Member phone"), "card_no": N_("Member card number"), "sku_code": N_("Item code"),
    "item": N_("Item name"), "quantity": N_("Quantity"), "amount": N_("Line amount (yuan)"),
}


def _dry_run_message(report: Any) -> str:
    return _("Dry run: %(rows)s rows in %(receipts)s receipts, %(bad)s rows with errors, "
             "%(known)s receipts imported before; nothing was imported.") % {
        "rows": report.total_rows, "receipts": report.receipts, "bad": report.error_rows,
        "known": report.already_imported}


PAGES = SheetImportPages(
    service=Service(upload=history_job.upload_history_file, imports=history_job.imports,
                    get=history_job.get_import, error_report=history_job.error_report,
                    preview=history_job.preview, set_mapping=history_job.set_mapping,
                    dry_run=history_job.dry_run, start=history_job.start_history_import,
                    resume=history_job.resume_stale_import),
    fields=FIELDS, field_labels=FIELD_LABELS, needed=lambda key: key in REQUIRED or key in BUYER_FIELDS,
    list_template="orders/history_list.html", detail_template="orders/history_detail.html",
    progress_template="orders/_history_progress.html", detail_url="orders:history",
    action_url="orders:history_action", errors_url="orders:history_errors",
    dry_run_message=_dry_run_message, report_name="order-history", upload_error_status=422)


@console_view
def history_list(request: HttpRequest) -> HttpResponse:
    return PAGES.list_page(request)


@console_view
def history_detail(request: HttpRequest, history_id: int) -> HttpResponse:
    return PAGES.detail_page(request, history_id)


@console_view
@require_POST
def history_action(request: HttpRequest, history_id: int, action: str) -> HttpResponse:
    return PAGES.action(request, history_id, action)


@console_view
def history_errors_xlsx(request: HttpRequest, history_id: int) -> HttpResponse:
    return PAGES.errors_xlsx(request, history_id)
