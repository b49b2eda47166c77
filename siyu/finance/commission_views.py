"""Console pages for commissions and settlement: rules (HQ), monthly statements per store and per staff member with
their Excel export (scoped like the API: staff their own, managers their stores, HQ all), and settling a store's
month (HQ). Read through `finance.commission_queries`, write through `finance.commissions`."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError
from siyu.core.money import parse_yuan
from siyu.core.timeutil import local_day, now
from siyu.finance import commission_export, commission_queries, commissions
from siyu.org.scope import Scope


def _month(raw: str | None) -> date:
    try:
        return commission_queries.parse_month(raw or "")
    except DomainError:
        return commission_queries.first_of_month(local_day(now()))


def _int(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def _rule_input(post: dict[str, str]) -> commissions.RuleInput:
    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(post.get(name, "").strip()) if post.get(name, "").strip() else None
        except ValueError:
            return None

    basis = post.get("basis", "")
    # The form takes a percentage ("12.5" = 1,250 bp) or yuan per unit ("15" = 1,500 fen); both have at most two
    # decimals, so parse_yuan turns either into hundredths without a float. Junk becomes -1: the service says why.
    value = _hundredths(post.get("amount", ""))
    return commissions.RuleInput(
        name=post.get("name", ""), target=post.get("target", ""), basis=basis,
        valid_from=day("valid_from") or local_day(now()), valid_until=day("valid_until"),
        product_id=_int(post.get("product_id")), category_id=_int(post.get("category_id")),
        product_role=post.get("product_role", ""),
        rate_bp=value if basis == commission_queries.PERCENT else 0,
        fixed_fen=value if basis == commission_queries.FIXED else 0,
    )


def _hundredths(raw: str) -> int:
    try:
        return parse_yuan(raw or "").fen if (raw or "").strip() else -1
    except ValueError:
        return -1


def _rules_context(scope: Scope) -> dict[str, object]:
    return {"rules": list(commission_queries.rules(scope, include_deleted=True).order_by("-is_active", "-id")[:200]),
            "targets": commission_queries.RULE_TARGETS, "bases": commission_queries.RULE_BASES,
            "roles": commission_queries.PRODUCT_ROLES}


@console_view
def rules(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    context = _rules_context(scope)
    if request.method == "POST":
        try:
            rule = commissions.create_rule(scope=scope, data=_rule_input(request.POST.dict()), actor=request.user)
            messages.success(request, _("Rule %(name)s added.") % {"name": rule.name})
            return redirect("finance:commission_rules")
        except GateError:
            raise
        except DomainError as exc:
            context.update(error=exc, form=request.POST)
            return render(request, "finance/commission_rules.html", context, status=422)
    return render(request, "finance/commission_rules.html", context)


@console_view
def rule_edit(request: HttpRequest, commission_rule_id: int) -> HttpResponse:
    scope = scope_of(request)
    rule = commission_queries.get_rule(scope, commission_rule_id)
    context: dict[str, object] = {**_rules_context(scope), "rule": rule}
    if request.method == "POST":
        try:
            commissions.update_rule(scope=scope, rule_id=rule.pk, data=_rule_input(request.POST.dict()),
                                    actor=request.user)
            messages.success(request, _("Rule %(name)s saved.") % {"name": rule.name})
            return redirect("finance:commission_rules")
        except GateError:
            raise
        except DomainError as exc:
            context.update(error=exc)
            return render(request, "finance/commission_rule_edit.html", context, status=422)
    return render(request, "finance/commission_rule_edit.html", context)


@console_view
@require_POST
def rule_delete(request: HttpRequest, commission_rule_id: int) -> HttpResponse:
    rule = commissions.delete_rule(scope=scope_of(request), rule_id=commission_rule_id, actor=request.user)
    messages.success(request, _("Rule %(name)s deleted.") % {"name": rule.name})
    return redirect("finance:commission_rules")


@console_view
def statements(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    month = _month(request.GET.get("month"))
    stores = commission_queries.store_statements(scope, month) if scope.is_manager else None
    staff = commission_queries.staff_statements(scope, month)
    month_over = commission_queries.month_bounds(month)[1] <= now()
    return render(request, "finance/commission_statements.html", {
        "month": month, "stores": stores, "staff": staff, "can_settle": scope.is_hq and month_over,
    })


@console_view
def statements_export(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    month = _month(request.GET.get("month"))
    stores = commission_queries.store_statements(scope, month) if scope.is_manager else None
    body = commission_export.xlsx_bytes(month, stores=stores, staff=commission_queries.staff_statements(scope, month))
    response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="statements-{month:%Y-%m}.xlsx"'
    return response


def _lines_target(request: HttpRequest, scope: Scope, month: date) -> tuple[int | None, int | None, str]:
    """(staff id, store id, a title) of the statement asked for; none of them: every line the viewer may see."""
    staff_id, store_id = _int(request.GET.get("staff")), _int(request.GET.get("store"))
    if staff_id is not None:
        rows = commission_queries.staff_statements(scope, month, staff_id=staff_id)
        name = rows[0].name if rows else ""
        return staff_id, None, _("Staff %(name)s, %(month)s") % {"name": name or staff_id, "month": f"{month:%Y-%m}"}
    if store_id is not None:
        rows = commission_queries.store_statements(scope, month, store_id=store_id)
        name = rows[0].name if rows else ""
        return None, store_id, _("Store %(name)s, %(month)s") % {"name": name or store_id, "month": f"{month:%Y-%m}"}
    return None, None, _("All visible staff, %(month)s") % {"month": f"{month:%Y-%m}"}


@console_view
def statement_lines(request: HttpRequest) -> HttpResponse:
    """The lines behind one statement (a staff member's or a store's month): order, line, rule, amounts; paged."""
    scope = scope_of(request)
    month = _month(request.GET.get("month"))
    staff_id, store_id, title = _lines_target(request, scope, month)
    page = commission_queries.statement_lines(scope, month, staff_id=staff_id, store_id=store_id,
                                              page=min(_int(request.GET.get("page")) or 1, 10_000), page_size=50)
    query = f"month={month:%Y-%m}" + (f"&staff={staff_id}" if staff_id is not None else "") \
        + (f"&store={store_id}" if store_id is not None else "")
    return render(request, "finance/commission_lines.html", {
        "month": month, "title": title, "page": page, "query": query,
        "lines": commission_queries.line_details(scope.enterprise_id, page.items),
    })


@console_view
def statement_lines_export(request: HttpRequest) -> HttpResponse:
    """The same lines as an Excel workbook, written as the rows are read (one statement at a time)."""
    scope = scope_of(request)
    month = _month(request.GET.get("month"))
    staff_id, store_id, title = _lines_target(request, scope, month)
    chunks = commission_queries.statement_line_chunks(scope, month, staff_id=staff_id, store_id=store_id)
    body = commission_export.lines_xlsx_bytes(month, title, chunks)
    response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    who = f"staff-{staff_id}" if staff_id is not None else f"store-{store_id}" if store_id is not None else "all"
    response["Content-Disposition"] = f'attachment; filename="statement-lines-{who}-{month:%Y-%m}.xlsx"'
    return response


@console_view
@require_POST
def settle(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    month = _month(request.POST.get("month"))
    store_id = _int(request.POST.get("store_id")) or 0
    try:
        done = commissions.settle_store_month(scope=scope, store_id=store_id, month=month,
                                              currency=(request.POST.get("currency") or "CNY")[:3],
                                              actor=request.user)
        messages.success(request, _("Store settled for %(month)s: %(amount)s fen.")
                         % {"month": f"{month:%Y-%m}", "amount": done.amount_fen})
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("finance:commission_statements") + f"?month={month:%Y-%m}")
