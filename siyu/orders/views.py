"""Console pages for orders: list with filters and CSV export, detail with the breakdown and state actions,
after-sales, the presale demand report, platform imports with progress and their reports, invitation targets.

Pages read through scoped queries and write through services; a domain error becomes a message, never a 500.
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from siyu.catalog.forms import apply_domain_error
from siyu.console import once
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core import audit
from siyu.core.errors import DomainError, GateError, PermissionDenied
from siyu.core.money import Money
from siyu.customers import privacy
from siyu.orders import forms, offline_payments, queries
from siyu.orders.services import after_sale, imports, presale, states
from siyu.orders.services.common import PAID_STATES
from siyu.org.scope import Scope

ORDERS_PER_PAGE = 20


def _page(request: HttpRequest, name: str = "page") -> int:
    try:
        return max(1, int(request.GET.get(name, "1")))
    except ValueError:
        return 1


def _partial(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def _yuan(fen: int | None, currency: str = "CNY") -> str:
    return Money(fen or 0, currency).display()


# ---------------------------------------------------------------------------------------------------------------
# Order list and export


@console_view
def order_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    form = forms.OrderFilterForm(scope, request.GET or None)
    page = queries.search_orders(scope, form.to_filter(), page=_page(request), page_size=ORDERS_PER_PAGE)
    partial = _partial(request)
    context = {"form": form, "page": page, "export_query": request.GET.urlencode(), "partial": partial,
               "open_refunds": queries.open_after_sale_count(scope), "scope": scope}
    response = render(request, "orders/_order_results.html" if partial else "orders/order_list.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(header: list[str], rows: Iterable[list[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # Excel opens UTF-8 with its Chinese intact
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


def _csv_response(lines: Iterator[str], name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


def _order_rows(qs: Any) -> Iterator[list[object]]:
    for o in qs.iterator(chunk_size=1000):
        yield [
            o.order_no, timezone.localtime(o.created_at).strftime("%Y-%m-%d %H:%M"), queries.label("status", o.status),
            queries.label("source", o.source), o.platform, o.external_order_no, o.customer_id or "",
            o.customer.name if o.customer else "", o.store.name if o.store else "", o.staff.name if o.staff else "",
            o.campaign, o.channel_state, _yuan(o.list_total_fen, o.currency),
            _yuan(o.list_total_fen - o.amount_fen + o.shipping_fen, o.currency), _yuan(o.shipping_fen, o.currency),
            _yuan(o.amount_fen, o.currency), _yuan(o.paid_fen, o.currency), _yuan(o.refunded_fen, o.currency),
        ]


@console_view
def order_export(request: HttpRequest) -> StreamingHttpResponse:
    scope = scope_of(request)
    flt = forms.OrderFilterForm(scope, request.GET or None).to_filter()
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=request.user, action="order.export", target_type="order", target_id="filter",
                 summary=audit.text(N_("exported orders (%(scope)s)"), scope=scope.label or scope.role),
                 changes={"filter": {k: str(v) for k, v in vars(flt).items() if v not in ("", None)}})
    header = [_("Order number"), _("Created"), _("Status"), _("Source"), _("Platform"), _("Platform order number"),
              _("Customer ID"), _("Customer"), _("Store"), _("Staff"), _("Campaign"), _("Channel code"),
              _("List total"), _("Discounts"), _("Shipping"), _("Payable"), _("Paid"), _("Refunded")]
    return _csv_response(_csv(header, _order_rows(queries.filtered_orders(scope, flt))), "orders")


# ---------------------------------------------------------------------------------------------------------------
# Order detail and actions


@console_view
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    scope = scope_of(request)
    order = queries.get_order(scope, order_id)
    context = {
        "order": order, "lines": list(order.lines.all()), "after_sales": list(order.after_sales.all()),
        "actions": queries.order_actions(scope, order), "promotions": order.breakdown.get("promotions", []),
        "ship_form": forms.ShipForm(), "scope": scope,
        # HQ finance may give money back on a paid order without a customer's request (siyu.finance)
        "finance_refund": scope.is_hq and order.status in PAID_STATES and order.paid_fen > order.refunded_fen,
    }
    return render(request, "orders/order_detail.html", context)


def _run_action(request: HttpRequest, scope: Scope, order_id: int, action: str) -> str:
    common: dict[str, Any] = {"scope": scope, "order_id": order_id, "actor": request.user}
    if action == "ship":
        form = forms.ShipForm(request.POST)
        form.is_valid()
        states.ship_order(carrier=form.cleaned_data.get("carrier", ""),
                            tracking_no=form.cleaned_data.get("tracking_no", ""), **common)
        return _("Shipped.")
    if action == "pickup":
        states.mark_picked_up(**common)
        return _("Handed over.")
    if action == "complete":
        states.complete_order(**common)
        return _("Completed.")
    if action == "cancel":
        states.cancel_by_staff(**common)
        return _("Cancelled; the stock and the coupon are back.")
    if action == "mark_paid":
        offline_payments.record(scope=scope, order_id=order_id, reason=request.POST.get("reason", ""),
                                actor=request.user)
        return _("Recorded as paid.")
    raise PermissionDenied(_("unknown action"))


@console_view
@require_POST
def order_action(request: HttpRequest, order_id: int, action: str) -> HttpResponse:
    scope = scope_of(request)
    try:
        messages.success(request, _run_action(request, scope, order_id, action))
    except DomainError as exc:
        if isinstance(exc, GateError):
            raise
        messages.error(request, exc.message)
    return redirect("orders:detail", order_id=order_id)


# ---------------------------------------------------------------------------------------------------------------
# After-sales


@console_view
def after_sale_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    status = request.GET.get("status", "")
    if status not in dict(queries.after_sale_status_choices()):
        status = ""
    page = queries.after_sales(scope, status=status, page=_page(request), page_size=ORDERS_PER_PAGE)
    context = {"page": page, "status": status, "statuses": queries.after_sale_status_choices(),
               "reject_form": forms.RejectForm(), "scope": scope}
    return render(request, "orders/after_sale_list.html", context)


def _run_after_sale(request: HttpRequest, scope: Scope, after_sale_id: int, action: str) -> str:
    common: dict[str, Any] = {"scope": scope, "after_sale_id": after_sale_id, "actor": request.user}
    if action == "approve":
        after_sale.approve_refund(**common)
        return _("Approved.")
    if action == "reject":
        form = forms.RejectForm(request.POST)
        after_sale.reject_refund(reason=form.data.get("reason", ""), **common)
        return _("Rejected.")
    if action == "returned":
        after_sale.mark_returned(tracking_no=request.POST.get("tracking_no", "")[:64], **common)
        return _("Return received; the goods are back in stock.")
    if action == "refund":
        if not scope.is_hq:
            raise PermissionDenied(_("only HQ records refunds"))
        queries.get_after_sale(scope, after_sale_id)
        after_sale.complete_refund(after_sale_id=after_sale_id, refunded_at=timezone.now(),
                                 refund_ref=f"manual-{secrets.token_hex(6)}", enterprise_id=scope.enterprise_id,
                                 actor=request.user)
        return _("Refund recorded.")
    raise PermissionDenied(_("unknown action"))


@console_view
@require_POST
def after_sale_action(request: HttpRequest, after_sale_id: int, action: str) -> HttpResponse:
    scope = scope_of(request)
    try:
        messages.success(request, _run_after_sale(request, scope, after_sale_id, action))
    except DomainError as exc:
        if isinstance(exc, GateError):
            raise
        messages.error(request, exc.message)
    target = request.POST.get("next", "")
    if target.startswith("/orders/") and "//" not in target:
        return redirect(target)
    return redirect("orders:after_sales")


# ---------------------------------------------------------------------------------------------------------------
# Presales


@console_view
def presale_report(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    return render(request, "orders/presales.html", {"rows": queries.presale_demand(scope), "scope": scope})


@console_view
def presale_new(request: HttpRequest) -> HttpResponse:
    """HQ sets up a presale: validated beside each field by the same service the API uses, created once per form."""
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ sets up presales"))
    form = forms.PresaleForm(scope, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            once.create_once(request, form, action="presale", create=lambda: presale.create_presale(
                scope=scope, data=form.to_input(), actor=request.user).pk)
        except GateError:
            raise
        except DomainError as exc:
            apply_domain_error(form, exc, aliases=forms.PRESALE_ALIASES)
        else:
            messages.success(request, _("Presale created."))
            return redirect("orders:presales")
    return render(request, "orders/presale_new.html", {"form": form, "scope": scope})


# ---------------------------------------------------------------------------------------------------------------
# Platform imports


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ imports platform orders"))


@console_view
def import_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    _require_hq(scope)
    form = forms.ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            imp = imports.create_platform_import(scope=scope, platform=form.cleaned_data["platform"],
                                                  content=upload.read(), filename=upload.name, actor=request.user)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Uploaded: the import runs in the background."))
            return redirect("orders:import", import_id=imp.pk)
    context = {"form": form, "imports": list(queries.platform_imports(scope)[:50]),
               "counts": queries.invitation_counts(scope)}
    return render(request, "orders/imports.html", context)


@console_view
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    scope = scope_of(request)
    _require_hq(scope)
    imp = queries.get_platform_import(scope, import_id)
    rows = list(queries.import_report_rows(scope, import_id)[:100])
    context = {"imp": imp, "rows": rows, "pct": int(100 * imp.processed_rows / imp.total_rows) if imp.total_rows else 0,
               "polling": imp.status in ("queued", "running"), "scope": scope}
    template = "orders/_import_progress.html" if _partial(request) else "orders/import_detail.html"
    return render(request, template, context)


@console_view
def import_report(request: HttpRequest, import_id: int) -> StreamingHttpResponse:
    scope = scope_of(request)
    _require_hq(scope)
    rows = queries.import_report_rows(scope, import_id)
    header = [_("Row"), _("Outcome"), _("Platform"), _("Platform order number"), _("Buyer ID"), _("Buyer nickname"),
              _("Phone"), _("Amount"), _("Ordered"), _("Customer ID"), _("Invite by"), _("Message")]
    return _csv_response(_csv(header, (
        [r.row_number, queries.label("outcome", r.outcome), r.platform, r.order_no, r.buyer_id, r.buyer_nick,
         privacy.phone_for(scope, r.phone), _yuan(r.amount_fen),
         timezone.localtime(r.ordered_at).strftime("%Y-%m-%d %H:%M") if r.ordered_at else "", r.customer_id or "",
         _invite_by(r.outcome), r.message]
        for r in rows.iterator(chunk_size=1000)
    )), f"import-{import_id}-report")


def _invite_by(outcome: str) -> str:
    return {"created_customer": _("SMS"), "unmatched": _("Package insert"),
            "invalid_phone": _("Package insert")}.get(outcome, "")


@console_view
def invitations(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    _require_hq(scope)
    context = {"counts": queries.invitation_counts(scope), "sms": list(queries.sms_targets(scope)[:50]),
               "inserts": list(queries.package_insert_targets(scope)[:50])}
    return render(request, "orders/invitations.html", context)


@console_view
def invitations_export(request: HttpRequest, kind: str) -> StreamingHttpResponse:
    scope = scope_of(request)
    _require_hq(scope)
    audit.record(enterprise_id=scope.enterprise_id, actor=request.user, action="orders.invitations_export",
                 target_type="invitation", target_id=kind)
    if kind == "sms":
        header = [_("Customer ID"), _("Name"), _("Phone"), _("Created")]
        rows: Iterable[list[object]] = (
            [c.pk, c.name, c.phone, timezone.localtime(c.created_at).strftime("%Y-%m-%d")]
            for c in queries.sms_targets(scope).iterator(chunk_size=1000))
        return _csv_response(_csv(header, rows), "sms-invitations")
    header = [_("Platform"), _("Buyer ID"), _("Buyer nickname"), _("Phone"), _("Latest order"), _("Ordered")]
    rows = ([r.platform, r.buyer_id, r.buyer_nick, r.phone, r.order_no,
             timezone.localtime(r.ordered_at).strftime("%Y-%m-%d") if r.ordered_at else ""]
            for r in queries.package_insert_targets(scope).iterator(chunk_size=1000))
    return _csv_response(_csv(header, rows), "package-insert-invitations")


# ---------------------------------------------------------------------------------------------------------------
# The customer profile's "orders" section (registered with the console in apps.py)


def profile_orders(request: HttpRequest, scope: Scope, customer_id: int) -> SafeString | str:
    rows, total = queries.customer_orders(scope, customer_id, limit=10)
    if not rows:
        return ""
    context = {"orders": rows, "total": total, "totals": queries.customer_order_totals(scope, customer_id),
               "customer_id": customer_id}
    return render_to_string("orders/_profile_orders.html", context, request=request)
