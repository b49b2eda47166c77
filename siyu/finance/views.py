"""Console pages for HQ finance: the trial balance, an account's statement with its running balance, and reversing
an entry (with a reason, audited). Read through `finance.queries`, write through `finance.ledger`."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from siyu.channels.common.authenticity import source_address, too_large
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError, ValidationFailed
from siyu.core.http import client_ip
from siyu.core.money import Money, parse_yuan
from siyu.core.pagination import page_param
from siyu.core.timeutil import day_bounds
from siyu.finance import ledger, queries, services
from siyu.orders import queries as order_queries


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _day_start(day: date) -> datetime:
    return day_bounds(day)[0]


def _day_end(day: date) -> datetime:
    return day_bounds(day)[1]


def _currency(raw: str | None) -> str:
    text = (raw or "CNY").strip().upper()
    return text if len(text) == 3 and text.isascii() and text.isalpha() else "CNY"


@console_view
def trial_balance(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    as_of_day = _day(request.GET.get("as_of"))
    as_of = _day_end(as_of_day) if as_of_day else None
    tb = queries.trial_balance(scope, as_of=as_of)
    return render(request, "finance/trial_balance.html", {"tb": tb, "as_of": as_of_day})


@console_view
def statement(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    start_day, end_day = _day(request.GET.get("start")), _day(request.GET.get("end"))
    start = _day_start(start_day) if start_day else None
    end = _day_end(end_day) if end_day else None
    if start and end and end <= start:
        end = None
    account = request.GET.get("account", "platform_clearing")[:40]
    result = queries.account_statement(scope, account, currency=_currency(request.GET.get("currency")),
                                       start=start, end=end, page=page_param(request.GET.get("page")))
    return render(request, "finance/statement.html", {"st": result, "start": start_day, "end": end_day})


@console_view
@require_POST
def reverse_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    scope = scope_of(request)
    try:
        reversal = ledger.reverse_entry(scope=scope, entry_id=entry_id, reason=request.POST.get("reason", ""),
                                        actor=request.user)
        messages.success(request, _("Entry %(entry)s reversed by entry %(reversal)s.")
                         % {"entry": entry_id, "reversal": reversal.pk})
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    return redirect(target or "finance:index")


def _line_refund(request: HttpRequest) -> services.LineRefund:
    try:
        line_id, quantity = int(request.POST.get("line_id", "")), int(request.POST.get("quantity", "") or "0")
    except ValueError as exc:
        raise ValidationFailed(_("Choose a line and a quantity."), field="line_id",
                               code="line_required") from exc
    raw = (request.POST.get("amount") or "").strip()
    amount = None
    if raw:
        try:
            amount = parse_yuan(raw).fen
        except ValueError as exc:
            raise ValidationFailed(_("The amount is in yuan, at most two decimals."), field="amount",
                                   code="amount_format") from exc
    return services.LineRefund(line_id=line_id, quantity=quantity, amount_fen=amount)


@console_view
@require_POST
def order_refund(request: HttpRequest, order_id: int) -> HttpResponse:
    """Finance refunds one line of an order (some units, or part of its amount) from the order page."""
    scope = scope_of(request)
    ledger.require_finance(scope)
    order_queries.get_order(scope, order_id)  # the gates before the form is looked at
    try:
        refund = services.refund_lines(scope=scope, order_id=order_id, lines=[_line_refund(request)],
                                       reason=request.POST.get("reason", ""), actor=request.user)
        messages.success(request, _("Refund %(no)s of %(amount)s sent to WeChat Pay.")
                         % {"no": refund.out_refund_no, "amount": Money(refund.amount_fen, refund.currency)})
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("orders:detail", order_id=order_id)


@csrf_exempt
@require_POST
def wechatpay_notify(request: HttpRequest, mch_id: str) -> HttpResponse:
    """WeChat Pay's notify URL (per merchant). Success is an empty 204; a refusal is 4xx with WeChat Pay's
    `{"code": "FAIL", "message": ...}` (the message carries our reason code), so the platform retries what failed."""
    if too_large(request.META.get("CONTENT_LENGTH")):
        return JsonResponse({"code": "FAIL", "message": "body_too_large"}, status=413)
    answer = services.receive_notify(mch_id=mch_id[:32], headers=request.headers, body=request.body,
                                     source=source_address(client_ip(request)))
    if answer.status == 204:
        return HttpResponse(status=204)
    return JsonResponse({"code": "FAIL", "message": answer.code}, status=answer.status)
