"""The channels console: the accounts and the raw callback log (each channel has its own pages beside these)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from siyu.channels import queries
from siyu.channels.wecom import queries as wecom_queries
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.pagination import page_param


@console_view
def index(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    jobs = wecom_queries.sync_jobs(scope, limit=6) if scope.is_hq else []
    context = {
        "scope": scope,
        "accounts": list(queries.accounts(scope)),
        "counts": queries.callback_counts(scope) if scope.is_hq else {},
        "refusals": queries.refusals(scope) if scope.is_hq else None,
        "runs": wecom_queries.sync_runs(scope, limit=3) if scope.is_hq else [],
        "sync_jobs": jobs,
        "sync_jobs_open": any(j.status in ("queued", "running") for j in jobs),
    }
    return render(request, "channels/index.html", context)


@console_view
def callbacks(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page_number = page_param(request.GET.get("page"))
    kind, status = request.GET.get("kind", ""), request.GET.get("status", "")
    page = queries.callbacks(scope, kind=kind, status=status, page=page_number)
    context = {"page": page, "kind": kind, "status": status, "kinds": queries.ACCOUNT_KINDS,
               "statuses": queries.CALLBACK_STATUSES}
    return render(request, "channels/callbacks.html", context)
