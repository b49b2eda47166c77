"""Console pages for the member import (HQ only): upload, column mapping with a preview, the dry-run report,
progress (htmx polling), history, and the report as an Excel download."""

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
from siyu.core.errors import DomainError
from siyu.customers import member_import
from siyu.customers.member_sheet import FIELDS, IDENTITY_FIELDS

FIELD_LABELS = {
    "phone": N_("Phone"), "name": N_("Name"), "gender": N_("Gender"), "birthday": N_("Birthday"),
    "store_code": N_("Store code"), "points": N_("Points balance"), "tier": N_("Tier"), "tags": N_("Tags"),
    "unionid": N_("unionid"), "openid": N_("Official Account openid"), "mp_openid": N_("Mini-program openid"),
    "card_no": N_("Member card number"), "first_purchase": N_("First purchase date"),
    "last_purchase": N_("Last purchase date"), "lifetime_spend": N_("Lifetime spend (yuan)"),
}


def _labels() -> dict[str, str]:
    # translated per request (the module-level dict above only marks the strings)
    return {key: _(FIELD_LABELS[key]) for key in FIELDS}


def _partial(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


@console_view
def import_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a file to upload.")
        else:
            try:
                imp = member_import.upload_member_file(scope=scope, stream=upload, filename=upload.name or "",
                                                       actor=request.user)
            except DomainError as exc:
                if exc.status == 403:
                    raise
                error = exc.message
            else:
                return redirect("member_imports:detail", member_import_id=imp.pk)
    imports = list(member_import.imports(scope=scope)[:50])
    return render(request, "customers/member_imports/list.html", {"imports": imports, "error": error})


def _context(request: HttpRequest, member_import_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    imp = member_import.get_import(scope=scope, import_id=member_import_id)
    labels = _labels()
    editable = imp.status in ("uploaded", "failed") and not imp.checkpoint_row
    total = imp.total_rows or imp.processed_rows
    return {
        "imp": imp, "editable": editable,
        "fields": [(key, labels[key], imp.mapping.get(key, ""), key in IDENTITY_FIELDS) for key in FIELDS],
        "labels": labels, "errors": list(member_import.error_report(scope=scope, import_id=member_import_id)[:100]),
        "preview": member_import.preview(scope=scope, import_id=member_import_id) if editable else [],
        "pct": min(100, int(100 * imp.processed_rows / total)) if total else 0,
        "polling": imp.status in ("queued", "running"),
    }


@console_view
def import_detail(request: HttpRequest, member_import_id: int) -> HttpResponse:
    context = _context(request, member_import_id)
    page = "_progress" if _partial(request) else "detail"
    template = f"customers/member_imports/{page}.html"
    return render(request, template, context)


@console_view
@require_POST
def import_action(request: HttpRequest, member_import_id: int, action: str) -> HttpResponse:
    scope = scope_of(request)
    try:
        if action == "mapping":
            mapping = {key: request.POST.get(f"map_{key}", "") for key in FIELDS}
            member_import.set_mapping(scope=scope, import_id=member_import_id, mapping=mapping, actor=request.user)
            messages.success(request, _("Mapping saved."))
        elif action == "dry-run":
            report = member_import.dry_run(scope=scope, import_id=member_import_id, actor=request.user)
            messages.info(request, _("Dry run: %(total)s rows, %(bad)s with errors; nothing was imported.")
                          % {"total": report.total_rows, "bad": report.error_rows})
        elif action == "start":
            member_import.start_member_import(scope=scope, import_id=member_import_id, actor=request.user)
            messages.success(request, _("The import runs in the background."))
        elif action == "resume":
            member_import.resume_stale_import(scope=scope, import_id=member_import_id, actor=request.user)
            messages.success(request, _("The import continues from its last checkpoint."))
        else:
            return HttpResponse(status=404)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        messages.error(request, f"{exc.field}: {exc.message}" if exc.field else exc.message)
    return redirect("member_imports:detail", member_import_id=member_import_id)


@console_view
def import_errors_xlsx(request: HttpRequest, member_import_id: int) -> HttpResponse:
    """The report as a workbook (write-only mode: rows go straight to the file)."""
    import openpyxl

    scope = scope_of(request)
    rows = member_import.error_report(scope=scope, import_id=member_import_id)
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
    response["Content-Disposition"] = f'attachment; filename="member-import-{member_import_id}-errors.xlsx"'
    return response
