"""Console pages for reconciliation (HQ finance): the reconciled days with their counts and a form to run a day,
one day's differences by kind with a resolve form on each open one. Read through `reconciliation.queries`, write
through `reconciliation.services`."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError
from siyu.core.pagination import page_param
from siyu.finance.reconciliation import queries, services


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _int(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


@console_view
def days(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    merchant_id = _int(request.GET.get("merchant"))
    page = queries.runs(scope, merchant_id=merchant_id, start=_day(request.GET.get("start")),
                        end=_day(request.GET.get("end")), page=page_param(request.GET.get("page")))
    return render(request, "finance/reconciliation_days.html", {
        "page": page, "merchants": queries.merchants(scope), "merchant_id": merchant_id,
        "start": _day(request.GET.get("start")), "end": _day(request.GET.get("end"))})


@console_view
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    scope = scope_of(request)
    run = queries.get_run(scope, run_id)
    kind = request.GET.get("kind", "")
    kind = kind if kind in dict(queries.KINDS) else ""
    state = request.GET.get("state", "open")
    state = state if state in queries.STATES else "open"
    page = queries.differences(scope, run.pk, kind=kind, state=state, page=page_param(request.GET.get("page")))
    kinds = [(value, label, getattr(run, f"{value}_count")) for value, label in queries.KINDS]
    return render(request, "finance/reconciliation_run.html", {
        "run": run, "page": page, "kind": kind, "state": state, "kinds": kinds})


@console_view
@require_POST
def run_day(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    queries.merchants(scope)  # the gate (HQ finance) before the form is looked at
    merchant_id, day = _int(request.POST.get("merchant")), _day(request.POST.get("bill_date"))
    if merchant_id is None or day is None:
        messages.error(request, _("Choose a merchant account and a day."))
        return redirect("finance:reconciliation")
    try:
        run = services.reconcile_for(scope=scope, merchant_id=merchant_id, bill_date=day, actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, _("The day was not reconciled: %(reason)s") % {"reason": exc.message})
        return redirect("finance:reconciliation")
    messages.success(request, _("%(day)s reconciled: %(matched)s matched, %(open)s differences.") % {
        "day": run.bill_date.isoformat(), "matched": run.matched_count,
        "open": run.missing_ours_count + run.missing_theirs_count + run.amount_mismatch_count
        + run.status_mismatch_count})
    return redirect("finance:reconciliation_run", run_id=run.pk)


@console_view
@require_POST
def resolve(request: HttpRequest, difference_id: int) -> HttpResponse:
    scope = scope_of(request)
    queries.merchants(scope)  # the gate (HQ finance) before the form is looked at
    try:
        found = services.resolve_difference(scope=scope, difference_id=difference_id,
                                            reason=request.POST.get("reason", ""), actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        run_id = _int(request.POST.get("run"))
        if run_id is not None:
            return redirect("finance:reconciliation_run", run_id=run_id)
        return redirect("finance:reconciliation")
    messages.success(request, _("Difference resolved."))
    return redirect("finance:reconciliation_run", run_id=found.run_id)
