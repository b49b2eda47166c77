"""Console pages for background exports: start one from a list's current filter, watch its progress, download it."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from siyu.console.access import scope_of
from siyu.console.forms import CustomerFilterForm
from siyu.console.views import console_view
from siyu.core import audit
from siyu.core.errors import DomainError
from siyu.core.pagination import page_param, paginate
from siyu.exports import queries, services
from siyu.orders.forms import OrderFilterForm

EXPORTS_PER_PAGE = 20


@console_view
@require_POST
def start(request: HttpRequest) -> HttpResponse:
    """The list's filter (its query string, as the page had it) exported in the background."""
    scope = scope_of(request)
    kind = request.POST.get("kind", "")
    query = QueryDict(request.POST.get("query", "")[:2000])
    form = CustomerFilterForm(scope, query or None) if kind == "customers" else OrderFilterForm(scope, query or None)
    try:
        services.start_export(scope=scope, actor=request.user, kind=kind, file_format=request.POST.get("format", ""),
                              filters=services.filter_json(form.to_filter()), language=get_language() or "zh-hans",
                              idempotency_key=request.POST.get("key", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Export queued: it is written in the background; download it here when done."))
    return redirect("exports:list")


@console_view
def export_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page = paginate(queries.exports(scope, request.user), page=page_param(request.GET.get("page")),
                    page_size=EXPORTS_PER_PAGE)
    partial = request.headers.get("HX-Request") == "true"
    context = {"page": page, "polling": queries.unfinished(page.items), "partial": partial}
    response = render(request, "exports/_export_jobs.html" if partial else "exports/export_list.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@console_view
def download(request: HttpRequest, export_id: int) -> FileResponse:
    scope = scope_of(request)
    job, path = queries.download(scope, request.user, export_id)
    audit.record(enterprise_id=scope.enterprise_id, actor=request.user, action="export.download",
                 target_type="export", target_id=job.pk,
                 summary=audit.text(
                     N_("downloaded export %(export)s (%(kind)s)"), export=job.pk,
                     kind=audit.Label(job.kind, context="export of")))
    content_type = "text/csv; charset=utf-8" if job.file_format == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return FileResponse(path.open("rb"), as_attachment=True, filename=queries.download_name(job),
                        content_type=content_type)
