"""The console pages every sheet import has (HQ only): the list with the upload form, the import's page (column
mapping with a preview, dry run, start, progress polled by htmx, resume, the validation report), the mapping /
dry-run / start / resume actions, and the report as an Excel download. Each import (members, POS order history)
describes itself with a `SheetImportPages` and wraps its four views with `console_view`; its templates extend
`console/sheet_import/{list,detail,_progress}.html`."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from siyu.console.access import scope_of
from siyu.core.errors import DomainError, GateError
from siyu.org.scope import Scope


@dataclass(frozen=True)
class Service:
    """The import's services the pages call (each takes the scope and checks it)."""

    upload: Callable[..., Any]
    imports: Callable[..., Any]
    get: Callable[..., Any]
    error_report: Callable[..., Any]
    preview: Callable[..., Any]
    set_mapping: Callable[..., Any]
    dry_run: Callable[..., Any]
    start: Callable[..., Any]
    resume: Callable[..., Any]


@dataclass(frozen=True)
class SheetImportPages:
    service: Service
    fields: tuple[str, ...]
    field_labels: Mapping[str, str]  # gettext_noop'd; translated per request
    needed: Callable[[str], bool]  # a field marked with * in the mapping form
    list_template: str
    detail_template: str
    progress_template: str
    detail_url: str  # the import page's URL name; the others are given by urls below
    action_url: str
    errors_url: str
    dry_run_message: Callable[[Any], str]
    report_name: str  # the Excel download's file name, before "-<id>-errors.xlsx"
    upload_error_status: int = 200

    def labels(self) -> dict[str, str]:
        return {key: _(self.field_labels[key]) for key in self.fields}

    def _detail(self, import_id: int) -> HttpResponse:
        return redirect(reverse(self.detail_url, args=[import_id]))

    # -- the views (wrapped with console_view by the app's own view module) -------------------------------------

    def list_page(self, request: HttpRequest) -> HttpResponse:
        scope = scope_of(request)
        error = ""
        if request.method == "POST":
            upload = request.FILES.get("file")
            if upload is None:
                error = _("Choose a file to upload.")
            else:
                try:
                    imp = self.service.upload(scope=scope, stream=upload, filename=upload.name or "",
                                              actor=request.user)
                except GateError:
                    raise
                except DomainError as exc:
                    error = exc.message
                else:
                    return self._detail(imp.pk)
        imports = list(self.service.imports(scope=scope)[:50])
        return render(request, self.list_template, {"imports": imports, "error": error},
                      status=self.upload_error_status if error else 200)

    def context(self, scope: Scope, import_id: int) -> dict[str, Any]:
        imp = self.service.get(scope=scope, import_id=import_id)
        labels = self.labels()
        editable = imp.status in ("uploaded", "failed") and not imp.checkpoint_row
        total = imp.total_rows or imp.processed_rows

        def action(name: str) -> str:
            return reverse(self.action_url, args=[imp.pk, name])

        return {
            "imp": imp, "editable": editable,
            "fields": [(key, labels[key], imp.mapping.get(key, ""), self.needed(key)) for key in self.fields],
            "labels": labels, "errors": list(self.service.error_report(scope=scope, import_id=import_id)[:100]),
            "preview": self.service.preview(scope=scope, import_id=import_id) if editable else [],
            "pct": min(100, int(100 * imp.processed_rows / total)) if total else 0,
            "polling": imp.status in ("queued", "running"),
            "progress_template": self.progress_template,
            "urls": {"detail": reverse(self.detail_url, args=[imp.pk]),
                     "errors": reverse(self.errors_url, args=[imp.pk]),
                     "mapping": action("mapping"), "dry_run": action("dry-run"), "start": action("start"),
                     "resume": action("resume")},
        }

    def detail_page(self, request: HttpRequest, import_id: int) -> HttpResponse:
        partial = (request.headers.get("HX-Request") == "true"
                   and request.headers.get("HX-History-Restore-Request") != "true")
        context = self.context(scope_of(request), import_id)
        return render(request, self.progress_template if partial else self.detail_template, context)

    def action(self, request: HttpRequest, import_id: int, action: str) -> HttpResponse:
        scope = scope_of(request)
        service = self.service
        try:
            if action == "mapping":
                mapping = {key: request.POST.get(f"map_{key}", "") for key in self.fields}
                service.set_mapping(scope=scope, import_id=import_id, mapping=mapping, actor=request.user)
                messages.success(request, _("Mapping saved."))
            elif action == "dry-run":
                report = service.dry_run(scope=scope, import_id=import_id, actor=request.user)
                messages.info(request, self.dry_run_message(report))
            elif action == "start":
                service.start(scope=scope, import_id=import_id, actor=request.user)
                messages.success(request, _("The import runs in the background."))
            elif action == "resume":
                service.resume(scope=scope, import_id=import_id, actor=request.user)
                messages.success(request, _("The import continues from its last checkpoint."))
            else:
                return HttpResponse(status=404)
        except GateError:
            raise
        except DomainError as exc:
            if exc.status in (403, 404):
                raise
            label = self.labels().get((exc.field or "").removeprefix("mapping."), exc.field or "")
            messages.error(request, f"{label}: {exc.message}" if label else exc.message)
        return self._detail(import_id)

    def errors_xlsx(self, request: HttpRequest, import_id: int) -> HttpResponse:
        """The report as a workbook (write-only mode: rows go straight to the file)."""
        import openpyxl

        rows = self.service.error_report(scope=scope_of(request), import_id=import_id)
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet(_("Errors"))
        sheet.append([_("Row"), _("Column"), _("Value"), _("Problem"), _("Code")])
        labels = self.labels()
        for row in rows.iterator(chunk_size=2000):
            value = row.value
            if value[:1] in ("=", "+", "-", "@"):
                value = "'" + value  # shown as text, never run as a formula in the operator's Excel
            sheet.append([row.row_number, labels.get(row.field, row.field), value, row.message, row.code])
        out = io.BytesIO()
        book.save(out)
        response = HttpResponse(out.getvalue(),
                                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="{self.report_name}-{import_id}-errors.xlsx"'
        return response
